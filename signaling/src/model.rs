//! The vocabulary of the server: roles, permissions (PERM-*), session states
//! (SESS-2). They are the signaling contract's own types
//! (`secours_protocol::signaling`), so the server, the console and the
//! applet cannot disagree on a name or a number.

pub use secours_protocol::signaling::{ChatMode, CloseReason, Perm, Role, SessionState};
