//! Revocation is immediate: when an account is disabled or its password
//! reset, a group disabled, or a group's IP rule changed, every node re-checks
//! the console WebSockets it holds for the accounts concerned and ends those
//! no longer allowed; their technicians' live sessions close, and a session
//! that closes or leaves its technician ends its relay pair (SEC-4).
//!
//! Separate from the event bus on purpose: a small broadcast of its own (over
//! NOTIFY on PostgreSQL) that the console loop selects on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use secours_transport::relay::RelayToken;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::auth;
use crate::events::Event;
use crate::model::{CloseReason, SessionState};
use crate::state::{AppState, ClientIp};
use crate::store::{Backend, Store};

const CHANNEL: &str = "secours_revocations";

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Revoked {
    /// An account was disabled, its password reset or changed, or a token of it ended.
    User(i64),
    /// A technician group was disabled or its IP rule changed.
    Group(i64),
}

/// The revocation broadcast of one node, and the relay tokens it issued.
#[derive(Debug, Clone)]
pub struct Revocations {
    tx: broadcast::Sender<Revoked>,
    store: Store,
    relays: Arc<Mutex<HashMap<String, RelayToken>>>,
}

impl Revocations {
    /// Starts it; on PostgreSQL the LISTEN connection is up before this returns.
    pub async fn start(store: Store) -> Result<Self, sqlx::Error> {
        let (tx, _) = broadcast::channel(1024);
        if store.backend == Backend::Postgres {
            let mut listener = sqlx::postgres::PgListener::connect(store.url()).await?;
            listener.listen(CHANNEL).await?;
            let local = tx.clone();
            tokio::spawn(async move {
                loop {
                    match listener.recv().await {
                        Ok(n) => match serde_json::from_str::<Revoked>(n.payload()) {
                            Ok(r) => {
                                let _ = local.send(r);
                            }
                            Err(e) => tracing::warn!(error = %e, "unreadable revocation"),
                        },
                        Err(e) => {
                            tracing::warn!(error = %e, "revocation LISTEN lost, reconnecting");
                            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        }
                    }
                }
            });
        }
        Ok(Self {
            tx,
            store,
            relays: Arc::default(),
        })
    }

    /// Tells every node (this one included).
    pub async fn revoke(&self, r: Revoked) {
        let sent = match self.store.backend {
            Backend::Sqlite => {
                let _ = self.tx.send(r);
                Ok(())
            }
            Backend::Postgres => sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(serde_json::to_string(&r).unwrap_or_default())
                .execute(&self.store.pool)
                .await
                .map(|_| ()),
        };
        if let Err(e) = sent {
            tracing::error!(error = %e, ?r, "revocation not published");
        }
    }

    /// Remembers the relay token this node issued for a session's pair.
    pub fn relay_issued(&self, session: &str, token: RelayToken) {
        if let Ok(mut m) = self.relays.lock() {
            m.insert(session.to_owned(), token);
        }
    }

    fn relay_of(&self, session: &str) -> Option<RelayToken> {
        self.relays.lock().ok().and_then(|mut m| m.remove(session))
    }
}

/// Ends relay pairs of sessions that closed or left their technician
/// (every node sees every state change through the bus).
pub async fn run_relay_reaper(state: AppState) {
    let mut events = state.bus.subscribe();
    loop {
        match events.recv().await {
            Ok(Event::SessionState {
                session_id,
                state: s,
                ..
            }) if !matches!(s, SessionState::Active | SessionState::OnHold) => {
                if let Some(token) = state.revocations.relay_of(&session_id) {
                    state.hub.revoke(&token);
                }
            }
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Closes the live sessions of technician `user`, or of every technician of
/// group `group`, as revoked.
pub async fn close_sessions(state: &AppState, r: Revoked) {
    let sql = match r {
        Revoked::User(_) => {
            "SELECT id FROM support_sessions WHERE state IN ('active', 'on_hold') AND tech_id = $1"
        }
        Revoked::Group(_) => {
            "SELECT s.id FROM support_sessions s JOIN users u ON u.id = s.tech_id \
             WHERE s.state IN ('active', 'on_hold') AND u.tech_group_id = $1"
        }
    };
    let id = match r {
        Revoked::User(i) | Revoked::Group(i) => i,
    };
    let ids: Vec<String> = match sqlx::query_scalar(sql)
        .bind(id)
        .fetch_all(&state.store.pool)
        .await
    {
        Ok(ids) => ids,
        Err(e) => {
            tracing::error!(error = %e, "sessions to revoke");
            return;
        }
    };
    for s in ids {
        if let Err(e) = crate::sessions::close(state, &s, CloseReason::Revoked).await {
            tracing::error!(error = %e, session = %s, "revoking a session");
        }
    }
}

/// What a console socket watches: its token still resolves, from its address.
#[derive(Debug)]
pub struct Guard {
    state: AppState,
    rx: broadcast::Receiver<Revoked>,
    token: crate::Secret,
    ip: ClientIp,
    user: i64,
    group: Option<i64>,
    /// The check of a relevant revocation, in a task of its own: the
    /// guard's future is dropped by `select!` whenever another branch wins,
    /// and a database query dropped mid-flight can stall SQLite's connection.
    check: Option<tokio::task::JoinHandle<bool>>,
}

impl Guard {
    /// Watches `token` of `user` (in `group`) used from `ip`.
    pub fn new(state: &AppState, token: &str, ip: ClientIp, user: i64, group: Option<i64>) -> Self {
        Self {
            state: state.clone(),
            rx: state.revocations.tx.subscribe(),
            token: token.into(),
            ip,
            user,
            group,
            check: None,
        }
    }

    /// Completes when the socket must end (cancel-safe); the technician's
    /// live sessions are closed first.
    pub async fn revoked(&mut self) {
        loop {
            if self.check.is_none() {
                match self.rx.recv().await {
                    Ok(Revoked::User(u)) if u == self.user => {}
                    Ok(Revoked::Group(g)) if Some(g) == self.group => {}
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {
                        return std::future::pending().await;
                    }
                }
                let (state, token, ip, user) =
                    (self.state.clone(), self.token.clone(), self.ip, self.user);
                self.check = Some(tokio::spawn(async move {
                    let allowed = matches!(
                        auth::resolve(&state, token.expose(), ip).await,
                        Ok(a) if !a.restricted
                    );
                    if !allowed {
                        tracing::info!(user, "console access revoked");
                        close_sessions(&state, Revoked::User(user)).await;
                    }
                    allowed
                }));
            }
            let allowed = match self.check.as_mut() {
                Some(check) => check.await.unwrap_or(false),
                None => continue,
            };
            self.check = None;
            if !allowed {
                return;
            }
        }
    }
}
