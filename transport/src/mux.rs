//! Channels multiplexed over one byte stream (the relay's TLS session).
//!
//! Record: `channel: u8 | length: u16 big-endian | payload (<= 16 KiB)`, the
//! payload being the next bytes of that channel's frame stream. A frame is cut
//! into records so that, between two records of a big file chunk or video
//! frame, the writer looks again for input and control data: input waits
//! behind at most one record, never behind a file. A video frame not yet
//! started is dropped when it is older than the lateness budget and a newer
//! one is queued.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use secours_protocol::Channel;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::error::LinkError;
use crate::link::{Counters, LinkEvent};

/// Largest record payload.
pub const RECORD: usize = 16 * 1024;
/// A queued video frame older than this is dropped when a newer one waits.
pub const VIDEO_LATENESS: Duration = Duration::from_millis(200);

/// Channels in the order the writer serves them.
const ORDER: [Channel; 6] = Channel::ALL;

struct Pending {
    frames: VecDeque<(Instant, Bytes)>,
    offset: usize,
}

/// Writes the queued frames of every channel, highest priority first.
pub(crate) async fn write_loop<W: AsyncWrite + Unpin>(
    mut w: W,
    mut queues: Vec<mpsc::Receiver<Bytes>>,
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
    let mut header = [0u8; 3];
    loop {
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
        let next = ORDER
            .iter()
            .copied()
            .find(|c| !pending[c.id() as usize].frames.is_empty());
        let Some(channel) = next else {
            w.flush().await.map_err(|e| LinkError::from_io(&e))?;
            if !open.iter().any(|o| *o) {
                let _ = w.shutdown().await;
                return Ok(());
            }
            // Nothing to write: wait for the first frame on any channel.
            let (i, frame) = wait_any(&mut queues, &mut open).await;
            if let Some(f) = frame {
                pending[i].frames.push_back((Instant::now(), f));
            }
            continue;
        };
        let p = &mut pending[channel.id() as usize];
        let Some((_, frame)) = p.frames.front() else {
            continue;
        };
        let end = (p.offset + RECORD).min(frame.len());
        let piece = frame.slice(p.offset..end);
        header[0] = channel.id();
        header[1..].copy_from_slice(&(piece.len() as u16).to_be_bytes());
        w.write_all(&header)
            .await
            .map_err(|e| LinkError::from_io(&e))?;
        w.write_all(&piece)
            .await
            .map_err(|e| LinkError::from_io(&e))?;
        counters.add_sent(piece.len());
        if matches!(channel, Channel::Input | Channel::Control | Channel::Chat) {
            // Small and urgent: out now, not when the bulk stops.
            w.flush().await.map_err(|e| LinkError::from_io(&e))?;
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

async fn wait_any(
    queues: &mut [mpsc::Receiver<Bytes>],
    open: &mut [bool; 6],
) -> (usize, Option<Bytes>) {
    let futs = queues
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| open[*i])
        .map(|(i, q)| Box::pin(async move { (i, q.recv().await) }));
    let ((i, frame), _, _) = futures_util::future::select_all(futs).await;
    if frame.is_none() {
        open[i] = false;
    }
    (i, frame)
}

/// Reads records and delivers each channel's bytes.
pub(crate) async fn read_loop<R: AsyncRead + Unpin>(
    mut r: R,
    counters: Arc<Counters>,
    events: mpsc::Sender<LinkEvent>,
) -> Result<(), LinkError> {
    let mut header = [0u8; 3];
    loop {
        match r.read_exact(&mut header).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(LinkError::from_io(&e)),
        }
        let channel = Channel::from_id(header[0]).ok_or_else(|| {
            LinkError::Violation(format!("record for unknown channel {}", header[0]))
        })?;
        let len = usize::from(u16::from_be_bytes([header[1], header[2]]));
        if len > RECORD {
            return Err(LinkError::Violation(format!("record of {len} bytes")));
        }
        let mut payload = vec![0u8; len];
        r.read_exact(&mut payload)
            .await
            .map_err(|e| LinkError::from_io(&e))?;
        counters.add_received(len);
        if events
            .send(LinkEvent::Data {
                channel,
                data: payload.into(),
            })
            .await
            .is_err()
        {
            return Ok(());
        }
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
        let result = read_loop(r, Arc::new(Counters::default()), tx).await;
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
}
