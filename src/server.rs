//! `secours server`: runs a node, sets the organisation up, verifies the
//! audit chain. Configuration: defaults, TOML file, `SECOURS_SERVER_*`
//! environment, then these flags.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use secours_signaling::config::Config;
use secours_signaling::setup::{self, FirstMaster};
use secours_signaling::store::audit::{self, Actor};
use secours_signaling::store::{Store, redact_url};

/// Options of `secours server`.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// TOML configuration file.
    #[arg(long, short, env = "SECOURS_SERVER_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// HTTP listen address.
    #[arg(long, global = true)]
    pub listen: Option<SocketAddr>,
    /// Database URL (`sqlite://FILE?mode=rwc` or `postgres://...`).
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// Public base URL (links given to customers, allowed Origin).
    #[arg(long, global = true)]
    pub public_url: Option<String>,
    /// STUN UDP address (`off` to disable).
    #[arg(long, global = true)]
    pub stun_listen: Option<String>,
    /// A TURN server peers may use (`turn:host:port?transport=udp`; repeat
    /// for several). Its shared secret (coturn's `static-auth-secret`) is
    /// read from $SECOURS_TURN_SECRET, never from the command line.
    #[arg(long = "turn-url", global = true)]
    pub turn_urls: Vec<String>,
    /// Start Debian's coturn beside the server, listening (UDP) here, e.g.
    /// `0.0.0.0:3478`; peers are given its URL (the public URL's host)
    /// unless --turn-url says otherwise. The shared secret is
    /// $SECOURS_TURN_SECRET, or a fresh random one for this run.
    #[arg(long, global = true)]
    pub coturn: Option<SocketAddr>,
    #[command(subcommand)]
    pub action: Option<ServerAction>,
}

/// What to do (default: run).
#[derive(Debug, clap::Subcommand)]
pub enum ServerAction {
    /// Runs the node until Ctrl-C or SIGTERM.
    Run,
    /// Creates the organisation and its first master administrator, or with
    /// `--token` prints a one-time set-up token for `POST /api/v1/setup`.
    Init(InitArgs),
    /// Verifies the audit log's hash chain and prints its head (keep it
    /// outside the database: `--anchor` then detects deleted newest entries).
    AuditVerify(AuditVerifyArgs),
}

/// Options of `secours server audit-verify`.
#[derive(Debug, clap::Args)]
pub struct AuditVerifyArgs {
    /// A head printed by an earlier run (`ID:HASH`).
    #[arg(long)]
    pub anchor: Option<String>,
}

/// Options of `secours server init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Print a one-time set-up token instead (valid one hour).
    #[arg(long)]
    pub token: bool,
    /// Organisation name.
    #[arg(long, required_unless_present = "token")]
    pub org: Option<String>,
    /// The master administrator's name.
    #[arg(long, required_unless_present = "token")]
    pub name: Option<String>,
    /// The master administrator's e-mail (login).
    #[arg(long, required_unless_present = "token")]
    pub email: Option<String>,
}

fn config(args: &ServerArgs) -> Result<Config> {
    let mut c = Config::load(args.config.as_deref())?;
    if let Some(l) = args.listen {
        c.listen = l;
    }
    if let Some(u) = &args.database_url {
        c.database_url = u.clone();
    }
    if let Some(u) = &args.public_url {
        c.public_url = u.clone();
    }
    match args.stun_listen.as_deref() {
        Some("off") => c.stun_listen = None,
        Some(a) => c.stun_listen = Some(a.parse().context("--stun-listen")?),
        None => {}
    }
    if !args.turn_urls.is_empty() || args.coturn.is_some() {
        let secret = match std::env::var("SECOURS_TURN_SECRET") {
            Ok(s) => s,
            // Nobody else needs it: coturn is ours, started with it.
            Err(_) if args.coturn.is_some() => {
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
                hex::encode(bytes)
            }
            Err(_) => {
                bail!("--turn-url needs the TURN server's shared secret in $SECOURS_TURN_SECRET")
            }
        };
        c.turn = Some(secours_signaling::config::Turn {
            urls: args.turn_urls.clone(),
            secret: secret.as_str().into(),
            ttl_s: c.turn.as_ref().map_or(12 * 3600, |t| t.ttl_s),
            coturn: args.coturn.or(c.turn.as_ref().and_then(|t| t.coturn)),
        });
    }
    Ok(c)
}

pub fn run(args: ServerArgs) -> Result<()> {
    let config = config(&args)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        match &args.action {
            None | Some(ServerAction::Run) => serve(config).await,
            Some(ServerAction::Init(init)) => init_org(&config, init).await,
            Some(ServerAction::AuditVerify(a)) => {
                let anchor = match a.anchor.as_deref() {
                    Some(s) => Some(s.parse::<audit::Anchor>()?),
                    None => None,
                };
                let store = Store::open(&config.database_url, 2).await?;
                let r = audit::verify_anchored(&store.pool, anchor.as_ref()).await?;
                if r.intact {
                    println!("audit chain intact: {} entries", r.entries);
                    if let Some(head) = &r.head {
                        println!("head: {head}");
                        println!("keep it outside the database; check later with --anchor {head}");
                    }
                    Ok(())
                } else {
                    bail!(
                        "audit chain BROKEN at entry {}: {} ({} entries)",
                        r.first_bad_id.unwrap_or_default(),
                        r.problem.unwrap_or_default(),
                        r.entries
                    )
                }
            }
        }
    })
}

async fn serve(config: Config) -> Result<()> {
    let db = redact_url(&config.database_url);
    let node = secours_signaling::start(config)
        .await
        .context("starting the server")?;
    println!("secours server listening on http://{}", node.http_addr);
    println!("  database: {db}");
    match node.stun_addr {
        Some(a) => println!("  STUN: udp://{a}"),
        None => println!("  STUN: off"),
    }
    if let Some(a) = node.coturn_addr() {
        println!("  TURN: coturn on udp://{a}");
    }
    println!("  relay: ws://{}/relay/v1/ws", node.http_addr);
    println!(
        "  API: http://{}{}",
        node.http_addr,
        secours_signaling::api::OPENAPI_PATH
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    println!("secours server: shutting down");
    node.shutdown().await.context("shutdown")?;
    Ok(())
}

async fn init_org(config: &Config, init: &InitArgs) -> Result<()> {
    let store = Store::open(&config.database_url, 2).await?;
    if init.token {
        let token = setup::issue_token(&store, 3600).await?;
        println!("one-time set-up token (valid 1 hour, shown once):\n{token}");
        println!("use it with POST /api/v1/setup; the route is gone once set-up is done");
        return Ok(());
    }
    let password = match std::env::var("SECOURS_INIT_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            eprintln!("password for the master administrator (one line on stdin):");
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let first = FirstMaster {
        org_name: init.org.clone().unwrap_or_default(),
        name: init.name.clone().unwrap_or_default(),
        email: init.email.clone().unwrap_or_default(),
        password: password.into(),
    };
    let id = setup::create(&store, &first, &Actor::system("cli")).await?;
    println!(
        "organisation {:?} created; master administrator id {id}",
        first.org_name
    );
    Ok(())
}
