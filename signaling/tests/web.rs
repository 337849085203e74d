//! The administration centre and the customer's pages in a real browser
//! (Debian's headless chromium through chromium-driver), against a server
//! on loopback, as a person would use them (issue 17's acceptance): the
//! master builds the chart, sets permissions and an IP restriction, the
//! administrator sees only its scope, a customer's PIN session and a
//! hostile channel name appear live, the language switches, a form posted
//! from another origin is refused. Screenshots go to the artefact
//! directory printed at the start.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::webdriver::{Browser, unavailable};
use common::*;
use serde_json::{Value, json};

const XSS: &str = "<img src=x onerror=alert(1)>";

/// Signs in through the login page.
async fn login(b: &Browser, base: &str, email: &str, password: &str) {
    b.goto(&format!("{base}/login")).await;
    b.fill("#email", email).await;
    b.fill("#password", password).await;
    b.click("#login-submit").await;
}

async fn logout(b: &Browser) {
    b.click("#logout").await;
    b.find("#login-form").await;
}

/// Opens a node of the tree by its label.
async fn open_node(b: &Browser, label: &str) {
    let found = b
        .js(
            "const a = [...document.querySelectorAll('#tree a.label')]\
               .find(a => a.textContent.trim() === arguments[0]);\
             if (!a) return false; a.click(); return true;",
            json!([label]),
        )
        .await;
    assert_eq!(found, json!(true), "no node {label} in the tree");
    b.wait_text("#pane-title", label).await;
}

/// The tree's labels, in order.
async fn tree_labels(b: &Browser) -> Vec<String> {
    let v = b
        .js(
            "return [...document.querySelectorAll('#tree .label')].map(a => a.textContent.trim())",
            json!([]),
        )
        .await;
    serde_json::from_value(v).unwrap()
}

/// A session's applet token and id, from the page's command.
fn bound(command: &str) -> Value {
    let word = |flag: &str| {
        command
            .split_whitespace()
            .skip_while(|w| *w != flag)
            .nth(1)
            .unwrap()
            .to_owned()
    };
    json!({"session_id": word("--session"), "customer_token": word("--token")})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administration_centre_in_a_browser() {
    if let Some(why) = unavailable() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let db = sqlite();
    let h = Harness::start(&db).await;
    let base = h.base.clone();
    let b = Browser::start().await;
    println!("screenshots in {}", b.artefacts.display());

    // The master signs in and builds the chart.
    login(&b, &base, MASTER_EMAIL, PASSWORD).await;
    b.find("#tree").await;
    b.fill("#new-top-group-name", "Elsewhere").await;
    b.click("#new-top-group-submit").await;
    b.wait_text("#pane-title", "Elsewhere").await;
    b.click("#nav-org").await;
    b.fill("#new-admin-group-name", "Support France").await;
    b.click("#new-admin-group-submit").await;
    b.wait_text("#new-admin-group-status", "Created").await;
    b.fill("#new-top-group-name", "Level 1").await;
    b.click("#new-top-group-submit").await;
    b.wait_text("#pane-title", "Level 1").await;
    b.fill("#new-subgroup-name", "Level 2").await;
    b.click("#new-subgroup-submit").await;
    b.wait_text("#pane-title", "Level 2").await;
    b.fill("#new-tech-name", "Tess Tech").await;
    b.fill("#new-tech-nickname", "Tess").await;
    b.fill("#new-tech-email", "tess@acme.test").await;
    b.fill("#new-tech-password", "Initial1%").await;
    b.click("#new-tech-submit").await;
    b.wait_text("#pane-title", "Tess Tech").await;
    assert!(b.url().await.contains("/admin/users/"));

    // Drag the technician from Level 2 onto Level 1 (app.js's handlers, fed
    // the browser's own drag events: WebDriver cannot drag natively).
    let dragged = b
        .js(
            "const src = [...document.querySelectorAll('#tree [data-drag^=\"user:\"]')]\
               .find(e => e.textContent.includes('Tess Tech'));\
             const dst = [...document.querySelectorAll('#tree summary[data-drop]')]\
               .find(e => e.textContent.trim().startsWith('Level 1'));\
             if (!src || !dst) return false;\
             const dt = new DataTransfer();\
             src.dispatchEvent(new DragEvent('dragstart', {dataTransfer: dt, bubbles: true}));\
             dst.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));\
             dst.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));\
             return true;",
            json!([]),
        )
        .await;
    assert_eq!(dragged, json!(true));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (s, v) = h.get("/api/v1/users", &[], &h.master).await;
        assert_eq!(s.as_u16(), 200);
        let tess = v
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == "tess@acme.test")
            .cloned()
            .unwrap();
        let (_, groups) = h.get("/api/v1/tech-groups", &[], &h.master).await;
        let level1 = groups
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == "Level 1")
            .unwrap()["id"]
            .clone();
        if tess["tech_group_id"] == level1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the drop did not move the technician"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // Permissions of Level 1, saved for its sub-groups too (ORG-7).
    open_node(&b, "Level 1").await;
    for perm in ["chat", "remote_control", "private_sessions", "transfer"] {
        let id = format!("#perm-{perm}");
        let on = b
            .js(
                "return document.querySelector(arguments[0]).checked",
                json!([id]),
            )
            .await;
        if on != json!(true) {
            b.click(&id).await;
        }
    }
    b.click("#chat-on_toggle").await;
    b.click("#save-subgroups").await;
    b.wait_text("#settings-status", "2 group").await;
    b.screenshot("permissions").await;
    let (_, level2) = h.get("/api/v1/tech-groups", &[], &h.master).await;
    let level2 = level2
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "Level 2")
        .cloned()
        .unwrap();
    assert!(
        level2["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("remote_control"))
    );
    assert_eq!(level2["chat_mode"], "on_toggle");

    // IP restriction (POL-5) on Level 1: only 192.0.2.0/24.
    b.click("#ip-deny_all_except").await;
    b.fill("#ip-ranges", "192.0.2.0/24").await;
    b.click("#save-node").await;
    b.wait_text("#settings-status", "1 group").await;

    // Rename channel 1 and assign it to Level 1.
    b.click("#nav-org").await;
    open_node(&b, "Channel 1").await;
    b.fill("#channel-name", "Helpdesk").await;
    b.js(
        "const l = [...document.querySelectorAll('#channel-form label.check')]\
           .find(l => l.textContent.trim() === 'Level 1'); l.querySelector('input').click();",
        json!([]),
    )
    .await;
    b.click("#channel-save").await;
    b.wait_text("#channel-status", "Saved").await;
    let channel_link = b
        // The link names the configured public URL; the test server's port differs.
        .js(
            "return document.querySelector('#channel-link').pathname",
            json!([]),
        )
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert!(tree_labels(&b).await.contains(&"Helpdesk".to_owned()));
    // Its applet settings: the technician first (APPLET-3), terms (APPLET-6).
    b.click("#priority-technician").await;
    b.fill("#applet-terms", "Be kind to your technician.").await;
    b.fill("#applet-welcome", "Welcome to <b>Acme</b> support")
        .await;
    b.click("#applet-save").await;
    b.wait_text("#applet-status", "Saved").await;
    let (_, applet) = h
        .get("/api/v1/channels/{id}/applet", &["1"], &h.master)
        .await;
    assert_eq!(applet["priority"], "technician", "{applet}");
    b.screenshot("channel").await;
    // CHAN-5: a test session lands in the queue.
    b.click("#channel-test").await;
    b.wait_text("#channel-status", "is in the queue").await;

    // An administrator in the admin group, assigned Level 1.
    b.click("#nav-org").await;
    b.fill("#new-admin-name", "Ada Admin").await;
    b.fill("#new-admin-email", "ada@acme.test").await;
    b.fill("#new-admin-password", "Initial1%").await;
    b.select("#new-admin-group-select", "Support France").await;
    b.click("#new-admin-submit").await;
    b.wait_text("#pane-title", "Ada Admin").await;
    b.js(
        "const l = [...document.querySelectorAll('#user-form label.check')]\
           .find(l => l.textContent.trim() === 'Level 1'); l.querySelector('input').click();",
        json!([]),
    )
    .await;
    b.click("#user-save").await;
    b.wait_text("#user-status", "Saved").await;
    // The administrator group's form (ORG-4).
    b.click("#nav-org").await;
    open_node(&b, "Support France").await;
    b.fill("#admin-group-name", "Support FR").await;
    b.click("#admin-group-save").await;
    b.wait_text("#admin-group-status", "Saved").await;
    b.wait_text("#tree", "Support FR").await;
    b.click("#nav-org").await;
    b.find("#tree").await;
    b.screenshot("tree-master").await;

    // The technician cannot sign in from here: its group only allows 192.0.2.0/24.
    logout(&b).await;
    login(&b, &base, "tess@acme.test", "Initial1%").await;
    let refused = b.text("#login-error").await;
    assert!(refused.contains("not allowed"), "{refused}");

    // The administrator: forced password change (POL-4), then only its scope.
    login(&b, &base, "ada@acme.test", "Initial1%").await;
    b.find("#password-forced").await;
    b.fill("#current_password", "Initial1%").await;
    b.fill("#new_password", "Weak").await;
    b.fill("#confirm", "Weak").await;
    b.click("#password-submit").await;
    b.wait_text("#password-status", "short").await;
    // Beside the field it concerns, too.
    b.wait_text("#new_password + .field-error", "short").await;
    b.fill("#new_password", PASSWORD).await;
    b.fill("#confirm", PASSWORD).await;
    b.click("#password-submit").await;
    b.find("#tree").await;
    let labels = tree_labels(&b).await;
    for seen in ["Level 1", "Level 2", "Tess Tech", "Helpdesk"] {
        assert!(
            labels.contains(&seen.to_owned()),
            "{seen} missing: {labels:?}"
        );
    }
    for unseen in ["Elsewhere", "Root", "Master administrators", "Channel 2"] {
        assert!(
            !labels.contains(&unseen.to_owned()),
            "{unseen} shown: {labels:?}"
        );
    }
    b.screenshot("tree-admin").await;

    // The tree's search box.
    b.fill("#tree-search", "tess").await;
    b.wait_text("#tree", "Tess Tech").await;
    b.find("#tree-filtered").await;
    assert!(!tree_labels(&b).await.contains(&"Helpdesk".to_owned()));

    // A customer enters a PIN on the PIN page (the technician, from an
    // allowed address, made it through the API).
    let first = h
        .call_from(
            "192.0.2.7",
            reqwest::Method::POST,
            "/api/v1/auth/login",
            &[],
            None,
            Some(json!({"email": "tess@acme.test", "password": "Initial1%"})),
        )
        .await
        .1["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, changed) = h
        .call_from(
            "192.0.2.7",
            reqwest::Method::POST,
            "/api/v1/me/password",
            &[],
            Some(&first),
            Some(json!({"current_password": "Initial1%", "new_password": PASSWORD})),
        )
        .await;
    let tess = changed["token"].as_str().unwrap().to_owned();
    let (s, created) = h
        .call_from(
            "192.0.2.7",
            reqwest::Method::POST,
            "/api/v1/sessions",
            &[],
            Some(&tess),
            None,
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{created}");
    let pin = created["pin"].as_str().unwrap().to_owned();
    let admin_cookies = b.js("return document.cookie", json!([])).await; // HttpOnly: the page's script cannot read the session
    assert_eq!(admin_cookies, json!(""));
    b.goto(&format!("{base}/")).await;
    b.fill("#pin", "000000").await;
    b.fill("#customer-name", "Carla Customer").await;
    b.click("#pin-submit").await;
    b.wait_text("#pin-error", "wrong").await;
    b.fill("#pin", &pin).await;
    b.screenshot("pin").await;
    b.click("#pin-submit").await;
    let command = b.wait_text("#joined-command", "secours applet").await;
    b.wait_text("#joined-technician", "Tess").await;
    b.screenshot("pin-joined").await;
    let _applet = applet_ws(&h, &bound(&command)).await;

    // The hostile name arrives through the channel form.
    b.goto(&format!("{base}{channel_link}")).await;
    b.wait_text("h1", "Helpdesk").await;
    b.fill("#customer-name", XSS).await;
    b.fill("#field-problem", "<script>alert(2)</script>").await;
    b.wait_text("#terms", "Be kind").await;
    b.click("#terms-accept").await;
    b.screenshot("channel-form").await;
    b.click("#channel-submit").await;
    b.wait_text("#joined-welcome", "<b>Acme</b>").await;
    let command = b.wait_text("#joined-command", "secours applet").await;
    let _applet2 = applet_ws(&h, &bound(&command)).await;

    // Live sessions, without reload.
    b.goto(&format!("{base}/admin/sessions")).await;
    b.wait_text("#session-rows", "Carla Customer").await;
    let rows = b.wait_text("#session-rows", XSS).await;
    assert!(rows.contains("<script>alert(2)</script>"), "{rows}");
    assert_eq!(b.alert().await, None, "a script ran");
    let injected = b
        .js(
            "return document.querySelectorAll('img[src=\"x\"], #session-rows script').length",
            json!([]),
        )
        .await;
    assert_eq!(injected, json!(0));
    b.screenshot("live-sessions").await;
    // SESS-8: the administrator transfers the channel session to Level 2.
    let sent = b
        .js(
            "const row = [...document.querySelectorAll('#sessions-table tbody tr')]\
               .find(r => r.querySelector('td.customer').textContent === arguments[0]);\
             if (!row) return false;\
             const sel = row.querySelector('select');\
             sel.value = [...sel.options].find(o => o.text === 'Level 2').value;\
             row.querySelector('form').requestSubmit(); return true;",
            json!([XSS]),
        )
        .await;
    assert_eq!(sent, json!(true));
    b.wait_text("#session-status", "Session transferred").await;
    b.wait_text("#sessions-table", "Level 2").await;
    // Another session appears while the page stays open (the channel's
    // test session is the fourth).
    let (_, again) = h
        .call_from(
            "192.0.2.7",
            reqwest::Method::POST,
            "/api/v1/sessions",
            &[],
            Some(&tess),
            None,
        )
        .await;
    let (_, _ws) = customer_joins_pin(&h, again["pin"].as_str().unwrap()).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while b
        .js(
            "return document.querySelectorAll('#sessions-table tbody tr').length",
            json!([]),
        )
        .await
        != json!(4)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the list did not update"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // French and back.
    b.click("#lang-fr").await;
    b.wait_text("#nav-sessions", "Sessions en cours").await;
    b.wait_text("h1", "Sessions en cours").await;
    b.screenshot("live-sessions-fr").await;
    b.click("#nav-org").await;
    b.wait_text("#tree", "Techniciens").await;
    b.click("#lang-en").await;
    b.wait_text("#nav-sessions", "Live sessions").await;

    // A form posted from another origin (127.0.0.2, another site).
    let evil = evil_site(&base).await;
    b.goto(&evil).await;
    b.click("#go").await;
    // The click returns before the answer's page is there: wait for it.
    b.wait_text("body", "cross-origin request refused").await;
    let (_, groups) = h.get("/api/v1/tech-groups", &[], &h.master).await;
    assert!(
        !groups
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "Evil"),
        "the forged form created a group"
    );
    assert_eq!(b.alert().await, None);

    // The audit log, as the master, with its chain verified.
    b.clear_cookies().await;
    login(&b, &base, MASTER_EMAIL, PASSWORD).await;
    b.find("#tree").await;
    b.click("#nav-audit").await;
    b.find("#chain-ok").await;
    b.wait_text("#audit-table", "tech_group.settings").await;
    b.screenshot("audit").await;

    // Global settings: a password age and its notice (POL-2, POL-3); the
    // notice shows on every page from then on.
    b.click("#nav-settings").await;
    b.fill("#org-max-age", "x").await;
    b.click("#settings-save").await;
    b.wait_text("#settings-status", "whole number").await;
    b.fill("#org-max-age", "30").await;
    b.fill("#org-notice", "45").await;
    // SEC-9: no more mail on every successful login.
    b.click("#notice-login_succeeded").await;
    b.click("#settings-save").await;
    b.wait_text("#settings-status", "Saved").await;
    let (_, org) = h.get("/api/v1/org/settings", &[], &h.master).await;
    assert!(
        !org["notifications"]
            .as_array()
            .unwrap()
            .contains(&json!("login_succeeded")),
        "{org}"
    );
    let logins = || async {
        let (_, out) = h.get("/api/v1/outbox", &[], &h.master).await;
        out.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["subject"] == "Secours: successful login")
            .count()
    };
    let before = logins().await;
    h.login_ok(MASTER_EMAIL, PASSWORD).await;
    assert_eq!(
        logins().await,
        before,
        "a switched-off notification was queued"
    );
    b.click("#nav-org").await;
    b.wait_text("#expiry-notice", "expires in").await;
    b.click("#nav-settings").await;
    b.find("#outbox").await;
    b.screenshot("settings").await;

    // A group's context menu, by right-click.
    b.click("#nav-org").await;
    let shown = b
        .js(
            "const s = [...document.querySelectorAll('#tree summary')]\
               .find(e => e.textContent.trim().startsWith('Level 1'));\
             s.dispatchEvent(new MouseEvent('contextmenu', {bubbles: true, cancelable: true}));\
             const m = s.querySelector('menu.ctx');\
             return !m.hidden && m.textContent.includes('New technician');",
            json!([]),
        )
        .await;
    assert_eq!(shown, json!(true), "no context menu");
    b.screenshot("context-menu").await;

    // Nothing the pages did broke their own Content-Security-Policy, and no
    // script failed (the only errors allowed are the refusals the test
    // provoked: the wrong PIN, the refused login, the forged form).
    let console = b.console().await;
    let bad: Vec<_> = console
        .iter()
        .filter(|l| {
            l.contains("Content Security Policy")
                || l.contains("Refused to")
                || (l.contains("SEVERE") && !l.contains("status of 4"))
        })
        .collect();
    assert!(bad.is_empty(), "browser console: {bad:#?}");
    println!(
        "browser console: {} messages, none a CSP violation or script error",
        console.len()
    );
    h.server.shutdown().await.unwrap();
}

/// A page on another origin with a form aimed at the server.
async fn evil_site(base: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let target = format!("{base}/admin/tech-groups");
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let body = format!(
                "<!doctype html><form method=post action=\"{target}\">\
                 <input name=name value=Evil><button id=go>Win a prize</button></form>"
            );
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes()).await;
        }
    });
    format!("http://127.0.0.2:{port}/")
}
