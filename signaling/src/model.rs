//! The vocabulary of the server: roles, permissions (PERM-*), session states
//! (SESS-2). Stored as short strings or bit masks; unknown stored values read
//! as the most restrictive choice.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an account is (ORG-2, ORG-3, ORG-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
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
    /// Chat, clipboard synchronisation and files the customer sends are the
    /// customer's own doing.
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
                | Perm::RequestCredentials
                | Perm::ShareOwnScreen
                | Perm::Scripts
                | Perm::Unattended
        )
    }
}

/// PERM-1's three chat modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
}
