//! Server configuration: defaults, then a TOML file, then `SECOURS_SERVER_*`
//! environment variables (nested keys with `__`, e.g.
//! `SECOURS_SERVER_TIMEOUTS__IDLE_S=600`), then command-line flags (applied
//! by the binary).

use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Everything `secours server` can be told.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP listen address (put TLS termination in front, as for the relay).
    pub listen: SocketAddr,
    /// UDP address of the STUN binding responder; none to disable.
    pub stun_listen: Option<SocketAddr>,
    /// `sqlite://FILE?mode=rwc` or `postgres://user:pass@host/db`.
    pub database_url: String,
    /// Pool size.
    pub database_max_connections: u32,
    /// Public base URL, used in links given to customers.
    pub public_url: String,
    /// Origins browsers may open WebSockets from (the public URL's origin is
    /// always allowed). Native peers send no Origin.
    pub allowed_origins: Vec<String>,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For`
    /// names the client; from any other peer the header is ignored and the
    /// socket's address counts.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// A connection that has not sent a request's headers within this is
    /// closed, milliseconds.
    pub header_read_timeout_ms: u64,
    /// Deadline of a request, its body included, milliseconds (408 after).
    pub request_timeout_ms: u64,
    /// Connections open at once, all addresses.
    pub max_connections: usize,
    /// Connections (WebSockets included) open at once from one address;
    /// trusted proxies are exempt.
    pub max_connections_per_address: usize,
    /// Messages a WebSocket peer may send per second (twice that in a
    /// burst); past it the socket is closed.
    pub ws_messages_per_s: u32,
    /// Channel sessions one address may open per throttling window.
    pub channel_joins_per_address: i64,
    /// Lifetime of a staff login token, seconds.
    pub token_ttl_s: i64,
    /// Login failures per (address, account) pair per throttling window.
    pub login_max_failures: i64,
    /// Login failures per address (any account) per throttling window.
    pub login_address_max_failures: i64,
    /// Login failures per account (any address) per account window; past
    /// it only a correct password from an address that logged into this
    /// account before gets in.
    pub login_account_max_failures: i64,
    /// The per-account window, seconds.
    pub login_account_window_s: i64,
    /// PIN redemption failures per address before throttling.
    pub pin_max_failures: i64,
    /// Throttling window, seconds.
    pub throttle_window_s: i64,
    /// Session timeouts (SESS-7).
    pub timeouts: Timeouts,
    /// Technician presence for routing (SESS-4..6, SESS-9).
    pub presence: Presence,
    /// Outgoing mail for account notifications (SEC-9); none keeps them in the outbox.
    pub smtp: Option<Smtp>,
    /// Post-to-URL (INTEG-2) retries: the first waits this long, each next twice as long.
    pub post_retry_base_ms: u64,
    /// Post-to-URL attempts before an item is given up (kept in the log).
    pub post_max_attempts: i64,
    /// A TURN server beside this one; none: peers that cannot punch
    /// through stay on the relay.
    pub turn: Option<Turn>,
}

/// A TURN server that shares a secret with this server (coturn's
/// `use-auth-secret` with `static-auth-secret`): each applet that joins gets
/// credentials for its session only, valid `ttl_s`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    /// `turn:host:port?transport=udp` URLs given to peers (the first UDP
    /// one is used by the applet).
    #[serde(default)]
    pub urls: Vec<String>,
    /// The shared secret.
    pub secret: crate::Secret,
    /// How long credentials stay valid, seconds (a session that outlives
    /// them keeps its allocation until the next refresh fails).
    #[serde(default = "turn_ttl")]
    pub ttl_s: u64,
    /// Start Debian's coturn beside the node, listening (UDP) here with
    /// this secret (`coturn`); `urls` may then be left empty: the node
    /// gives its own (the public URL's host when it listens everywhere).
    #[serde(default)]
    pub coturn: Option<std::net::SocketAddr>,
}

fn turn_ttl() -> u64 {
    12 * 3600
}

impl std::fmt::Debug for Turn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turn")
            .field("urls", &self.urls)
            .field("ttl_s", &self.ttl_s)
            .field("coturn", &self.coturn)
            .finish_non_exhaustive()
    }
}

impl Turn {
    /// Credentials for `session_id`, valid from now.
    pub fn grant(&self, session_id: &str) -> secours_protocol::signaling::TurnGrant {
        let c = secours_transport::turn::issue(
            &self.secret,
            session_id,
            std::time::SystemTime::now(),
            std::time::Duration::from_secs(self.ttl_s),
        );
        secours_protocol::signaling::TurnGrant {
            urls: self.urls.clone(),
            username: c.username,
            credential: c.password,
            expires_at: c.expires_at,
        }
    }
}

/// SESS-7 timeouts, seconds; each is preceded by a warning event.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    /// How long a PIN code or link stays valid.
    pub code_validity_s: i64,
    /// From code use to the applet connecting.
    pub connecting_s: i64,
    /// Waiting in a queue.
    pub waiting_s: i64,
    /// An active session with no activity.
    pub idle_s: i64,
    /// Warning lead before each timeout.
    pub warning_s: i64,
    /// How long a live session waits for its applet to come back (a
    /// reboot, a lost network) before it closes as `disconnected`.
    pub reconnect_s: i64,
    /// How often the sweeper looks, milliseconds.
    pub sweep_interval_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            code_validity_s: 20 * 60,
            connecting_s: 2 * 60,
            waiting_s: 30 * 60,
            idle_s: 30 * 60,
            warning_s: 60,
            reconnect_s: 180,
            sweep_interval_ms: 1000,
        }
    }
}

/// How the server knows a technician's console is open, across nodes: each
/// open console renews a lease in the database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Presence {
    /// How often an open console renews its lease, milliseconds.
    pub refresh_ms: u64,
    /// A lease not renewed for this long means no console is open (a node
    /// that died), milliseconds; more than `refresh_ms`.
    pub lease_ms: i64,
}

impl Default for Presence {
    fn default() -> Self {
        Self {
            refresh_ms: 10_000,
            lease_ms: 30_000,
        }
    }
}

/// An SMTP relay.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smtp {
    /// Host name.
    pub host: String,
    /// Port (587 with STARTTLS, 25 plain on a local relay).
    pub port: u16,
    /// Use STARTTLS.
    #[serde(default = "yes")]
    pub starttls: bool,
    /// Login, if the relay wants one.
    pub username: Option<String>,
    /// Its password.
    pub password: Option<crate::Secret>,
    /// Sender address.
    pub from: String,
}

fn yes() -> bool {
    true
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            stun_listen: Some(SocketAddr::from(([127, 0, 0, 1], 3478))),
            database_url: "sqlite://secours.db?mode=rwc".to_owned(),
            database_max_connections: 8,
            public_url: "http://127.0.0.1:8080".to_owned(),
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            max_body_bytes: 64 * 1024,
            header_read_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            max_connections: 10_000,
            max_connections_per_address: 64,
            ws_messages_per_s: 20,
            channel_joins_per_address: 10,
            token_ttl_s: 12 * 3600,
            login_max_failures: 5,
            login_address_max_failures: 20,
            login_account_max_failures: 20,
            login_account_window_s: 3600,
            pin_max_failures: 5,
            throttle_window_s: 300,
            timeouts: Timeouts::default(),
            presence: Presence::default(),
            smtp: None,
            turn: None,
            post_retry_base_ms: 10_000,
            post_max_attempts: 10,
        }
    }
}

// By hand: the database URL may carry a password.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("stun_listen", &self.stun_listen)
            .field(
                "database_url",
                &crate::store::redact_url(&self.database_url),
            )
            .field("database_max_connections", &self.database_max_connections)
            .field("public_url", &self.public_url)
            .field("allowed_origins", &self.allowed_origins)
            .field("timeouts", &self.timeouts)
            .field("presence", &self.presence)
            .field("smtp", &self.smtp)
            .field("turn", &self.turn)
            .finish_non_exhaustive()
    }
}

/// Errors reading the configuration.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

impl Config {
    /// Defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            .merge(Env::prefixed("SECOURS_SERVER_").split("__"))
            .extract()
            .map_err(|e| ConfigError(Box::new(e)))
    }

    /// The public URL's host (without scheme, port or path).
    pub fn public_host(&self) -> String {
        let origin = self.public_origin();
        let authority = origin.split("://").nth(1).unwrap_or(&origin);
        if let Some(rest) = authority.strip_prefix('[') {
            return format!("[{}]", rest.split(']').next().unwrap_or_default());
        }
        authority.split(':').next().unwrap_or_default().to_owned()
    }

    /// The origin (`scheme://host[:port]`) of the public URL.
    pub fn public_origin(&self) -> String {
        let url = self.public_url.trim_end_matches('/');
        match url.find("://") {
            Some(i) => match url[i + 3..].find('/') {
                Some(j) => url[..i + 3 + j].to_owned(),
                None => url.to_owned(),
            },
            None => url.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env() {
        let dir = std::env::temp_dir().join(format!("secours-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("server.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9999\"\n[timeouts]\nidle_s = 5\n[smtp]\nhost = \"mail\"\nport = 25\npassword = \"hunter2\"\nfrom = \"a@b\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&file)).unwrap();
        assert_eq!(c.listen.port(), 9999);
        assert_eq!(c.timeouts.idle_s, 5);
        assert_eq!(c.timeouts.waiting_s, Timeouts::default().waiting_s);
        assert!(!format!("{c:?}").contains("hunter2"));
        std::fs::write(&file, "listne = 1\n").unwrap();
        assert!(Config::load(Some(&file)).is_err(), "typos are refused");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn origin_of_public_url() {
        let c = Config {
            public_url: "https://help.example.com/secours/".into(),
            ..Config::default()
        };
        assert_eq!(c.public_origin(), "https://help.example.com");
    }
}
