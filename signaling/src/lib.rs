//! secours-signaling: the server help-desk staff log into and that brokers
//! every session. Organisation chart and scope (ORG-*), permissions (PERM-*),
//! password and IP policies (POL-*), PIN and channel sessions with a live
//! queue (SESS-*, CHAN-*), signaling over WebSocket, the relay hub, a STUN
//! responder, a REST API described by OpenAPI, the web administration
//! centre and the customer's pages (`web/`), on SQLite or PostgreSQL.
//!
//! Layout follows atuin's server: `api/` holds the handlers per resource,
//! `store/` the database (one portable SQL dialect, migrations per backend),
//! `server.rs` the assembly; authentication is an extractor ([`auth::Caller`]).

pub mod api;
pub mod auth;
pub mod config;
pub mod coturn;
pub mod error;
pub mod events;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod ipfilter;
pub mod limits;
pub mod listen;
pub mod model;
pub mod notify;
pub mod password;
pub mod pin_queue;
pub mod posturl;
pub mod reports;
pub mod revoke;
pub mod routing;
pub mod scope;
pub mod server;
pub mod sessions;
pub mod setup;
pub mod state;
pub mod store;
pub mod sweeper;
pub mod web;
pub mod ws;

pub use config::Config;
pub use secours_transport::secret::Secret;
pub use server::{RunningServer, ServerError, start};
