//! The permission set of a session (PERM-*), as the server granted it.

use std::collections::BTreeSet;

use crate::pb;

pub use crate::pb::{ChatMode, Permission};

/// What the technician may do in this session, and what still needs the
/// customer's consent. Both the console and the applet hold one, each from the
/// server; the handshake intersects them so neither side can claim more.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PermissionSet {
    granted: BTreeSet<Permission>,
    prompt: BTreeSet<Permission>,
    /// PERM-12: one prompt for everything at session start.
    pub single_prompt: bool,
    /// PERM-1 chat mode.
    pub chat_mode: ChatMode,
}

impl PermissionSet {
    /// A set granting `granted`, of which `prompt` need consent.
    pub fn new(
        granted: impl IntoIterator<Item = Permission>,
        prompt: impl IntoIterator<Item = Permission>,
    ) -> Self {
        let granted: BTreeSet<_> = granted
            .into_iter()
            .filter(|p| *p != Permission::Unspecified)
            .collect();
        let prompt = prompt.into_iter().filter(|p| granted.contains(p)).collect();
        Self {
            granted,
            prompt,
            single_prompt: false,
            chat_mode: ChatMode::On,
        }
    }

    /// Whether the group grants this permission at all.
    pub fn allows(&self, p: Permission) -> bool {
        self.granted.contains(&p)
    }

    /// Whether the customer must be asked before this action starts.
    pub fn needs_prompt(&self, p: Permission) -> bool {
        self.prompt.contains(&p)
    }

    /// Granted permissions, in PERM order.
    pub fn granted(&self) -> impl Iterator<Item = Permission> + '_ {
        self.granted.iter().copied()
    }

    /// Granted permissions that need a prompt, in PERM order.
    pub fn prompted(&self) -> impl Iterator<Item = Permission> + '_ {
        self.prompt.iter().copied()
    }

    /// What both sides agree on: granted by both, prompted by either, one
    /// prompt for everything only if both say so, the stricter chat mode.
    pub fn intersect(&self, other: &PermissionSet) -> PermissionSet {
        let granted: BTreeSet<_> = self.granted.intersection(&other.granted).copied().collect();
        let prompt = self
            .prompt
            .union(&other.prompt)
            .filter(|p| granted.contains(p))
            .copied()
            .collect();
        let chat_mode = if self.chat_mode == other.chat_mode {
            self.chat_mode
        } else {
            ChatMode::OffToggle
        };
        PermissionSet {
            granted,
            prompt,
            // PERM-12 widens consent: only when both sides' sets (each
            // from the server) say so. A modified console that claims it
            // cannot turn the applet's per-action prompts into one.
            single_prompt: self.single_prompt && other.single_prompt,
            chat_mode,
        }
    }

    /// The wire form.
    pub fn to_wire(&self) -> pb::PermissionSet {
        pb::PermissionSet {
            granted: self.granted.iter().map(|p| *p as i32).collect(),
            prompt: self.prompt.iter().map(|p| *p as i32).collect(),
            single_prompt: self.single_prompt,
            chat_mode: self.chat_mode as i32,
        }
    }

    /// From the wire form. Unknown permission numbers from a newer peer are
    /// ignored: a permission this side does not know cannot be used here.
    pub fn from_wire(w: &pb::PermissionSet) -> Self {
        let known = |v: &i32| Permission::try_from(*v).ok();
        let mut set = Self::new(
            w.granted.iter().filter_map(known),
            w.prompt.iter().filter_map(known),
        );
        set.single_prompt = w.single_prompt;
        set.chat_mode = ChatMode::try_from(w.chat_mode).unwrap_or(ChatMode::OffToggle);
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersection_never_widens() {
        let a = PermissionSet::new(
            [
                Permission::Chat,
                Permission::RemoteControl,
                Permission::SendFiles,
            ],
            [Permission::RemoteControl],
        );
        let b = PermissionSet::new(
            [Permission::Chat, Permission::SendFiles, Permission::Reboot],
            [Permission::SendFiles],
        );
        let i = a.intersect(&b);
        assert!(i.allows(Permission::Chat));
        assert!(!i.allows(Permission::RemoteControl));
        assert!(!i.allows(Permission::Reboot));
        assert!(i.needs_prompt(Permission::SendFiles));
        assert!(!i.needs_prompt(Permission::RemoteControl));
    }

    #[test]
    fn wire_round_trip_drops_unknown() {
        let mut w = PermissionSet::new([Permission::Chat], []).to_wire();
        w.granted.push(9999);
        let back = PermissionSet::from_wire(&w);
        assert_eq!(back.granted().collect::<Vec<_>>(), vec![Permission::Chat]);
    }

    #[test]
    fn prompt_requires_grant() {
        let s = PermissionSet::new([Permission::Chat], [Permission::Reboot]);
        assert!(!s.needs_prompt(Permission::Reboot));
    }
}
