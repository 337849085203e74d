//! A console built to skip its own checks, against a real `secours applet`
//! on an Xvfb display with an xterm: it claims every permission, and writes
//! raw frames the group does not grant (reboot, system information) or the
//! customer refused (input), then a flood of input, then a file name that
//! escapes the folder. The server refuses what the group lacks; the applet
//! refuses every such frame (nothing reaches the xterm, nothing restarts),
//! says so without flooding the customer, keeps serving (chat still
//! arrives), and ends the session with a typed error on the malformed name,
//! without a panic.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use secours_peer::client::{ServerClient, SignalingSocket};
use secours_peer::connect::{PathChoice, Route, meet};
use secours_peer::setup::{capabilities, session_config};
use secours_peer::{App, AppError, Driver};
use secours_protocol::consent::{ConsentEvent, Decision};
use secours_protocol::pb::{self, Permission, Role};
use secours_protocol::session::Event;
use secours_protocol::signaling::{PeerMessage, Secret, ServerMessage};
use secours_protocol::{Channel, Message, PermissionSet, Session};
use secours_transport::LocalIdentity;
use secours_transport::link::LinkSender;
use tokio::sync::mpsc;

/// What the rogue console does, step by step, as the session goes.
struct Rogue {
    raw: LinkSender,
    step: u32,
    log: std::sync::mpsc::Sender<&'static str>,
    go: std::sync::mpsc::Receiver<()>,
}

/// A frame as a rogue writes it: no field check (the length prefix, then
/// the envelope).
fn frame(m: Message) -> Bytes {
    use prost::Message as _;
    let body = pb::Envelope { msg: Some(m) }.encode_to_vec();
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    Bytes::from(out)
}

impl Rogue {
    /// Writes frames straight on the link: no check of its own.
    fn raw(&self, channel: Channel, frames: Vec<Bytes>) {
        let raw = self.raw.clone();
        tokio::spawn(async move {
            for f in frames {
                if raw.send(channel, f).await.is_err() {
                    break;
                }
            }
        });
    }
}

impl App for Rogue {
    fn on_event(&mut self, s: &mut Session, event: Event, now: Instant) -> Result<(), AppError> {
        match event {
            Event::Established(_) => {
                // A proper request the customer will refuse.
                assert_eq!(
                    s.request(Permission::RemoteControl, "let me in", now)?,
                    Decision::Pending(1)
                );
                let _ = self.log.send("asked");
            }
            Event::Consent(ConsentEvent::Refused { .. }) => {
                let _ = self.log.send("refused");
            }
            Event::Closed { .. } => {
                let _ = self.log.send("closed");
            }
            _ => {}
        }
        Ok(())
    }

    fn poll(&mut self, s: &mut Session, now: Instant) -> Result<Option<Instant>, AppError> {
        if self.go.try_recv().is_err() {
            return Ok(Some(now + Duration::from_millis(20)));
        }
        self.step += 1;
        match self.step {
            1 => {
                // Not granted to the group, and input without consent.
                self.raw(
                    Channel::Control,
                    vec![
                        frame(Message::RebootRequest(pb::RebootRequest {
                            mode: pb::RebootMode::Normal as i32,
                        })),
                        frame(Message::SystemInfoRequest(pb::SystemInfoRequest { id: 9 })),
                    ],
                );
                let typed = "echo hacked > hacked.txt\n";
                let mut flood = vec![frame(Message::Text(pb::Text { text: typed.into() }))];
                for i in 0..5000 {
                    flood.push(frame(Message::PointerMove(pb::PointerMove {
                        x: i % 300,
                        y: i % 200,
                    })));
                }
                self.raw(Channel::Input, flood);
            }
            2 => {
                // Still served: chat goes through the session as it should.
                s.send_chat("still there?", 0, now)?;
            }
            _ => {
                // A file name that leaves the customer's folder.
                self.raw(
                    Channel::File,
                    vec![frame(Message::FileOffer(pb::FileOffer {
                        id: 1,
                        name: "../../.bashrc".into(),
                        size: 10,
                        modified_unix: 0,
                        target_dir: String::new(),
                    }))],
                );
            }
        }
        Ok(Some(now + Duration::from_millis(20)))
    }
}

#[test]
fn the_applet_refuses_what_a_rogue_console_sends_and_survives() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut procs = Procs(vec![]);
    let Some(display) = desktop(&mut procs, dir, &[]) else {
        return;
    };
    // The group grants viewing, control (with consent) and chat: no
    // reboot, no system information.
    let base = server_with(
        &mut procs,
        dir,
        &["chat", "remote_control", "desktop_view", "private_sessions"],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (log_tx, log) = std::sync::mpsc::channel();
    let (go, go_rx) = std::sync::mpsc::channel();
    let (base2, dir2) = (base.clone(), dir.to_owned());
    let display2 = display.clone();
    let (applet_tx, applet_rx) = std::sync::mpsc::channel();
    let rogue = rt.spawn(async move {
        let anon = ServerClient::new(&base2).unwrap();
        let login = anon.login(TECH, Secret::from(PASSWORD)).await.unwrap();
        let client = anon.with_token(login.token);
        let mut ws = SignalingSocket::console(&client).await.unwrap();
        let pin = client.create_session().await.unwrap();
        let sid = pin.session.id.clone();
        let mut applet = Command::new(BIN)
            .args(["applet", "--terminal", "--server", &base2])
            .args(["--pin", pin.pin.expose()])
            .args(["--display", &display2, "--encoder", "aom", "--path", "relay"])
            .arg("--reboot-command")
            .arg(format!("touch {}", dir2.join("rebooted").display()))
            .env("DISPLAY", &display2)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir2.join("applet.log")).unwrap())
            .spawn()
            .unwrap();
        let said = lines(&mut applet);
        let customer = applet.stdin.take().unwrap();
        let stderr = std::fs::File::open(dir2.join("applet.log")).unwrap();
        applet_tx.send((applet, said, customer, stderr)).unwrap();
        ws.next_where(
            WAIT,
            |m| match m {
                ServerMessage::Queue { sessions, .. } if sessions.iter().any(|s| s.id == sid) => {
                    Some(())
                }
                _ => None,
            },
            |_| {},
        )
        .await
        .unwrap();
        client.pickup(&sid).await.unwrap();
        // The server refuses what the group lacks.
        let may: serde_json::Value = reqwest::Client::new()
            .post(format!("{base2}/api/v1/sessions/{sid}/may"))
            .bearer_auth(client.token().unwrap().expose())
            .json(&serde_json::json!({"action": "reboot"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(may["reason"], "not_granted", "{may}");

        let (sig_tx, mut signals) = mpsc::channel(16);
        let (out, mut out_rx) = mpsc::channel::<PeerMessage>(16);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    m = ws.next() => match m {
                        Ok(ServerMessage::Signal { payload, .. }) => { let _ = sig_tx.send(payload).await; }
                        Ok(_) => {}
                        Err(_) => break,
                    },
                    m = out_rx.recv() => match m {
                        Some(m) => { let _ = ws.send(&m).await; }
                        None => break,
                    },
                }
            }
        });
        let identity = LocalIdentity::generate().unwrap();
        let route = Route {
            path: PathChoice::Relay,
            ..Route::default()
        };
        let meeting = meet(Role::Console, &sid, &mut signals, &out, &identity, &route)
            .await
            .unwrap();
        let mut link = meeting.link;
        // It claims every permission; the handshake keeps the applet's set.
        let everything = PermissionSet::new(
            (1..=18).filter_map(|n| Permission::try_from(n).ok()),
            [],
        );
        let cfg = session_config(&meeting.pairing, everything, capabilities(false, false)).unwrap();
        let mut session = Session::new(cfg, Instant::now());
        let mut app = Rogue {
            raw: link.sender(),
            step: 0,
            log: log_tx,
            go: go_rx,
        };
        let _ = Driver::new()
            .with_limit(Duration::from_secs(90))
            .run(&mut session, &mut link, &mut app)
            .await;
    });

    let (mut applet, said, mut customer, mut stderr) =
        applet_rx.recv_timeout(WAIT).expect("the applet started");
    // The customer refuses control.
    expect_line(&said, "the control question", |l| {
        l.contains("control your screen").then_some(())
    });
    writeln!(customer, "n").unwrap();
    customer.flush().unwrap();
    assert_eq!(log.recv_timeout(WAIT).unwrap(), "asked");
    assert_eq!(log.recv_timeout(WAIT).unwrap(), "refused");

    // Raw frames: refused by the applet, said once each.
    go.send(()).unwrap();
    let mut blocked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while blocked.len() < 3 && Instant::now() < deadline {
        if let Ok(l) = said.recv_timeout(Duration::from_millis(200))
            && l.starts_with("Blocked:")
        {
            blocked.push(l);
        }
    }
    blocked.sort();
    assert_eq!(
        blocked,
        [
            "Blocked: your technician tried to control your screen without your permission.",
            "Blocked: your technician tried to read your system information without your permission.",
            "Blocked: your technician tried to restart your computer without your permission.",
        ],
        "each refusal said once"
    );
    // Still serving: the chat arrives, and no more lines came for the flood.
    go.send(()).unwrap();
    let chat = expect_line(&said, "the chat", |l| {
        l.starts_with("Technician: ").then(|| l.to_owned())
    });
    assert_eq!(chat, "Technician: still there?");
    std::thread::sleep(Duration::from_millis(500));
    assert!(!dir.join("hacked.txt").exists(), "input reached the xterm");
    assert!(!dir.join("rebooted").exists(), "the reboot ran");

    // The escaping file name ends the session with a typed error.
    go.send(()).unwrap();
    let status = {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(s) = applet.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "the applet did not end");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut err).unwrap();
    assert!(!status.success(), "{err}");
    assert!(err.contains("name"), "a typed error about the name: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        std::fs::read_dir(dir)
            .unwrap()
            .all(|e| e.unwrap().file_name() != ".bashrc")
    );
    drop(said);
    rt.block_on(rogue).unwrap();
}
