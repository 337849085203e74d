//! The vocabulary both sides of the signaling contract share: roles,
//! permissions (PERM-*), chat modes, session states (SESS-2), close reasons
//! and the granted set. The server stores them as short strings or bit
//! masks; unknown stored values read as the most restrictive choice.

use serde::{Deserialize, Serialize};

use crate::pb;
use crate::permissions::PermissionSet;

/// What an account is (ORG-2, ORG-3, ORG-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Full control of everything, global settings.
    Master,
    /// Manages the technician groups assigned to it.
    Admin,
    /// Runs support sessions.
    Technician,
}

impl Role {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Master => "master",
            Self::Admin => "admin",
            Self::Technician => "technician",
        }
    }
    /// From the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "master" => Some(Self::Master),
            "admin" => Some(Self::Admin),
            "technician" => Some(Self::Technician),
            _ => None,
        }
    }
}

macro_rules! permissions {
    ($($name:ident = $bit:literal, $wire:literal, $doc:literal;)*) => {
        /// A technician-group permission (PERM-1..22). The number is the
        /// feature ID and the protocol's `Permission` value.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum Perm {
            $(#[doc = $doc] $name = $bit,)*
        }
        impl Perm {
            /// Every permission, in PERM order.
            pub const ALL: &'static [Perm] = &[$(Perm::$name,)*];
            /// The snake_case name used by the API.
            pub fn name(self) -> &'static str {
                match self { $(Perm::$name => $wire,)* }
            }
        }
    };
}

permissions! {
    Chat = 1, "chat", "PERM-1 chat with the customer.";
    RemoteControl = 2, "remote_control", "PERM-2 launch remote control.";
    DesktopView = 3, "desktop_view", "PERM-3 launch desktop viewing.";
    SendFiles = 4, "send_files", "PERM-4 send files.";
    ReceiveFiles = 5, "receive_files", "PERM-5 receive files.";
    FileManager = 6, "file_manager", "PERM-6 file manager.";
    SendUrl = 7, "send_url", "PERM-7 send URLs.";
    SystemInfo = 8, "system_info", "PERM-8 view system information.";
    Reboot = 9, "reboot", "PERM-9 reboot the customer device.";
    Record = 10, "record", "PERM-10 record sessions.";
    PrivateSessions = 11, "private_sessions", "PERM-11 start private sessions (PIN code, link).";
    SinglePrompt = 12, "single_prompt", "PERM-12 ask the customer once per session for everything.";
    Transfer = 13, "transfer", "PERM-13 transfer sessions.";
    RequestCredentials = 14, "request_credentials", "PERM-14 request Windows credentials.";
    Clipboard = 15, "clipboard", "PERM-15 clipboard synchronisation.";
    CallingCard = 16, "calling_card", "PERM-16 deploy the Calling Card.";
    ShareOwnScreen = 17, "share_own_screen", "PERM-17 share own screen with the customer.";
    Invite = 18, "invite", "PERM-18 invite other technicians.";
    MobileSettings = 19, "mobile_settings", "PERM-19 mobile device settings.";
    EditCustomFields = 20, "edit_custom_fields", "PERM-20 edit custom fields in the queue.";
    Scripts = 21, "scripts", "PERM-21 deploy scripts.";
    Unattended = 22, "unattended", "PERM-22 unattended access.";
}

impl Perm {
    fn bit(self) -> i64 {
        1i64 << (self as i64)
    }
    /// The bit mask of a list.
    pub fn mask(perms: &[Perm]) -> i64 {
        perms.iter().fold(0, |m, p| m | p.bit())
    }
    /// The list a bit mask holds, in PERM order.
    pub fn list(mask: i64) -> Vec<Perm> {
        Perm::ALL
            .iter()
            .copied()
            .filter(|p| mask & p.bit() != 0)
            .collect()
    }
    /// Actions the technician starts on the customer's machine or data, which
    /// the customer must consent to (per action, or once with PERM-12).
    /// Clipboard synchronisation reads what the customer copies, so it is
    /// asked too. Chat and files the customer sends are the customer's own
    /// doing.
    pub fn needs_consent(self) -> bool {
        matches!(
            self,
            Perm::RemoteControl
                | Perm::DesktopView
                | Perm::SendFiles
                | Perm::FileManager
                | Perm::SendUrl
                | Perm::SystemInfo
                | Perm::Reboot
                | Perm::Record
                | Perm::Clipboard
                | Perm::RequestCredentials
                | Perm::ShareOwnScreen
                | Perm::Scripts
                | Perm::Unattended
        )
    }
}

/// PERM-1's three chat modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChatMode {
    /// Chat only.
    #[default]
    On,
    /// Chat on, the technician may switch it off.
    OnToggle,
    /// Chat off at start, the technician may switch it on.
    OffToggle,
}

impl ChatMode {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::On => "on",
            Self::OnToggle => "on_toggle",
            Self::OffToggle => "off_toggle",
        }
    }
    /// From the stored form.
    pub fn parse(s: &str) -> Self {
        match s {
            "on_toggle" => Self::OnToggle,
            "off_toggle" => Self::OffToggle,
            _ => Self::On,
        }
    }
}

/// SESS-2 session states (plus `pending`: a PIN or link issued, unused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// A private session whose code or link has not been used yet.
    Pending,
    /// The customer used the code; the applet is connecting.
    Connecting,
    /// The applet is connected and the session waits in a queue.
    Waiting,
    /// A technician has it.
    Active,
    /// The technician put it on hold.
    OnHold,
    /// Handed to another technician or group; waits in their queue.
    Transferred,
    /// Over (see the close reason).
    Closed,
}

impl SessionState {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Connecting => "connecting",
            Self::Waiting => "waiting",
            Self::Active => "active",
            Self::OnHold => "on_hold",
            Self::Transferred => "transferred",
            Self::Closed => "closed",
        }
    }
    /// From the stored form.
    pub fn parse(s: &str) -> Self {
        match s {
            "pending" => Self::Pending,
            "connecting" => Self::Connecting,
            "waiting" => Self::Waiting,
            "active" => Self::Active,
            "on_hold" => Self::OnHold,
            "transferred" => Self::Transferred,
            _ => Self::Closed,
        }
    }
}

/// Why a session closed (SESS-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The technician ended it.
    Technician,
    /// The customer ended it.
    Customer,
    /// A timeout (code validity, connecting, waiting, idle).
    TimedOut,
    /// The applet went away.
    Disconnected,
    /// Its technician lost access (disabled, password reset, group disabled,
    /// IP rule).
    Revoked,
    /// No technician was available, or the channel was outside its working
    /// hours, and the channel or group says to close (SESS-5, SESS-6).
    Unavailable,
}

impl CloseReason {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Technician => "technician",
            Self::Customer => "customer",
            Self::TimedOut => "timed_out",
            Self::Disconnected => "disconnected",
            Self::Revoked => "revoked",
            Self::Unavailable => "unavailable",
        }
    }
}

/// What a session's applet is told it may allow (and the console, too).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GrantedSet {
    /// Granted permissions (PERM numbers are the protocol's values).
    pub granted: Vec<Perm>,
    /// Granted ones the customer must consent to.
    pub prompt: Vec<Perm>,
    /// PERM-12: one prompt for everything.
    pub single_prompt: bool,
    /// PERM-1 chat mode.
    pub chat_mode: ChatMode,
}

impl GrantedSet {
    /// The set a group's mask and chat mode grant.
    pub fn from_group(mask: i64, chat_mode: &str) -> Self {
        let granted: Vec<Perm> = Perm::list(mask)
            .into_iter()
            .filter(|p| *p != Perm::SinglePrompt)
            .collect();
        let prompt = granted
            .iter()
            .copied()
            .filter(|p| p.needs_consent())
            .collect();
        Self {
            granted,
            prompt,
            single_prompt: mask & Perm::mask(&[Perm::SinglePrompt]) != 0,
            chat_mode: ChatMode::parse(chat_mode),
        }
    }

    /// The session protocol's permission set: what the handshake announces
    /// and what the applet enforces.
    pub fn to_permission_set(&self) -> PermissionSet {
        let conv = |ps: &[Perm]| -> Vec<pb::Permission> {
            ps.iter().filter_map(|p| p.to_wire()).collect()
        };
        let mut out = PermissionSet::new(conv(&self.granted), conv(&self.prompt));
        out.single_prompt = self.single_prompt;
        out.chat_mode = match self.chat_mode {
            ChatMode::On => pb::ChatMode::On,
            ChatMode::OnToggle => pb::ChatMode::OnToggle,
            ChatMode::OffToggle => pb::ChatMode::OffToggle,
        };
        out
    }
}

impl Perm {
    /// The session protocol's value of this permission; `None` for PERM-12,
    /// which is a mode of the set, not a permission.
    pub fn to_wire(self) -> Option<pb::Permission> {
        match self {
            Perm::SinglePrompt => None,
            p => pb::Permission::try_from(p as i32).ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_round_trip() {
        let all = Perm::mask(Perm::ALL);
        assert_eq!(Perm::list(all), Perm::ALL);
        assert_eq!(
            Perm::list(Perm::mask(&[Perm::Chat, Perm::Unattended])),
            [Perm::Chat, Perm::Unattended]
        );
        assert_eq!(Perm::ALL.len(), 22);
        assert!(
            Perm::ALL
                .iter()
                .enumerate()
                .all(|(i, p)| *p as usize == i + 1)
        );
    }

    /// The signaling permission and the session protocol's are one list:
    /// same numbers, same meaning (the names differ only where the wire's
    /// spells it out).
    #[test]
    fn signaling_and_wire_permissions_agree() {
        for p in Perm::ALL {
            if *p == Perm::SinglePrompt {
                assert_eq!(p.to_wire(), None);
                assert!(
                    pb::Permission::try_from(12).is_err(),
                    "12 is reserved on the wire"
                );
                continue;
            }
            let wire = p.to_wire().unwrap_or(pb::Permission::Unspecified);
            assert_eq!(wire as i32, *p as i32, "{}", p.name());
            let expected = match p {
                Perm::CallingCard => "PERMISSION_DEPLOY_CALLING_CARD".to_owned(),
                other => format!("PERMISSION_{}", other.name().to_uppercase()),
            };
            assert_eq!(wire.as_str_name(), expected);
        }
        // Every wire permission has a signaling name.
        for n in 1..=22 {
            if let Ok(w) = pb::Permission::try_from(n) {
                assert!(Perm::ALL.iter().any(|p| p.to_wire() == Some(w)), "{n}");
            }
        }
    }

    #[test]
    fn a_granted_set_becomes_the_sessions_permission_set() {
        let mask = Perm::mask(&[Perm::Chat, Perm::RemoteControl, Perm::SinglePrompt]);
        let set = GrantedSet::from_group(mask, "on_toggle").to_permission_set();
        assert!(set.allows(pb::Permission::RemoteControl));
        assert!(set.needs_prompt(pb::Permission::RemoteControl));
        assert!(!set.needs_prompt(pb::Permission::Chat));
        assert!(set.single_prompt);
        assert_eq!(set.chat_mode, pb::ChatMode::OnToggle);
    }
}
