//! The technician's side of the demo: what a person at the console does.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use secours_codec::recording::{RecordedEvent, Side};
use secours_protocol::clipboard::ClipboardContent;
use secours_protocol::consent::{ConsentEvent, Decision};
use secours_protocol::pb::{self, EndReason, Permission};
use secours_protocol::session::Event;
use secours_protocol::{Message, Session, ShortAuthString};

use secours_transport::connector::{PathReport, Reports};

use super::video::ScreenViewer;
use secours_peer::{App, AppError, FileDesk};

pub struct Console {
    pub started: Instant,
    pub handshake_ms: Option<f64>,
    pub sas: Option<ShortAuthString>,
    pub consent_log: Vec<String>,
    pub refused_locally: Vec<String>,
    pub clipboard_in: Vec<String>,
    pub chat_in: Vec<String>,
    pub inputs_sent: usize,
    pub rtt_ms: Option<f64>,
    pub desk: FileDesk,
    file_to_send: PathBuf,
    file_offered: bool,
    closed: bool,
    /// The connector's race, when there is one: the technician does not
    /// hang up before it is decided, so the summary can say who won.
    race: Option<Reports>,
    pub race_log: Vec<String>,
    pub screen: ScreenViewer,
}

impl Console {
    pub fn new(
        desk: FileDesk,
        file_to_send: PathBuf,
        started: Instant,
        race: Option<Reports>,
        screen: ScreenViewer,
    ) -> Self {
        Self {
            started,
            handshake_ms: None,
            sas: None,
            consent_log: vec![],
            refused_locally: vec![],
            clipboard_in: vec![],
            chat_in: vec![],
            inputs_sent: 0,
            rtt_ms: None,
            desk,
            file_to_send,
            file_offered: false,
            closed: false,
            race,
            race_log: vec![],
            screen,
        }
    }

    fn take_control(&mut self, s: &mut Session, now: Instant) -> Result<()> {
        let script = [
            Message::PointerMove(pb::PointerMove { x: 640, y: 400 }),
            Message::PointerButton(pb::PointerButton {
                button: pb::Button::Left as i32,
                pressed: true,
                x: 640,
                y: 400,
            }),
            Message::PointerButton(pb::PointerButton {
                button: pb::Button::Left as i32,
                pressed: false,
                x: 640,
                y: 400,
            }),
            Message::PointerWheel(pb::PointerWheel { dx: 0, dy: -240 }),
            Message::Key(pb::Key {
                keysym: 0xFFE3,
                scancode: 0xE0,
                pressed: true,
                modifiers: 0,
            }),
            Message::Key(pb::Key {
                keysym: 0x70,
                scancode: 0x13,
                pressed: true,
                modifiers: 2,
            }),
            Message::Key(pb::Key {
                keysym: 0x70,
                scancode: 0x13,
                pressed: false,
                modifiers: 2,
            }),
            Message::Key(pb::Key {
                keysym: 0xFFE3,
                scancode: 0xE0,
                pressed: false,
                modifiers: 0,
            }),
            Message::Text(pb::Text {
                text: "lpstat -t".into(),
            }),
        ];
        for m in script {
            s.send_action(m, now)?;
            self.inputs_sent += 1;
        }
        // Not granted to this technician group: refused here, nothing sent.
        let reboot = Message::RebootRequest(pb::RebootRequest {
            mode: pb::RebootMode::Normal as i32,
        });
        match s.send_action(reboot, now) {
            Err(e) => self.refused_locally.push(format!("reboot: {e}")),
            Ok(()) => bail!("reboot should not be permitted in the demo group"),
        }
        s.clipboard_changed(
            ClipboardContent::Text("Ticket #4521: printer queue reset".into()),
            now,
        )?;
        if let Decision::Allowed = s.request(Permission::SendFiles, "printer-driver.bin", now)? {
            self.offer(s, now)?;
        }
        Ok(())
    }

    /// Sends a chat line and keeps it in the session's log.
    fn chat(&mut self, s: &mut Session, text: &str, now: Instant) -> Result<()> {
        s.send_chat(text, 0, now)?;
        self.screen.log(
            now,
            RecordedEvent::Chat {
                from: Side::Technician,
                text: text.into(),
            },
        )
    }

    fn offer(&mut self, s: &mut Session, now: Instant) -> Result<()> {
        if !self.file_offered {
            self.file_offered = true;
            let path = self.file_to_send.clone();
            self.desk.offer(s, &path, now)?;
        }
        Ok(())
    }
}

impl App for Console {
    fn on_event(&mut self, s: &mut Session, event: Event, now: Instant) -> Result<(), AppError> {
        Ok(self.handle(s, event, now)?)
    }

    fn poll(&mut self, s: &mut Session, now: Instant) -> Result<Option<Instant>, AppError> {
        self.step(s, now)?;
        // The connector's race is read from its reports: look again soon
        // while it is undecided.
        Ok(Some(now + std::time::Duration::from_millis(20)))
    }
}

impl Console {
    fn handle(&mut self, s: &mut Session, event: Event, now: Instant) -> Result<()> {
        match event {
            Event::Established(e) => {
                self.handshake_ms = Some(now.duration_since(self.started).as_secs_f64() * 1e3);
                self.sas = Some(e.sas);
                self.screen.log_start(now)?;
                self.chat(
                    s,
                    "Hello, I am Alex from the help desk. I will look at your printer.",
                    now,
                )?;
                match s.request(
                    Permission::RemoteControl,
                    "Alex wants to control your screen",
                    now,
                )? {
                    Decision::Allowed => self.take_control(s, now)?,
                    Decision::Pending(_) => self
                        .consent_log
                        .push("asked the customer for remote control".into()),
                }
            }
            Event::Consent(ConsentEvent::Granted { actions, .. }) => {
                self.consent_log
                    .push(format!("customer allowed {actions:?}"));
                self.screen.log(
                    now,
                    RecordedEvent::Control {
                        action: format!("{actions:?}"),
                        state: "granted by the customer".into(),
                    },
                )?;
                if actions.contains(&Permission::RemoteControl) {
                    self.take_control(s, now)?;
                }
                if actions.contains(&Permission::SendFiles) {
                    self.offer(s, now)?;
                }
            }
            Event::Consent(ConsentEvent::Refused {
                actions, reason, ..
            }) => {
                bail!("the customer refused {actions:?}: {reason}")
            }
            Event::Clipboard(ClipboardContent::Text(t)) => {
                self.screen.log(
                    now,
                    RecordedEvent::Clipboard {
                        from: Side::Customer,
                        kind: "text".into(),
                        bytes: t.len() as u64,
                    },
                )?;
                self.clipboard_in.push(t);
            }
            Event::Chat { text, .. } => {
                self.screen.log(
                    now,
                    RecordedEvent::Chat {
                        from: Side::Customer,
                        text: text.clone(),
                    },
                )?;
                self.chat_in.push(text);
            }
            Event::Message(m) => {
                self.screen.on_message(s, &m, now)?;
            }
            Event::Rtt(d) => self.rtt_ms = Some(d.as_secs_f64() * 1e3),
            Event::Transfer(t) => {
                let (sent, received) = (self.desk.sent.len(), self.desk.received.len());
                self.desk.on_event(s, &t, now)?;
                // Files that finished, with their MD5, into the session's log.
                let done = self.desk.sent[sent..]
                    .iter()
                    .map(|d| (Side::Technician, d))
                    .chain(
                        self.desk.received[received..]
                            .iter()
                            .map(|(d, _)| (Side::Customer, d)),
                    );
                let lines: Vec<RecordedEvent> = done
                    .map(|(from, d)| RecordedEvent::File {
                        from,
                        name: d.name.clone(),
                        size: d.size,
                        md5: hex::encode(d.md5),
                    })
                    .collect();
                for line in lines {
                    self.screen.log(now, line)?;
                }
            }
            Event::Closed { error: Some(e), .. } => bail!("console: session failed: {e}"),
            _ => {}
        }
        Ok(())
    }

    fn step(&mut self, s: &mut Session, now: Instant) -> Result<()> {
        self.desk.pump(s, now)?;
        let race_decided = match &self.race {
            None => true,
            Some(r) => {
                let all = r.all();
                let decided = all
                    .iter()
                    .any(|r| matches!(r, PathReport::Direct | PathReport::DirectFailed(_)));
                if decided && self.race_log.is_empty() {
                    let at = now.duration_since(self.started).as_secs_f64() * 1e3;
                    self.race_log = all
                        .iter()
                        .map(|r| format!("{r:?} (decided {at:.0} ms after start)"))
                        .collect();
                }
                decided
            }
        };
        let done = race_decided
            && !self.desk.sent.is_empty()
            && !self.desk.received.is_empty()
            && !self.clipboard_in.is_empty()
            && !self.chat_in.is_empty()
            && self.screen.satisfied();
        if done && !self.closed {
            self.closed = true;
            self.chat(s, "All fixed. Have a good day!", now)?;
            self.screen.log(
                now,
                RecordedEvent::SessionEnd {
                    reason: "closed by the technician".into(),
                },
            )?;
            s.close(
                EndReason::ByTechnician,
                "Session ended by the technician",
                now,
            );
        }
        Ok(())
    }
}
