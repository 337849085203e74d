//! The session driver through the pair harness: two real sessions over two
//! links joined in memory with a one-way delay, on tokio's paused clock
//! (virtual time: deterministic, faster than real time).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use secours_peer::setup::{Pairing, capabilities, session_config};
use secours_peer::{App, AppError, Driver, DriverError, FileDesk};
use secours_protocol::consent::Decision;
use secours_protocol::pb::{EndReason, Permission, Role};
use secours_protocol::session::Event;
use secours_protocol::{Fingerprint, PermissionSet, Session, SessionToken};
use secours_transport::memory;

const CONSOLE_FP: [u8; 32] = [0xC0; 32];
const APPLET_FP: [u8; 32] = [0xA9; 32];

fn session(role: Role) -> Session {
    let (local, peer) = match role {
        Role::Console => (CONSOLE_FP, APPLET_FP),
        _ => (APPLET_FP, CONSOLE_FP),
    };
    let pairing = Pairing {
        role,
        session_id: "s-1".into(),
        local: Fingerprint::from_slice(&local).unwrap(),
        expected_peer: Fingerprint::from_slice(&peer).unwrap(),
        observed_peer: Fingerprint::from_slice(&peer).unwrap(),
        token: SessionToken::from_bytes([7; 32]),
    };
    let perms = PermissionSet::new(
        [
            Permission::Chat,
            Permission::SendFiles,
            Permission::ReceiveFiles,
        ],
        [],
    );
    let config = session_config(&pairing, perms, capabilities(false, false)).unwrap();
    Session::new(config, tokio::time::Instant::now().into_std())
}

fn write_file(path: &PathBuf, len: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(path, &data).unwrap();
    data
}

/// The technician: says hello, sends a file, ends once both are done.
struct Technician {
    desk: FileDesk,
    file: PathBuf,
    chat_in: Vec<String>,
    ended: bool,
}

impl Technician {
    fn new(dir: &std::path::Path, file: PathBuf) -> Self {
        Self {
            desk: FileDesk::new(dir),
            file,
            chat_in: vec![],
            ended: false,
        }
    }
}

/// The console's and the applet's links, joined in memory.
fn links(one_way: Duration) -> (secours_transport::Link, secours_transport::Link) {
    memory::pair(
        one_way,
        Fingerprint::from_slice(&CONSOLE_FP).unwrap(),
        Fingerprint::from_slice(&APPLET_FP).unwrap(),
    )
}

impl App for Technician {
    fn on_event(&mut self, s: &mut Session, event: Event, now: Instant) -> Result<(), AppError> {
        match event {
            Event::Established(_) => {
                s.send_chat("hello from the console", 0, now)?;
                if let Decision::Allowed = s.request(Permission::SendFiles, "a file", now)? {
                    let file = self.file.clone();
                    self.desk.offer(s, &file, now)?;
                }
            }
            Event::Chat { text, .. } => self.chat_in.push(text),
            Event::Transfer(t) => self.desk.on_event(s, &t, now)?,
            Event::Closed { error: Some(e), .. } => return Err(e.to_string().into()),
            _ => {}
        }
        Ok(())
    }

    fn poll(&mut self, s: &mut Session, now: Instant) -> Result<Option<Instant>, AppError> {
        self.desk.pump(s, now)?;
        if !self.ended && !self.desk.sent.is_empty() && !self.chat_in.is_empty() {
            self.ended = true;
            s.close(EndReason::ByTechnician, "done", now);
        }
        Ok(None)
    }
}

/// The customer: answers the chat, receives the file.
struct Customer {
    desk: FileDesk,
    chat_in: Vec<String>,
    end: Option<EndReason>,
}

impl App for Customer {
    fn on_event(&mut self, s: &mut Session, event: Event, now: Instant) -> Result<(), AppError> {
        match event {
            Event::Chat { text, .. } => {
                self.chat_in.push(text);
                s.send_chat("hello from the applet", 0, now)?;
            }
            Event::Transfer(t) => self.desk.on_event(s, &t, now)?,
            Event::Closed { reason, error } => {
                if let Some(e) = error {
                    return Err(e.to_string().into());
                }
                self.end = Some(reason);
            }
            _ => {}
        }
        Ok(())
    }

    fn poll(&mut self, s: &mut Session, now: Instant) -> Result<Option<Instant>, AppError> {
        self.desk.pump(s, now)?;
        Ok(None)
    }
}

#[tokio::test(start_paused = true)]
async fn a_session_runs_to_its_end_over_the_pair_harness() {
    let dir = tempfile::tempdir().unwrap();
    let (console_dir, applet_dir) = (dir.path().join("c"), dir.path().join("a"));
    std::fs::create_dir_all(&console_dir).unwrap();
    std::fs::create_dir_all(&applet_dir).unwrap();
    let file = console_dir.join("driver.bin");
    let data = write_file(&file, 3 << 20);

    let (mut console_link, mut applet_link) = links(Duration::from_millis(20));
    let mut technician = Technician::new(&console_dir, file);
    let mut customer = Customer {
        desk: FileDesk::new(&applet_dir),
        chat_in: vec![],
        end: None,
    };
    let applet = tokio::spawn(async move {
        let mut s = session(Role::Applet);
        let r = Driver::new()
            .with_limit(Duration::from_secs(60))
            .run(&mut s, &mut applet_link, &mut customer)
            .await;
        (r, customer)
    });
    let mut s = session(Role::Console);
    let path = Driver::new()
        .with_limit(Duration::from_secs(60))
        .run(&mut s, &mut console_link, &mut technician)
        .await;
    path.unwrap();
    drop(console_link);
    let (r, customer) = applet.await.unwrap();
    r.unwrap();

    assert_eq!(customer.end, Some(EndReason::ByTechnician));
    assert_eq!(customer.chat_in, ["hello from the console"]);
    assert_eq!(technician.chat_in, ["hello from the applet"]);
    let (done, at) = &customer.desk.received[0];
    assert!(done.verified, "the receiver's MD5 matched");
    assert_eq!(std::fs::read(at).unwrap(), data);
    assert!(technician.desk.sent[0].verified);
}

#[tokio::test(start_paused = true)]
async fn a_link_that_closes_under_an_open_session_is_an_error() {
    let (mut console_link, applet_link) = links(Duration::from_millis(5));
    let dir = tempfile::tempdir().unwrap();
    let mut technician = Technician::new(dir.path(), dir.path().join("none"));
    // The customer's side goes away before any handshake.
    drop(applet_link);
    let mut s = session(Role::Console);
    let r = Driver::new()
        .with_limit(Duration::from_secs(60))
        .run(&mut s, &mut console_link, &mut technician)
        .await;
    assert!(matches!(r, Err(DriverError::LinkClosed)), "{r:?}");
}

#[tokio::test(start_paused = true)]
async fn a_session_that_never_ends_hits_the_limit() {
    let (mut console_link, _applet_link) = links(Duration::from_millis(5));
    let dir = tempfile::tempdir().unwrap();
    let mut technician = Technician::new(dir.path(), dir.path().join("none"));
    let mut s = session(Role::Console);
    // The applet's link stays open but nobody drives it: the handshake
    // times out first (the session closes with an error) or the limit hits.
    let r = Driver::new()
        .with_limit(Duration::from_secs(5))
        .run(&mut s, &mut console_link, &mut technician)
        .await;
    assert!(r.is_err(), "{r:?}");
}
