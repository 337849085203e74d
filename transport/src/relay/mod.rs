//! The HTTPS relay backend (SEC-1, STACK-3): the hub the server mounts, and
//! the peers' client end.

pub mod client;
pub mod hub;
mod lanes;
pub mod tcp;
mod ws_io;

pub use client::connect;
pub use hub::{HubConfig, RelayHub, RelayToken, Side};
