//! `secours console`: the technician's program. `--headless`: commands as
//! JSON lines on standard input, events as JSON lines on standard output.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
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
    eprint!("Password for the console: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(Secret::new(line.trim_end_matches(['\r', '\n'])))
}

pub fn run(args: ConsoleArgs) -> Result<()> {
    if !args.headless {
        bail!("the console's window comes with the viewer; use --headless for now");
    }
    let path = match args.path.as_str() {
        "auto" => PathChoice::Auto,
        "relay" => PathChoice::Relay,
        other => bail!("--path is auto or relay, not {other}"),
    };
    let config = ConsoleConfig {
        server: args.server.clone(),
        email: args.email.clone(),
        password: password().context("read the password")?,
        files_dir: args.files_dir.clone(),
        path,
        stun: args.stun,
    };
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<ConsoleEvent>();
    // Commands: one JSON object per line; a line that is not one is an
    // error event, and the console goes on.
    // Weak: the events end (and the printer with them) when the console
    // does, even while this thread still waits on standard input.
    let errors = ev_tx.downgrade();
    std::thread::Builder::new()
        .name("secours-commands".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Command>(&line) {
                    Ok(c) => {
                        if cmd_tx.send(c).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        if let Some(errors) = errors.upgrade() {
                            let _ = errors.send(ConsoleEvent::Error {
                                message: format!("unreadable command: {e}"),
                            });
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
        let stdout = std::io::stdout();
        while let Some(e) = ev_rx.blocking_recv() {
            let Ok(line) = serde_json::to_string(&e) else {
                continue;
            };
            let mut out = stdout.lock();
            if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                break;
            }
        }
    });
    let result = runtime.block_on(secours_console::run(config, cmd_rx, ev_tx));
    let _ = printer.join();
    runtime.shutdown_background();
    Ok(result?)
}
