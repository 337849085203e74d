//! `secours relay`: the relay hub on its own.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use secours_transport::relay::{HubConfig, RelayHub};

/// Options of `secours relay`.
#[derive(Debug, clap::Args)]
pub struct RelayArgs {
    /// Address to listen on (put TLS termination, port 443, in front).
    #[arg(long, env = "SECOURS_RELAY_LISTEN", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Shared secret servers use to ask for tokens (POST /relay/v1/tokens).
    #[arg(long, env = "SECOURS_RELAY_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Seconds an issued token stays valid unpaired.
    #[arg(long, default_value_t = 120)]
    pub token_ttl_s: u64,
    /// Seconds without traffic after which a pair is closed.
    #[arg(long, default_value_t = 60)]
    pub idle_timeout_s: u64,
    /// Origins accepted from browser peers (repeatable).
    #[arg(long = "allow-origin")]
    pub allowed_origins: Vec<String>,
}

pub fn run(args: RelayArgs) -> Result<()> {
    let config = HubConfig {
        token_ttl: Duration::from_secs(args.token_ttl_s),
        idle_timeout: Duration::from_secs(args.idle_timeout_s),
        allowed_origins: args.allowed_origins,
        issue_secret: args.secret.map(Into::into),
        ..HubConfig::default()
    };
    let issuing = config.issue_secret.is_some();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("bind {}", args.listen))?;
        println!(
            "secours relay listening on ws://{} (token issuing {})",
            listener.local_addr()?,
            if issuing { "on" } else { "off: set --secret" }
        );
        let hub = RelayHub::new(config);
        tokio::select! {
            r = hub.serve(listener) => r.context("relay stopped"),
            _ = tokio::signal::ctrl_c() => {
                println!("secours relay: shutting down");
                Ok(())
            }
        }
    })
}
