//! What every handler shares.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use secours_transport::relay::RelayHub;

use crate::config::Config;
use crate::error::ApiError;
use crate::events::Bus;
use crate::store::Store;

/// Shared server state (cheap to clone).
#[derive(Debug, Clone)]
pub struct AppState(pub Arc<Inner>);

/// The parts of [`AppState`].
#[derive(Debug)]
pub struct Inner {
    /// Configuration.
    pub config: Config,
    /// Database.
    pub store: Store,
    /// Live events.
    pub bus: Bus,
    /// The relay hub mounted at `/relay/v1/ws`.
    pub hub: RelayHub,
    /// Coalesced PIN creations (SQLite only).
    pub pins: Option<crate::pin_queue::PinQueue>,
    /// Coalesced PIN redemptions (SQLite only).
    pub redeems: Option<crate::pin_queue::RedeemQueue>,
    /// Revocations of access already granted (consoles, sessions, relay pairs).
    pub revocations: crate::revoke::Revocations,
    /// Cached waiting-time estimates (APPLET-4).
    pub estimates: crate::sessions::EstimateCache,
    /// Open applet sockets per session (reconnection, CONSOLE-9).
    pub applet_sockets: crate::sessions::AppletSockets,
    /// Consoles open on this node per technician (SESS-9 presence).
    pub consoles: crate::routing::presence::Consoles,
    /// Which groups' private sessions may be refused (SESS-6).
    pub private_rules: crate::routing::PrivateRules,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The client's address: the socket peer, or, when the peer is a trusted
/// proxy, the right-most `X-Forwarded-For` entry that is not itself a trusted
/// proxy (entries further left are whatever the client claimed).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| ci.0.ip().to_canonical())
            .ok_or_else(|| ApiError::internal("client address", "no ConnectInfo"))?;
        let trusted = |ip: &IpAddr| state.config.trusted_proxies.iter().any(|n| n.contains(ip));
        if !trusted(&peer) {
            return Ok(ClientIp(peer));
        }
        let mut chain = Vec::new();
        for value in parts.headers.get_all("x-forwarded-for") {
            let value = value
                .to_str()
                .map_err(|_| ApiError::invalid("unreadable X-Forwarded-For"))?;
            for entry in value.split(',') {
                let ip: IpAddr = entry
                    .trim()
                    .parse()
                    .map_err(|_| ApiError::invalid("unreadable X-Forwarded-For"))?;
                chain.push(ip.to_canonical());
            }
        }
        // From the right, past our own proxies.
        let client = chain
            .iter()
            .rev()
            .find(|ip| !trusted(ip))
            .or(chain.first())
            .copied()
            .unwrap_or(peer);
        Ok(ClientIp(client))
    }
}
