//! Secrets (passwords, tokens, shared keys) that stay out of logs: the
//! signaling contract's one wrapper type, whose `Debug` prints a
//! placeholder while serialisation is the plain string (they still travel
//! where they must).

pub use secours_protocol::signaling::Secret;
