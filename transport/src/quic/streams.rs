//! The tasks that carry each channel over QUIC streams and datagrams:
//! paced file data with its acknowledgements, input with its datagram copies,
//! video on one unidirectional stream per frame.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use quinn::{Connection, VarInt};
use secours_protocol::Channel;
use tokio::sync::{mpsc, oneshot};

use super::VIDEO_LATENESS;
use crate::file_ack::{self, FileAck, FileReassembly};
use crate::file_pacer::FilePacer;
use crate::file_rate::FileRate;
use crate::input_copy::{self, InputAssembler};
use crate::link::{Counters, LinkEvent, priority};

/// Bytes of a file frame written to the stream at a time, between pacing
/// decisions.
const FILE_PIECE: usize = 16 * 1024;

/// Writes file frames at the rate the peer's acknowledgements allow
/// (`file_rate`), so that the file leaves the path's queue short for input
/// and video.
pub(super) async fn send_file(
    mut send: quinn::SendStream,
    mut rx: mpsc::Receiver<Bytes>,
    counters: Arc<Counters>,
    mut acks: mpsc::Receiver<(FileAck, Instant)>,
) {
    let absorb = |rate: &mut FileRate, (ack, at): (FileAck, Instant)| {
        if let Err(e) = rate.on_ack(ack, at) {
            tracing::warn!(%e, "file acknowledgement ignored");
        }
    };
    let mut rate = FileRate::new();
    loop {
        let frame = match rx.try_recv() {
            Ok(frame) => frame,
            Err(mpsc::error::TryRecvError::Empty) => {
                rate.on_idle();
                match rx.recv().await {
                    Some(frame) => frame,
                    None => break,
                }
            }
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        };
        let mut offset = 0;
        while offset < frame.len() {
            loop {
                while let Ok(ack) = acks.try_recv() {
                    absorb(&mut rate, ack);
                }
                let wait = rate.wait(Instant::now());
                if wait.is_zero() {
                    break;
                }
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    Some(ack) = acks.recv() => absorb(&mut rate, ack),
                }
            }
            let Some(end) =
                write_piece(&mut send, &frame, offset, rate.piece_len(), &counters).await
            else {
                return;
            };
            rate.on_sent(end - offset, Instant::now());
            offset = end;
        }
    }
    let _ = send.finish();
}

/// Writes up to `len` bytes of `frame` from `offset`: where the next piece
/// starts, or `None` once the stream is gone.
async fn write_piece(
    send: &mut quinn::SendStream,
    frame: &Bytes,
    offset: usize,
    len: usize,
    counters: &Counters,
) -> Option<usize> {
    let end = (offset + len).min(frame.len());
    send.write_chunk(frame.slice(offset..end)).await.ok()?;
    counters.add_sent(end - offset);
    Some(end)
}

/// Acknowledgements go at most this often (and when data stops, this long
/// after the last), or when this many bytes are unacknowledged: each one's
/// wait is in the sender's round-trip samples.
const ACK_INTERVAL: Duration = Duration::from_millis(1);
const ACK_BYTES: u64 = 32 * 1024;

/// Reads the file stream as it arrives (out of order: a lost packet holds
/// back deliveries, not the count of what arrived), hands it over in order,
/// and acknowledges both counts.
pub(super) async fn receive_file(
    conn: Connection,
    mut recv: quinn::RecvStream,
    header: u64,
    counters: Arc<Counters>,
    events: mpsc::Sender<LinkEvent>,
) {
    let mut reassembly = FileReassembly::new();
    let mut acked = reassembly.ack();
    let mut last_ack = Instant::now();
    loop {
        let flush = tokio::time::Instant::from_std(last_ack + ACK_INTERVAL);
        tokio::select! {
            chunk = recv.read_chunk(64 * 1024, false) => match chunk {
                Ok(Some(chunk)) => {
                    let Some(offset) = chunk.offset.checked_sub(header) else {
                        continue;
                    };
                    let ready = match reassembly.push(offset, chunk.bytes) {
                        Ok(ready) => ready,
                        Err(e) => {
                            tracing::warn!(%e, "file stream closed");
                            conn.close(VarInt::from_u32(2), b"file data too far ahead");
                            return;
                        }
                    };
                    for data in ready {
                        counters.add_received(data.len());
                        let event = LinkEvent::Data { channel: Channel::File, data };
                        if events.send(event).await.is_err() {
                            return;
                        }
                    }
                    let ack = reassembly.ack();
                    if last_ack.elapsed() < ACK_INTERVAL && ack.received - acked.received < ACK_BYTES {
                        continue;
                    }
                }
                Ok(None) | Err(_) => return,
            },
            () = tokio::time::sleep_until(flush), if reassembly.ack() != acked => {}
        }
        acked = reassembly.ack();
        // Best effort: a lost acknowledgement is covered by the next.
        let _ = conn.send_datagram(file_ack::encode_ack(acked));
        last_ack = Instant::now();
    }
}

/// Writes file frames at the scavenger rate (`file_pacer`) when the peer
/// does not acknowledge (v1), so that the file leaves the path's queue short
/// for input and video.
pub(super) async fn send_file_v1(
    conn: Connection,
    mut send: quinn::SendStream,
    mut rx: mpsc::Receiver<Bytes>,
    counters: Arc<Counters>,
) {
    let mut pacer = FilePacer::new();
    while let Some(frame) = rx.recv().await {
        let mut offset = 0;
        while offset < frame.len() {
            loop {
                let now = Instant::now();
                let rtt = conn.rtt();
                // The connection's counters only once a round trip: they
                // are gathered under its lock.
                if pacer.due(rtt, now) {
                    pacer.on_rtt(rtt, conn.stats().udp_tx.bytes, now);
                }
                let wait = pacer.wait(now);
                if wait.is_zero() {
                    break;
                }
                tokio::time::sleep(wait).await;
            }
            let Some(end) = write_piece(&mut send, &frame, offset, FILE_PIECE, &counters).await
            else {
                return;
            };
            pacer.on_sent(end - offset, Instant::now());
            offset = end;
        }
    }
    let _ = send.finish();
}

/// Input copies go this long after their stream write, so that the two do
/// not share (and lose) one packet.
const INPUT_COPY_DELAY: Duration = Duration::from_millis(3);

/// Writes input frames to the stream and, a little later, each as a
/// datagram copy (`input_copy`).
pub(super) async fn send_input(
    conn: Connection,
    mut send: quinn::SendStream,
    mut rx: mpsc::Receiver<Bytes>,
    counters: Arc<Counters>,
) {
    let mut offset = 0u64;
    while let Some(frame) = rx.recv().await {
        if send.write_chunk(frame.clone()).await.is_err() {
            return;
        }
        counters.add_sent(frame.len());
        let fits = conn
            .max_datagram_size()
            .is_some_and(|max| frame.len() + input_copy::HEADER <= max);
        if fits {
            let copy = input_copy::encode(offset, &frame);
            let conn = conn.clone();
            tokio::spawn(async move {
                tokio::time::sleep(INPUT_COPY_DELAY).await;
                // Best effort: the stream is the reliable copy.
                let _ = conn.send_datagram(copy);
            });
        }
        offset += frame.len() as u64;
    }
    let _ = send.finish();
}

/// Reads every datagram and passes it on: input copies to the input reader,
/// file acknowledgements to the file sender. It never waits for the
/// application: acknowledgements must flow while the application is busy
/// (sending a file, say) and not reading its events.
pub(super) async fn read_datagrams(
    conn: Connection,
    copies: mpsc::Sender<(u64, Bytes)>,
    acks: mpsc::Sender<(FileAck, Instant)>,
) {
    while let Ok(d) = conn.read_datagram().await {
        // Full queues drop: the input stream is the reliable copy, and a
        // later acknowledgement covers this one.
        if let Some(copy) = input_copy::decode(&d) {
            let _ = copies.try_send(copy);
        } else if let Some(ack) = file_ack::decode_ack(&d) {
            let _ = acks.try_send((ack, Instant::now()));
        }
    }
}

/// Reads the input stream and the input copies, delivering each byte once,
/// in order, from whichever arrives first. `header`: bytes before the
/// channel's data on the stream (its channel byte, on the applet's side).
pub(super) async fn receive_input(
    mut recv: quinn::RecvStream,
    header: u64,
    counters: Arc<Counters>,
    events: mpsc::Sender<LinkEvent>,
    mut copies: mpsc::Receiver<(u64, Bytes)>,
) {
    let mut assembler = InputAssembler::new();
    let mut stream_open = true;
    loop {
        let pieces = tokio::select! {
            chunk = recv.read_chunk(64 * 1024, true), if stream_open => match chunk {
                Ok(Some(chunk)) => assembler.from_stream(chunk.offset.saturating_sub(header), chunk.bytes),
                Ok(None) | Err(_) => {
                    stream_open = false;
                    continue;
                }
            },
            copy = copies.recv() => match copy {
                Some((offset, bytes)) => assembler.from_copy(offset, bytes),
                None => return,
            },
        };
        for data in pieces {
            counters.add_received(data.len());
            let event = LinkEvent::Data {
                channel: Channel::Input,
                data,
            };
            if events.send(event).await.is_err() {
                return;
            }
        }
    }
}

/// Each video frame on its own unidirectional stream; late ones are reset.
pub(super) async fn send_video(
    conn: Connection,
    mut rx: mpsc::Receiver<Bytes>,
    counters: Arc<Counters>,
    events: mpsc::Sender<LinkEvent>,
) {
    let mut in_flight: Vec<(Instant, oneshot::Sender<()>)> = Vec::new();
    while let Some(frame) = rx.recv().await {
        let now = Instant::now();
        // Finished frames closed their end; late ones are cancelled by
        // dropping ours (the writer then resets the stream).
        let mut dropped = 0;
        in_flight.retain(|(started, cancel)| {
            if cancel.is_closed() {
                return false;
            }
            let late = now.duration_since(*started) > VIDEO_LATENESS;
            dropped += u64::from(late);
            !late
        });
        if dropped > 0 {
            counters.video_dropped.fetch_add(dropped, Ordering::Relaxed);
            let _ = events.try_send(LinkEvent::VideoDropped { frames: dropped });
        }
        let Ok(mut send) = conn.open_uni().await else {
            return;
        };
        send.set_priority(priority(Channel::Video)).ok();
        let (cancel_tx, mut cancel_rx) = oneshot::channel::<()>();
        in_flight.push((now, cancel_tx));
        let c = counters.clone();
        tokio::spawn(async move {
            let write = async {
                send.write_all(&[Channel::Video.id()]).await?;
                send.write_chunk(frame.clone()).await?;
                Ok::<_, quinn::WriteError>(())
            };
            tokio::select! {
                r = write => {
                    if r.is_ok() {
                        c.add_sent(frame.len());
                        let _ = send.finish();
                    }
                }
                _ = &mut cancel_rx => {
                    let _ = send.reset(VarInt::from_u32(1));
                }
            }
        });
    }
}

/// Reads each video stream whole; a reset stream is a dropped frame.
pub(super) async fn receive_video(
    conn: Connection,
    counters: Arc<Counters>,
    events: mpsc::Sender<LinkEvent>,
) {
    let limit = Channel::Video.max_frame() as usize + secours_protocol::wire::HEADER_LEN + 1;
    while let Ok(mut recv) = conn.accept_uni().await {
        let ev = events.clone();
        let c = counters.clone();
        tokio::spawn(async move {
            let Ok(data) = recv.read_to_end(limit).await else {
                return;
            };
            match data.split_first() {
                Some((&id, frame)) if id == Channel::Video.id() => {
                    c.add_received(frame.len());
                    let data = Bytes::from(data).slice(1..);
                    let _ = ev
                        .send(LinkEvent::Data {
                            channel: Channel::Video,
                            data,
                        })
                        .await;
                }
                _ => tracing::warn!("unidirectional stream that is not video: ignored"),
            }
        });
    }
}
