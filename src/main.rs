//! `secours`: one binary, thin. Subcommands call the crates; they appear as
//! their issues land (server, applet, console, relay).

mod applet;
mod console;
mod relay;
mod server;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "secours", version, about = "Open-source remote support")]
struct Cli {
    /// Log filter, e.g. `info` or `secours_protocol=debug`.
    #[arg(long, env = "SECOURS_LOG", default_value = "warn", global = true)]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once at start: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// The customer's program: joins with a PIN or a link and shares this
    /// screen after the customer's consent.
    Applet(applet::AppletArgs),
    /// The technician's program (`--headless`: JSON lines in and out).
    Console(console::ConsoleArgs),
    /// Runs a whole support session between the real programs (server,
    /// console, applet as processes on loopback) and prints what happened.
    Demo(secours_demo::DemoArgs),
    /// Runs a standalone relay hub (for relays on their own machines).
    Relay(relay::RelayArgs),
    /// The server: organisation, permissions, sessions, queue, signaling,
    /// relay and STUN (`secours server init` first).
    Server(server::ServerArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Applet(args) => applet::run(args),
        Command::Console(args) => console::run(args),
        Command::Demo(args) => secours_demo::run(&args),
        Command::Relay(args) => relay::run(args),
        Command::Server(args) => server::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("secours: {e:#}");
            ExitCode::FAILURE
        }
    }
}
