//! What the application asks of a session. Every command checks the role and
//! the permission set on this side before anything is sent; the applet checks
//! again on receipt (the server checked before either).

use std::time::Instant;

use bytes::Bytes;

use super::{Live, Phase, Session, action_of};
use crate::clipboard::ClipboardContent;
use crate::consent::Decision;
use crate::error::CommandError;
use crate::pb::{self, CancelReason, ChatMode, ControlAction, EndReason, Permission, Role};
use crate::transfer::FileWindow;
use crate::wire::Message;
use crate::wire::validate::{Violation, validate};

impl Session {
    fn live(&mut self) -> Result<&mut Live, CommandError> {
        match &mut self.phase {
            Phase::Live(live) => Ok(live),
            _ => Err(CommandError::NotEstablished),
        }
    }

    fn only(&self, role: Role) -> Result<(), CommandError> {
        if self.role != role {
            return Err(CommandError::WrongRole(if self.role == Role::Console {
                "console"
            } else {
                "applet"
            }));
        }
        Ok(())
    }

    /// Queues, flushes the sub-machines and updates the keepalive clock.
    fn finish(&mut self, now: Instant) {
        self.flush_live();
        self.mark_sent(now);
    }

    fn checked(message: &Message) -> Result<(), CommandError> {
        validate(message).map_err(|Violation { field, reason }| {
            CommandError::Invalid(format!("{field}: {reason}"))
        })
    }

    /// Console: asks to start an action, prompting the customer if the group
    /// requires it. `detail` is shown to the customer.
    pub fn request(
        &mut self,
        action: Permission,
        detail: &str,
        now: Instant,
    ) -> Result<Decision, CommandError> {
        self.only(Role::Console)?;
        let d = self.live()?.consent.request(action, detail, now)?;
        self.finish(now);
        Ok(d)
    }

    /// Applet: the customer's answer to a consent prompt.
    pub fn answer_consent(
        &mut self,
        id: u64,
        allow: bool,
        now: Instant,
    ) -> Result<(), CommandError> {
        self.only(Role::Applet)?;
        self.live()?.consent.answer(id, allow)?;
        self.finish(now);
        Ok(())
    }

    /// Applet: the customer withdraws a standing consent (e.g. stops control).
    pub fn revoke_consent(&mut self, action: Permission, now: Instant) -> Result<(), CommandError> {
        self.only(Role::Applet)?;
        self.live()?.consent.revoke(action);
        self.finish(now);
        Ok(())
    }

    /// Console: sends an action message (input, URL, system information
    /// request, reboot, file-manager listing, recording notice) once the
    /// permission set and the customer's consent allow it.
    pub fn send_action(&mut self, message: Message, now: Instant) -> Result<(), CommandError> {
        self.only(Role::Console)?;
        let Some(action) = action_of(&message) else {
            return Err(CommandError::Invalid("not an action message".into()));
        };
        Self::checked(&message)?;
        self.live()?.consent.authorize(action)?;
        self.queue(message);
        self.finish(now);
        Ok(())
    }

    /// Applet: sends a screen frame or cursor update, if the customer allowed
    /// viewing or control.
    pub fn send_video(&mut self, message: Message, now: Instant) -> Result<(), CommandError> {
        self.only(Role::Applet)?;
        if !matches!(
            message,
            Message::VideoFrame(_) | Message::CursorShape(_) | Message::CursorPosition(_)
        ) {
            return Err(CommandError::Invalid("not a video message".into()));
        }
        self.send_on_screen(message, now)
    }

    /// Sends what goes with the screen (the video, the whiteboard) once the
    /// customer allows viewing or control.
    fn send_on_screen(&mut self, message: Message, now: Instant) -> Result<(), CommandError> {
        Self::checked(&message)?;
        let c = &self.live()?.consent;
        if !(c.is_authorized(Permission::DesktopView) || c.is_authorized(Permission::RemoteControl))
        {
            return Err(CommandError::NoConsent(Permission::DesktopView));
        }
        self.queue(message);
        self.finish(now);
        Ok(())
    }

    /// Console: draws on (or clears) the customer's screen, if the customer
    /// allows viewing or control (CONSOLE-4).
    pub fn send_whiteboard(&mut self, message: Message, now: Instant) -> Result<(), CommandError> {
        self.only(Role::Console)?;
        if !matches!(
            message,
            Message::WhiteboardStroke(_) | Message::WhiteboardClear(_)
        ) {
            return Err(CommandError::Invalid("not a whiteboard message".into()));
        }
        self.send_on_screen(message, now)
    }

    /// Sends a reply or notice that needs no permission of its own: system
    /// information, a file listing, a reconnect token, a keyframe request,
    /// link statistics, hold/resume/transfer.
    pub fn send_reply(&mut self, message: Message, now: Instant) -> Result<(), CommandError> {
        let ok = match (&message, self.role) {
            (
                Message::SystemInfo(_)
                | Message::FileList(_)
                | Message::FileActionResult(_)
                | Message::ReconnectToken(_),
                Role::Applet,
            ) => true,
            (Message::KeyframeRequest(_), Role::Console) => true,
            (Message::LinkStats(_), _) => true,
            (Message::SessionControl(c), _) => c.action != ControlAction::End as i32,
            _ => false,
        };
        if !ok {
            return Err(CommandError::Invalid(
                "not a reply this side may send".into(),
            ));
        }
        Self::checked(&message)?;
        let role = self.role;
        let live = self.live()?;
        if let Some(action) = action_of(&message) {
            // A transfer (PERM-13) is the technician's to make.
            if role != Role::Console {
                return Err(CommandError::WrongRole("applet"));
            }
            live.consent.authorize(action)?;
        }
        self.queue(message);
        self.finish(now);
        Ok(())
    }

    /// Sends a chat message; returns its id.
    pub fn send_chat(
        &mut self,
        text: &str,
        sent_unix_ms: u64,
        now: Instant,
    ) -> Result<u64, CommandError> {
        let live = self.live()?;
        if !live.consent.permissions().allows(Permission::Chat) {
            return Err(CommandError::NotPermitted(Permission::Chat));
        }
        if !live.chat_enabled {
            return Err(CommandError::ChatOff);
        }
        let id = live.next_chat_id;
        let message = Message::ChatMessage(pb::ChatMessage {
            id,
            text: text.into(),
            sent_unix_ms,
        });
        Self::checked(&message)?;
        live.next_chat_id += 1;
        self.queue(message);
        self.finish(now);
        Ok(id)
    }

    /// Console: switches chat on or off, where the group's chat mode allows.
    pub fn set_chat_enabled(&mut self, enabled: bool, now: Instant) -> Result<(), CommandError> {
        self.only(Role::Console)?;
        let live = self.live()?;
        let p = live.consent.permissions();
        if !p.allows(Permission::Chat) {
            return Err(CommandError::NotPermitted(Permission::Chat));
        }
        if p.chat_mode == ChatMode::On {
            return Err(CommandError::Invalid(
                "the group's chat mode cannot be switched".into(),
            ));
        }
        live.chat_enabled = enabled;
        self.queue(Message::ChatState(pb::ChatState { enabled }));
        self.finish(now);
        Ok(())
    }

    /// The local clipboard changed; sends it if clipboard sync is allowed.
    /// Returns whether anything was sent (an echo of the peer's value is not).
    pub fn clipboard_changed(
        &mut self,
        content: ClipboardContent,
        now: Instant,
    ) -> Result<bool, CommandError> {
        let live = self.live()?;
        if !live.consent.is_authorized(Permission::Clipboard) {
            return Err(
                if live.consent.permissions().allows(Permission::Clipboard) {
                    CommandError::NoConsent(Permission::Clipboard)
                } else {
                    CommandError::NotPermitted(Permission::Clipboard)
                },
            );
        }
        let sent = live.clipboard.local_changed(content)?;
        self.finish(now);
        Ok(sent)
    }

    /// Offers a file to the peer: from the console it needs "send files"
    /// (PERM-4) and consent; from the applet, the customer is the one acting,
    /// so "receive files" (PERM-5) must be granted (or the file manager, for
    /// a file it asked for). Returns the transfer id.
    pub fn offer_file(
        &mut self,
        name: &str,
        size: u64,
        modified_unix: i64,
        now: Instant,
    ) -> Result<u64, CommandError> {
        self.offer_file_to(name, size, modified_unix, "", now)
    }

    /// Offers a file: with a `target_dir` (console only), into that folder
    /// under the applet's shared root, which is the file manager's (PERM-6,
    /// consent as prompted). From the applet, a file the technician asked
    /// for through the file manager goes under PERM-6 as well.
    pub fn offer_file_to(
        &mut self,
        name: &str,
        size: u64,
        modified_unix: i64,
        target_dir: &str,
        now: Instant,
    ) -> Result<u64, CommandError> {
        let role = self.role;
        let live = self.live()?;
        if role == Role::Console {
            let action = if target_dir.is_empty() {
                Permission::SendFiles
            } else {
                Permission::FileManager
            };
            live.consent.authorize(action)?;
        } else if !target_dir.is_empty() {
            return Err(CommandError::WrongRole("applet"));
        } else if !live.consent.permissions().allows(Permission::ReceiveFiles)
            && !live.consent.is_authorized(Permission::FileManager)
        {
            return Err(CommandError::NotPermitted(Permission::ReceiveFiles));
        }
        let id = live
            .transfers
            .offer(name, size, modified_unix, target_dir, now)?;
        self.finish(now);
        Ok(id)
    }

    /// Accepts an offered file, resuming after `existing` bytes already held.
    pub fn accept_file(
        &mut self,
        id: u64,
        existing: u64,
        now: Instant,
    ) -> Result<(), CommandError> {
        self.live()?.transfers.accept(id, existing, now)?;
        self.finish(now);
        Ok(())
    }

    /// Feeds the already-held prefix of a resumed file, in order.
    pub fn hash_existing(
        &mut self,
        id: u64,
        data: &[u8],
        now: Instant,
    ) -> Result<(), CommandError> {
        self.live()?.transfers.hash_existing(id, data)?;
        self.finish(now);
        Ok(())
    }

    /// Refuses an offered file.
    pub fn refuse_file(&mut self, id: u64, reason: &str, now: Instant) -> Result<(), CommandError> {
        self.live()?.transfers.refuse(id, reason)?;
        self.finish(now);
        Ok(())
    }

    /// What to read next for an outgoing file, if anything may go now.
    pub fn file_send_window(&self, id: u64) -> Option<FileWindow> {
        match &self.phase {
            Phase::Live(live) => live.transfers.send_window(id),
            _ => None,
        }
    }

    /// The bytes `file_send_window` asked for.
    pub fn send_file_chunk(
        &mut self,
        id: u64,
        data: Bytes,
        now: Instant,
    ) -> Result<(), CommandError> {
        self.live()?.transfers.push(id, data, now)?;
        self.finish(now);
        Ok(())
    }

    /// The application wrote `len` bytes of an incoming file.
    pub fn file_written(&mut self, id: u64, len: u64, now: Instant) -> Result<(), CommandError> {
        self.live()?.transfers.written(id, len)?;
        self.finish(now);
        Ok(())
    }

    /// Cancels a transfer.
    pub fn cancel_file(&mut self, id: u64, now: Instant) -> Result<(), CommandError> {
        self.live()?.transfers.cancel(id, CancelReason::User)?;
        self.finish(now);
        Ok(())
    }

    /// Ends the session for `reason` (SESS-2); every right ends with it (SEC-4).
    pub fn close(&mut self, reason: EndReason, message: &str, now: Instant) {
        if self.is_closed() {
            return;
        }
        if self.is_established() {
            let end = Message::SessionControl(pb::SessionControl {
                action: ControlAction::End as i32,
                reason: reason as i32,
                target_group: String::new(),
                message: message.chars().take(512).collect(),
            });
            match crate::wire::encode_to_bytes(end) {
                Ok(frame) => {
                    self.closing_frame = Some(frame);
                    self.sent_pending = true;
                }
                Err(e) => tracing::error!(error = %e, "could not encode the closing message"),
            }
        }
        self.mark_sent(now);
        self.phase = Phase::Closed;
        self.events.push_back(super::Event::Closed {
            reason,
            error: None,
        });
    }
}
