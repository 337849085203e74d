//! The API is what its document says, tried by a schema-driven fuzzer:
//! schemathesis (from PyPI, installed by `scripts/setup.sh` into
//! `$HOME/.cache/secours-venv`) against a real `secours server` process on
//! SQLite, as the administrator `init` created. It fails on any server error
//! (5xx), any response whose status, content type or body the document does
//! not declare, any request the document allows that the server refuses as
//! malformed, and any request the document refuses that the server accepts. Without schemathesis the test prints `SKIPPED: ...`.
//!
//! Destructive calls do not hide the rest: the main run excludes the two
//! operations that end the caller's own access (logout, own password
//! change); each then runs alone, afterwards, with a token of its own.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

const EMAIL: &str = "root@acme.test";
const PASSWORD: &str = "Sample1%x";
/// Test cases per operation and phase: with ~45 operations this keeps the
/// whole run within a few minutes on two cores.
const MAX_EXAMPLES: &str = "40";
/// The operations that end the caller's own access, each fuzzed alone (each
/// path takes one method, so the path names the operation).
const DESTRUCTIVE: &[(&str, &str)] = &[
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/me/password"),
];

/// The schemathesis program: `SECOURS_SCHEMATHESIS`, the venv setup.sh
/// makes, or one on the PATH; None when none of them runs.
fn schemathesis() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("SECOURS_SCHEMATHESIS") {
        candidates.push(PathBuf::from(p));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(Path::new(&home).join(".cache/secours-venv/bin/schemathesis"));
    }
    candidates.push(PathBuf::from("schemathesis"));
    candidates.into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// The server process, killed when the test ends whichever way.
struct Server {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

fn start_server(dir: &Path) -> Server {
    let bin = env!("CARGO_BIN_EXE_secours");
    let db = format!("sqlite://{}?mode=rwc", dir.join("s.db").display());
    let mut init = Command::new(bin)
        .args(["server", "--database-url", &db, "init", "--org", "Acme"])
        .args(["--name", "Root", "--email", EMAIL])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    init.stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = init.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let log = dir.join("server.log");
    let mut child = Command::new(bin)
        .args(["server", "--database-url", &db])
        .args(["--listen", "127.0.0.1:0", "--stun-listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first.rsplit("http://").next().unwrap().trim().to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{first}");
    // Keep reading so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Server { child, addr, log }
}

/// One JSON request over HTTP/1.0 on loopback.
fn post(addr: &str, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let body = body.to_string();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let mut tcp = TcpStream::connect(addr).unwrap();
    write!(
        tcp,
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    tcp.read_to_string(&mut reply).unwrap();
    let status = reply
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {reply}"));
    let json = reply
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

fn login(addr: &str, email: &str, password: &str) -> String {
    let (status, v) = post(
        addr,
        "/api/v1/auth/login",
        None,
        &json!({"email": email, "password": password}),
    );
    assert_eq!(status, 200, "{v}");
    v["token"].as_str().unwrap().to_owned()
}

/// A technician allowed private sessions (the sessions routes are theirs),
/// logged in through its first password change.
fn technician(addr: &str, master: &str) -> String {
    let (s, group) = post(
        addr,
        "/api/v1/tech-groups",
        Some(master),
        &json!({"name": "Support", "settings": {"permissions": ["private_sessions", "chat"]}}),
    );
    assert_eq!(s, 201, "{group}");
    let (s, user) = post(
        addr,
        "/api/v1/users",
        Some(master),
        &json!({"role": "technician", "name": "Tech", "email": "tech@acme.test",
                "password": "Initial1%", "tech_group_id": group["id"]}),
    );
    assert_eq!(s, 201, "{user}");
    let first = login(addr, "tech@acme.test", "Initial1%");
    let (s, v) = post(
        addr,
        "/api/v1/me/password",
        Some(&first),
        &json!({"current_password": "Initial1%", "new_password": PASSWORD}),
    );
    assert_eq!(s, 200, "{v}");
    v["token"].as_str().unwrap().to_owned()
}

/// One schemathesis run over the operations `filter` selects, as `token`.
fn fuzz(program: &Path, server: &Server, dir: &Path, token: &str, filter: &[String]) {
    // A request the document allows may still meet the state of the
    // server (404, 409), a rule stated in prose (422) or a throttle (429);
    // never 400, which says the request is not what the document describes.
    // One it refuses is refused (a list longer than the document allows
    // may first exceed the body limit: 413).
    let config = dir.join("schemathesis.toml");
    std::fs::write(
        &config,
        "[checks.positive_data_acceptance]\n\
         expected-statuses = [\"2xx\", \"401\", \"403\", \"404\", \"409\", \"422\", \"429\"]\n\
         [checks.negative_data_rejection]\n\
         expected-statuses = [\"400\", \"401\", \"403\", \"404\", \"405\", \"409\", \"413\", \
         \"415\", \"422\", \"429\"]\n",
    )
    .unwrap();
    let out = Command::new(program)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("http://{}/api/v1/openapi.json", server.addr))
        .args(["--url", &format!("http://{}", server.addr)])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance,positive_data_acceptance,negative_data_rejection",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--seed", "16"])
        // One worker: with two, the fuzzer itself sometimes failed here
        // (CPython 3.11.7 parsing source in two threads at once: "AST
        // constructor recursion depth mismatch", CPython gh-106905).
        .args(["--workers", "1"])
        .args(["--request-timeout", "30"])
        .args(["--generation-database", "none"])
        .args(["--suppress-health-check", "all"])
        .args(["--report-dir", &dir.join("report").display().to_string()])
        .args(["--no-color", "--output-truncate", "false"])
        .args(filter)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The summary: operations, test cases, and what failed.
    println!("{stdout}");
    assert!(
        out.status.success(),
        "schemathesis found the API and its document disagree (above); stderr:\n{}\n\
         server log (tail):\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log_tail()
    );
}

#[test]
fn the_api_is_what_its_document_says() {
    let Some(program) = schemathesis() else {
        println!(
            "SKIPPED: schemathesis not found (run scripts/setup.sh, which installs it into \
             $HOME/.cache/secours-venv, or set SECOURS_SCHEMATHESIS)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    // Every token first: the fuzzer's wrong logins fill this address's
    // login throttle.
    let main = login(&server.addr, EMAIL, PASSWORD);
    let tech = technician(&server.addr, &main);
    let own: Vec<String> = DESTRUCTIVE
        .iter()
        .map(|_| login(&server.addr, EMAIL, PASSWORD))
        .collect();

    // The destructive paths take one method each: excluding the path is enough.
    let excluded = DESTRUCTIVE
        .iter()
        .map(|(_, p)| regex_escape(p))
        .collect::<Vec<_>>()
        .join("|");
    let keep = ["--exclude-path-regex".to_owned(), format!("^({excluded})$")];
    // The technician reaches the sessions' routes (a master opens no
    // private session), the master the organisation's; the technician runs
    // first, as the master's run may disable it or reset its password.
    for token in [&tech, &main] {
        fuzz(&program, &server, dir.path(), token, &keep);
    }
    for ((_, path), token) in DESTRUCTIVE.iter().zip(&own) {
        fuzz(
            &program,
            &server,
            dir.path(),
            token,
            &["--include-path".to_owned(), (*path).to_owned()],
        );
    }
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escape = !c.is_ascii_alphanumeric() && c != '/' && c != '_' && c != '-';
            escape.then_some('\\').into_iter().chain([c])
        })
        .collect()
}
