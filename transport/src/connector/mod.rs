//! The connector: start on the relay at once, race the direct paths (QUIC
//! hole punching and WebRTC ICE: [`race`]), move every channel onto the one
//! that won when it is up, and fall back to the relay if it dies, without
//! losing, duplicating or reordering a frame on any channel (PROTOCOL.md
//! "Link-layer frames").
//!
//! It sits between the session and two links and speaks a few link-layer
//! frames of its own, carried as `Envelope` field 2047 (which sessions would
//! skip as unknown, and never see: the connector strips them):
//!
//! - `Moved(channel)`: last frame of `channel` on the relay; read the rest on
//!   the direct path.
//! - `Ack(counts)`: frames of each channel delivered so far (every 50 ms);
//!   the sender forgets direct-path frames the peer has.
//! - `Resume(channel, from)`: the direct path died; the frames of `channel`
//!   from number `from` on follow on the relay (the receiver skips those it
//!   already delivered).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use secours_protocol::Channel;
use secours_protocol::wire::HEADER_LEN;
use tokio::sync::mpsc;

use crate::error::LinkError;
use crate::link::{Backend, Link, LinkEvent, LinkStats, PathInfo, PathKind, Plumbing};

pub mod race;

pub use race::{Contender, Judge, PREFER_QUIC, Race};

/// Envelope field number of link-layer frames (wire type 2).
pub const LINK_FIELD: u32 = 2047;
/// How often delivered counts are acknowledged.
pub const ACK_INTERVAL: Duration = Duration::from_millis(50);
/// Most bytes kept per channel while waiting for the other path.
pub const MAX_HELD: usize = 32 * 1024 * 1024;

const KIND_MOVED: u8 = 1;
const KIND_ACK: u8 = 2;
const KIND_RESUME: u8 = 3;

/// What happened to the paths, for logs and the demo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathReport {
    /// The direct path is up and carries every channel now.
    Direct,
    /// The direct path could not be made.
    DirectFailed(LinkError),
    /// The direct path died; back on the relay.
    FellBack(Option<LinkError>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum LinkFrame {
    Moved(u8),
    Ack([u64; 6]),
    Resume(u8, u64),
}

fn encode_link_frame(f: &LinkFrame) -> Bytes {
    let mut body = BytesMut::new();
    match f {
        LinkFrame::Moved(c) => {
            body.put_u8(KIND_MOVED);
            body.put_u8(*c);
        }
        LinkFrame::Ack(counts) => {
            body.put_u8(KIND_ACK);
            for n in counts {
                body.put_u64(*n);
            }
        }
        LinkFrame::Resume(c, from) => {
            body.put_u8(KIND_RESUME);
            body.put_u8(*c);
            body.put_u64(*from);
        }
    }
    // Envelope field 2047, length-delimited: tag varint (2047 << 3 | 2).
    let tag = (LINK_FIELD << 3) | 2;
    let mut env = BytesMut::new();
    put_varint(&mut env, u64::from(tag));
    put_varint(&mut env, body.len() as u64);
    env.extend_from_slice(&body);
    let mut frame = BytesMut::with_capacity(HEADER_LEN + env.len());
    frame.put_u32(env.len() as u32);
    frame.extend_from_slice(&env);
    frame.freeze()
}

fn put_varint(b: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        b.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    b.put_u8(v as u8);
}

/// Recognises a link-layer frame (whole frame, header included).
fn decode_link_frame(frame: &[u8]) -> Option<Result<LinkFrame, LinkError>> {
    let tag = [0xFA, 0x7F]; // varint of (2047 << 3 | 2)
    let env = frame.get(HEADER_LEN..)?;
    if !env.starts_with(&tag) {
        return None;
    }
    let bad = || {
        Some(Err(LinkError::Violation(
            "malformed link-layer frame".into(),
        )))
    };
    let mut rest = &env[2..];
    let Some((&len, body)) = rest.split_first() else {
        return bad();
    };
    if usize::from(len) != body.len() || len >= 0x80 {
        return bad();
    }
    rest = body;
    if rest.is_empty() {
        return bad();
    }
    let kind = rest.get_u8();
    Some(Ok(match (kind, rest.len()) {
        (KIND_MOVED, 1) => LinkFrame::Moved(rest.get_u8()),
        (KIND_ACK, 48) => {
            let mut c = [0u64; 6];
            for n in &mut c {
                *n = rest.get_u64();
            }
            LinkFrame::Ack(c)
        }
        (KIND_RESUME, 9) => {
            let ch = rest.get_u8();
            LinkFrame::Resume(ch, rest.get_u64())
        }
        _ => return bad(),
    }))
}

/// Cuts a channel's byte stream into whole frames.
#[derive(Debug)]
struct Reassembly {
    channel: Channel,
    buf: BytesMut,
}

impl Reassembly {
    fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    fn next(&mut self) -> Result<Option<Bytes>, LinkError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        if len > self.channel.max_frame() {
            return Err(LinkError::Violation(format!(
                "{} frame of {len} bytes",
                self.channel
            )));
        }
        let total = HEADER_LEN + len as usize;
        if self.buf.len() < total {
            return Ok(None);
        }
        Ok(Some(self.buf.split_to(total).freeze()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Relay,
    Direct,
}

/// Per-channel state, both directions.
#[derive(Debug)]
struct ChannelState {
    // sending
    sent: u64,
    unacked: VecDeque<(u64, Bytes)>,
    pending: VecDeque<(Path, Bytes, bool)>, // (path, frame, counts as data)
    // receiving
    reading: Path,
    delivered: u64,
    skip: u64,
    held: VecDeque<Bytes>,
    held_bytes: usize,
    reasm: [Reassembly; 2],
}

#[derive(Debug)]
struct Shared {
    path: PathInfo,
    stats: LinkStats,
    /// Each change with when it happened.
    reports: Vec<(std::time::Instant, PathReport)>,
    /// Why the other direct attempts lost to the one that won.
    losers: Vec<String>,
}

#[derive(Debug)]
struct ConnectorBackend {
    shared: Arc<Mutex<Shared>>,
    closer: tokio::sync::watch::Sender<bool>,
}

impl Backend for ConnectorBackend {
    fn stats(&self) -> LinkStats {
        self.shared.lock().map(|s| s.stats).unwrap_or_default()
    }
    fn path(&self) -> PathInfo {
        self.shared.lock().map(|s| s.path).unwrap_or(PathInfo {
            kind: PathKind::Relay,
            local: None,
            remote: None,
        })
    }
    fn close(&self) {
        let _ = self.closer.send(true);
    }
}

/// A handle to ask the connector what happened.
#[derive(Debug, Clone)]
pub struct Reports(Arc<Mutex<Shared>>);

impl Reports {
    /// Every path change so far.
    pub fn all(&self) -> Vec<PathReport> {
        self.timed().into_iter().map(|(_, r)| r).collect()
    }

    /// Every path change so far, with when it happened.
    pub fn timed(&self) -> Vec<(std::time::Instant, PathReport)> {
        self.0.lock().map(|s| s.reports.clone()).unwrap_or_default()
    }

    /// Why the other attempts of a race lost to the direct path that won
    /// (`QUIC: timed out: ...`), one line each.
    pub fn losers(&self) -> Vec<String> {
        self.0.lock().map(|s| s.losers.clone()).unwrap_or_default()
    }

    /// The path every channel runs on now.
    pub fn path(&self) -> PathInfo {
        self.0.lock().map(|s| s.path).unwrap_or(PathInfo {
            kind: PathKind::Relay,
            local: None,
            remote: None,
        })
    }
}

/// The future that makes the direct link (hole punching, QUIC).
pub type DirectAttempt = Pin<Box<dyn Future<Output = Result<Link, LinkError>> + Send>>;

/// Wraps `relay` in a link that moves to `direct` once it is up.
pub fn start(relay: Link, direct: DirectAttempt) -> (Link, Reports) {
    let shared = new_shared(&relay);
    spawn(relay, direct, shared)
}

/// Wraps `relay` in a link that moves to the direct path that wins
/// `race` (the same one on both sides: see [`race`]).
pub fn start_race(relay: Link, race: Race) -> (Link, Reports) {
    let shared = new_shared(&relay);
    // A task of its own: the attempts' set-up (certificates, DTLS) never
    // holds up the relay's frames; it ends with the connector.
    let task = AbortOnDrop(tokio::spawn(race::run(race, shared.clone())));
    let direct: DirectAttempt = Box::pin(async move {
        let mut task = task;
        (&mut task.0)
            .await
            .unwrap_or_else(|e| Err(LinkError::Io(format!("the race ended: {e}"))))
    });
    spawn(relay, direct, shared)
}

/// Aborts a task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn new_shared(relay: &Link) -> Arc<Mutex<Shared>> {
    Arc::new(Mutex::new(Shared {
        path: relay.path(),
        stats: relay.stats(),
        reports: Vec::new(),
        losers: Vec::new(),
    }))
}

fn spawn(relay: Link, direct: DirectAttempt, shared: Arc<Mutex<Shared>>) -> (Link, Reports) {
    let (closer, closed) = tokio::sync::watch::channel(false);
    let backend = Arc::new(ConnectorBackend {
        shared: shared.clone(),
        closer,
    });
    let peer = relay.peer_fingerprint();
    let (link, plumbing) = Link::new(backend, peer);
    tokio::spawn(run(relay, direct, plumbing, shared.clone(), closed));
    (link, Reports(shared))
}

struct Run {
    relay: Link,
    direct: Option<Link>,
    current: Path,
    channels: Vec<ChannelState>,
    events: mpsc::Sender<LinkEvent>,
    acked_sent: [u64; 6],
    shared: Arc<Mutex<Shared>>,
    direct_totals: LinkStats,
}

async fn run(
    relay: Link,
    mut attempt: DirectAttempt,
    plumbing: Plumbing,
    shared: Arc<Mutex<Shared>>,
    mut closed: tokio::sync::watch::Receiver<bool>,
) {
    let Plumbing { mut out, events } = plumbing;
    let mut st = Run {
        relay,
        direct: None,
        current: Path::Relay,
        channels: (0..6u8)
            .map(|id| {
                let ch = Channel::from_id(id).unwrap_or(Channel::Control);
                ChannelState {
                    sent: 0,
                    unacked: VecDeque::new(),
                    pending: VecDeque::new(),
                    reading: Path::Relay,
                    delivered: 0,
                    skip: 0,
                    held: VecDeque::new(),
                    held_bytes: 0,
                    reasm: [
                        Reassembly {
                            channel: ch,
                            buf: BytesMut::new(),
                        },
                        Reassembly {
                            channel: ch,
                            buf: BytesMut::new(),
                        },
                    ],
                }
            })
            .collect(),
        events,
        acked_sent: [0; 6],
        shared,
        direct_totals: LinkStats::default(),
    };
    let mut attempting = true;
    let mut ack_timer = tokio::time::interval(ACK_INTERVAL);
    let mut upper_open = [true; 6];
    let result: Result<(), LinkError> = loop {
        st.flush();
        let blocked = st.channels.iter().any(|c| !c.pending.is_empty());
        let take_upper = async {
            let futs: Vec<_> = out
                .iter_mut()
                .enumerate()
                .filter(|(i, _)| upper_open[*i] && st_pending_empty(&st.channels, *i))
                .map(|(i, q)| Box::pin(async move { (i, q.recv().await) }))
                .collect();
            if futs.is_empty() {
                std::future::pending::<(usize, Option<Bytes>)>().await
            } else {
                futures_util::future::select_all(futs).await.0
            }
        };
        tokio::select! {
            (i, frame) = take_upper => match frame {
                Some(f) => st.queue_data(i, f),
                None => {
                    upper_open[i] = false;
                    if !upper_open.iter().any(|o| *o) {
                        break Ok(());
                    }
                }
            },
            ev = st.relay.recv() => match ev {
                Some(LinkEvent::Data { channel, data }) => {
                    if let Err(e) = st.on_data(Path::Relay, channel, &data).await {
                        break Err(e);
                    }
                }
                Some(LinkEvent::VideoDropped { frames }) => {
                    let _ = st.events.send(LinkEvent::VideoDropped { frames }).await;
                }
                Some(LinkEvent::Closed(e)) => {
                    if st.direct.is_none() {
                        break Err(e.unwrap_or(LinkError::Closed));
                    }
                    // The relay is only a fallback now; carry on direct.
                    tracing::info!("relay closed while on the direct path");
                }
                None => {}
            },
            ev = next_direct(&mut st.direct) => match ev {
                Some(LinkEvent::Data { channel, data }) => {
                    if let Err(e) = st.on_data(Path::Direct, channel, &data).await {
                        break Err(e);
                    }
                }
                Some(LinkEvent::VideoDropped { frames }) => {
                    let _ = st.events.send(LinkEvent::VideoDropped { frames }).await;
                }
                Some(LinkEvent::Closed(e)) => st.fall_back(e),
                None => st.fall_back(None),
            },
            made = &mut attempt, if attempting => {
                attempting = false;
                match made {
                    Ok(direct) => st.switch(direct),
                    Err(e) => {
                        tracing::info!(error = %e, "direct path failed; staying on the relay");
                        st.report(PathReport::DirectFailed(e));
                    }
                }
            },
            _ = ack_timer.tick() => st.ack(),
            _ = closed.changed() => break Ok(()),
            () = tokio::time::sleep(Duration::from_millis(2)), if blocked => {}
        }
        st.update_stats();
    };
    st.relay.close();
    if let Some(d) = &st.direct {
        d.close();
    }
    let _ = st.events.send(LinkEvent::Closed(result.err())).await;
}

fn st_pending_empty(channels: &[ChannelState], i: usize) -> bool {
    channels[i].pending.is_empty()
}

async fn next_direct(direct: &mut Option<Link>) -> Option<LinkEvent> {
    match direct {
        Some(d) => d.recv().await,
        None => std::future::pending().await,
    }
}

impl Run {
    fn report(&self, r: PathReport) {
        if let Ok(mut s) = self.shared.lock() {
            s.reports.push((std::time::Instant::now(), r));
        }
    }

    fn update_stats(&mut self) {
        let relay = self.relay.stats();
        if let Some(d) = &self.direct {
            self.direct_totals = d.stats();
        }
        let (mut stats, path) = match (self.current, &self.direct) {
            (Path::Direct, Some(d)) => (self.direct_totals, d.path()),
            _ => (relay, self.relay.path()),
        };
        // Bytes count over both paths; the rest is the current path's.
        stats.bytes_sent = relay.bytes_sent + self.direct_totals.bytes_sent;
        stats.bytes_received = relay.bytes_received + self.direct_totals.bytes_received;
        stats.video_dropped = relay.video_dropped + self.direct_totals.video_dropped;
        if let Ok(mut s) = self.shared.lock() {
            s.stats = stats;
            s.path = path;
        }
    }

    fn queue_data(&mut self, i: usize, frame: Bytes) {
        let path = self.current;
        self.channels[i].pending.push_back((path, frame, true));
    }

    /// Hands pending frames to their links while they have room.
    fn flush(&mut self) {
        for (i, ch) in self.channels.iter_mut().enumerate() {
            let channel = Channel::from_id(i as u8).unwrap_or(Channel::Control);
            while let Some((path, frame, data)) = ch.pending.front().cloned() {
                let link = match (path, &self.direct) {
                    (Path::Relay, _) => &self.relay,
                    (Path::Direct, Some(d)) => d,
                    (Path::Direct, None) => &self.relay,
                };
                match link.try_send(channel, frame.clone()) {
                    Ok(true) => {
                        ch.pending.pop_front();
                        if data {
                            if path == Path::Direct {
                                ch.unacked.push_back((ch.sent, frame));
                            }
                            ch.sent += 1;
                        }
                    }
                    Ok(false) | Err(_) => break,
                }
            }
        }
    }

    fn switch(&mut self, direct: Link) {
        tracing::info!(remote = ?direct.path().remote, "direct path up: moving every channel");
        for (i, ch) in self.channels.iter_mut().enumerate() {
            ch.pending.push_back((
                Path::Relay,
                encode_link_frame(&LinkFrame::Moved(i as u8)),
                false,
            ));
        }
        self.direct = Some(direct);
        self.current = Path::Direct;
        self.update_stats();
        self.report(PathReport::Direct);
    }

    fn fall_back(&mut self, error: Option<LinkError>) {
        match &error {
            Some(e) => tracing::warn!(error = %e, "direct path died: back to the relay"),
            None => tracing::info!("direct path closed by the peer: back to the relay"),
        }
        self.direct = None;
        self.current = Path::Relay;
        for (i, ch) in self.channels.iter_mut().enumerate() {
            // Unsent direct frames go to the relay instead, after the resent ones.
            let mut rest: VecDeque<_> = ch
                .pending
                .drain(..)
                .map(|(p, f, d)| (if p == Path::Direct { Path::Relay } else { p }, f, d))
                .collect();
            let from = ch.unacked.front().map_or(ch.sent, |(n, _)| *n);
            ch.pending.push_back((
                Path::Relay,
                encode_link_frame(&LinkFrame::Resume(i as u8, from)),
                false,
            ));
            for (_, f) in ch.unacked.drain(..) {
                ch.pending.push_back((Path::Relay, f, false));
            }
            ch.pending.append(&mut rest);
            // What we were reading on the direct path is replayed on the relay.
            if ch.reading == Path::Direct {
                ch.reading = Path::Relay;
                ch.reasm[1].buf.clear();
            }
            ch.held.clear();
            ch.held_bytes = 0;
        }
        self.update_stats();
        self.report(PathReport::FellBack(error));
    }

    fn ack(&mut self) {
        let counts: [u64; 6] = std::array::from_fn(|i| self.channels[i].delivered);
        if counts == self.acked_sent || self.direct.is_none() {
            return;
        }
        self.acked_sent = counts;
        let path = self.current;
        self.channels[Channel::Control.id() as usize]
            .pending
            .push_back((path, encode_link_frame(&LinkFrame::Ack(counts)), false));
    }

    async fn on_data(
        &mut self,
        path: Path,
        channel: Channel,
        data: &[u8],
    ) -> Result<(), LinkError> {
        let i = channel.id() as usize;
        let slot = usize::from(path == Path::Direct);
        self.channels[i].reasm[slot].push(data);
        while let Some(frame) = self.channels[i].reasm[slot].next()? {
            match decode_link_frame(&frame) {
                Some(f) => self.on_link_frame(path, f?).await?,
                None => self.on_frame(path, i, frame).await?,
            }
        }
        Ok(())
    }

    async fn on_frame(&mut self, path: Path, i: usize, frame: Bytes) -> Result<(), LinkError> {
        let ch = &mut self.channels[i];
        if path != ch.reading {
            ch.held_bytes += frame.len();
            if ch.held_bytes > MAX_HELD {
                return Err(LinkError::Violation(
                    "too much data held across the path switch".into(),
                ));
            }
            ch.held.push_back(frame);
            return Ok(());
        }
        if ch.skip > 0 {
            ch.skip -= 1;
            return Ok(());
        }
        ch.delivered += 1;
        let channel = Channel::from_id(i as u8).unwrap_or(Channel::Control);
        self.events
            .send(LinkEvent::Data {
                channel,
                data: frame,
            })
            .await
            .map_err(|_| LinkError::Closed)
    }

    async fn on_link_frame(&mut self, path: Path, f: LinkFrame) -> Result<(), LinkError> {
        match f {
            LinkFrame::Moved(c) => {
                let i = usize::from(c);
                let ch = self
                    .channels
                    .get_mut(i)
                    .ok_or_else(|| LinkError::Violation("bad channel".into()))?;
                if path == Path::Relay && ch.reading == Path::Relay {
                    ch.reading = Path::Direct;
                    let held: Vec<Bytes> = ch.held.drain(..).collect();
                    ch.held_bytes = 0;
                    for frame in held {
                        Box::pin(self.on_frame(Path::Direct, i, frame)).await?;
                    }
                }
            }
            LinkFrame::Ack(counts) => {
                for (ch, n) in self.channels.iter_mut().zip(counts) {
                    while ch.unacked.front().is_some_and(|(seq, _)| *seq < n) {
                        ch.unacked.pop_front();
                    }
                }
            }
            LinkFrame::Resume(c, from) => {
                let i = usize::from(c);
                let ch = self
                    .channels
                    .get_mut(i)
                    .ok_or_else(|| LinkError::Violation("bad channel".into()))?;
                if from > ch.delivered {
                    return Err(LinkError::Violation(format!(
                        "resume at {from}, only {} delivered",
                        ch.delivered
                    )));
                }
                ch.reading = Path::Relay;
                ch.skip = ch.delivered - from;
                ch.held.clear();
                ch.held_bytes = 0;
                ch.reasm[1].buf.clear();
            }
        }
        Ok(())
    }
}

/// Fuzz entry: arbitrary bytes through the reassembly of a channel and the
/// link-frame decoder. Never panics; never holds more than a frame limit.
#[cfg(feature = "fuzzing")]
pub fn fuzz_link_bytes(channel_id: u8, data: &[u8]) {
    let channel = Channel::from_id(channel_id % 6).unwrap_or(Channel::Control);
    let mut r = Reassembly {
        channel,
        buf: BytesMut::new(),
    };
    for piece in data.chunks(7) {
        r.push(piece);
        while let Ok(Some(frame)) = r.next() {
            let _ = decode_link_frame(&frame);
        }
        if r.buf.len() > channel.max_frame() as usize + HEADER_LEN + 7 {
            // A frame longer than the limit must have been refused by now.
            assert!(r.next().is_err());
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_frames_round_trip_and_sessions_skip_them() {
        for f in [
            LinkFrame::Moved(3),
            LinkFrame::Ack([1, 2, 3, 4, 5, u64::MAX]),
            LinkFrame::Resume(4, 77),
        ] {
            let frame = encode_link_frame(&f);
            assert_eq!(decode_link_frame(&frame), Some(Ok(f)));
            let mut buf = BytesMut::from(&frame[..]);
            // A session that saw one would skip it as an unknown message.
            assert_eq!(
                secours_protocol::wire::decode(Channel::Control, &mut buf),
                Ok(Some(secours_protocol::wire::Decoded::Unknown))
            );
        }
    }

    #[test]
    fn empty_link_frame_is_refused_not_a_panic() {
        // Found by the link_layer fuzzer: a link frame with an empty body.
        let frame = [0, 0, 0, 3, 0xFA, 0x7F, 0x00];
        assert!(matches!(
            decode_link_frame(&frame),
            Some(Err(LinkError::Violation(_)))
        ));
    }

    #[test]
    fn ordinary_frames_are_not_link_frames() {
        let f = secours_protocol::wire::encode_to_bytes(secours_protocol::Message::Ping(
            secours_protocol::pb::Ping { id: 1 },
        ))
        .unwrap_or_default();
        assert_eq!(decode_link_frame(&f), None);
    }
}
