//! secours-peer: what the technician's console and the customer's applet
//! share, and nothing of either: the session driver (a sans-IO
//! `protocol::Session` over a `transport::Link`, woken by both), the file
//! desk that streams files to and from disk, the session's set-up from what
//! the server said, and the typed client of the server's REST and signaling
//! WebSocket (the `secours_protocol::signaling` contract).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod clipboard;
pub mod connect;
pub mod driver;
pub mod files;
mod rtc;
pub mod setup;
pub mod text;

pub use driver::{App, AppError, Driver, DriverError};
pub use files::{Done, FileDesk, FileDeskError, Progress};
