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
    /// Cached waiting-time estimates (APPLET-4).
    pub estimates: crate::sessions::EstimateCache,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The client's address: the socket peer, or the last `X-Forwarded-For`
/// entry when the configuration trusts a proxy.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.config.trust_forwarded_for
            && let Some(forwarded) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
        {
            return forwarded
                .rsplit(',')
                .next()
                .and_then(|s| s.trim().parse().ok())
                .map(ClientIp)
                .ok_or_else(|| ApiError::invalid("unreadable X-Forwarded-For"));
        }
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| ClientIp(ci.0.ip()))
            .ok_or_else(|| ApiError::internal("client address", "no ConnectInfo"))
    }
}
