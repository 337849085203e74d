//! The customer's side of the demo: a scripted customer who says yes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use secours_protocol::clipboard::ClipboardContent;
use secours_protocol::consent::ConsentEvent;
use secours_protocol::pb::EndReason;
use secours_protocol::session::Event;
use secours_protocol::transfer::TransferEvent;
use secours_protocol::{Message, Session};

use secours_transport::LinkStats;

use super::video::ScreenSender;
use secours_peer::{App, AppError, FileDesk};

pub struct Applet {
    pub prompts: Vec<String>,
    pub inputs: Vec<&'static str>,
    pub clipboard_in: Vec<String>,
    pub echo_suppressed: bool,
    pub chat_in: Vec<String>,
    pub end: Option<EndReason>,
    pub desk: FileDesk,
    file_to_send: PathBuf,
    file_offered: bool,
    pub screen: ScreenSender,
}

impl Applet {
    pub fn new(desk: FileDesk, file_to_send: PathBuf, screen: ScreenSender) -> Self {
        Self {
            prompts: vec![],
            inputs: vec![],
            clipboard_in: vec![],
            echo_suppressed: false,
            chat_in: vec![],
            end: None,
            desk,
            file_to_send,
            file_offered: false,
            screen,
        }
    }
}

impl App for Applet {
    fn on_event(&mut self, s: &mut Session, event: Event, now: Instant) -> Result<(), AppError> {
        Ok(self.handle(s, event, now)?)
    }

    fn poll(&mut self, s: &mut Session, now: Instant) -> Result<Option<Instant>, AppError> {
        self.screen.tick(s, now)?;
        self.desk.pump(s, now)?;
        Ok(Some(
            self.screen.next_at().max(now + Duration::from_millis(1)),
        ))
    }

    fn link_stats(&mut self, stats: &LinkStats) {
        self.screen.follow_link(stats.send_rate_bps);
    }

    fn video_dropped(&mut self, _frames: u64) {
        // The console lost a frame's references: start again from a keyframe.
        self.screen.keyframe_requested();
    }
}

impl Applet {
    fn handle(&mut self, s: &mut Session, event: Event, now: Instant) -> Result<()> {
        match event {
            Event::Consent(ConsentEvent::Prompt {
                id,
                actions,
                detail,
            }) => {
                self.prompts
                    .push(format!("{actions:?} ({detail}): customer clicks Allow"));
                s.answer_consent(id, true, now)?;
            }
            Event::Message(Message::KeyframeRequest(_)) => self.screen.keyframe_requested(),
            Event::Message(m) => {
                let kind = match m {
                    Message::PointerMove(_) => "move",
                    Message::PointerButton(_) => "button",
                    Message::PointerWheel(_) => "wheel",
                    Message::Key(_) => "key",
                    Message::Text(_) => "text",
                    _ => "other",
                };
                self.inputs.push(kind);
            }
            Event::Clipboard(content) => {
                if let ClipboardContent::Text(t) = &content {
                    self.clipboard_in.push(t.clone());
                }
                // The operating system reports the value we just set as a
                // change: the session must not send it back.
                self.echo_suppressed = !s.clipboard_changed(content, now)?;
                s.clipboard_changed(
                    ClipboardContent::Text(r"C:\Users\marie\printer-error.log".into()),
                    now,
                )?;
            }
            Event::Chat { text, .. } => {
                self.chat_in.push(text);
                if self.chat_in.len() == 1 {
                    s.send_chat(
                        "Thank you! It says 'queue stalled'. I will send you the log.",
                        0,
                        now,
                    )?;
                }
            }
            Event::Transfer(t) => {
                let received = matches!(t, TransferEvent::Received { .. });
                self.desk.on_event(s, &t, now)?;
                if received && !self.file_offered {
                    self.file_offered = true;
                    let path = self.file_to_send.clone();
                    self.desk.offer(s, &path, now)?;
                }
            }
            Event::Closed { reason, error } => {
                if let Some(e) = error {
                    bail!("applet: session failed: {e}");
                }
                self.end = Some(reason);
            }
            _ => {}
        }
        Ok(())
    }
}
