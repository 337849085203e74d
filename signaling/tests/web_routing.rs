//! The routing settings (SESS-3..6, SESS-9, FIELD-1/2, CONSOLE-16) and the
//! live technician status page in a real browser (headless chromium through
//! chromium-driver), against a server on loopback: what the forms save is
//! what the API then serves, a wrong time zone is refused beside the form,
//! the status page follows a technician live, and a customer fills a
//! channel's own fields.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::webdriver::{Browser, unavailable};
use common::*;
use reqwest::Method;
use serde_json::json;

async fn login(b: &Browser, base: &str, email: &str, password: &str) {
    b.goto(&format!("{base}/login")).await;
    b.fill("#email", email).await;
    b.fill("#password", password).await;
    b.click("#login-submit").await;
    b.find("#tree").await;
}

async fn check(b: &Browser, css: &str, on: bool) {
    let now = b
        .js(
            "return document.querySelector(arguments[0]).checked",
            json!([css]),
        )
        .await;
    if now != json!(on) {
        b.click(css).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_settings_and_status_in_a_browser() {
    if let Some(why) = unavailable() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let db = sqlite();
    let h = Harness::start(&db).await;
    let m = h.master.clone();
    let base = h.base.clone();
    let front = h.tech_group(&m, None, "Front", &["chat"]).await;
    let esc = h.tech_group(&m, None, "Escalation", &["chat"]).await;
    let (t_id, t) = h
        .user(&m, "technician", "tess@acme.test", Some(front))
        .await;
    h.call(
        Method::PUT,
        "/api/v1/channels/{id}/groups",
        &["1"],
        Some(&m),
        Some(json!({"ids": [front]})),
    )
    .await;
    let b = Browser::start().await;
    println!("screenshots in {}", b.artefacts.display());
    login(&b, &base, MASTER_EMAIL, PASSWORD).await;

    // A channel's routing, set in its form.
    b.goto(&format!("{base}/admin/channels/1")).await;
    b.find("#routing").await;
    check(&b, "#routing-auto-start", true).await;
    b.fill("#routing-transfer-minutes", "5").await;
    b.select("#routing-transfer-group", "Escalation").await;
    check(&b, "#routing-hours-on", true).await;
    b.fill("#routing-time-zone", "Mars/Olympus").await;
    b.fill("#routing-hours-1", "09:00-12:00, 14:00-17:30").await;
    b.fill("#routing-hours-6", "10:00-24:00").await;
    b.click("#routing-action-message").await;
    b.fill("#routing-message", "We open at nine.").await;
    b.fill("#routing-field-0", "Case number").await;
    b.fill("#routing-field-1", "Product").await;
    b.click("#routing-save").await;
    b.wait_text("#routing-status", "time zone").await;
    b.fill("#routing-time-zone", "Europe/Paris").await;
    b.click("#routing-save").await;
    b.wait_text("#routing-status", "Saved").await;
    b.screenshot("channel-routing").await;
    let (_, r) = h.get("/api/v1/channels/{id}/routing", &["1"], &m).await;
    assert_eq!(
        r,
        json!({
            "auto_transfer": {"after_s": 300, "group_id": esc},
            "auto_start": true,
            "hours": {"time_zone": "Europe/Paris", "days": [
                {"day": 1, "open": "09:00", "close": "12:00"},
                {"day": 1, "open": "14:00", "close": "17:30"},
                {"day": 6, "open": "10:00", "close": "24:00"}]},
            "unavailable": {"action": "message", "message": "We open at nine.", "url": ""},
            "fields": ["Case number", "Product"]
        })
    );
    // The form shows what is stored.
    b.goto(&format!("{base}/admin/channels/1")).await;
    let shown = b
        .js(
            "return [document.querySelector('#routing-time-zone').value,\
                     document.querySelector('#routing-hours-1').value,\
                     document.querySelector('#routing-field-1').value,\
                     document.querySelector('#routing-action-message').checked]",
            json!([]),
        )
        .await;
    assert_eq!(
        shown,
        json!(["Europe/Paris", "09:00-12:00, 14:00-17:30", "Product", true])
    );
    // A span written wrong is refused beside the form.
    b.fill("#routing-hours-2", "nine to five").await;
    b.click("#routing-save").await;
    b.wait_text("#routing-status", "09:00-17:30").await;

    // A group's status rules, private-session routing and console texts.
    b.goto(&format!("{base}/admin/tech-groups/{front}")).await;
    b.find("#routing").await;
    b.fill("#routing-max-sessions", "2").await;
    b.fill("#routing-idle-minutes", "30").await;
    b.click("#routing-action-page").await;
    b.fill("#routing-url", "https://acme.test/closed").await;
    b.fill("#routing-field-0", "Ticket").await;
    b.fill("#routing-create-dialog", "Ask for the ticket.")
        .await;
    b.fill("#routing-info-label", "Wiki").await;
    b.fill("#routing-info-url", "https://wiki.acme.test/").await;
    b.fill("#routing-email-text", "Hello, join me.").await;
    // SESS-10's consent option.
    b.click("#routing-monitoring-ask").await;
    b.click("#routing-save").await;
    b.wait_text("#routing-status", "Saved").await;
    let (_, r) = h
        .get(
            "/api/v1/tech-groups/{id}/routing",
            &[&front.to_string()],
            &m,
        )
        .await;
    assert_eq!(r["max_sessions"], 2);
    assert_eq!(r["idle_logout_s"], 1800);
    assert_eq!(r["private_unavailable"]["action"], "page");
    assert_eq!(r["private_unavailable"]["url"], "https://acme.test/closed");
    assert_eq!(r["fields"], json!(["Ticket"]));
    assert_eq!(r["console"]["info_link_url"], "https://wiki.acme.test/");
    assert_eq!(r["monitoring"], "ask");
    let (_, c) = h.get("/api/v1/me/console", &[], &t).await;
    assert_eq!(c["texts"]["create_dialog"], "Ask for the ticket.");
    // The page action without an address is refused beside the form.
    b.fill("#routing-url", "").await;
    b.click("#routing-save").await;
    b.wait_text("#routing-status", "url").await;

    // The technician's status, live.
    b.click("#nav-status").await;
    b.wait_text("#status-table", "tess@acme.test").await;
    let row = format!("tr[data-technician=\"{t_id}\"]");
    b.wait_text(&format!("{row} .online"), "closed").await;
    let mut console = ws_connect(&h.ws_url(&format!("/ws/console?token={t}"))).await;
    ws_expect(&mut console, "queue").await;
    b.wait_text(&format!("{row} .online"), "open").await;
    b.wait_text(&format!("{row} .status"), "available").await;
    h.call(
        Method::PUT,
        "/api/v1/me/status",
        &[],
        Some(&t),
        Some(json!({"status": "busy"})),
    )
    .await;
    b.wait_text(&format!("{row} .status"), "busy").await;
    b.wait_text(&format!("{row} .sessions"), "0 / 2").await;
    b.screenshot("status").await;

    // A customer fills the channel's own fields (the channel keeps
    // waiting customers whatever the hour, for this part).
    h.call(
        Method::PUT,
        "/api/v1/channels/{id}/routing",
        &["1"],
        Some(&m),
        Some(json!({"fields": ["Case number", "Product"]})),
    )
    .await;
    let (_, chans) = h.get("/api/v1/channels", &[], &m).await;
    b.clear_cookies().await;
    let code = chans[0]["link_code"].as_str().unwrap();
    b.goto(&format!("{base}/join/{code}")).await;
    b.find("#channel-join-form").await;
    assert!(
        !b.has("#field-problem").await,
        "the standard fields give way"
    );
    b.fill("#customer-name", "Zoë").await;
    b.fill("#field-field0", "C-9").await;
    b.fill("#field-field1", "Printer").await;
    b.click("#channel-submit").await;
    b.find("#joined").await;
    let (_, live) = h.get("/api/v1/sessions", &[], &m).await;
    let s = live
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["customer_name"] == "Zoë")
        .cloned()
        .unwrap();
    let fields: serde_json::Value =
        serde_json::from_str(s["customer_fields"].as_str().unwrap()).unwrap();
    assert_eq!(fields, json!({"Case number": "C-9", "Product": "Printer"}));
    b.screenshot("channel-form").await;
    h.server.shutdown().await.unwrap();
}
