//! How long the org chart page takes with 1,000 technicians in 100 nested
//! groups: on the server (the whole HTML answer, over loopback) and in the
//! browser (navigation to load event, in headless chromium). Printed, not
//! asserted: a figure, not a test of speed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::webdriver::{Browser, unavailable};
use common::*;
use serde_json::json;

const GROUPS: usize = 100;
const TECHNICIANS: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_page_with_a_thousand_technicians() {
    let db = sqlite();
    let h = Harness::start(&db).await;
    let pool = &h.server.state.store.pool;
    // Straight into the database: 1,000 argon2 hashes would time the hash.
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = 1")
        .fetch_one(pool)
        .await
        .unwrap();
    let mut groups = Vec::new();
    for i in 0..GROUPS {
        // Ten top-level groups, nine sub-groups under each.
        let parent = if i % 10 == 0 {
            None
        } else {
            Some(groups[i - i % 10])
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO tech_groups (parent_id, name, description, enabled, permissions, \
             chat_mode, ip_mode, ip_ranges) VALUES ($1, $2, '', TRUE, 0, 'on', 'off', '') \
             RETURNING id",
        )
        .bind(parent)
        .bind(format!("Group {i:03}"))
        .fetch_one(pool)
        .await
        .unwrap();
        groups.push(id);
    }
    for i in 0..TECHNICIANS {
        sqlx::query(
            "INSERT INTO users (role, name, nickname, email, sso_id, description, password_hash, \
             password_changed_at, must_change_password, min_password_level, enabled, \
             tech_group_id, created_at) VALUES ('technician', $1, $2, $3, '', '', $4, 0, FALSE, \
             0, TRUE, $5, 0)",
        )
        .bind(format!("Technician {i:04}"))
        .bind(format!("T{i}"))
        .bind(format!("tech{i}@acme.test"))
        .bind(&hash)
        .bind(groups[i % GROUPS])
        .execute(pool)
        .await
        .unwrap();
    }

    // The server: the whole page, signed in with the page's cookie.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = http
        .post(format!("{}/login", h.base))
        .header("origin", &h.base)
        .form(&[("email", MASTER_EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let page = http
            .get(format!("{}/admin", h.base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), reqwest::StatusCode::OK);
        size = page.bytes().await.unwrap().len();
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "tree page, {TECHNICIANS} technicians in {GROUPS} groups: server {:.1} ms median of 5 \
         (min {:.1} ms), {} KiB of HTML",
        ms(times[2]),
        ms(times[0]),
        size / 1024
    );

    if let Some(why) = unavailable() {
        eprintln!("SKIPPED the browser half: {why}");
        h.server.shutdown().await.unwrap();
        return;
    }
    let b = Browser::start().await;
    b.goto(&format!("{}/login", h.base)).await;
    b.fill("#email", MASTER_EMAIL).await;
    b.fill("#password", PASSWORD).await;
    b.click("#login-submit").await;
    b.find("#tree").await;
    let mut loads = Vec::new();
    for _ in 0..3 {
        b.goto(&format!("{}/admin", h.base)).await;
        let v = b
            .js(
                "const n = performance.getEntriesByType('navigation')[0];\
                 return [n.responseEnd - n.startTime, n.domContentLoadedEventEnd - n.startTime,\
                         n.loadEventEnd - n.startTime,\
                         document.querySelectorAll('#tree li.leaf.technician').length];",
                json!([]),
            )
            .await;
        let v: Vec<f64> = serde_json::from_value(v).unwrap();
        assert_eq!(
            v[3] as usize, TECHNICIANS,
            "every technician is in the tree"
        );
        loads.push(v);
    }
    loads.sort_by(|a, b| a[2].total_cmp(&b[2]));
    let m = &loads[1];
    println!(
        "tree page in chromium: response {:.0} ms, DOM ready {:.0} ms, load {:.0} ms (median of 3)",
        m[0], m[1], m[2]
    );
    // The search box, typed as a person would, until the tree shows one match.
    let t = Instant::now();
    b.fill("#tree-search", "Technician 0999").await;
    b.wait_text("#tree", "tech999@acme.test").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while b
        .js(
            "return document.querySelectorAll('#tree li.leaf.technician').length",
            json!([]),
        )
        .await
        != json!(1)
    {
        assert!(
            Instant::now() < deadline,
            "the search did not narrow the tree"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "search to one match in chromium: {:.0} ms (250 ms of it is the typing pause)",
        ms(t.elapsed())
    );
    b.screenshot("tree-1000").await;
    h.server.shutdown().await.unwrap();
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
