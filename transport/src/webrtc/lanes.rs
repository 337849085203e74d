//! The data channels of a WebRTC link: one per logical channel, each with
//! its delivery rule, plus the input copies (sans IO).
//!
//! Every channel is negotiated out of band (`negotiated: true` in a
//! browser) on a fixed SCTP stream id, so both sides open the same set
//! without DCEP. SCTP sends unordered messages before ordered ones
//! (the pending queue serves them first), so input copies and video never
//! wait behind queued file data.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use secours_protocol::Channel;
use str0m::channel::{ChannelConfig, Reliability};

/// The stream id of the input copies (after the six logical channels).
pub const INPUT_COPY_STREAM: u16 = 6;
/// Data channels: the six logical channels and the input copies.
pub const LANES: usize = 7;

/// A video frame still queued this long is abandoned by SCTP itself
/// (partial reliability), as QUIC drops a late video stream.
pub const VIDEO_LIFETIME_MS: u16 = 200;
/// Largest message on the stream channels: file data yields to other
/// ordered channels at this granularity.
pub const STREAM_PIECE: usize = 16 * 1024;
/// Largest piece of a video frame (a browser takes 256 KiB messages, str0m
/// 64 KiB from a peer that does not say).
pub const VIDEO_PIECE: usize = 60 * 1024;
/// Header of a video piece: frame number (u32), piece index and count (u16).
pub const VIDEO_HEADER: usize = 8;
/// Most pieces of one video frame (60 KiB each: 3.75 MiB).
pub const MAX_VIDEO_PIECES: usize = 64;
/// Frames being reassembled at once; an older incomplete one is dropped.
const MAX_VIDEO_IN_PROGRESS: usize = 4;

/// The SCTP stream id of a logical channel.
pub fn stream_id(channel: Channel) -> u16 {
    u16::from(channel.id())
}

/// The logical channel of an SCTP stream id; `None` for the input copies
/// or an unknown stream.
pub fn channel_of(stream: u16) -> Option<Channel> {
    u8::try_from(stream).ok().and_then(Channel::from_id)
}

/// The data channel configuration of each lane, by stream id.
pub fn configs() -> Vec<ChannelConfig> {
    let mut all = Vec::with_capacity(LANES);
    for id in 0..LANES as u16 {
        let (label, ordered, reliability) = match channel_of(id) {
            // Reliable and ordered: the copies carry input's latency.
            Some(Channel::Input) => ("input", true, Reliability::Reliable),
            Some(Channel::Video) => (
                "video",
                false,
                Reliability::MaxPacketLifetime {
                    lifetime: VIDEO_LIFETIME_MS,
                },
            ),
            Some(c) => (label_of(c), true, Reliability::Reliable),
            // The input copies: unordered, never retransmitted.
            None => (
                "input-copy",
                false,
                Reliability::MaxRetransmits { retransmits: 0 },
            ),
        };
        all.push(ChannelConfig {
            label: label.to_owned(),
            ordered,
            reliability,
            negotiated: Some(id),
            protocol: String::new(),
        });
    }
    all
}

fn label_of(c: Channel) -> &'static str {
    match c {
        Channel::Control => "control",
        Channel::Input => "input",
        Channel::Video => "video",
        Channel::Clipboard => "clipboard",
        Channel::File => "file",
        Channel::Chat => "chat",
    }
}

/// Cuts a video frame into pieces of at most [`VIDEO_PIECE`] bytes, each
/// with its header; `None` if it needs more than [`MAX_VIDEO_PIECES`].
pub fn video_pieces(frame_no: u32, frame: &[u8]) -> Option<Vec<Bytes>> {
    let count = frame.len().div_ceil(VIDEO_PIECE).max(1);
    if count > MAX_VIDEO_PIECES {
        return None;
    }
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let piece =
            &frame[(i * VIDEO_PIECE).min(frame.len())..((i + 1) * VIDEO_PIECE).min(frame.len())];
        let mut b = BytesMut::with_capacity(VIDEO_HEADER + piece.len());
        b.put_u32(frame_no);
        b.put_u16(i as u16);
        b.put_u16(count as u16);
        b.extend_from_slice(piece);
        out.push(b.freeze());
    }
    Some(out)
}

/// Puts video frames back together from unordered pieces. A frame is
/// delivered whole and only if newer than the last one delivered; frames
/// left incomplete behind a newer one are dropped. Bounded by
/// [`MAX_VIDEO_IN_PROGRESS`] frames of [`MAX_VIDEO_PIECES`] pieces.
#[derive(Debug, Default)]
pub struct VideoAssembler {
    last: Option<u32>,
    frames: BTreeMap<u32, Pieces>,
    /// Frames dropped incomplete.
    pub dropped: u64,
}

#[derive(Debug)]
struct Pieces {
    count: u16,
    got: Vec<Option<Bytes>>,
    have: u16,
}

impl VideoAssembler {
    /// A piece from the wire; the frame it completes, if any. A malformed
    /// piece is ignored (`Err` says why, for the log).
    pub fn push(&mut self, piece: &[u8]) -> Result<Option<Bytes>, &'static str> {
        if piece.len() < VIDEO_HEADER {
            return Err("video piece shorter than its header");
        }
        let frame_no = u32::from_be_bytes([piece[0], piece[1], piece[2], piece[3]]);
        let index = u16::from_be_bytes([piece[4], piece[5]]);
        let count = u16::from_be_bytes([piece[6], piece[7]]);
        if count == 0 || usize::from(count) > MAX_VIDEO_PIECES || index >= count {
            return Err("video piece index or count out of range");
        }
        if self.last.is_some_and(|l| frame_no <= l) {
            return Ok(None); // late: a newer frame is already out
        }
        let entry = self.frames.entry(frame_no).or_insert_with(|| Pieces {
            count,
            got: vec![None; usize::from(count)],
            have: 0,
        });
        if entry.count != count {
            return Err("video pieces disagree on their count");
        }
        let slot = &mut entry.got[usize::from(index)];
        if slot.is_none() {
            *slot = Some(Bytes::copy_from_slice(&piece[VIDEO_HEADER..]));
            entry.have += 1;
        }
        if entry.have == entry.count {
            let done = self.frames.remove(&frame_no).map(|p| {
                let mut frame = BytesMut::new();
                for b in p.got.into_iter().flatten() {
                    frame.extend_from_slice(&b);
                }
                frame.freeze()
            });
            // Everything older is now late.
            let older: Vec<u32> = self.frames.range(..frame_no).map(|(k, _)| *k).collect();
            for k in older {
                self.frames.remove(&k);
                self.dropped += 1;
            }
            self.last = Some(frame_no);
            return Ok(done);
        }
        while self.frames.len() > MAX_VIDEO_IN_PROGRESS {
            self.frames.pop_first();
            self.dropped += 1;
        }
        Ok(None)
    }
}

/// How much file data may sit in SCTP's send buffer: a quarter more than
/// what the path delivers in a round trip, measured from how fast the
/// buffer drains. SCTP's loss-based window would otherwise fill the
/// bottleneck's queue until it overflows (and its 1 s minimum RTO stalls
/// everything, input copies included). More would only queue, and ordered control and chat messages
/// would wait behind it.
#[derive(Debug)]
pub struct FileGate {
    written: u64,
    mark: Option<(std::time::Instant, u64)>,
    rate: f64,
}

/// The gate's floor and ceiling (the peer's SCTP receive window is 1 MiB:
/// more in flight is never sent).
const GATE_MIN: usize = 32 * 1024;
const GATE_MAX: usize = 2 * 1024 * 1024;

impl Default for FileGate {
    fn default() -> Self {
        Self {
            written: 0,
            mark: None,
            rate: 0.0,
        }
    }
}

impl FileGate {
    /// `n` more bytes were written to the file channel.
    pub fn wrote(&mut self, n: usize) {
        self.written += n as u64;
    }

    /// Whether more file data may be written now, with `buffered` bytes
    /// still in the file channel's buffer and `rtt` the path's round trip.
    pub fn open(
        &mut self,
        now: std::time::Instant,
        buffered: usize,
        rtt: std::time::Duration,
    ) -> bool {
        let drained = self.written.saturating_sub(buffered as u64);
        match self.mark {
            None => self.mark = Some((now, drained)),
            Some((t, d)) => {
                let dt = now.saturating_duration_since(t).as_secs_f64();
                if dt >= 0.05 {
                    let r = drained.saturating_sub(d) as f64 / dt;
                    // Quick to rise, slow to fall: a pause is not a slow path.
                    self.rate = if r > self.rate {
                        r
                    } else {
                        0.875 * self.rate + 0.125 * r
                    };
                    self.mark = Some((now, drained));
                }
            }
        }
        buffered < self.limit(rtt)
    }

    /// The drain rate, bytes per second: what the path delivers.
    pub fn rate_bytes(&self) -> f64 {
        self.rate
    }

    /// The current limit, bytes.
    pub fn limit(&self, rtt: std::time::Duration) -> usize {
        let span = rtt.as_secs_f64() + 0.010;
        ((self.rate * span * 1.25) as usize).clamp(GATE_MIN, GATE_MAX)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn every_logical_channel_has_its_lane_and_rule() {
        let all = configs();
        assert_eq!(all.len(), LANES);
        for (id, c) in all.iter().enumerate() {
            assert_eq!(c.negotiated, Some(id as u16));
        }
        let video = &all[usize::from(stream_id(Channel::Video))];
        assert!(!video.ordered);
        assert!(matches!(
            video.reliability,
            Reliability::MaxPacketLifetime { .. }
        ));
        let copies = &all[usize::from(INPUT_COPY_STREAM)];
        assert!(!copies.ordered);
        for c in [
            Channel::Control,
            Channel::Input,
            Channel::File,
            Channel::Chat,
            Channel::Clipboard,
        ] {
            let l = &all[usize::from(stream_id(c))];
            assert!(l.ordered && l.reliability == Reliability::Reliable, "{c:?}");
            assert_eq!(channel_of(stream_id(c)), Some(c));
        }
        assert_eq!(channel_of(INPUT_COPY_STREAM), None);
    }

    #[test]
    fn video_frames_come_back_whole_in_any_order_and_late_ones_are_dropped() {
        let big: Vec<u8> = (0..150_000u32).map(|i| i as u8).collect();
        let mut pieces = video_pieces(7, &big).unwrap();
        assert_eq!(pieces.len(), 3);
        pieces.reverse();
        let mut a = VideoAssembler::default();
        assert_eq!(a.push(&pieces[0]).unwrap(), None);
        assert_eq!(
            a.push(&pieces[0]).unwrap(),
            None,
            "a duplicate changes nothing"
        );
        assert_eq!(a.push(&pieces[1]).unwrap(), None);
        assert_eq!(a.push(&pieces[2]).unwrap().unwrap(), Bytes::from(big));
        // Frame 6 is older than the one delivered.
        let old = video_pieces(6, b"old").unwrap();
        assert_eq!(a.push(&old[0]).unwrap(), None);
        // Frame 8 incomplete, frame 9 complete: 8 is dropped.
        let eight = video_pieces(8, &[1; 70_000]).unwrap();
        a.push(&eight[0]).unwrap();
        let nine = video_pieces(9, b"nine").unwrap();
        assert_eq!(
            a.push(&nine[0]).unwrap().unwrap(),
            Bytes::from_static(b"nine")
        );
        assert_eq!(a.dropped, 1);
        assert_eq!(a.push(&eight[1]).unwrap(), None);
        // Malformed pieces are refused, not trusted.
        assert!(a.push(&[0; 3]).is_err());
        assert!(a.push(&[0, 0, 0, 10, 0, 5, 0, 5]).is_err());
        assert!(a.push(&[0, 0, 0, 10, 0, 0, 0xff, 0xff]).is_err());
        assert!(video_pieces(1, &vec![0; VIDEO_PIECE * MAX_VIDEO_PIECES + 1]).is_none());
    }

    #[test]
    fn the_assembler_holds_a_bounded_number_of_frames() {
        let mut a = VideoAssembler::default();
        for n in 0..100u32 {
            let p = video_pieces(n, &[0; VIDEO_PIECE + 1]).unwrap();
            a.push(&p[0]).unwrap();
        }
        assert!(a.frames.len() <= MAX_VIDEO_IN_PROGRESS);
        assert_eq!(a.dropped, 100 - MAX_VIDEO_IN_PROGRESS as u64);
    }

    #[test]
    fn the_file_gate_follows_the_drain_rate() {
        let mut g = FileGate::default();
        let t0 = Instant::now();
        let rtt = Duration::from_millis(100);
        assert!(g.open(t0, 0, rtt));
        assert_eq!(g.limit(rtt), GATE_MIN);
        // 10 MB/s drained: the limit grows to rate × (rtt + 10 ms) × 1.25.
        for i in 1..=20u32 {
            g.wrote(1_000_000);
            g.open(t0 + Duration::from_millis(100) * i, 0, rtt);
        }
        let l = g.limit(rtt);
        assert!((1_300_000..=1_400_000).contains(&l), "{l}");
        assert!(!g.open(t0 + Duration::from_secs(3), GATE_MAX, rtt));
    }
}
