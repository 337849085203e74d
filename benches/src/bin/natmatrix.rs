//! `natmatrix`: the path matrix. For every pair of networks of the NAT lab
//! (RFC 4787's kinds, and a network that lets only TCP to 443 out), a
//! session between the real programs in network namespaces: the path it
//! ended on, the time from the PIN entered to the first decoded picture
//! (the relay carries the start: target under 1 s) and the time until a
//! UDP path took over (direct, or through the TURN server where both NATs
//! defeat punching; target under 2 s where one is possible). Prints
//! the table and writes it to `benches/results/nat-matrix.md`. Needs root.
//!
//! `cargo build --release --workspace && sudo target/release/natmatrix`

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Parser;
use secours_benches::natlab::{Network, is_root};
use secours_benches::path_matrix::{Outcome, prepare, reasons, run_pair, table};
use secours_benches::programs::secours_binary;

#[derive(Debug, Parser)]
struct Args {
    /// The `secours` binary (default: beside this one).
    #[arg(long)]
    secours: Option<PathBuf>,
    /// Where the table goes.
    #[arg(long, default_value = "benches/results/nat-matrix.md")]
    out: PathBuf,
    /// Only pairs whose applet network is this one (e.g. `symmetric`).
    #[arg(long)]
    applet: Option<String>,
    /// Only pairs whose console network is this one.
    #[arg(long)]
    console: Option<String>,
    /// Keep the programs' logs (and the database) in this folder.
    #[arg(long)]
    logs: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if !is_root() {
        bail!("natmatrix makes network namespaces: run it as root");
    }
    let bin = secours_binary(args.secours)?;
    let tmp = tempfile::tempdir()?;
    // The programs' logs (RUST_LOG) stay there when asked to.
    let dir = match &args.logs {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => tmp.path().to_owned(),
    };
    let database = prepare(&bin, &dir)?;
    let mut outcomes: Vec<Outcome> = Vec::new();
    for a in Network::ALL {
        if args.applet.as_deref().is_some_and(|n| n != a.name()) {
            continue;
        }
        for c in Network::ALL {
            if args.console.as_deref().is_some_and(|n| n != c.name()) {
                continue;
            }
            let o = run_pair(&bin, &database, &dir, a, c)?;
            println!(
                "applet {a:>18} / console {c:>18}: {:>6}, first picture {:>5.0} ms, UDP path at {}{}",
                o.path,
                o.first_frame_ms,
                o.direct_ms.map_or("-".into(), |d| format!("{d:.0} ms")),
                o.reason
                    .as_deref()
                    .map_or(String::new(), |r| format!(" ({r})")),
            );
            outcomes.push(o);
        }
    }
    let mut doc = String::from(
        "# The path matrix\n\nWritten by `natmatrix` (benches/src/bin/natmatrix.rs): a real session per pair \
         (applet in LAN A, console in LAN B, `secours server` with its STUN responder and coturn \
         on the public segment, network namespaces and nftables). Times from the PIN entered; \
         `turn` is QUIC end to end through the TURN server's relayed address.\n\n",
    );
    doc.push_str(&table(&outcomes));
    doc.push_str("\nWhy the relay cells stayed on the relay:\n\n");
    doc.push_str(&reasons(&outcomes));
    print!("\n{doc}");
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, doc)?;
    let unexpected = outcomes.iter().filter(|o| !o.as_expected()).count();
    println!(
        "{} pairs, {unexpected} not where RFC 4787 says they can be",
        outcomes.len()
    );
    Ok(())
}
