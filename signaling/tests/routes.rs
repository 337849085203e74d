//! Every route refuses an unauthenticated request unless it is on the
//! explicit allow-list (walked from the OpenAPI document the router is built
//! from); WebSocket upgrades check the Origin and need a token; the set-up
//! route needs the one-time token and is gone once set up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use secours_signaling::api::PUBLIC_ROUTES;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_needs_a_token_unless_allow_listed() {
    let db = sqlite();
    let h = Harness::start(&db).await;
    let paths = h.doc["paths"].as_object().unwrap();
    let mut walked = 0;
    for (template, item) in paths {
        for (method, _) in item.as_object().unwrap() {
            let path = template
                .replace("{id}", "1")
                .replace("{code}", &"0".repeat(32));
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut req = h.http.request(m.clone(), format!("{}{}", h.base, path));
            if m != reqwest::Method::GET {
                req = req.json(&json!({}));
            }
            let resp = req.send().await.unwrap();
            let status = resp.status();
            let public = PUBLIC_ROUTES
                .iter()
                .any(|(pm, pp)| pm == method && pp == template);
            if public {
                assert!(status.as_u16() < 500, "{method} {template} -> {status}");
            } else {
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {template} answered without a token"
                );
                let body: serde_json::Value = resp.json().await.unwrap();
                assert_eq!(body["code"], "unauthenticated");
            }
            walked += 1;
        }
    }
    assert!(walked >= 40, "only {walked} routes walked");
    // Every allow-listed route exists (the list cannot rot).
    for (m, p) in PUBLIC_ROUTES {
        assert!(
            h.doc["paths"][p][m].is_object(),
            "{m} {p} is allow-listed but not routed"
        );
    }
    // The relay hub's routes, mounted beside the API, refuse without their tokens.
    let s = h
        .http
        .get(format!("{}/relay/v1/ws", h.base))
        .send()
        .await
        .unwrap()
        .status();
    assert!(s.is_client_error(), "{s}");
    let s = h
        .http
        .post(format!("{}/relay/v1/tokens", h.base))
        .send()
        .await
        .unwrap()
        .status();
    assert!(s.is_client_error(), "{s}");
    // A bogus bearer token is refused like no token.
    let (s, _) = h.get("/api/v1/users", &[], &"ab".repeat(32)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = h.get("/api/v1/users", &[], "not hex").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_check_origin_and_token() {
    let db = sqlite();
    let h = Harness::start(&db).await;
    let m = h.master.clone();
    let g = h.tech_group(&m, None, "S", &["chat"]).await;
    let (_, tech) = h.user(&m, "technician", "t@acme.test", Some(g)).await;
    let refused = |url: String, origin: Option<&'static str>| async move {
        let mut req = url.into_client_request().unwrap();
        if let Some(o) = origin {
            req.headers_mut().insert("origin", o.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok(_) => None,
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Some(r.status().as_u16()),
            Err(e) => panic!("{e}"),
        }
    };
    let good = h.ws_url(&format!("/ws/console?token={tech}"));
    assert_eq!(refused(h.ws_url("/ws/console"), None).await, Some(401));
    assert_eq!(
        refused(good.clone(), Some("https://evil.example")).await,
        Some(403)
    );
    assert_eq!(
        refused(good.clone(), Some("http://127.0.0.1:8080")).await,
        None,
        "the public origin is allowed"
    );
    assert_eq!(
        refused(good, None).await,
        None,
        "native peers send no Origin"
    );
    assert_eq!(refused(h.ws_url("/ws/applet"), None).await, Some(401));
    assert_eq!(
        refused(
            h.ws_url(&format!(
                "/ws/applet?session={}&token={}",
                "0".repeat(32),
                "0".repeat(64)
            )),
            None
        )
        .await,
        Some(401)
    );
    // A master has no queue: consoles are for technicians.
    assert_eq!(
        refused(h.ws_url(&format!("/ws/console?token={m}")), None).await,
        Some(403)
    );
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_route_needs_the_one_time_token_and_then_disappears() {
    for db in backends().await {
        let server = secours_signaling::start(test_config(&db)).await.unwrap();
        let base = format!("http://{}", server.http_addr);
        let http = reqwest::Client::new();
        let body = |token: &str| {
            json!({"token": token, "org_name": "Acme", "name": "Root",
            "email": "root@acme.test", "password": PASSWORD})
        };
        let post = |b: serde_json::Value| http.post(format!("{base}/api/v1/setup")).json(&b).send();
        // No token issued yet: refused.
        assert_eq!(
            post(body(&"0".repeat(64))).await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
        let token = secours_signaling::setup::issue_token(&server.state.store, 3600)
            .await
            .unwrap();
        assert_eq!(
            post(body(&"1".repeat(64))).await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
        let r = post(body(&token)).await.unwrap();
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
        // Used: the route is gone, even with the same token, and no new token can be issued.
        assert_eq!(
            post(body(&token)).await.unwrap().status(),
            StatusCode::NOT_FOUND
        );
        assert!(
            secours_signaling::setup::issue_token(&server.state.store, 3600)
                .await
                .is_err()
        );
        let login = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": "root@acme.test", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), StatusCode::OK);
        server.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stun_responder_answers_a_binding_request() {
    let db = sqlite();
    let h = Harness::start(&db).await;
    let stun = h.server.stun_addr.unwrap();
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = socket.local_addr().unwrap();
    let mapped = secours_transport::stun::reflexive_address(&socket, stun)
        .await
        .unwrap();
    assert_eq!(
        mapped, local,
        "XOR-MAPPED-ADDRESS is the address the server saw"
    );
    // And the standard client from coturn, when installed.
    match std::process::Command::new("turnutils_stunclient")
        .args(["-p", &stun.port().to_string(), "127.0.0.1"])
        .output()
    {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(text.contains("UDP reflexive addr: 127.0.0.1:"), "{text}");
        }
        Err(_) => eprintln!("SKIPPED the coturn client half: turnutils_stunclient not installed"),
    }
    h.server.shutdown().await.unwrap();
}

/// Every page route (the list the pages' router is built from): a staff
/// page sends a request without a session to the login page, a write from
/// another origin or without an Origin is refused, every answer carries the
/// Content-Security-Policy; a session without the CSRF token cannot write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_route_needs_a_session_unless_public() {
    use secours_signaling::web::{Access, CSP, routes};
    let db = sqlite();
    let h = Harness::start(&db).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let origin = h.base.clone();
    let mut walked = 0;
    for r in routes() {
        let url = format!(
            "{}{}",
            h.base,
            r.path
                .replace("{id}", "1")
                .replace("{code}", &"0".repeat(32))
                .replace("{file}", "nothing.js")
        );
        let is_get = r.method == reqwest::Method::GET;
        let send = |origin: Option<&str>, htmx: bool| {
            let mut req = http.request(r.method.clone(), &url);
            if let Some(o) = origin {
                req = req.header("origin", o);
            }
            if htmx {
                req = req.header("hx-request", "true");
            }
            if !is_get {
                req = req.form(&[("name", "x")]);
            }
            req.send()
        };
        let resp = send(Some(&origin), false).await.unwrap();
        let status = resp.status();
        assert_eq!(
            resp.headers()["content-security-policy"],
            CSP,
            "{} {}",
            r.method,
            r.path
        );
        match r.access {
            Access::Staff => {
                assert_eq!(
                    status,
                    StatusCode::SEE_OTHER,
                    "{} {} answered without a session",
                    r.method,
                    r.path
                );
                assert_eq!(resp.headers()["location"], "/login");
                let htmx = send(Some(&origin), true).await.unwrap();
                assert_eq!(htmx.status(), StatusCode::UNAUTHORIZED);
                assert_eq!(htmx.headers()["hx-redirect"], "/login");
            }
            Access::Public => assert!(status.as_u16() < 500, "{} {} -> {status}", r.method, r.path),
        }
        if !is_get {
            for bad in [None, Some("http://evil.example"), Some("null")] {
                let s = send(bad, false).await.unwrap().status();
                assert_eq!(
                    s,
                    StatusCode::FORBIDDEN,
                    "{} {} from {bad:?}",
                    r.method,
                    r.path
                );
            }
        }
        walked += 1;
    }
    assert!(walked >= 25, "only {walked} page routes walked");

    // Signed in: the CSRF token is required on writes, and comes with the page.
    let login = http
        .post(format!("{}/login", h.base))
        .header("origin", &origin)
        .form(&[("email", MASTER_EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    assert_eq!(login.headers()["location"], "/admin");
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let page = http
        .get(format!("{}/admin", h.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let csrf = html
        .split("\"X-Csrf-Token\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no CSRF token in the page: {html}"))
        .to_owned();
    let create = |token: Option<&str>, from: &str| {
        let mut req = http
            .post(format!("{}/admin/tech-groups", h.base))
            .header("cookie", &cookie)
            .header("origin", from)
            .header("hx-request", "true")
            .form(&[("name", "From a form")]);
        if let Some(t) = token {
            req = req.header("x-csrf-token", t);
        }
        req.send()
    };
    assert_eq!(
        create(None, &origin).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        create(Some(&"0".repeat(64)), &origin)
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        create(Some(&csrf), "http://evil.example")
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    let ok = create(Some(&csrf), &origin).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.text().await.unwrap().contains("From a form"));
    // The API still refuses the cookie alone: it wants its bearer token.
    let api = http
        .get(format!("{}/api/v1/users", h.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    h.server.shutdown().await.unwrap();
}
