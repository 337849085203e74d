//! Customer consent (PERM-12): an action the permission set allows may still
//! wait for the customer's answer, and a refused action never starts.
//!
//! ```text
//!  console                                 applet (enforces again)
//!  request(action) -- not granted --> Err(NotPermitted), nothing sent
//!                  -- no prompt / standing consent --> Allowed
//!                  -- else ConsentRequest{id, [action]} -->
//!                                          not granted: auto-deny
//!                                          no prompt:   auto-allow
//!                                          else Prompt event -> answer(id, yes/no)
//!         <-- ConsentAnswer{id, allow}
//!  Granted / Refused event
//! ```
//!
//! Lasting actions (remote control, viewing, clipboard, file manager, chat,
//! recording) keep their consent until the customer revokes it; one-shot
//! actions (a URL, a file, system info, a reboot) use one consent each. With
//! the single prompt (PERM-12) one answer at session start covers everything.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use crate::error::CommandError;
use crate::pb::{self, Permission, Role};
use crate::permissions::PermissionSet;
use crate::wire::Message;

/// How long a consent request may wait for the customer.
pub const CONSENT_TIMEOUT: Duration = Duration::from_secs(120);
/// Most consent requests outstanding at once.
pub const MAX_PENDING: usize = 32;

/// Whether an action's consent lasts until revoked.
pub fn is_lasting(p: Permission) -> bool {
    matches!(
        p,
        Permission::RemoteControl
            | Permission::DesktopView
            | Permission::Clipboard
            | Permission::FileManager
            | Permission::Chat
            | Permission::Record
            | Permission::ShareOwnScreen
    )
}

/// The outcome of asking to start an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// It may start now.
    Allowed,
    /// The customer was asked; a `Granted` or `Refused` event will follow.
    Pending(u64),
}

/// What consent tells the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentEvent {
    /// Applet: show the customer this question and call `answer`.
    Prompt {
        /// Request id to answer.
        id: u64,
        /// What is asked.
        actions: Vec<Permission>,
        /// Detail for the customer (peer data: escape before showing).
        detail: String,
    },
    /// Console: the customer said yes.
    Granted {
        /// Request id.
        id: u64,
        /// The actions now allowed.
        actions: Vec<Permission>,
    },
    /// Console: the customer said no, or did not answer in time.
    Refused {
        /// Request id.
        id: u64,
        /// The actions refused.
        actions: Vec<Permission>,
        /// Why (peer data: escape before showing).
        reason: String,
    },
    /// Either side: a standing consent was withdrawn.
    Revoked(Permission),
}

#[derive(Debug)]
struct Pending {
    actions: Vec<Permission>,
    deadline: Instant,
}

/// One side's consent book-keeping.
#[derive(Debug)]
pub struct Consent {
    role: Role,
    permissions: PermissionSet,
    standing: BTreeSet<Permission>,
    one_shot: BTreeMap<Permission, u32>,
    pending: BTreeMap<u64, Pending>,
    next_id: u64,
    out: VecDeque<Message>,
    events: VecDeque<ConsentEvent>,
}

impl Consent {
    /// Consent for one side of an established session.
    pub fn new(role: Role, permissions: PermissionSet) -> Self {
        Self {
            role,
            permissions,
            standing: BTreeSet::new(),
            one_shot: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_id: 1,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The effective permissions.
    pub fn permissions(&self) -> &PermissionSet {
        &self.permissions
    }

    /// Console, at session start: with the single prompt, ask for every
    /// prompted permission at once.
    pub fn start(&mut self, now: Instant) {
        if self.role != Role::Console || !self.permissions.single_prompt {
            return;
        }
        let actions: Vec<_> = self.permissions.prompted().collect();
        if !actions.is_empty() {
            self.send_request(actions, "all permissions of this session".into(), now);
        }
    }

    fn send_request(&mut self, actions: Vec<Permission>, detail: String, now: Instant) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.out
            .push_back(Message::ConsentRequest(pb::ConsentRequest {
                id,
                actions: actions.iter().map(|a| *a as i32).collect(),
                detail,
            }));
        self.pending.insert(
            id,
            Pending {
                actions,
                deadline: now + CONSENT_TIMEOUT,
            },
        );
        id
    }

    fn covered(&self, action: Permission) -> bool {
        !self.permissions.needs_prompt(action)
            || self.standing.contains(&action)
            || self.one_shot.get(&action).is_some_and(|n| *n > 0)
    }

    /// Console: asks to start `action`, prompting the customer if needed.
    pub fn request(
        &mut self,
        action: Permission,
        detail: &str,
        now: Instant,
    ) -> Result<Decision, CommandError> {
        if !self.permissions.allows(action) {
            return Err(CommandError::NotPermitted(action));
        }
        if self.covered(action) {
            return Ok(Decision::Allowed);
        }
        if let Some((id, _)) = self.pending.iter().find(|(_, p)| p.actions == [action]) {
            return Ok(Decision::Pending(*id));
        }
        if self.pending.len() >= MAX_PENDING {
            return Err(CommandError::Limit("pending consent requests"));
        }
        let detail: String = detail.chars().take(512).collect();
        Ok(Decision::Pending(self.send_request(
            vec![action],
            detail,
            now,
        )))
    }

    /// Either side: whether `action` may happen now. A one-shot consent is
    /// used up by this call. The applet calls it for every action message it
    /// receives; the console before every action it sends.
    pub fn authorize(&mut self, action: Permission) -> Result<(), CommandError> {
        if !self.permissions.allows(action) {
            return Err(CommandError::NotPermitted(action));
        }
        if !self.permissions.needs_prompt(action) || self.standing.contains(&action) {
            return Ok(());
        }
        match self.one_shot.get_mut(&action) {
            Some(n) if *n > 0 => {
                *n -= 1;
                Ok(())
            }
            _ => Err(CommandError::NoConsent(action)),
        }
    }

    /// Whether `action` may happen now, without using a one-shot consent.
    pub fn is_authorized(&self, action: Permission) -> bool {
        self.permissions.allows(action) && self.covered(action)
    }

    /// Applet: the customer's answer to a prompt.
    pub fn answer(&mut self, id: u64, allow: bool) -> Result<(), CommandError> {
        let pending = self
            .pending
            .remove(&id)
            .ok_or(CommandError::UnknownId(id))?;
        self.reply(
            id,
            pending.actions,
            allow,
            if allow { "" } else { "refused by the customer" },
        );
        Ok(())
    }

    fn reply(&mut self, id: u64, actions: Vec<Permission>, allow: bool, reason: &str) {
        if allow {
            self.record_grant(&actions);
        }
        self.out
            .push_back(Message::ConsentAnswer(pb::ConsentAnswer {
                id,
                allow,
                reason: reason.into(),
            }));
    }

    fn record_grant(&mut self, actions: &[Permission]) {
        for a in actions {
            if is_lasting(*a) || self.permissions.single_prompt {
                self.standing.insert(*a);
            } else {
                *self.one_shot.entry(*a).or_default() += 1;
            }
        }
    }

    /// Applet: the customer withdraws a standing consent.
    pub fn revoke(&mut self, action: Permission) {
        if self.standing.remove(&action) {
            self.out
                .push_back(Message::ConsentRevoke(pb::ConsentRevoke {
                    action: action as i32,
                }));
            self.events.push_back(ConsentEvent::Revoked(action));
        }
    }

    /// Feeds a consent message from the peer. Returns `false` if the message
    /// is not a consent message.
    pub fn handle_message(&mut self, message: &Message, now: Instant) -> bool {
        match (self.role, message) {
            (Role::Applet, Message::ConsentRequest(req)) => {
                self.on_request(req, now);
                true
            }
            (Role::Console, Message::ConsentAnswer(ans)) => {
                // An answer to nothing (late, after a timeout) is ignored.
                if let Some(p) = self.pending.remove(&ans.id) {
                    if ans.allow {
                        self.record_grant(&p.actions);
                        self.events.push_back(ConsentEvent::Granted {
                            id: ans.id,
                            actions: p.actions,
                        });
                    } else {
                        self.events.push_back(ConsentEvent::Refused {
                            id: ans.id,
                            actions: p.actions,
                            reason: ans.reason.clone(),
                        });
                    }
                }
                true
            }
            (Role::Console, Message::ConsentRevoke(r)) => {
                if let Ok(p) = Permission::try_from(r.action) {
                    if self.standing.remove(&p) {
                        self.events.push_back(ConsentEvent::Revoked(p));
                    }
                }
                true
            }
            _ => false,
        }
    }

    fn on_request(&mut self, req: &pb::ConsentRequest, now: Instant) {
        let actions: Vec<Permission> = req
            .actions
            .iter()
            .map(|a| Permission::try_from(*a).unwrap_or(Permission::Unspecified))
            .collect();
        if actions.is_empty() || actions.iter().any(|a| !self.permissions.allows(*a)) {
            self.reply(req.id, vec![], false, "not permitted for this session");
            return;
        }
        if actions.iter().all(|a| !self.permissions.needs_prompt(*a)) {
            self.reply(req.id, actions, true, "");
            return;
        }
        if self.pending.len() >= MAX_PENDING || self.pending.contains_key(&req.id) {
            self.reply(req.id, vec![], false, "too many questions at once");
            return;
        }
        self.pending.insert(
            req.id,
            Pending {
                actions: actions.clone(),
                deadline: now + CONSENT_TIMEOUT,
            },
        );
        self.events.push_back(ConsentEvent::Prompt {
            id: req.id,
            actions,
            detail: req.detail.clone(),
        });
    }

    /// The earliest pending deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }

    /// Expires unanswered requests: refused on both sides.
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let Some(p) = self.pending.remove(&id) else {
                continue;
            };
            match self.role {
                Role::Applet => self.reply(id, p.actions, false, "the customer did not answer"),
                _ => self.events.push_back(ConsentEvent::Refused {
                    id,
                    actions: p.actions,
                    reason: "no answer in time".into(),
                }),
            }
        }
    }

    /// The next message to send.
    pub fn poll_message(&mut self) -> Option<Message> {
        self.out.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<ConsentEvent> {
        self.events.pop_front()
    }
}
