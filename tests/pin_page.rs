//! SESS-1 through the customer's web page, with the real programs: the
//! technician's console makes a PIN, the customer enters it on the PIN page
//! (`POST /`, as the browser sends it), and the command the page shows
//! starts an applet already bound to the session, which the technician
//! picks up.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};

use common::*;
use serde_json::json;

/// The page's answer to a PIN, over a plain HTTP/1.1 connection.
fn post_pin(base: &str, pin: &str) -> String {
    let host = base.trim_start_matches("http://");
    let body = format!("pin={pin}&name=Sam");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: {host}\r\nOrigin: {base}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    page
}

#[test]
fn the_pin_page_binds_the_applet_to_the_session() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let mut procs = Procs(vec![]);
    let base = server(&mut procs, dir);
    let (events, mut commands) = console(&mut procs, &base, dir, &["--headless"]);
    send(&mut commands, json!({"cmd": "create_pin"}));
    let pin = event(&events, "pin", |_| true);
    let sid = pin["session_id"].as_str().unwrap().to_owned();

    let page = post_pin(&base, pin["pin"].as_str().unwrap());
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let command = page
        .split("<pre id=\"joined-command\">")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .unwrap_or_else(|| panic!("no command on the page: {page}"));
    let words: Vec<&str> = command.split_whitespace().collect();
    let arg = |flag: &str| {
        let i = words.iter().position(|w| *w == flag).unwrap();
        words[i + 1]
    };
    assert_eq!(
        arg("--session"),
        sid,
        "the page bound the technician's session"
    );
    // The page's own --server is the configured public URL; the helper
    // gives the test server's.
    let (child, said, _stdin) = applet(
        dir,
        &base,
        &["--session", arg("--session"), "--token", arg("--token")],
    );
    procs.0.push(child);
    event(&events, "queue", |v| v["sessions"][0]["id"] == sid.as_str());
    send(&mut commands, json!({"cmd": "pickup", "session_id": sid}));
    event(&events, "established", |_| true);
    expect_line(&said, "the technician joining", |l| {
        l.contains("joined the session").then_some(())
    });
    // A code used once is used: the same PIN again is refused on the page.
    let again = post_pin(&base, pin["pin"].as_str().unwrap());
    assert!(again.starts_with("HTTP/1.1 404"), "{again}");
    assert!(again.contains("wrong, used or expired"), "{again}");
}
