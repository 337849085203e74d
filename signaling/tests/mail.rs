//! SEC-9 notifications leave the outbox through SMTP when a relay is
//! configured (a minimal SMTP sink plays the relay).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// Accepts SMTP sessions and hands each received message (DATA) over.
async fn sink(listener: tokio::net::TcpListener, out: mpsc::UnboundedSender<String>) {
    while let Ok((stream, _)) = listener.accept().await {
        let out = out.clone();
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut lines = BufReader::new(r).lines();
            w.write_all(b"220 sink ESMTP\r\n").await.unwrap();
            let mut in_data = false;
            let mut message = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if in_data {
                    if line == "." {
                        in_data = false;
                        out.send(std::mem::take(&mut message)).unwrap();
                        w.write_all(b"250 queued\r\n").await.unwrap();
                    } else {
                        message.push_str(&line);
                        message.push('\n');
                    }
                    continue;
                }
                let verb = line.split_whitespace().next().unwrap_or("").to_uppercase();
                let reply: &[u8] = match verb.as_str() {
                    "EHLO" | "HELO" => b"250 sink\r\n",
                    "DATA" => {
                        in_data = true;
                        b"354 go on\r\n"
                    }
                    "QUIT" => {
                        w.write_all(b"221 bye\r\n").await.unwrap();
                        break;
                    }
                    _ => b"250 ok\r\n",
                };
                w.write_all(reply).await.unwrap();
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_mailed_to_master_administrators() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(sink(listener, tx));
    let db = sqlite();
    let h = Harness::start_with(&db, |c| {
        c.smtp = Some(secours_signaling::config::Smtp {
            host: "127.0.0.1".into(),
            port,
            starttls: false,
            username: None,
            password: None,
            from: "secours@acme.test".into(),
        });
    })
    .await;
    // The harness's master login already queued "successful login".
    let (s, _) = h.login(MASTER_EMAIL, "wrong password").await;
    assert_eq!(s, reqwest::StatusCode::UNAUTHORIZED);
    let mut subjects = Vec::new();
    while !subjects.iter().any(|s: &String| s.contains("failed login")) {
        let mail = tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv())
            .await
            .expect("no mail within 20 s")
            .unwrap();
        assert!(mail.contains(&format!("To: {MASTER_EMAIL}")), "{mail}");
        assert!(mail.contains("From: secours@acme.test"), "{mail}");
        subjects.push(
            mail.lines()
                .find(|l| l.starts_with("Subject:"))
                .unwrap_or("")
                .to_owned(),
        );
    }
    assert!(
        subjects.iter().any(|s| s.contains("successful login")),
        "{subjects:?}"
    );
    // The outbox records what was sent.
    let (_, out) = h.get("/api/v1/outbox", &[], &h.master).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut out = out;
    while out
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["sent_at"].is_null())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "outbox not marked sent: {out}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        out = h.get("/api/v1/outbox", &[], &h.master).await.1;
    }
    h.server.shutdown().await.unwrap();
}
