//! Channels multiplexed over one byte stream (the relay's TLS session).
//!
//! Records (`record`): `channel: u8 | length: u16 BE | payload (<= 16 KiB)`,
//! the payload being the next bytes of that channel's frame stream. A frame is
//! cut into records so that, between two records of a big file chunk or video
//! frame, the writer looks again for input and control data: input waits
//! behind at most one record, never behind a file. A video frame not yet
//! started is dropped when it is older than the lateness budget and a newer
//! one is queued.
//!
//! With acknowledgements (relay ALPN `secours/2`) each side tells the other
//! how many payload bytes it has delivered, and file records wait for the
//! scavenger window (`window`), which keeps the path's queue short.

mod control;
mod lane;
mod record;
mod window;

pub use control::{FileControl, RelayRate};
pub use lane::{COPY, LaneDecoder, LaneError, MAX_COPY, encode_copy, fuzz_lane};
pub use record::{
    ACK, HEADER, RECORD, Record, RecordDecoder, RecordError, ack_record, data_header,
};
pub use window::{AckError, FileGate, FileWindow};

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use secours_protocol::Channel;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, mpsc};

use crate::error::LinkError;
use crate::input_copy::InputAssembler;
use crate::link::{Counters, LinkEvent};

/// A queued video frame older than this is dropped when a newer one waits.
pub const VIDEO_LATENESS: Duration = Duration::from_millis(200);

/// Channels in the order the writer serves them.
const ORDER: [Channel; 6] = Channel::ALL;

/// What the reader and the writer of one link share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Payload bytes delivered to the application (what our acks say).
    delivered: AtomicU64,
    /// `None` when the peer speaks no acknowledgements.
    window: Option<Mutex<FileControl>>,
    /// The reader wakes the writer: an ack to send, or a window reopened.
    wake: Notify,
    /// `None` without input lanes (relay ALPN below `secours/3`).
    lanes: Option<Lanes>,
}

/// Input lanes (`lane`): where our input copies go, and the one ordered
/// input stream made of the main connection's and the lanes' copies.
#[derive(Debug, Default)]
struct Lanes {
    senders: Mutex<Vec<mpsc::Sender<Bytes>>>,
    /// Held across the delivery of what it gives, so that the main reader
    /// and the lane readers deliver in order.
    input: tokio::sync::Mutex<InputAssembler>,
}

/// Input copies queued for a lane, at most; more are dropped (the main
/// connection is the reliable copy).
const LANE_QUEUE: usize = 64;

impl Shared {
    /// Shared state of a link with (`acks`) acknowledgements, and (`lanes`)
    /// input copies on input lanes.
    pub(crate) fn new(acks: bool, lanes: bool) -> Self {
        Self {
            delivered: AtomicU64::new(0),
            window: acks.then(|| Mutex::new(FileControl::new(lanes))),
            wake: Notify::new(),
            lanes: lanes.then(Lanes::default),
        }
    }

    /// A new lane's queue of input copy records to write.
    pub(crate) fn add_lane(&self) -> Option<mpsc::Receiver<Bytes>> {
        let lanes = self.lanes.as_ref()?;
        let (tx, rx) = mpsc::channel(LANE_QUEUE);
        lanes
            .senders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(tx);
        Some(rx)
    }

    /// Queues copies of the input frame at `offset` on every open lane.
    pub(crate) fn copy_input(&self, offset: u64, frame: &[u8]) {
        let Some(lanes) = &self.lanes else { return };
        let mut senders = lanes
            .senders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        senders.retain(|s| !s.is_closed());
        let mut at = offset;
        for piece in frame.chunks(MAX_COPY) {
            if let Some(record) = encode_copy(at, piece) {
                for s in senders.iter() {
                    let _ = s.try_send(record.clone());
                }
            }
            at += piece.len() as u64;
        }
    }

    /// Delivers what the input piece at `offset` adds to the input stream;
    /// `copy` when it came on a lane. `false` once the application is gone.
    pub(crate) async fn deliver_input(
        &self,
        offset: u64,
        piece: Bytes,
        copy: bool,
        events: &mpsc::Sender<LinkEvent>,
    ) -> bool {
        let Some(lanes) = &self.lanes else {
            let data = LinkEvent::Data {
                channel: Channel::Input,
                data: piece,
            };
            return events.send(data).await.is_ok();
        };
        let mut input = lanes.input.lock().await;
        let fresh = if copy {
            input.from_copy(offset, piece)
        } else {
            input.from_stream(offset, piece)
        };
        for data in fresh {
            let data = LinkEvent::Data {
                channel: Channel::Input,
                data,
            };
            if events.send(data).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Runs `f` on the window, if there is one.
    pub(crate) fn with_window<T>(&self, f: impl FnOnce(&mut FileControl) -> T) -> Option<T> {
        let w = self.window.as_ref()?;
        let mut guard = w.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(f(&mut guard))
    }

    fn file_gate(&self) -> FileGate {
        self.with_window(|w| w.file_gate(Instant::now()))
            .unwrap_or(FileGate::Open)
    }
}

struct Pending {
    frames: VecDeque<(Instant, Bytes)>,
    offset: usize,
}

/// Writes the queued frames of every channel, highest priority first, and
/// our acknowledgements before anything else.
pub(crate) async fn write_loop<W: AsyncWrite + Unpin>(
    mut w: W,
    mut queues: Vec<mpsc::Receiver<Bytes>>,
    shared: Arc<Shared>,
    counters: Arc<Counters>,
    events: mpsc::Sender<LinkEvent>,
) -> Result<(), LinkError> {
    let mut pending: Vec<Pending> = (0..6)
        .map(|_| Pending {
            frames: VecDeque::new(),
            offset: 0,
        })
        .collect();
    let mut open = [true; 6];
    let mut acked = 0u64;
    let mut record = Vec::with_capacity(HEADER + RECORD);
    let io = |e: std::io::Error| LinkError::from_io(&e);
    loop {
        if shared.window.is_some() {
            let delivered = shared.delivered.load(Ordering::Acquire);
            if delivered != acked {
                w.write_all(&ack_record(delivered)).await.map_err(io)?;
                w.flush().await.map_err(io)?;
                acked = delivered;
            }
        }
        // Take whatever is queued now, without waiting.
        for c in ORDER {
            let i = c.id() as usize;
            while open[i] && pending[i].frames.len() < 4 {
                match queues[i].try_recv() {
                    Ok(f) => pending[i].frames.push_back((Instant::now(), f)),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => open[i] = false,
                }
            }
        }
        drop_late_video(
            &mut pending[Channel::Video.id() as usize],
            &counters,
            &events,
        );
        if pending[Channel::File.id() as usize].frames.is_empty() {
            // What is delivered now measures the application, not the path.
            shared.with_window(FileControl::on_idle);
        }
        let gate = shared.file_gate();
        let file_allowed = gate == FileGate::Open;
        let next = ORDER.iter().copied().find(|c| {
            !pending[c.id() as usize].frames.is_empty() && (*c != Channel::File || file_allowed)
        });
        let Some(channel) = next else {
            w.flush().await.map_err(io)?;
            let idle = pending.iter().all(|p| p.frames.is_empty());
            if idle && !open.iter().any(|o| *o) {
                let _ = w.shutdown().await;
                return Ok(());
            }
            // Wait for a frame on a channel that may send, or the reader.
            let mut waitable = open;
            let file = Channel::File.id() as usize;
            if !file_allowed && !pending[file].frames.is_empty() {
                waitable[file] = false;
            }
            let paced = async {
                match gate {
                    FileGate::At(t) if !pending[Channel::File.id() as usize].frames.is_empty() => {
                        tokio::time::sleep_until(t.into()).await;
                    }
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                (i, frame) = wait_any(&mut queues, waitable) => match frame {
                    Some(f) => pending[i].frames.push_back((Instant::now(), f)),
                    None => open[i] = false,
                },
                () = shared.wake.notified() => {}
                () = paced => {}
            }
            continue;
        };
        let p = &mut pending[channel.id() as usize];
        let Some((_, frame)) = p.frames.front() else {
            continue;
        };
        let size = shared.with_window(|w| w.record_size()).unwrap_or(RECORD);
        let end = (p.offset + size).min(frame.len());
        let piece = frame.slice(p.offset..end);
        // Header and payload in one write: one TLS record, one WebSocket
        // message.
        // Sent when handed over: time blocked on a full socket is queueing
        // the window must see.
        let handed = Instant::now();
        record.clear();
        record.extend_from_slice(&data_header(channel, piece.len()));
        record.extend_from_slice(&piece);
        w.write_all(&record).await.map_err(io)?;
        counters.add_sent(piece.len());
        let file = channel == Channel::File;
        shared.with_window(|win| win.on_sent(piece.len(), file, handed));
        if matches!(channel, Channel::Input | Channel::Control | Channel::Chat) {
            // Small and urgent: out now, not when the bulk stops.
            w.flush().await.map_err(io)?;
        }
        if end == frame.len() {
            p.frames.pop_front();
            p.offset = 0;
        } else {
            p.offset = end;
        }
    }
}

fn drop_late_video(p: &mut Pending, counters: &Counters, events: &mpsc::Sender<LinkEvent>) {
    let now = Instant::now();
    let mut dropped = 0;
    // Never the frame being written (offset > 0), never the newest one.
    let first = usize::from(p.offset > 0);
    while p.frames.len() > first + 1 {
        match p.frames.get(first) {
            Some((t, _)) if now.duration_since(*t) > VIDEO_LATENESS => {
                p.frames.remove(first);
                dropped += 1;
            }
            _ => break,
        }
    }
    if dropped > 0 {
        counters.video_dropped.fetch_add(dropped, Ordering::Relaxed);
        let _ = events.try_send(LinkEvent::VideoDropped { frames: dropped });
    }
}

/// The first frame (or end) on any of the `waitable` queues; never returns
/// when none is.
async fn wait_any(
    queues: &mut [mpsc::Receiver<Bytes>],
    waitable: [bool; 6],
) -> (usize, Option<Bytes>) {
    let futs: Vec<_> = queues
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| waitable[*i])
        .map(|(i, q)| Box::pin(async move { (i, q.recv().await) }))
        .collect();
    if futs.is_empty() {
        return std::future::pending().await;
    }
    let ((i, frame), _, _) = futures_util::future::select_all(futs).await;
    (i, frame)
}

/// Reads records, delivers each channel's bytes, counts what it delivered
/// (for our acknowledgements) and feeds the peer's acknowledgements to the
/// window.
pub(crate) async fn read_loop<R: AsyncRead + Unpin>(
    mut r: R,
    shared: Arc<Shared>,
    counters: Arc<Counters>,
    events: mpsc::Sender<LinkEvent>,
) -> Result<(), LinkError> {
    let mut decoder = RecordDecoder::new(shared.window.is_some());
    let mut buf = vec![0u8; 32 * 1024];
    let mut input_offset = 0u64;
    loop {
        // The newest acknowledgement of what arrived together: behind a
        // lost packet TCP holds the acknowledgements written during its
        // retransmission and then gives them at once, and the older ones
        // would read as a round trip grown by the stall.
        let mut ack = None;
        while let Some(record) = decoder
            .next_record()
            .map_err(|e| LinkError::Violation(e.to_string()))?
        {
            match record {
                Record::Data { channel, payload } => {
                    let len = payload.len();
                    counters.add_received(len);
                    let delivered = if channel == Channel::Input {
                        input_offset += len as u64;
                        let at = input_offset - len as u64;
                        shared.deliver_input(at, payload, false, &events).await
                    } else {
                        let data = LinkEvent::Data {
                            channel,
                            data: payload,
                        };
                        events.send(data).await.is_ok()
                    };
                    if !delivered {
                        return Ok(());
                    }
                    shared.delivered.fetch_add(len as u64, Ordering::AcqRel);
                    if shared.window.is_some() {
                        shared.wake.notify_one();
                    }
                }
                Record::Ack(total) => {
                    if ack.is_some_and(|a| total < a) {
                        return Err(LinkError::Violation(format!(
                            "acknowledgement went back to {total} bytes"
                        )));
                    }
                    ack = Some(total);
                }
            }
        }
        if let Some(total) = ack {
            shared
                .with_window(|w| w.on_ack(total, Instant::now()))
                .transpose()
                .map_err(|e| LinkError::Violation(e.to_string()))?;
            shared.wake.notify_one();
        }
        let n = r.read(&mut buf).await.map_err(|e| LinkError::from_io(&e))?;
        if n == 0 {
            return if decoder.buffered() == 0 {
                Ok(())
            } else {
                Err(LinkError::Violation(
                    "the stream ended inside a record".into(),
                ))
            };
        }
        decoder.push(&buf[..n]);
    }
}

/// Fuzzing entry: `bytes` as the record stream of a peer, with or without
/// acknowledgements; the acknowledgements are fed to a window that has sent
/// 1 MiB.
#[doc(hidden)]
pub fn fuzz_records(acks: bool, bytes: &[u8]) {
    let mut decoder = RecordDecoder::new(acks);
    let mut window = FileWindow::new();
    let t = Instant::now();
    window.on_sent(1 << 20, true, t);
    for (i, chunk) in bytes.chunks(7).enumerate() {
        decoder.push(chunk);
        loop {
            match decoder.next_record() {
                Ok(Some(Record::Ack(total))) => {
                    if window
                        .on_ack(total, t + Duration::from_millis(i as u64))
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(Some(Record::Data { payload, .. })) => assert!(payload.len() <= RECORD),
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(decoder.buffered() <= HEADER + RECORD + 7);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    async fn read_all(bytes: &[u8]) -> (Result<(), LinkError>, Vec<LinkEvent>) {
        let (mut w, r) = tokio::io::duplex(1 << 20);
        w.write_all(bytes).await.ok();
        drop(w);
        let (tx, mut rx) = mpsc::channel(16);
        let shared = Arc::new(Shared::new(false, false));
        let result = read_loop(r, shared, Arc::new(Counters::default()), tx).await;
        let mut events = Vec::new();
        while let Ok(e) = rx.try_recv() {
            events.push(e);
        }
        (result, events)
    }

    #[tokio::test]
    async fn oversized_record_is_a_violation() {
        let mut bad = vec![Channel::File.id(), 0xFF, 0xFF];
        bad.extend(vec![0u8; 100]);
        let (result, events) = read_all(&bad).await;
        assert!(matches!(result, Err(LinkError::Violation(_))), "{result:?}");
        assert!(events.is_empty());
    }

    #[tokio::test]
    async fn unknown_channel_is_a_violation() {
        let (result, _) = read_all(&[9, 0, 1, 0]).await;
        assert!(matches!(result, Err(LinkError::Violation(_))));
    }

    #[tokio::test]
    async fn records_deliver_in_order_and_eof_ends_cleanly() {
        let bytes = [1, 0, 2, 0xAA, 0xBB, 5, 0, 1, 0xCC];
        let (result, events) = read_all(&bytes).await;
        assert_eq!(result, Ok(()));
        assert_eq!(
            events,
            vec![
                LinkEvent::Data {
                    channel: Channel::Input,
                    data: Bytes::from_static(&[0xAA, 0xBB])
                },
                LinkEvent::Data {
                    channel: Channel::Chat,
                    data: Bytes::from_static(&[0xCC])
                },
            ]
        );
    }

    /// Both ends of a link over an in-memory pipe, with acknowledgements
    /// (and with `lanes`, the file paced by the rate).
    fn pair(
        lanes: bool,
    ) -> (
        Vec<mpsc::Sender<Bytes>>,
        mpsc::Receiver<LinkEvent>,
        Arc<Shared>,
    ) {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let (ar, aw) = tokio::io::split(a);
        let (br, bw) = tokio::io::split(b);
        let mut senders = Vec::new();
        let mut queues = Vec::new();
        for _ in 0..6 {
            let (tx, rx) = mpsc::channel(8);
            senders.push(tx);
            queues.push(rx);
        }
        let (a_shared, b_shared) = (
            Arc::new(Shared::new(true, lanes)),
            Arc::new(Shared::new(true, lanes)),
        );
        let (a_events, _a_rx) = mpsc::channel(64);
        let (b_events, b_rx) = mpsc::channel(64);
        let counters = Arc::new(Counters::default());
        tokio::spawn(write_loop(
            aw,
            queues,
            a_shared.clone(),
            counters.clone(),
            a_events.clone(),
        ));
        tokio::spawn(read_loop(ar, a_shared.clone(), counters.clone(), a_events));
        // B writes nothing of its own but its acknowledgements.
        let (b_senders, b_queues): (Vec<_>, Vec<_>) = (0..6).map(|_| mpsc::channel(1)).unzip();
        tokio::spawn(read_loop(
            br,
            b_shared.clone(),
            counters.clone(),
            b_events.clone(),
        ));
        tokio::spawn(async move {
            let _open = b_senders;
            write_loop(bw, b_queues, b_shared, counters, b_events).await
        });
        (senders, b_rx, a_shared)
    }

    #[tokio::test]
    async fn acknowledged_file_and_input_arrive_whole_and_in_order() {
        file_and_input_arrive_whole_and_in_order(false).await;
    }

    #[tokio::test]
    async fn rate_paced_file_and_input_arrive_whole_and_in_order() {
        file_and_input_arrive_whole_and_in_order(true).await;
    }

    async fn file_and_input_arrive_whole_and_in_order(lanes: bool) {
        let (senders, mut rx, a_shared) = pair(lanes);
        let file = senders[Channel::File.id() as usize].clone();
        let input = senders[Channel::Input.id() as usize].clone();
        tokio::spawn(async move {
            for i in 0..64u8 {
                let _ = file.send(Bytes::from(vec![i; 40_000])).await;
                let _ = input.send(Bytes::from(vec![i])).await;
            }
        });
        let (mut file_bytes, mut inputs) = (Vec::new(), Vec::new());
        while file_bytes.len() < 64 * 40_000 || inputs.len() < 64 {
            match rx.recv().await.unwrap() {
                LinkEvent::Data {
                    channel: Channel::File,
                    data,
                } => file_bytes.extend_from_slice(&data),
                LinkEvent::Data {
                    channel: Channel::Input,
                    data,
                } => inputs.extend_from_slice(&data),
                other => panic!("{other:?}"),
            }
        }
        let want: Vec<u8> = (0..64u8).flat_map(|i| vec![i; 40_000]).collect();
        assert!(file_bytes == want, "file bytes reordered or lost");
        assert_eq!(inputs, (0..64u8).collect::<Vec<_>>());
        // Every byte sent is eventually acknowledged.
        for _ in 0..100 {
            if a_shared.with_window(|w| w.in_flight()) == Some(0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(a_shared.with_window(|w| w.in_flight()), Some(0));
        assert!(a_shared.with_window(|w| w.srtt()).flatten().is_some());
    }

    #[tokio::test]
    async fn an_acknowledgement_beyond_what_was_sent_is_a_violation() {
        let (result, _) = read_all_acks(&ack_record(5)).await;
        assert!(matches!(result, Err(LinkError::Violation(_))), "{result:?}");
    }

    async fn read_all_acks(bytes: &[u8]) -> (Result<(), LinkError>, Vec<LinkEvent>) {
        let (mut w, r) = tokio::io::duplex(1 << 20);
        w.write_all(bytes).await.ok();
        drop(w);
        let (tx, _rx) = mpsc::channel(16);
        let shared = Arc::new(Shared::new(true, false));
        let result = read_loop(r, shared, Arc::new(Counters::default()), tx).await;
        (result, Vec::new())
    }
}
