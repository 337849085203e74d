//! The tamper-evident audit log: each entry carries the hash of the previous
//! one, so editing or deleting an entry breaks the chain at that point.
//! Appends run inside [`super::Store::write`] transactions, which serialise
//! them; the UNIQUE constraint on `prev_hash` is the second guard (a fork
//! fails to commit).
//!
//! Deleting the newest entries leaves a chain that still links, so the chain
//! is anchored outside the database: `audit-verify` prints the head as an
//! [`Anchor`] (`ID:HASH`) to keep elsewhere, and checking against it later
//! fails if that entry is gone or changed.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{Any, AnyPool, Transaction};
use utoipa::ToSchema;

use crate::error::ApiResult;

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who did something.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The account, when there is one.
    pub id: Option<i64>,
    /// Its e-mail, or `cli`, `system`, `customer@<addr>`.
    pub label: String,
}

impl Actor {
    /// The server itself (timeouts, set-up from the CLI).
    pub fn system(label: &str) -> Self {
        Self {
            id: None,
            label: label.to_owned(),
        }
    }
}

/// One stored entry.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct AuditEntry {
    /// Position in the chain.
    pub id: i64,
    /// Unix milliseconds.
    pub at: i64,
    /// Acting account, if any.
    pub actor_id: Option<i64>,
    /// Acting account's e-mail or a system label.
    pub actor: String,
    /// What was done (`user.create`, `login.failed`, ...).
    pub action: String,
    /// On what (`user:7`, `tech_group:3`, ...).
    pub target: String,
    /// Details, JSON.
    pub detail: String,
    /// Hash of the previous entry.
    pub prev_hash: String,
    /// Hash of this entry.
    pub hash: String,
}

fn entry_hash(
    prev: &str,
    at: i64,
    actor_id: Option<i64>,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    // Length-prefixed fields: no two different entries hash the same bytes.
    for part in [
        prev.as_bytes(),
        &at.to_be_bytes(),
        &actor_id.unwrap_or(-1).to_be_bytes(),
        actor.as_bytes(),
        action.as_bytes(),
        target.as_bytes(),
        detail.as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}

/// Appends an entry inside the caller's write transaction.
pub async fn append(
    tx: &mut Transaction<'static, Any>,
    actor: &Actor,
    action: &str,
    target: &str,
    detail: serde_json::Value,
    now: i64,
) -> ApiResult<()> {
    let prev: Option<String> =
        sqlx::query_scalar("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut **tx)
            .await?;
    let prev = prev.unwrap_or_else(|| GENESIS.to_owned());
    let detail = detail.to_string();
    let hash = entry_hash(&prev, now, actor.id, &actor.label, action, target, &detail);
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, actor, action, target, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(now)
    .bind(actor.id)
    .bind(&actor.label)
    .bind(action)
    .bind(target)
    .bind(&detail)
    .bind(&prev)
    .bind(&hash)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A chain position kept outside the database: `ID:HASH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// The entry's id.
    pub id: i64,
    /// Its hash.
    pub hash: String,
}

/// An anchor that is not `ID:HASH`.
#[derive(Debug, thiserror::Error)]
#[error("an anchor is ID:HASH (64 hex digits), as audit-verify prints it")]
pub struct BadAnchor;

impl std::str::FromStr for Anchor {
    type Err = BadAnchor;
    fn from_str(s: &str) -> Result<Self, BadAnchor> {
        let (id, hash) = s.trim().split_once(':').ok_or(BadAnchor)?;
        let id = id.parse().map_err(|_| BadAnchor)?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BadAnchor);
        }
        Ok(Self {
            id,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

impl std::fmt::Display for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.id, self.hash)
    }
}

/// The outcome of a chain check.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema, PartialEq, Eq)]
pub struct ChainReport {
    /// Entries checked.
    pub entries: i64,
    /// True when every link and every hash holds.
    pub intact: bool,
    /// The first entry that does not verify.
    pub first_bad_id: Option<i64>,
    /// Why it does not.
    pub problem: Option<String>,
    /// The newest entry as an anchor (`ID:HASH`): keep it outside the
    /// database and check against it later.
    pub head: Option<String>,
}

/// Walks the whole chain.
pub async fn verify(pool: &AnyPool) -> ApiResult<ChainReport> {
    verify_anchored(pool, None).await
}

/// Walks the whole chain and checks that `anchor`, a head printed earlier,
/// is still in it unchanged (deleted newest entries are detected).
pub async fn verify_anchored(pool: &AnyPool, anchor: Option<&Anchor>) -> ApiResult<ChainReport> {
    let rows: Vec<AuditEntry> = sqlx::query_as(
        "SELECT id, at, actor_id, actor, action, target, detail, prev_hash, hash \
         FROM audit_log ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    let mut prev = GENESIS.to_owned();
    let mut report = ChainReport {
        entries: rows.len() as i64,
        intact: true,
        first_bad_id: None,
        problem: None,
        head: rows.last().map(|e| {
            Anchor {
                id: e.id,
                hash: e.hash.clone(),
            }
            .to_string()
        }),
    };
    for e in &rows {
        let problem = if e.prev_hash != prev {
            Some("does not link to the previous entry (one was removed or inserted)")
        } else if entry_hash(
            &e.prev_hash,
            e.at,
            e.actor_id,
            &e.actor,
            &e.action,
            &e.target,
            &e.detail,
        ) != e.hash
        {
            Some("its content does not match its hash (it was edited)")
        } else {
            None
        };
        if let Some(problem) = problem {
            report.intact = false;
            report.first_bad_id = Some(e.id);
            report.problem = Some(problem.to_owned());
            break;
        }
        prev = e.hash.clone();
    }
    if let (true, Some(anchor)) = (report.intact, anchor) {
        let problem = match rows.iter().find(|e| e.id == anchor.id) {
            None => Some("the anchored entry is gone (the newest entries were deleted)"),
            Some(e) if e.hash != anchor.hash => Some("the anchored entry differs from the anchor"),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            report.intact = false;
            report.first_bad_id = Some(anchor.id);
            report.problem = Some(problem.to_owned());
        }
    }
    Ok(report)
}

/// Entries after `after_id`, oldest first, at most `limit`.
pub async fn list(pool: &AnyPool, after_id: i64, limit: i64) -> ApiResult<Vec<AuditEntry>> {
    Ok(sqlx::query_as(
        "SELECT id, at, actor_id, actor, action, target, detail, prev_hash, hash \
         FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
    )
    .bind(after_id)
    .bind(limit.clamp(1, 1000))
    .fetch_all(pool)
    .await?)
}
