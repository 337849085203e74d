//! Live events (queue changes, session states, timeout warnings, signaling
//! messages). On SQLite they stay in this process; on PostgreSQL every event
//! goes through NOTIFY and comes back through LISTEN, so every node (this one
//! included) delivers the same events in the same order.

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use utoipa::ToSchema;

use secours_protocol::signaling::{ServerMessage, SignalPayload};

use crate::model::SessionState;
use crate::store::{Backend, Store};

const CHANNEL: &str = "secours_events";
/// PostgreSQL refuses NOTIFY payloads from 8000 bytes.
pub const MAX_EVENT_BYTES: usize = 7900;

pub use secours_protocol::signaling::Peer;

/// Something that happened, as pushed over WebSocket.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A queue may have changed: consoles refresh theirs.
    QueueChanged {
        /// The session that moved.
        session_id: String,
    },
    /// A session changed state.
    SessionState {
        /// Session.
        session_id: String,
        /// New state.
        state: SessionState,
        /// Technician now holding it, if any.
        tech_id: Option<i64>,
        /// Close reason, when closed.
        reason: Option<String>,
    },
    /// A timeout is near (SESS-7).
    Warning {
        /// Session.
        session_id: String,
        /// Which timeout (`code_validity`, `connecting`, `waiting`, `idle`).
        timeout: String,
        /// Seconds left.
        seconds_left: i64,
    },
    /// A monitoring request (SESS-10) was made or changed state: the
    /// technician's consoles are told.
    Monitor {
        /// The request.
        monitor_id: String,
        /// The watched technician.
        tech_id: i64,
        /// The administrator's name.
        admin: String,
        /// `tell` or `ask`.
        consent: String,
        /// `asked`, `watching`, `declined` or `ended`.
        state: String,
    },
    /// A message between the two peers (fingerprints, candidates, relay
    /// tokens): the server forwards, never interprets.
    Signal {
        /// Session.
        session_id: String,
        /// Recipient.
        to: Peer,
        /// What the peer (or the server) sent.
        payload: SignalPayload,
    },
}

impl Event {
    /// The message a signaling socket pushes for this event; `None` for
    /// the events that only make a console refresh its queue.
    pub fn to_message(&self) -> Option<ServerMessage> {
        Some(match self.clone() {
            Event::QueueChanged { .. } => return None,
            Event::SessionState {
                session_id,
                state,
                tech_id,
                reason,
            } => ServerMessage::SessionState {
                session_id,
                state,
                tech_id,
                reason,
            },
            Event::Warning {
                session_id,
                timeout,
                seconds_left,
            } => ServerMessage::Warning {
                session_id,
                timeout,
                seconds_left,
            },
            Event::Monitor {
                monitor_id,
                admin,
                consent,
                state,
                ..
            } => ServerMessage::Monitor {
                monitor_id,
                admin,
                consent,
                state,
            },
            Event::Signal {
                session_id,
                to,
                payload,
            } => ServerMessage::Signal {
                session_id,
                to,
                payload,
            },
        })
    }
}

/// Errors publishing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// Too large for NOTIFY.
    #[error("event too large ({0} bytes)")]
    TooLarge(usize),
    /// The database refused.
    #[error("publishing through the database failed: {0}")]
    Database(#[from] sqlx::Error),
    /// Listening failed at start-up.
    #[error("cannot LISTEN: {0}")]
    Listen(#[source] sqlx::Error),
}

/// The event bus of one node.
#[derive(Debug, Clone)]
pub struct Bus {
    local: broadcast::Sender<Event>,
    store: Store,
}

impl Bus {
    /// Starts the bus; on PostgreSQL the LISTEN connection is up before this returns.
    pub async fn start(store: Store) -> Result<Self, BusError> {
        let (local, _) = broadcast::channel(4096);
        if store.backend == Backend::Postgres {
            let mut listener = sqlx::postgres::PgListener::connect(store.url())
                .await
                .map_err(BusError::Listen)?;
            listener.listen(CHANNEL).await.map_err(BusError::Listen)?;
            let tx = local.clone();
            tokio::spawn(async move {
                loop {
                    match listener.recv().await {
                        Ok(n) => match serde_json::from_str::<Event>(n.payload()) {
                            Ok(event) => {
                                let _ = tx.send(event);
                            }
                            Err(e) => tracing::warn!(error = %e, "unreadable event skipped"),
                        },
                        Err(e) => {
                            // PgListener reconnects on the next recv.
                            tracing::warn!(error = %e, "LISTEN connection lost, reconnecting");
                            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        }
                    }
                }
            });
        }
        Ok(Self { local, store })
    }

    /// Publishes to every node.
    pub async fn publish(&self, event: Event) -> Result<(), BusError> {
        match self.store.backend {
            Backend::Sqlite => {
                let _ = self.local.send(event);
                Ok(())
            }
            Backend::Postgres => {
                let text = serde_json::to_string(&event).unwrap_or_default();
                if text.len() > MAX_EVENT_BYTES {
                    return Err(BusError::TooLarge(text.len()));
                }
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(text)
                    .execute(&self.store.pool)
                    .await?;
                Ok(())
            }
        }
    }

    /// Publishes, logging (not failing the caller) when that fails: the
    /// state change it announces is already committed.
    pub async fn announce(&self, event: Event) {
        if let Err(e) = self.publish(event).await {
            tracing::warn!(error = %e, "event not published");
        }
    }

    /// Every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.local.subscribe()
    }
}
