//! The NAT lab: two private LANs behind Linux NATs (nftables) and a public
//! segment with the STUN responder, all in network namespaces this test
//! makes and removes. Asserts which path each pair of NATs ends on.
//!
//! Needs root (CI is root): without it the tests are ignored, and reported
//! as such, by `scripts/test.sh` which passes `--include-ignored` as root.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// One lab at a time: the namespaces have fixed names.
static LAB: Mutex<()> = Mutex::new(());

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Nat {
    /// Linux masquerade: endpoint-independent mapping, port-restricted filtering.
    PortRestricted,
    /// A new random port for every destination.
    Symmetric,
}

fn sh(cmd: &str) {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Lab;

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in ["sl-pub", "sl-nat-a", "sl-nat-b", "sl-a", "sl-b"] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// The NAT's rules. Like a home router, it drops unsolicited packets from the
/// WAN before conntrack confirms an entry for them: otherwise a peer's early
/// probe would take the mapping the outgoing one needs, and Linux would pick
/// another port (turning the NAT symmetric by accident).
fn nft_nat(ns: &str, nat: Nat) {
    let how = match nat {
        Nat::PortRestricted => "masquerade",
        Nat::Symmetric => "masquerade random",
    };
    let rules = format!(
        "table ip nat {{\n  chain post {{\n    type nat hook postrouting priority 100;\n    oifname \"wan\" {how}\n  }}\n}}\n\
         table ip filter {{\n  chain forwarding {{\n    type filter hook forward priority 0; policy drop;\n    \
         ct state established,related accept\n    iifname \"lan\" accept\n  }}\n\
         chain input {{\n    type filter hook input priority 0; policy drop;\n    \
         ct state established,related accept\n    iifname {{ \"lo\", \"lan\" }} accept\n  }}\n}}\n"
    );
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("nft");
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(rules.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "nft rules in {ns}");
}

fn build(a: Nat, b: Nat) -> Lab {
    let lab = Lab;
    drop(Lab); // clean leftovers of an earlier run
    for ns in ["sl-pub", "sl-nat-a", "sl-nat-b", "sl-a", "sl-b"] {
        sh(&format!("ip netns add {ns} && ip -n {ns} link set lo up"));
    }
    for (side, net, nat) in [("a", 10, a), ("b", 20, b)] {
        let r = format!("sl-nat-{side}");
        let h = format!("sl-{side}");
        // public segment: pub <-> nat wan
        sh(&format!(
            "ip link add pub-{side} netns sl-pub type veth peer name wan netns {r}"
        ));
        sh(&format!(
            "ip -n sl-pub addr add 10.99.{net}.1/24 dev pub-{side} && ip -n sl-pub link set pub-{side} up"
        ));
        sh(&format!(
            "ip -n {r} addr add 10.99.{net}.2/24 dev wan && ip -n {r} link set wan up"
        ));
        sh(&format!("ip -n {r} route add default via 10.99.{net}.1"));
        // private LAN: nat lan <-> host
        sh(&format!(
            "ip link add lan netns {r} type veth peer name eth0 netns {h}"
        ));
        sh(&format!(
            "ip -n {r} addr add 192.168.{net}.1/24 dev lan && ip -n {r} link set lan up"
        ));
        sh(&format!(
            "ip -n {h} addr add 192.168.{net}.2/24 dev eth0 && ip -n {h} link set eth0 up"
        ));
        sh(&format!("ip -n {h} route add default via 192.168.{net}.1"));
        sh(&format!(
            "ip netns exec {r} sysctl -qw net.ipv4.ip_forward=1"
        ));
        nft_nat(&r, nat);
    }
    sh("ip netns exec sl-pub sysctl -qw net.ipv4.ip_forward=1");
    lab
}

fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name)
}

static SESSION_TOKEN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    rand::random::<[u8; 32]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
});

fn spawn(ns: &str, args: &[&str]) -> (Child, BufReader<std::process::ChildStdout>, ChildStdin) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(example("natpeer"))
        .args(args)
        // The per-session secret the server would hand both peers.
        .env("LAB_SESSION_TOKEN", &*SESSION_TOKEN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("natpeer");
    let out = BufReader::new(child.stdout.take().unwrap());
    let inp = child.stdin.take().unwrap();
    (child, out, inp)
}

fn line(r: &mut BufReader<std::process::ChildStdout>) -> String {
    let mut s = String::new();
    r.read_line(&mut s).unwrap();
    s.trim().to_owned()
}

/// Runs the two peers through the lab, with or without the relay hub (on
/// the public segment); returns each one's RESULT line.
fn session(a: Nat, b: Nat, with_relay: bool) -> (String, String) {
    let _guard = LAB.lock().unwrap_or_else(|e| e.into_inner());
    let _lab = build(a, b);
    let (mut stun, mut stun_out, _i) = spawn("sl-pub", &["stun", "0.0.0.0:3478"]);
    assert_eq!(line(&mut stun_out), "ready");
    let mut hub = None;
    let mut token = String::new();
    if with_relay {
        let (h, mut h_out, h_in) = spawn("sl-pub", &["hub", "0.0.0.0:8080"]);
        let ready = line(&mut h_out);
        token = ready.strip_prefix("ready ").expect("hub ready").to_owned();
        hub = Some((h, h_in));
    }
    let relay_a = ["ws://10.99.10.1:8080", token.as_str()];
    let relay_b = ["ws://10.99.20.1:8080", token.as_str()];
    let mut c_args = vec!["console", "0.0.0.0:0", "192.168.10.2", "10.99.10.1:3478"];
    let mut p_args = vec!["applet", "0.0.0.0:0", "192.168.20.2", "10.99.20.1:3478"];
    if with_relay {
        c_args.extend(relay_a);
        p_args.extend(relay_b);
    }
    let (mut c, mut c_out, mut c_in) = spawn("sl-a", &c_args);
    let (mut p, mut p_out, mut p_in) = spawn("sl-b", &p_args);
    let c_me = line(&mut c_out);
    let p_me = line(&mut p_out);
    assert!(
        c_me.starts_with("ME ") && c_me.contains("srflx=10.99.10.2:"),
        "{c_me}"
    );
    assert!(
        p_me.starts_with("ME ") && p_me.contains("srflx=10.99.20.2:"),
        "{p_me}"
    );
    // The server swaps them.
    writeln!(c_in, "PEER {}", &p_me[3..]).unwrap();
    writeln!(p_in, "PEER {}", &c_me[3..]).unwrap();
    let (c_res, p_res) = (line(&mut c_out), line(&mut p_out));
    for child in [&mut c, &mut p, &mut stun] {
        let _ = child.kill();
        let _ = child.wait();
    }
    if let Some((mut h, _)) = hub {
        let _ = h.kill();
        let _ = h.wait();
    }
    std::thread::sleep(Duration::from_millis(50));
    (c_res, p_res)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

#[test]
#[ignore = "needs root and network namespaces; scripts/test.sh runs it as root"]
fn port_restricted_nats_punch_through() {
    assert!(is_root(), "the NAT lab needs root");
    let (c, p) = session(Nat::PortRestricted, Nat::PortRestricted, false);
    // Each reached the other's NAT (its public address), not a private one.
    assert!(c.starts_with("RESULT direct 10.99.20.2:"), "console: {c}");
    assert!(p.starts_with("RESULT direct 10.99.10.2:"), "applet: {p}");
}

#[test]
#[ignore = "needs root and network namespaces; scripts/test.sh runs it as root"]
fn session_behind_port_restricted_nats_moves_to_direct() {
    assert!(is_root(), "the NAT lab needs root");
    let (c, p) = session(Nat::PortRestricted, Nat::PortRestricted, true);
    assert!(c.starts_with("RESULT direct 10.99.20.2:"), "console: {c}");
    assert!(p.starts_with("RESULT direct 10.99.10.2:"), "applet: {p}");
    same_session(&c, &p);
}

/// Both peers ran a whole protocol session over the lab's link and read
/// the same short authentication string (both fingerprints bound end to end).
fn same_session(c: &str, p: &str) {
    let field = |line: &str, name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .map(str::to_owned)
    };
    assert!(
        c.contains("session=ok") && p.contains("session=ok"),
        "{c} / {p}"
    );
    let sas = field(c, "sas=");
    assert!(sas.as_ref().is_some_and(|s| s.len() == 6), "console: {c}");
    assert_eq!(sas, field(p, "sas="), "{c} / {p}");
    assert_eq!(field(c, "chats=").as_deref(), Some("2"), "{c}");
    assert_eq!(field(p, "chats=").as_deref(), Some("2"), "{p}");
}

#[test]
#[ignore = "needs root and network namespaces; scripts/test.sh runs it as root"]
fn session_behind_a_symmetric_nat_stays_on_the_relay() {
    assert!(is_root(), "the NAT lab needs root");
    let (c, p) = session(Nat::Symmetric, Nat::PortRestricted, true);
    // Messages crossed before and after the failed race, through the hub.
    assert!(
        c.starts_with("RESULT relay 10.99.10.1:8080"),
        "console: {c}"
    );
    assert!(p.starts_with("RESULT relay 10.99.20.1:8080"), "applet: {p}");
    same_session(&c, &p);
}
