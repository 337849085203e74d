//! The race of direct paths: QUIC hole punching and WebRTC ICE side by
//! side, both sides ending on the same one.
//!
//! Each side makes its own links, so one side picks (the console: QUIC's
//! client, WebRTC's offerer): QUIC as soon as it is up (it is faster, see
//! netbench), WebRTC if QUIC is not up within [`PREFER_QUIC`] of it. The
//! picker sends a stale `Ack` (every count zero, which any connector
//! ignores) on the link it chose, then closes the others. The other side
//! takes the link on which the first frame comes and hands that frame
//! back to the connector; a link closed before carrying anything was not
//! chosen.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use secours_protocol::Channel;

use super::{DirectAttempt, LinkFrame, Shared, encode_link_frame};
use crate::error::LinkError;
use crate::link::{Link, LinkEvent};

/// How long the picker waits for QUIC once WebRTC is up.
pub const PREFER_QUIC: Duration = Duration::from_secs(1);

/// A direct path in the race.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contender {
    /// QUIC over a punched UDP socket (or through a TURN relay).
    Quic,
    /// WebRTC: ICE, DTLS and SCTP data channels.
    WebRtc,
}

impl fmt::Display for Contender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Contender::Quic => "QUIC",
            Contender::WebRtc => "WebRTC",
        })
    }
}

/// Which side picks the path both use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judge {
    /// Picks, and says so on the chosen link (the console).
    Picks,
    /// Takes the link the picker speaks on first (the applet).
    Follows,
}

/// The attempts of one race.
pub struct Race {
    /// Each attempt with what it is.
    pub contenders: Vec<(Contender, DirectAttempt)>,
    /// This side's part.
    pub judge: Judge,
}

impl fmt::Debug for Race {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<Contender> = self.contenders.iter().map(|(c, _)| *c).collect();
        f.debug_struct("Race")
            .field("contenders", &names)
            .field("judge", &self.judge)
            .finish()
    }
}

type Running = FuturesUnordered<
    std::pin::Pin<Box<dyn Future<Output = (Contender, Result<Link, LinkError>)> + Send>>,
>;

struct Field {
    running: Running,
    still: Vec<Contender>,
    up: Vec<(Contender, Link)>,
    failed: Vec<(Contender, LinkError)>,
}

impl Field {
    fn new(contenders: Vec<(Contender, DirectAttempt)>) -> Self {
        let running: Running = FuturesUnordered::new();
        let mut still = Vec::new();
        for (c, attempt) in contenders {
            still.push(c);
            running.push(Box::pin(async move { (c, attempt.await) }));
        }
        Self {
            running,
            still,
            up: Vec::new(),
            failed: Vec::new(),
        }
    }

    fn finished(&mut self, c: Contender, r: Result<Link, LinkError>) {
        self.still.retain(|s| *s != c);
        match r {
            Ok(link) => self.up.push((c, link)),
            Err(e) => {
                tracing::info!(path = %c, error = %e, "direct attempt failed");
                self.failed.push((c, e));
            }
        }
    }

    fn lost(&self) -> bool {
        self.up.is_empty() && self.still.is_empty()
    }

    fn failure(&self) -> LinkError {
        LinkError::NoDirectPath(
            self.failed
                .iter()
                .map(|(c, e)| format!("{c}: {e}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    /// Why every other contender lost: those up `why_up`, those still
    /// trying `why_running`; the links not chosen close as they drop.
    fn losers(self, why_up: &str, why_running: &str) -> Vec<String> {
        let mut reasons: Vec<String> = self
            .failed
            .iter()
            .map(|(c, e)| format!("{c}: {e}"))
            .collect();
        for (c, _) in &self.up {
            reasons.push(format!("{c}: up, but {why_up}"));
        }
        for c in &self.still {
            reasons.push(format!("{c}: {why_running}"));
        }
        reasons
    }
}

/// Runs the race for `judge`'s side; the losers' reasons go to `shared`.
pub(super) async fn run(race: Race, shared: Arc<Mutex<Shared>>) -> Result<Link, LinkError> {
    let field = Field::new(race.contenders);
    let (winner, link, losers) = match race.judge {
        Judge::Picks => pick(field).await?,
        Judge::Follows => follow(field).await?,
    };
    tracing::info!(path = %winner, ?losers, "direct path chosen");
    if let Ok(mut s) = shared.lock() {
        s.losers = losers;
    }
    Ok(link)
}

async fn pick(mut field: Field) -> Result<(Contender, Link, Vec<String>), LinkError> {
    let mut deadline: Option<tokio::time::Instant> = None;
    let mut waited = false;
    loop {
        let quic = field.up.iter().position(|(c, _)| *c == Contender::Quic);
        let choice = quic
            .or_else(|| (!field.up.is_empty() && (field.still.is_empty() || waited)).then_some(0));
        if let Some(i) = choice {
            let (c, link) = field.up.remove(i);
            let marker = encode_link_frame(&LinkFrame::Ack([0; 6]));
            match link.try_send(Channel::Control, marker) {
                Ok(true) => {
                    let running = match c {
                        Contender::Quic => "still trying when QUIC was up".to_owned(),
                        Contender::WebRtc => format!("not up within {PREFER_QUIC:?} of WebRTC"),
                    };
                    let reasons = field.losers(&format!("{c} is preferred"), &running);
                    return Ok((c, link, reasons));
                }
                _ => {
                    field.failed.push((c, LinkError::Closed));
                    continue;
                }
            }
        }
        if field.lost() {
            return Err(field.failure());
        }
        let until = deadline.unwrap_or_else(tokio::time::Instant::now);
        tokio::select! {
            Some((c, r)) = field.running.next(), if !field.running.is_empty() => {
                if r.is_ok() && deadline.is_none() {
                    deadline = Some(tokio::time::Instant::now() + PREFER_QUIC);
                }
                field.finished(c, r);
            }
            () = tokio::time::sleep_until(until), if deadline.is_some() && !waited => {
                waited = true;
            }
        }
    }
}

async fn follow(mut field: Field) -> Result<(Contender, Link, Vec<String>), LinkError> {
    loop {
        if field.lost() {
            return Err(field.failure());
        }
        let reads = async {
            if field.up.is_empty() {
                return std::future::pending::<(usize, Option<LinkEvent>)>().await;
            }
            let recvs: Vec<_> = field
                .up
                .iter_mut()
                .enumerate()
                .map(|(i, (_, l))| Box::pin(async move { (i, l.recv().await) }))
                .collect();
            futures_util::future::select_all(recvs).await.0
        };
        let read = tokio::select! {
            Some((c, r)) = field.running.next(), if !field.running.is_empty() => {
                field.finished(c, r);
                continue;
            }
            read = reads => read,
        };
        match read {
            (i, Some(ev @ LinkEvent::Data { .. })) => {
                let (c, mut link) = field.up.remove(i);
                link.unread([ev]);
                let reasons = field.losers(
                    &format!("the peer chose {c}"),
                    &format!("the peer chose {c} first"),
                );
                return Ok((c, link, reasons));
            }
            // Our own video was late: nothing the peer said.
            (_, Some(LinkEvent::VideoDropped { .. })) => {}
            // Closed before carrying anything: the peer chose another.
            (i, Some(LinkEvent::Closed(e))) => {
                let (c, _) = field.up.remove(i);
                field.failed.push((c, e.unwrap_or(LinkError::Closed)));
            }
            (i, None) => {
                let (c, _) = field.up.remove(i);
                field.failed.push((c, LinkError::Closed));
            }
        }
    }
}
