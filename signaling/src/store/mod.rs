//! Storage: one sqlx `Any` pool over SQLite (default, zero set-up) or
//! PostgreSQL (several nodes), portable SQL with `$n` parameters only, and
//! the migrations of each dialect under `migrations/`.

pub mod audit;
pub mod batch;
pub mod throttle;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyPool, Transaction};

use crate::error::{ApiError, ApiResult};

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server (LISTEN/NOTIFY carries events between nodes).
    Postgres,
}

/// Errors opening the database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL names neither `sqlite:` nor `postgres:`.
    #[error("unsupported database URL (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    /// Connecting failed.
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The database handle every service uses.
#[derive(Clone)]
pub struct Store {
    /// The pool (portable SQL only).
    pub pool: AnyPool,
    /// The dialect.
    pub backend: Backend,
    url: String,
    batcher: Option<batch::Batcher>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("url", &redact_url(&self.url))
            .finish()
    }
}

/// The URL with any password replaced, for logs and banners.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        // SQLite has one writer: with several connections, writers wait
        // for each other in SQLite's busy handler, which sleeps in
        // milliseconds and cut PIN throughput by 4x in serverbench. One
        // connection queues them in the pool instead, in microseconds.
        let connections = match backend {
            Backend::Sqlite => 1,
            Backend::Postgres => max_connections.max(1),
        };
        let mut options = AnyPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(Duration::from_secs(10));
        if backend == Backend::Sqlite {
            options = options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA journal_mode = WAL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA synchronous = NORMAL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA busy_timeout = 10000")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(url).await.map_err(StoreError::Connect)?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
        }
        let batcher = (backend == Backend::Sqlite).then(|| batch::Batcher::start(pool.clone()));
        Ok(Self {
            pool,
            backend,
            url: url.to_owned(),
            batcher,
        })
    }

    /// The URL (with its password) for a second connection such as PostgreSQL LISTEN.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Runs a hot write: group-committed on SQLite ([`batch`]), directly on
    /// a pooled connection on PostgreSQL. `op` may run twice; it must only
    /// touch the database.
    pub async fn hot_write<R, F>(&self, op: F) -> Result<R, sqlx::Error>
    where
        R: Send + 'static,
        F: for<'c> Fn(
                &'c mut sqlx::AnyConnection,
            ) -> futures_util::future::BoxFuture<'c, Result<R, sqlx::Error>>
            + Send
            + Sync
            + 'static,
    {
        match &self.batcher {
            Some(b) => b.run(op).await,
            None => {
                let mut conn = self.pool.acquire().await?;
                op(&mut conn).await
            }
        }
    }

    /// A transaction that holds the organisation's write lock from its first
    /// statement: administrative changes and audit appends are serialised
    /// across connections and nodes (a row lock on PostgreSQL, the write lock
    /// on SQLite, which also avoids SQLite's stale-snapshot upgrade failure).
    pub async fn write(&self) -> ApiResult<Transaction<'static, Any>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE org SET write_seq = write_seq + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// 32 random bytes, hex: tokens, links, session ids.
pub fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// A shorter random id (128 bits), hex.
pub fn random_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// SHA-256, hex: how tokens are stored.
pub fn sha256_hex(data: &str) -> String {
    hex::encode(Sha256::digest(data.as_bytes()))
}

/// Characters that change what a reader sees without being seen:
/// direction overrides and isolates (a name that reads backwards), and
/// zero-width or otherwise invisible characters (two names that look the
/// same, hidden text).
pub fn is_deceptive(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
        | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E007F}')
}

/// The characters [`check_text`] refuses, as the inside of a regular
/// expression class (JSON Schema / ECMA-262 and Python syntax; the two
/// astral ranges are written as the characters themselves): control
/// characters but tab and line feed, and every [`is_deceptive`] one.
const REFUSED_CLASS: &str = concat!(
    r"\u0000-\u0008\u000B-\u001F\u007F-\u009F\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5",
    r"\u180B-\u180F\u200B-\u200F\u202A-\u202E\u2060-\u206F\u3164\uFEFF\uFFA0\uFFF9-\uFFFB",
    "\u{1D173}-\u{1D17A}\u{E0000}-\u{E007F}"
);

/// Rust's white space (`char::is_whitespace`, the Unicode White_Space
/// property) as class ranges: `\s` differs between regex engines.
const SPACE_CLASS: &str =
    r"\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// The OpenAPI `pattern` of text [`check_text`] accepts.
pub fn text_pattern() -> String {
    format!("^[^{REFUSED_CLASS}]*$")
}

/// The OpenAPI `pattern` of a name: accepted text with at least one
/// character that is not white space (`name is empty` otherwise).
pub fn name_pattern() -> String {
    format!("^[^{REFUSED_CLASS}]*[^{SPACE_CLASS}{REFUSED_CLASS}][^{REFUSED_CLASS}]*$")
}

/// The OpenAPI `pattern` of an e-mail address as [`crate::api::auth::normalise_email`]
/// takes it: accepted text without white space, with an `@`.
pub fn email_pattern() -> String {
    format!("^[^{SPACE_CLASS}{REFUSED_CLASS}]*@[^{SPACE_CLASS}{REFUSED_CLASS}]*$")
}

/// The one check of text entering the server (names, descriptions, customer
/// fields, e-mails): refuses values that are too long, carry control
/// characters, or carry deceptive ones ([`is_deceptive`]). Text is stored
/// as given and escaped wherever shown.
pub fn check_text(field: &str, value: &str, max: usize) -> ApiResult<()> {
    if value.chars().count() > max {
        return Err(ApiError::invalid(format!(
            "{field} has more than {max} characters"
        )));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ApiError::invalid(format!(
            "{field} contains control characters"
        )));
    }
    if value.chars().any(is_deceptive) {
        return Err(ApiError::invalid(format!(
            "{field} contains invisible or direction-changing characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_do_not_reach_logs() {
        assert_eq!(
            redact_url("postgres://secours:hunter2@127.0.0.1/secours"),
            "postgres://secours:***@127.0.0.1/secours"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }

    fn matches(pattern: &str, text: &str) -> bool {
        jsonschema::validator_for(&serde_json::json!({"type": "string", "pattern": pattern}))
            .unwrap()
            .is_valid(&serde_json::json!(text))
    }

    /// The document's patterns refuse exactly what the handlers refuse: every
    /// character of the refused ranges and their neighbours, and blank names.
    #[test]
    fn patterns_agree_with_the_checks() {
        let (text, name, email) = (text_pattern(), name_pattern(), email_pattern());
        let probes = (0u32..0x300)
            .chain(0x2000..0x2100)
            .chain([
                0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180F, 0x1810,
            ])
            .chain([0x3164, 0xFEFF, 0xFFA0, 0xFFF8, 0xFFF9, 0xFFFB, 0xFFFC])
            .chain([
                0x1D172, 0x1D173, 0x1D17A, 0x1D17B, 0xE0000, 0xE007F, 0xE0080, 0x1F600,
            ])
            .filter_map(char::from_u32);
        for c in probes {
            let one = format!("a{c}b");
            let ok = check_text("x", &one, 10).is_ok();
            assert_eq!(matches(&text, &one), ok, "text U+{:04X}", c as u32);
            assert_eq!(matches(&name, &one), ok, "name U+{:04X}", c as u32);
            let alone = c.to_string();
            let name_ok = check_text("x", &alone, 10).is_ok() && !alone.trim().is_empty();
            assert_eq!(
                matches(&name, &alone),
                name_ok,
                "name alone U+{:04X}",
                c as u32
            );
            let mail = format!("a{c}@b");
            let mail_ok = crate::api::auth::normalise_email(&mail).is_ok();
            assert_eq!(matches(&email, &mail), mail_ok, "email U+{:04X}", c as u32);
        }
        assert!(!matches(&email, "ab"));
        assert!(matches(&email, "a@b"));
    }

    #[test]
    fn text_checks() {
        assert!(check_text("name", "Zoë <b>", 10).is_ok());
        assert!(check_text("name", "a\u{0}b", 10).is_err());
        assert!(check_text("name", &"x".repeat(11), 10).is_err());
        for evil in [
            "a\u{202E}gpj.exe",
            "ad\u{200B}min",
            "\u{2066}x",
            "\u{FEFF}",
            "x\u{E0041}",
        ] {
            assert!(check_text("name", evil, 50).is_err(), "{evil:?}");
        }
        assert!(check_text("name", "עברית and العربية, 中文", 50).is_ok());
    }
}

/// A flag read from either backend: PostgreSQL has BOOLEAN columns, SQLite
/// stores 0/1 integers (sqlx's `Any` driver cannot carry SQLite's BOOLEAN).
/// Binding a Rust `bool` works on both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl From<Flag> for bool {
    fn from(f: Flag) -> bool {
        f.0
    }
}

impl sqlx::Type<Any> for Flag {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <bool as sqlx::Type<Any>>::type_info()
    }
    fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
        <bool as sqlx::Type<Any>>::compatible(ty) || <i64 as sqlx::Type<Any>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, Any> for Flag {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        use sqlx::ValueRef;
        if value.type_info().kind() == sqlx::any::AnyTypeInfoKind::Bool {
            <bool as sqlx::Decode<Any>>::decode(value).map(Flag)
        } else {
            <i64 as sqlx::Decode<Any>>::decode(value).map(|v| Flag(v != 0))
        }
    }
}
