//! secours-console: the technician's side. It logs in, follows the live
//! queue, opens PIN sessions, picks sessions up (several at once), and in
//! each runs the session: the customer's screen decoded, input, chat,
//! files, consent requests. Its headless mode speaks JSON lines (commands
//! on standard input, events on standard output) for tests, automation and
//! help-desk scripts; the viewer window builds on the same pieces.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod commands;
pub mod desk;
pub mod file_manager;
pub mod run;
pub mod screens;
pub mod session;
pub mod terminal;
pub mod viewer;
pub mod window;

pub use commands::{Command, ConsoleEvent};
pub use run::{ConsoleConfig, ConsoleError, run};
