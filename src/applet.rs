//! `secours applet`: the customer's program, run from a terminal.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use secours_applet::Scene;
use secours_applet::session::{self, AppletConfig, Entry, ScreenSource};
use secours_peer::connect::PathChoice;
use secours_protocol::signaling::Secret;

/// Options of `secours applet`.
#[derive(Debug, clap::Args)]
pub struct AppletArgs {
    /// The help desk's server, `https://...`.
    #[arg(long, env = "SECOURS_SERVER")]
    pub server: Option<String>,
    /// The six-digit code your technician gave you.
    #[arg(long, conflicts_with = "link")]
    pub pin: Option<String>,
    /// The private link your technician sent you.
    #[arg(long)]
    pub link: Option<String>,
    /// Your name, as the technician will see it.
    #[arg(long, default_value = "")]
    pub name: String,
    /// The X display to share (default: $DISPLAY).
    #[arg(long)]
    pub display: Option<String>,
    /// Share a synthetic screen instead (tests and demonstrations).
    #[arg(long, value_name = "WxH")]
    pub synthetic: Option<String>,
    /// Where files from the technician land (default: ~/Downloads/Secours).
    #[arg(long)]
    pub received_dir: Option<PathBuf>,
    /// The folder the technician's file manager may browse (default: the
    /// home folder); nothing outside it is reachable.
    #[arg(long)]
    pub files_root: Option<PathBuf>,
    /// `auto` (relay at once, direct when possible) or `relay` only.
    #[arg(long, default_value = "auto")]
    pub path: String,
    /// The screen encoder (`aom`, `rav1e`; default: the start-up self-test).
    #[arg(long)]
    pub encoder: Option<String>,
    /// The server's STUN responder, `host:port`.
    #[arg(long)]
    pub stun: Option<SocketAddr>,
}

pub fn run(args: AppletArgs) -> Result<()> {
    let (server, entry) = match (&args.pin, &args.link) {
        (Some(pin), None) => {
            let server = args
                .server
                .clone()
                .context("--server is needed with --pin")?;
            (server, Entry::Pin(Secret::from(pin.trim())))
        }
        (None, Some(link)) => {
            let secret = session::link_secret(link).context("not a Secours private link")?;
            let server = match &args.server {
                Some(s) => s.clone(),
                None => link
                    .split("/join")
                    .next()
                    .map(str::to_owned)
                    .context("not a Secours private link")?,
            };
            (server, Entry::Link(secret))
        }
        _ => bail!("give --pin (with --server) or --link"),
    };
    let screen = match &args.synthetic {
        Some(size) => {
            let (w, h) = size
                .split_once('x')
                .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
                .context("--synthetic takes WIDTHxHEIGHT")?;
            ScreenSource::Synthetic(Scene::Typing, w, h)
        }
        None => ScreenSource::X11(args.display.clone()),
    };
    let received_dir = match &args.received_dir {
        Some(d) => d.clone(),
        None => std::env::var_os("HOME")
            .map(PathBuf::from)
            .context("no HOME: give --received-dir")?
            .join("Downloads")
            .join("Secours"),
    };
    std::fs::create_dir_all(&received_dir)
        .with_context(|| format!("create {}", received_dir.display()))?;
    let path = match args.path.as_str() {
        "auto" => PathChoice::Auto,
        "relay" => PathChoice::Relay,
        other => bail!("--path is auto or relay, not {other}"),
    };
    let encoder = match &args.encoder {
        Some(e) => Some(e.parse().map_err(|e: String| anyhow!(e))?),
        None => None,
    };
    let config = AppletConfig {
        server,
        entry,
        name: args.name.clone(),
        screen,
        received_dir,
        files_root: args.files_root.clone(),
        path,
        encoder,
        stun: args.stun,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(session::run(config))?;
    tracing::info!(session = %outcome.session_id, injected = outcome.injected, "applet done");
    // The terminal thread may still wait on standard input.
    runtime.shutdown_background();
    Ok(())
}
