//! Input lanes of a relay link (ALPN `secours/3`, `mux::lane`): two more
//! WebSockets through the hub, each with its own end-to-end TLS session
//! pinned to the same peer, carrying copies of the input. A lane that fails
//! to open or breaks only ends itself: the main connection is the reliable
//! copy.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use super::client::{self, CONNECT_TIMEOUT, Tls};
use crate::error::LinkError;
use crate::identity::{self, Refusals};
use crate::link::LinkEvent;
use crate::mux::{self, LaneDecoder};

/// An idle lane sends an empty copy this often, so that neither the hub's
/// idle timeout nor a proxy closes it.
pub const LANE_KEEPALIVE: Duration = Duration::from_secs(15);

/// What the main connection tells its lanes.
#[derive(Debug)]
pub(super) enum LaneGate {
    /// Its TLS handshake runs.
    Pending,
    /// It agreed on `secours/3`: carry copies for this link.
    Open {
        shared: Arc<mux::Shared>,
        events: mpsc::Sender<LinkEvent>,
    },
    /// It did not, or the link has ended.
    Shut,
}

/// How to open the lanes of one link.
pub(super) struct LaneDialer {
    pub(super) urls: Vec<String>,
    pub(super) tls: Tls,
    pub(super) refusals: Refusals,
}

impl LaneDialer {
    /// Opens every lane in the background (beside the main connection's
    /// TLS handshake); each runs until it breaks or `gate` shuts.
    pub(super) fn spawn(self, gate: watch::Receiver<LaneGate>) {
        for (i, url) in self.urls.into_iter().enumerate() {
            let (tls, refusals) = (self.tls.clone(), self.refusals.clone());
            let mut gate = gate.clone();
            tokio::spawn(async move {
                let lane = i + 1;
                let shut = gate.clone();
                let result = tokio::select! {
                    r = run(lane, &url, &tls, &refusals, &mut gate) => r,
                    () = shut_down(shut) => Ok(()),
                };
                match result {
                    Ok(()) => tracing::debug!(lane, "input lane closed"),
                    Err(e) => tracing::info!(lane, "input lane ended: {e}"),
                }
            });
        }
    }
}

/// Returns once the gate is shut (or gone: the connection failed).
async fn shut_down(mut gate: watch::Receiver<LaneGate>) {
    let _ = gate.wait_for(|g| matches!(g, LaneGate::Shut)).await;
}

async fn run(
    lane: usize,
    url: &str,
    tls: &Tls,
    refusals: &Refusals,
    gate: &mut watch::Receiver<LaneGate>,
) -> Result<(), LinkError> {
    let dialed = tokio::time::timeout(CONNECT_TIMEOUT, async {
        client::handshake(client::open(url).await?, tls, refusals).await
    })
    .await
    .map_err(|_| LinkError::Timeout("input lane"))??;
    if dialed.alpn.as_deref() != Some(identity::ALPN_LANE) {
        return Err(LinkError::Violation("input lane without its ALPN".into()));
    }
    let (shared, events) = {
        let Ok(g) = gate.wait_for(|g| !matches!(g, LaneGate::Pending)).await else {
            return Ok(());
        };
        match &*g {
            LaneGate::Open { shared, events } => (shared.clone(), events.clone()),
            _ => return Ok(()),
        }
    };
    tracing::debug!(lane, "input lane open");
    let Some(copies) = shared.add_lane() else {
        return Ok(());
    };
    let (r, w) = tokio::io::split(dialed.tls);
    tokio::select! {
        r = write_lane(w, copies) => r,
        r = read_lane(r, shared, events) => r,
    }
}

/// Input frames queued by the application before the main connection's
/// writer takes them.
const INPUT_QUEUE: usize = 1024;

/// Copies each input frame onto the lanes as the application sends it, then
/// passes it on to the main connection's writer (the returned queue): a
/// writer blocked on a full socket behind file data must not hold the
/// copies back.
pub(super) fn tee_input(
    mut from_app: mpsc::Receiver<Bytes>,
    shared: Arc<mux::Shared>,
) -> mpsc::Receiver<Bytes> {
    let (to_writer, rx) = mpsc::channel(INPUT_QUEUE);
    tokio::spawn(async move {
        let mut offset = 0u64;
        while let Some(frame) = from_app.recv().await {
            shared.copy_input(offset, &frame);
            offset += frame.len() as u64;
            if to_writer.send(frame).await.is_err() {
                return;
            }
        }
    });
    rx
}

/// Writes the input copies queued for this lane, and a keepalive when idle.
pub(crate) async fn write_lane<W: AsyncWrite + Unpin>(
    mut w: W,
    mut copies: mpsc::Receiver<Bytes>,
) -> Result<(), LinkError> {
    let io = |e: std::io::Error| LinkError::from_io(&e);
    loop {
        let record = match tokio::time::timeout(LANE_KEEPALIVE, copies.recv()).await {
            Ok(Some(record)) => record,
            Ok(None) => return Ok(()),
            Err(_) => mux::encode_copy(0, &[]).unwrap_or_default(),
        };
        w.write_all(&record).await.map_err(io)?;
        w.flush().await.map_err(io)?;
    }
}

/// Reads a lane's copies into the link's input stream.
pub(crate) async fn read_lane<R: AsyncRead + Unpin>(
    mut r: R,
    shared: Arc<mux::Shared>,
    events: mpsc::Sender<LinkEvent>,
) -> Result<(), LinkError> {
    let mut decoder = LaneDecoder::new();
    let mut buf = vec![0u8; 4 * 1024];
    loop {
        while let Some((offset, bytes)) = decoder
            .next_copy()
            .map_err(|e| LinkError::Violation(e.to_string()))?
        {
            if !shared.deliver_input(offset, bytes, true, &events).await {
                return Ok(());
            }
        }
        let n = r.read(&mut buf).await.map_err(|e| LinkError::from_io(&e))?;
        if n == 0 {
            return Ok(());
        }
        decoder.push(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::link::Counters;
    use secours_protocol::Channel;

    async fn next_input(rx: &mut mpsc::Receiver<LinkEvent>) -> Vec<u8> {
        let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("input in time");
        match ev {
            Some(LinkEvent::Data {
                channel: Channel::Input,
                data,
            }) => data.to_vec(),
            other => panic!("{other:?}"),
        }
    }

    /// While the main connection holds everything (a retransmission, say),
    /// input comes through a lane; when the main connection catches up, its
    /// input is not delivered twice, and input keeps its order.
    #[tokio::test]
    async fn a_lane_carries_input_past_a_held_main_connection() {
        let (a, b) = (
            Arc::new(mux::Shared::new(true, true)),
            Arc::new(mux::Shared::new(true, true)),
        );
        let counters = Arc::new(Counters::default());
        let (main_w, main_r) = tokio::io::duplex(1 << 20);
        let (lane_w, lane_r) = tokio::io::duplex(1 << 20);
        let (queues_tx, mut queues): (Vec<_>, Vec<_>) = (0..6).map(|_| mpsc::channel(64)).unzip();
        // Input goes through the tee, as on a relay link.
        let input = Channel::Input.id() as usize;
        let app = std::mem::replace(&mut queues[input], mpsc::channel(1).1);
        queues[input] = tee_input(app, a.clone());
        let (a_events, _a_rx) = mpsc::channel(64);
        let (b_events, mut b_rx) = mpsc::channel(64);
        tokio::spawn(mux::write_loop(
            main_w,
            queues,
            a.clone(),
            counters.clone(),
            a_events,
        ));
        tokio::spawn(write_lane(lane_w, a.add_lane().unwrap()));
        tokio::spawn(read_lane(lane_r, b.clone(), b_events.clone()));
        let input = &queues_tx[Channel::Input.id() as usize];
        for i in 0..10u8 {
            input.send(Bytes::from(vec![i; 3])).await.unwrap();
        }
        let mut got = Vec::new();
        while got.len() < 30 {
            got.extend(next_input(&mut b_rx).await);
        }
        // The main connection now delivers its records: the same input,
        // already delivered, then new input and a chat message.
        tokio::spawn(mux::read_loop(main_r, b.clone(), counters, b_events));
        input.send(Bytes::from_static(b"new")).await.unwrap();
        queues_tx[Channel::Chat.id() as usize]
            .send(Bytes::from_static(b"chat"))
            .await
            .unwrap();
        loop {
            match tokio::time::timeout(Duration::from_secs(10), b_rx.recv()).await {
                Ok(Some(LinkEvent::Data {
                    channel: Channel::Input,
                    data,
                })) => got.extend_from_slice(&data),
                Ok(Some(LinkEvent::Data {
                    channel: Channel::Chat,
                    ..
                })) => break,
                other => panic!("{other:?}"),
            }
        }
        // Chat was sent after "new" on the main connection, which delivers
        // in order: every input byte is in, once.
        let mut want: Vec<u8> = (0..10u8).flat_map(|i| [i; 3]).collect();
        want.extend_from_slice(b"new");
        assert_eq!(got, want);
    }

    /// A lane carrying anything but input copies is refused, and a keepalive
    /// delivers nothing.
    #[tokio::test]
    async fn a_lane_refuses_other_records() {
        let b = Arc::new(mux::Shared::new(true, true));
        let (events, mut rx) = mpsc::channel(8);
        let mut bytes = mux::encode_copy(0, &[]).unwrap().to_vec();
        bytes.extend_from_slice(&mux::data_header(Channel::Input, 1));
        bytes.push(7);
        let r = read_lane(&bytes[..], b, events).await;
        assert!(matches!(r, Err(LinkError::Violation(_))), "{r:?}");
        assert!(rx.try_recv().is_err());
    }
}
