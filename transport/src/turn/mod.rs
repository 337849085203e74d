//! TURN (RFC 8656): a relayed UDP address for the direct path when both
//! NATs map every destination to a new port (symmetric), where hole punching
//! cannot work. The client is a sans-IO state machine (`client`); the
//! credentials are issued per session by the signaling server
//! (`credentials`); `wire` is the message set and ChannelData framing. The
//! punched socket carries the allocation under QUIC (`punch::socket`).

pub mod client;
pub mod credentials;
pub mod wire;

pub use client::{Incoming, TurnClient, TurnError, TurnEvent};
pub use credentials::{TurnCredentials, issue};
