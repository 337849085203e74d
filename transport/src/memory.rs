//! Two [`Link`]s joined in memory, with a fixed one-way delay: the pair
//! harness of the peers' drivers and of in-process tests. Under tokio's
//! paused clock (`start_paused`) the delay is virtual time, so a whole
//! session runs deterministically and faster than real time.
//!
//! Frames keep their order per channel and arrive `one_way` after they were
//! queued; nothing is lost, and a full peer applies backpressure like the
//! real backends' queues do.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use secours_protocol::{Channel, Fingerprint};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::link::{Backend, Link, LinkEvent, LinkStats, PathInfo, PathKind};

#[derive(Debug)]
struct MemoryBackend {
    one_way: Duration,
    closed: watch::Sender<bool>,
}

impl Backend for MemoryBackend {
    fn stats(&self) -> LinkStats {
        LinkStats {
            rtt: self.one_way * 2,
            ..LinkStats::default()
        }
    }

    fn path(&self) -> PathInfo {
        PathInfo {
            kind: PathKind::Direct,
            local: None,
            remote: None,
        }
    }

    fn close(&self) {
        self.closed.send_replace(true);
    }
}

/// Two links, each the other's peer: `a` sees `b_fp` as its peer's
/// fingerprint and `b` sees `a_fp`.
pub fn pair(one_way: Duration, a_fp: Fingerprint, b_fp: Fingerprint) -> (Link, Link) {
    let (closed, _) = watch::channel(false);
    let backend = Arc::new(MemoryBackend { one_way, closed });
    let (a, a_plumbing) = Link::new(backend.clone(), b_fp);
    let (b, b_plumbing) = Link::new(backend.clone(), a_fp);
    let (a_out, a_events) = (a_plumbing.out, a_plumbing.events);
    let (b_out, b_events) = (b_plumbing.out, b_plumbing.events);
    carry(a_out, b_events, &backend);
    carry(b_out, a_events, &backend);
    (a, b)
}

/// Moves what one side queues to the other side's events, `one_way` later.
fn carry(out: Vec<mpsc::Receiver<Bytes>>, to: mpsc::Sender<LinkEvent>, backend: &MemoryBackend) {
    let one_way = backend.one_way;
    // Frames in flight, in the order they were queued; bounded like a
    // link's own queues.
    let (flight_tx, mut flight_rx) = mpsc::channel::<(Instant, Channel, Bytes)>(1024);
    for (id, mut rx) in out.into_iter().enumerate() {
        let Some(channel) = u8::try_from(id).ok().and_then(Channel::from_id) else {
            continue;
        };
        let flight = flight_tx.clone();
        let mut closed = backend.closed.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    frame = rx.recv() => match frame {
                        Some(data) => {
                            if flight.send((Instant::now() + one_way, channel, data)).await.is_err() {
                                return;
                            }
                        }
                        None => return,
                    },
                    () = async { let _ = closed.wait_for(|c| *c).await; } => {
                        // What was queued before the close still goes, as
                        // a TLS close follows the data written before it.
                        while let Ok(data) = rx.try_recv() {
                            if flight.send((Instant::now() + one_way, channel, data)).await.is_err() {
                                return;
                            }
                        }
                        return;
                    }
                }
            }
        });
    }
    drop(flight_tx);
    tokio::spawn(async move {
        // Ends when every channel's carrier has ended (after a close).
        while let Some((due, channel, data)) = flight_rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.send(LinkEvent::Data { channel, data }).await.is_err() {
                return;
            }
        }
        let _ = to.send(LinkEvent::Closed(None)).await;
    });
}
