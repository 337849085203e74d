//! `secours applet`: the customer's program, run from a terminal.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use secours_applet::Scene;
use secours_applet::input::priority::Priority;
use secours_applet::session::{self, AppletConfig, Entry, ScreenSource};
use secours_applet::window::{WindowLink, run_window};
use secours_peer::connect::PathChoice;
use secours_protocol::signaling::Secret;
use std::time::{Duration, Instant};

/// Options of `secours applet`.
#[derive(Debug, clap::Args)]
pub struct AppletArgs {
    /// The help desk's server, `https://...`.
    #[arg(long, env = "SECOURS_SERVER")]
    pub server: Option<String>,
    /// The six-digit code your technician gave you.
    #[arg(long, conflicts_with = "link")]
    pub pin: Option<String>,
    /// Comes back to the session an earlier run left (after a restart or a
    /// crash), without a new code.
    #[arg(long, conflicts_with_all = ["pin", "link"])]
    pub reconnect: bool,
    /// The session the help desk's web page opened for you (with --token):
    /// the page shows the whole command.
    #[arg(long, requires = "token", conflicts_with_all = ["pin", "link", "reconnect"])]
    pub session: Option<String>,
    /// The session's applet token, from the same page.
    #[arg(long, env = "SECOURS_APPLET_TOKEN", requires = "session")]
    pub token: Option<String>,
    /// The private link your technician sent you, or your help desk's
    /// channel link.
    #[arg(long)]
    pub link: Option<String>,
    /// A field of the channel's form, `NAME=VALUE` (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    pub field: Vec<String>,
    /// Your name, as the technician will see it.
    #[arg(long, default_value = "")]
    pub name: String,
    /// The X display to share (default: $DISPLAY; the clipboard is
    /// $DISPLAY's).
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
    /// Opens a web page the technician pushes (the URL is added as the last
    /// argument; split on spaces, no shell).
    #[arg(long, default_value = "xdg-open")]
    pub url_opener: String,
    /// Restarts the computer when the technician asks and the customer
    /// agrees (split on spaces, no shell).
    #[arg(long, default_value = "systemctl reboot")]
    pub reboot_command: String,
    /// Who has the mouse and keyboard when both act: `customer` (your own
    /// mouse and keyboard hold the technician's input back for a moment)
    /// or `technician`.
    #[arg(long, default_value = "customer")]
    pub priority: String,
    /// Talk at this terminal instead of opening a window (the default
    /// when there is no $DISPLAY).
    #[arg(long)]
    pub terminal: bool,
}

fn words(command: &str) -> Vec<String> {
    command.split_whitespace().map(str::to_owned).collect()
}

pub fn run(args: AppletArgs) -> Result<()> {
    let (server, entry) = match (&args.pin, &args.link) {
        _ if args.reconnect => {
            let state = session::resume::ResumeState::load()?;
            (state.server.clone(), Entry::Reconnect(state))
        }
        // A session already joined on the web page: the applet connects to
        // it as it would come back to one.
        _ if args.session.is_some() => {
            let server = args
                .server
                .clone()
                .context("--server is needed with --session")?;
            let state = session::resume::ResumeState {
                server: server.clone(),
                session_id: args.session.clone().unwrap_or_default(),
                customer_token: Secret::from(args.token.clone().unwrap_or_default().as_str()),
                name: args.name.clone(),
                // The web page joined: the server's `hello` brings TURN.
                turn: None,
            };
            (server, Entry::Reconnect(state))
        }
        (Some(pin), None) => {
            let server = args
                .server
                .clone()
                .context("--server is needed with --pin")?;
            (server, Entry::Pin(Secret::from(pin.trim())))
        }
        (None, Some(link)) => {
            let (from_link, mut entry) =
                session::parse_link(link).context("not a Secours private or channel link")?;
            if let Entry::Channel { fields, .. } = &mut entry {
                for f in &args.field {
                    let (k, v) = f.split_once('=').context("--field takes NAME=VALUE")?;
                    fields.insert(k.to_owned(), v.to_owned());
                }
            } else if !args.field.is_empty() {
                bail!("--field goes with a channel link");
            }
            (args.server.clone().unwrap_or(from_link), entry)
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
        url_opener: words(&args.url_opener),
        reboot_command: words(&args.reboot_command),
        priority: match args.priority.as_str() {
            "customer" => Priority::Customer,
            "technician" => Priority::Technician,
            other => bail!("--priority is customer or technician, not {other}"),
        },
        window: None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if args.terminal || std::env::var_os("DISPLAY").is_none() {
        let outcome = runtime.block_on(session::run(config))?;
        tracing::info!(session = %outcome.session_id, injected = outcome.injected, "applet done");
        // The terminal thread may still wait on standard input.
        runtime.shutdown_background();
        return Ok(());
    }
    with_window(runtime, config)
}

/// The session on a thread of its own, the window on this one (toolkits
/// want the main thread); closing the window ends the session.
fn with_window(runtime: tokio::runtime::Runtime, mut config: AppletConfig) -> Result<()> {
    let link = WindowLink::new();
    config.window = Some(link.clone());
    let session = std::thread::Builder::new()
        .name("secours-session".into())
        .spawn(move || {
            let outcome = runtime.block_on(session::run(config));
            runtime.shutdown_timeout(Duration::from_secs(2));
            outcome
        })?;
    run_window(link, "Secours")?;
    // The customer closed the window: the session was told to end; give
    // it a moment to say so to the technician and clean up.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !session.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if session.is_finished() {
        match session.join() {
            Ok(Ok(outcome)) => {
                tracing::info!(session = %outcome.session_id, injected = outcome.injected, "applet done");
            }
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => bail!("the session's thread panicked"),
        }
    }
    Ok(())
}
