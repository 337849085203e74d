//! `secours console`: the technician's program. At a terminal: short
//! commands (`help`), sentences, a progress bar per file. `--headless`:
//! commands as JSON lines on standard input, events as JSON lines on
//! standard output.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use secours_console::terminal::{self, Sessions};
use secours_console::{Command, ConsoleConfig, ConsoleEvent};
use secours_peer::connect::PathChoice;
use secours_protocol::signaling::Secret;
use tokio::sync::mpsc;

/// Options of `secours console`.
#[derive(Debug, clap::Args)]
pub struct ConsoleArgs {
    /// The server, `https://...`.
    #[arg(long, env = "SECOURS_SERVER")]
    pub server: String,
    /// Your login e-mail. The password comes from SECOURS_PASSWORD or a
    /// prompt, never a flag.
    #[arg(long, env = "SECOURS_EMAIL")]
    pub email: String,
    /// Commands as JSON lines on standard input, events as JSON lines on
    /// standard output.
    #[arg(long)]
    pub headless: bool,
    /// Short commands and sentences at this terminal instead of the window
    /// (the default when there is no $DISPLAY).
    #[arg(long, conflicts_with = "headless")]
    pub terminal: bool,
    /// Where customers' files land (a folder per session).
    #[arg(long, default_value = "secours-files")]
    pub files_dir: PathBuf,
    /// `auto` (relay at once, direct when possible) or `relay` only.
    #[arg(long, default_value = "auto")]
    pub path: String,
    /// The server's STUN responder, `host:port`.
    #[arg(long)]
    pub stun: Option<SocketAddr>,
}

fn password() -> Result<Secret> {
    if let Ok(p) = std::env::var("SECOURS_PASSWORD") {
        return Ok(Secret::new(p));
    }
    // Not echoed on a terminal; one line from a pipe.
    Ok(Secret::new(rpassword::prompt_password(
        "Password for the console: ",
    )?))
}

pub fn run(args: ConsoleArgs) -> Result<()> {
    let path = match args.path.as_str() {
        "auto" => PathChoice::Auto,
        "relay" => PathChoice::Relay,
        other => bail!("--path is auto or relay, not {other}"),
    };
    let window = !args.headless && !args.terminal && std::env::var_os("DISPLAY").is_some();
    let password = match std::env::var("SECOURS_PASSWORD") {
        // The window asks for it.
        Err(_) if window => Secret::new(String::new()),
        _ => password().context("read the password")?,
    };
    let config = ConsoleConfig {
        server: args.server.clone(),
        email: args.email.clone(),
        password,
        files_dir: args.files_dir.clone(),
        path,
        stun: args.stun,
        screens: None,
    };
    if window {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        secours_console::window::run_window(config, runtime.handle().clone())?;
        // Closing the window asked every session to end; give them a moment.
        runtime.shutdown_timeout(std::time::Duration::from_secs(3));
        return Ok(());
    }
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel::<ConsoleEvent>();
    // Weak: the events end (and the printer with them) when the console
    // does, even while the input thread still waits on standard input.
    let errors = ev_tx.downgrade();
    let sessions: Arc<Mutex<Sessions>> = Arc::default();
    let headless = args.headless;
    let known = sessions.clone();
    std::thread::Builder::new()
        .name("secours-commands".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if line.trim().is_empty() {
                    continue;
                }
                let command = if headless {
                    serde_json::from_str::<Command>(&line)
                        .map_err(|e| format!("unreadable command: {e}"))
                } else if line.trim() == "help" {
                    println!("{}", terminal::HELP);
                    continue;
                } else {
                    terminal::parse(&line, &lock(&known))
                };
                match command {
                    Ok(c) => {
                        if cmd_tx.send(c).is_err() {
                            break;
                        }
                    }
                    Err(message) => {
                        if let Some(errors) = errors.upgrade() {
                            let _ = errors.send(ConsoleEvent::Error { message });
                        }
                    }
                }
            }
            let _ = cmd_tx.send(Command::Quit);
        })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let printer = std::thread::spawn(move || {
        if headless {
            print_json(ev_rx);
        } else {
            print_sentences(ev_rx, &sessions);
        }
    });
    let result = runtime.block_on(secours_console::run(config, cmd_rx, ev_tx));
    let _ = printer.join();
    runtime.shutdown_background();
    Ok(result?)
}

fn lock(s: &Mutex<Sessions>) -> std::sync::MutexGuard<'_, Sessions> {
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Headless: one JSON object a line.
fn print_json(mut events: mpsc::UnboundedReceiver<ConsoleEvent>) {
    let stdout = std::io::stdout();
    while let Some(e) = events.blocking_recv() {
        let Ok(line) = serde_json::to_string(&e) else {
            continue;
        };
        let mut out = stdout.lock();
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            break;
        }
    }
}

/// At a terminal: sentences, and a progress bar per file on its way.
fn print_sentences(mut events: mpsc::UnboundedReceiver<ConsoleEvent>, sessions: &Mutex<Sessions>) {
    let bars = MultiProgress::new();
    let mut moving: HashMap<(String, String, String), ProgressBar> = HashMap::new();
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    while let Some(e) = events.blocking_recv() {
        match &e {
            ConsoleEvent::Pin { session_id, .. } | ConsoleEvent::Connected { session_id, .. } => {
                lock(sessions).learn(session_id);
            }
            ConsoleEvent::Queue { sessions: q } => {
                for v in q {
                    lock(sessions).learn(&v.id);
                }
            }
            ConsoleEvent::Progress {
                session_id,
                direction,
                name,
                bytes,
                size,
            } => {
                let key = (session_id.clone(), direction.clone(), name.clone());
                let bar = moving.entry(key).or_insert_with(|| {
                    let b = bars.add(ProgressBar::new(*size));
                    b.set_style(style.clone());
                    b.set_message(format!("{direction} {}", terminal::sanitize(name)));
                    b
                });
                bar.set_position(*bytes);
            }
            ConsoleEvent::File {
                session_id,
                direction,
                name,
                ..
            } => {
                let going = if direction == "sent" {
                    "sending"
                } else {
                    "receiving"
                };
                let key = (session_id.clone(), going.to_owned(), name.clone());
                if let Some(bar) = moving.remove(&key) {
                    bar.finish_and_clear();
                }
            }
            _ => {}
        }
        if let Some(text) = terminal::describe(&e) {
            // Not a terminal (a pipe, a log): plain lines, no bars.
            if bars.is_hidden() {
                println!("{text}");
            } else {
                let _ = bars.println(text);
            }
        }
    }
}
