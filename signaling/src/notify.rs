//! SEC-9 account notifications: written to the outbox inside the change's
//! transaction, sent by SMTP when a relay is configured.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use sqlx::{Any, AnyPool, Transaction};
use utoipa::ToSchema;

use crate::config::Smtp;
use crate::error::ApiResult;
use crate::store::now_ms;

/// The SEC-9 notification kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    /// Successful login.
    LoginSucceeded,
    /// Failed login.
    LoginFailed,
    /// Contact information changed.
    ContactChanged,
    /// Password changed.
    PasswordChanged,
    /// Administrator added.
    AdminAdded,
    /// Administrator information changed.
    AdminChanged,
    /// Technician added.
    TechnicianAdded,
    /// Technician information changed.
    TechnicianChanged,
}

impl Notice {
    /// Every kind, in the guide's order.
    pub const ALL: [Notice; 8] = [
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::ContactChanged,
        Self::PasswordChanged,
        Self::AdminAdded,
        Self::AdminChanged,
        Self::TechnicianAdded,
        Self::TechnicianChanged,
    ];

    /// The stored and serialised name.
    pub fn name(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::ContactChanged => "contact_changed",
            Self::PasswordChanged => "password_changed",
            Self::AdminAdded => "admin_added",
            Self::AdminChanged => "admin_changed",
            Self::TechnicianAdded => "technician_added",
            Self::TechnicianChanged => "technician_changed",
        }
    }

    /// The kinds a stored list of names switched off leaves on.
    pub fn enabled(off: &str) -> Vec<Notice> {
        let off: Vec<&str> = off.split(',').map(str::trim).collect();
        Self::ALL
            .into_iter()
            .filter(|n| !off.contains(&n.name()))
            .collect()
    }

    /// The stored list of names switched off, from the kinds left on.
    pub fn off_list(on: &[Notice]) -> String {
        Self::ALL
            .into_iter()
            .filter(|n| !on.contains(n))
            .map(Notice::name)
            .collect::<Vec<_>>()
            .join(",")
    }

    fn subject(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "Secours: successful login",
            Self::LoginFailed => "Secours: failed login",
            Self::ContactChanged => "Secours: contact information changed",
            Self::PasswordChanged => "Secours: password changed",
            Self::AdminAdded => "Secours: administrator added",
            Self::AdminChanged => "Secours: administrator information changed",
            Self::TechnicianAdded => "Secours: technician added",
            Self::TechnicianChanged => "Secours: technician information changed",
        }
    }
}

/// Queues `notice` for every enabled master administrator, in `tx`.
pub async fn queue(
    tx: &mut Transaction<'static, Any>,
    notice: Notice,
    about: &str,
    now: i64,
) -> ApiResult<()> {
    let off: Option<String> = sqlx::query_scalar("SELECT notifications_off FROM org WHERE id = 1")
        .fetch_optional(&mut **tx)
        .await?;
    if !Notice::enabled(off.as_deref().unwrap_or_default()).contains(&notice) {
        return Ok(());
    }
    let masters: Vec<String> =
        sqlx::query_scalar("SELECT email FROM users WHERE role = 'master' AND enabled = TRUE")
            .fetch_all(&mut **tx)
            .await?;
    let about: String = about.chars().take(300).collect();
    for to in masters {
        sqlx::query("INSERT INTO outbox (at, recipient, subject, body) VALUES ($1, $2, $3, $4)")
            .bind(now)
            .bind(&to)
            .bind(notice.subject())
            .bind(format!("{}\n\nAccount: {about}\n", notice.subject()))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// One outbox entry as the API lists it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct OutboxEntry {
    /// Id.
    pub id: i64,
    /// Queued at (Unix ms).
    pub at: i64,
    /// Recipient address.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Text body.
    pub body: String,
    /// Sent at, once sent.
    pub sent_at: Option<i64>,
    /// Delivery attempts so far.
    pub attempts: i64,
}

/// The latest entries, newest first.
pub async fn list(pool: &AnyPool, limit: i64) -> ApiResult<Vec<OutboxEntry>> {
    Ok(sqlx::query_as(
        "SELECT id, at, recipient, subject, body, sent_at, attempts FROM outbox \
         ORDER BY id DESC LIMIT $1",
    )
    .bind(limit.clamp(1, 1000))
    .fetch_all(pool)
    .await?)
}

const MAX_ATTEMPTS: i64 = 5;

/// Sends queued mail through `smtp` until the process ends.
pub async fn run_mailer(pool: AnyPool, smtp: Smtp) {
    let builder = if smtp.starttls {
        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
    } else {
        Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            &smtp.host,
        ))
    };
    let mut builder = match builder {
        Ok(b) => b.port(smtp.port).timeout(Some(Duration::from_secs(20))),
        Err(e) => {
            tracing::error!(error = %e, "SMTP relay unusable; mail stays in the outbox");
            return;
        }
    };
    if let (Some(user), Some(pass)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(user.clone(), pass.expose().to_owned()));
    }
    let mailer = builder.build();
    let from: Mailbox = match smtp.from.parse() {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "smtp.from is not an address; mail stays in the outbox");
            return;
        }
    };
    loop {
        if let Err(e) = send_batch(&pool, &mailer, &from).await {
            tracing::warn!(error = %e, "outbox pass failed");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn send_batch(
    pool: &AnyPool,
    mailer: &AsyncSmtpTransport<Tokio1Executor>,
    from: &Mailbox,
) -> ApiResult<()> {
    let due: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT id, recipient, subject, body FROM outbox \
         WHERE sent_at IS NULL AND attempts < $1 ORDER BY id LIMIT 20",
    )
    .bind(MAX_ATTEMPTS)
    .fetch_all(pool)
    .await?;
    for (id, to, subject, body) in due {
        let result = match to.parse::<Mailbox>() {
            Ok(to) => match Message::builder()
                .from(from.clone())
                .to(to)
                .subject(subject)
                .body(body)
            {
                Ok(message) => mailer
                    .send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => {
                sqlx::query(
                    "UPDATE outbox SET sent_at = $1, attempts = attempts + 1 WHERE id = $2",
                )
                .bind(now_ms())
                .bind(id)
                .execute(pool)
                .await?;
            }
            Err(e) => {
                tracing::warn!(id, error = %e, "mail not sent");
                sqlx::query(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $1 WHERE id = $2",
                )
                .bind(e.chars().take(500).collect::<String>())
                .bind(id)
                .execute(pool)
                .await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod notice_tests {
    use super::Notice;

    #[test]
    fn names_round_trip_through_the_stored_list() {
        for n in Notice::ALL {
            let v = serde_json::to_value(n).unwrap_or_default();
            assert_eq!(v, n.name());
        }
        let on = [Notice::LoginFailed, Notice::AdminAdded];
        assert_eq!(Notice::enabled(&Notice::off_list(&on)), on);
        assert_eq!(Notice::enabled("").len(), 8);
    }
}
