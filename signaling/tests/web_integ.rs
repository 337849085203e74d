//! Issue 20 part B's pages in a real browser (headless chromium through
//! chromium-driver): the master adds a Post-to-URL configuration and
//! disables it, sets the customer survey, creates an API key that works on
//! the API and revokes it; a customer joins through a channel page, is
//! offered the survey, answers it once the session is over; the reports
//! page shows the answer and the sessions, and its CSV downloads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::webdriver::{Browser, unavailable};
use common::*;
use reqwest::StatusCode;
use serde_json::json;

async fn login(b: &Browser, base: &str, email: &str, password: &str) {
    b.goto(&format!("{base}/login")).await;
    b.fill("#email", email).await;
    b.fill("#password", password).await;
    b.click("#login-submit").await;
    b.find("#logout").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integration_pages_in_a_browser() {
    if let Some(why) = unavailable() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let db = sqlite();
    // A customer who never starts the applet: the session ends after a second.
    let h = Harness::start_with(&db, |c| c.timeouts.connecting_s = 1).await;
    let base = h.base.clone();
    let b = Browser::start().await;
    println!("screenshots in {}", b.artefacts.display());
    login(&b, &base, MASTER_EMAIL, PASSWORD).await;

    // Post-to-URL: added (its secret shown once), listed, disabled.
    b.click("#nav-posturl").await;
    b.fill("#posturl-name", "CRM <b>").await;
    b.fill("#posturl-url", "http://127.0.0.1:9/hook").await;
    b.click("#posturl-start").await;
    b.click("#posturl-create").await;
    let secret = b.text("#new-secret").await;
    assert_eq!(secret.len(), 64, "{secret}");
    b.goto(&format!("{base}/admin/post-urls")).await;
    b.wait_text("#posturl-1 h2", "CRM <b>").await;
    b.click("#posturl-disable-1").await;
    b.find("#posturl-enable-1").await;
    let (_, list) = h.get("/api/v1/post-urls", &[], &h.master).await;
    assert_eq!(list[0]["enabled"], false);
    assert_eq!(list[0]["on_start"], true);
    b.screenshot("post-urls").await;

    // The customer survey.
    b.click("#nav-surveys").await;
    b.click("#survey-customer-enabled").await;
    b.click("#survey-customer-rating").await;
    b.fill(
        "#survey-customer-questions",
        "speed | rating | Speed | | required\nvia | choice | Found us via | web, phone |",
    )
    .await;
    b.click("#survey-customer-save").await;
    b.wait_text("#survey-status-customer", "Saved").await;
    let (_, cfg) = h
        .get("/api/v1/surveys/{kind}", &["customer"], &h.master)
        .await;
    assert_eq!(cfg["enabled"], true);
    assert_eq!(cfg["questions"][1]["choices"], json!(["web", "phone"]));
    // A bad line is refused with a message, nothing saved.
    b.fill("#survey-technician-questions", "x | colour | y")
        .await;
    b.click("#survey-technician-save").await;
    b.wait_text("#survey-status-technician", "line 1").await;

    // An API key: shown once, works on the API, revoked from the page.
    b.click("#nav-keys").await;
    b.fill("#key-name", "Ticketing").await;
    b.fill("#key-days", "30").await;
    b.click("#key-create").await;
    let key = b.text("#new-key").await;
    assert!(key.starts_with("sk_"), "{key}");
    let (s, _) = h.get("/api/v1/sessions", &[], &key).await;
    assert_eq!(s, StatusCode::OK);
    b.goto(&format!("{base}/admin/api-keys")).await;
    b.wait_text("#keys", "Ticketing").await;
    b.click("#revoke-1").await;
    b.wait_text("#key-1", "Revoked").await;
    let (s, _) = h.get("/api/v1/sessions", &[], &key).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    b.screenshot("api-keys").await;

    // A customer joins through the channel page and is offered the survey.
    let (_, chans) = h.get("/api/v1/channels", &[], &h.master).await;
    let code = chans[0]["link_code"].as_str().unwrap().to_owned();
    b.goto(&format!("{base}/join/{code}")).await;
    b.fill("#customer-name", "Zoë").await;
    b.click("#channel-submit").await;
    let link = b
        .js(
            "const a = document.querySelector('#joined-survey-link'); return a ? a.href : null;",
            json!([]),
        )
        .await;
    let link = link
        .as_str()
        .expect("the joined page links the survey")
        .to_owned();
    let session = link
        .split("/survey/")
        .nth(1)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    // Before the end the page says the session is not over.
    b.goto(&link).await;
    b.find("#survey-error").await;
    for _ in 0..100 {
        let state: String = sqlx::query_scalar("SELECT state FROM support_sessions WHERE id = $1")
            .bind(&session)
            .fetch_one(&h.server.state.store.pool)
            .await
            .unwrap();
        if state == "closed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    b.goto(&link).await;
    b.click("#rating-5").await;
    b.click("#q-speed-4").await;
    b.select("#q-via", "web").await;
    b.click("#survey-submit").await;
    b.find("#survey-thanks").await;
    b.screenshot("customer-survey").await;
    // Once only.
    b.goto(&link).await;
    b.click("#rating-1").await;
    b.click("#q-speed-1").await;
    b.click("#survey-submit").await;
    b.find("#survey-error").await;

    // The reports page: the survey's answer, then the sessions, then the CSV.
    b.goto(&format!("{base}/admin")).await;
    b.click("#nav-reports").await;
    b.select("#report-kind", "Customer survey").await;
    b.click("#report-run").await;
    b.wait_text("#report-table", "web").await;
    assert!(b.text("#report-table").await.contains(&session));
    b.select("#report-kind", "Sessions").await;
    b.click("#report-run").await;
    b.wait_text("#report-summary", "total").await;
    let total = b.text("#report-summary dd[data-name=total]").await;
    assert_eq!(total, "1");
    let csv = b
        .js(
            "const x = new XMLHttpRequest(); \
             x.open('GET', document.querySelector('#report-csv').href, false); x.send(); \
             return [x.status, x.getResponseHeader('content-type'), x.responseText];",
            json!([]),
        )
        .await;
    assert_eq!(csv[0], 200);
    assert!(csv[1].as_str().unwrap().starts_with("text/csv"));
    let text = csv[2].as_str().unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(&r.headers().unwrap()[0], "session_id");
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][0], session.as_str());
    assert_eq!(&rows[0][6], "Zoë");
    b.screenshot("reports").await;
    // The French pages carry the new words too.
    b.click("#lang-fr").await;
    b.goto(&format!("{base}/admin/reports")).await;
    b.wait_text("#nav-reports", "Rapports").await;
    h.server.shutdown().await.unwrap();
}
