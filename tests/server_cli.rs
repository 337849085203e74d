//! `secours server` as an operator runs it: `init`, then the node prints
//! where it listens and which database it uses, serves, and shuts down
//! gracefully on SIGTERM; `audit-verify` checks the chain.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

#[test]
fn init_serve_and_stop() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let bin = env!("CARGO_BIN_EXE_secours");
    let mut init = Command::new(bin)
        .args([
            "server",
            "--database-url",
            &db,
            "init",
            "--org",
            "Acme",
            "--name",
            "Root",
            "--email",
            "root@acme.test",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    init.stdin
        .take()
        .unwrap()
        .write_all(b"Sample1%x\n")
        .unwrap();
    let out = init.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("organisation \"Acme\" created"));
    // A second init is refused: set-up happens once.
    let again = Command::new(bin)
        .args(["server", "--database-url", &db, "init", "--token"])
        .output()
        .unwrap();
    assert!(!again.status.success());

    let mut node = Command::new(bin)
        .args([
            "server",
            "--database-url",
            &db,
            "--listen",
            "127.0.0.1:0",
            "--stun-listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.starts_with("secours server listening on http://127.0.0.1:"),
        "{first}"
    );
    let addr = first.rsplit("http://").next().unwrap().to_owned();
    let db_line = lines.next().unwrap().unwrap();
    assert!(db_line.contains("database: sqlite://"), "{db_line}");
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .write_all(b"GET /api/v1/health HTTP/1.0\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut stream, &mut reply).unwrap();
    assert!(reply.contains("\"status\":\"ok\""), "{reply}");
    let kill = Command::new("kill")
        .args(["-TERM", &node.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = node.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("shutting down")), "{rest:?}");

    let verify = Command::new(bin)
        .args(["server", "--database-url", &db, "audit-verify"])
        .output()
        .unwrap();
    assert!(verify.status.success());
    assert!(String::from_utf8_lossy(&verify.stdout).contains("audit chain intact"));
}
