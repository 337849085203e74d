//! Debian's coturn started beside the node (`[turn] coturn`, `secours
//! server --coturn ADDR:PORT`), so that one command runs the whole service:
//! the node issues each session's credentials (`config::Turn::grant`) from
//! the secret it shares with this coturn.
//!
//! The secret never appears on coturn's command line (which any local user
//! can read in /proc): it goes in a configuration file only the server's
//! user can read, in a directory of its own, removed when the node stops.
//! coturn relays UDP only, to peers that are neither loopback nor multicast
//! (its defaults), and is killed with the node.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use crate::Secret;

/// How long coturn is watched after its start for an early exit (a port in
/// use, a bad address).
const START_WATCH: Duration = Duration::from_millis(300);

/// Why coturn could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoturnError {
    /// Its configuration could not be written.
    #[error("cannot write coturn's configuration in {dir}: {source}")]
    Config {
        /// Where.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `turnserver` could not be run.
    #[error("cannot run turnserver (coturn; scripts/setup.sh installs it): {0}")]
    Spawn(#[source] std::io::Error),
    /// It stopped at once.
    #[error("turnserver exited at once ({status}); is {listen} free?")]
    Exited {
        /// Its exit status.
        status: ExitStatus,
        /// Where it was to listen.
        listen: SocketAddr,
    },
}

/// A running coturn; stopped (and its configuration removed) when dropped.
#[derive(Debug)]
pub struct Coturn {
    child: tokio::process::Child,
    dir: PathBuf,
    listen: SocketAddr,
}

impl Coturn {
    /// Where it listens (UDP).
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// The URL peers are given for it: `host` when coturn listens on every
    /// address (the public URL's host), its own address otherwise.
    pub fn url(&self, host: &str) -> String {
        url(self.listen, host)
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `turn:` URL of a coturn listening on `listen`.
pub fn url(listen: SocketAddr, host: &str) -> String {
    let ip = listen.ip();
    let host = if ip.is_unspecified() {
        host.to_owned()
    } else if ip.is_ipv6() {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    format!("turn:{host}:{}?transport=udp", listen.port())
}

/// coturn's configuration: long-term credentials from `secret`, UDP only.
fn config_text(listen: SocketAddr, secret: &Secret) -> String {
    let mut lines = vec![
        format!("listening-port={}", listen.port()),
        "realm=secours".to_owned(),
        "use-auth-secret".to_owned(),
        format!("static-auth-secret={}", secret.expose()),
        "fingerprint".to_owned(),
        "no-cli".to_owned(),
        "no-tls".to_owned(),
        "no-dtls".to_owned(),
        "no-tcp-relay".to_owned(),
        "no-multicast-peers".to_owned(),
        "log-file=stdout".to_owned(),
        "simple-log".to_owned(),
    ];
    if !listen.ip().is_unspecified() {
        lines.push(format!("listening-ip={}", listen.ip()));
        lines.push(format!("relay-ip={}", listen.ip()));
    }
    lines.join("\n") + "\n"
}

fn write_config(dir: &Path, text: &str) -> std::io::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new().mode(0o700).create(dir)?;
    let path = dir.join("turnserver.conf");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    f.write_all(text.as_bytes())?;
    Ok(path)
}

/// Starts coturn on `listen` with `secret`.
pub async fn start(listen: SocketAddr, secret: &Secret) -> Result<Coturn, CoturnError> {
    let dir = std::env::temp_dir().join(format!(
        "secours-coturn-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let conf = write_config(&dir, &config_text(listen, secret)).map_err(|source| {
        let _ = std::fs::remove_dir_all(&dir);
        CoturnError::Config {
            dir: dir.clone(),
            source,
        }
    })?;
    let spawned = tokio::process::Command::new("turnserver")
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(CoturnError::Spawn(e));
        }
    };
    let mut coturn = Coturn { child, dir, listen };
    if let Ok(Ok(status)) = tokio::time::timeout(START_WATCH, coturn.child.wait()).await {
        return Err(CoturnError::Exited { status, listen });
    }
    tracing::info!(%listen, "coturn started beside the node");
    Ok(coturn)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_url_names_the_public_host_when_listening_everywhere() {
        let any: SocketAddr = "0.0.0.0:3478".parse().unwrap();
        assert_eq!(
            url(any, "help.example"),
            "turn:help.example:3478?transport=udp"
        );
        let one: SocketAddr = "10.0.0.5:3479".parse().unwrap();
        assert_eq!(url(one, "help.example"), "turn:10.0.0.5:3479?transport=udp");
        let v6: SocketAddr = "[2001:db8::1]:3478".parse().unwrap();
        assert_eq!(url(v6, "x"), "turn:[2001:db8::1]:3478?transport=udp");
    }

    #[test]
    fn the_secret_is_only_in_a_file_of_the_servers_own() {
        use std::os::unix::fs::PermissionsExt;
        let secret = Secret::new("s3cret-value");
        let text = config_text("127.0.0.1:3478".parse().unwrap(), &secret);
        assert!(text.contains("static-auth-secret=s3cret-value\n"));
        assert!(text.contains("listening-ip=127.0.0.1\n"));
        let dir = std::env::temp_dir().join(format!("secours-coturn-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = write_config(&dir, &text).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dmode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(dmode & 0o777, 0o700);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
