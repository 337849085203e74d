//! The file channel's window on the relay, sans IO: a scavenger after LEDBAT
//! (RFC 6817), fed by the peer's acknowledgement records.
//!
//! TCP under the relay hides its queues: a file written as fast as the socket
//! takes it fills the bottleneck's buffer, and input then waits behind it
//! (hundreds of milliseconds on a 10 Mbit/s uplink). The window bounds the
//! channel bytes in flight (sent, not yet acknowledged by the peer) before a
//! file record may go out. It grows while the round trip stays near the
//! lowest seen and shrinks in proportion when a queue builds, so the queue
//! stays near a small target and input, control and video (which never wait
//! for the window) cross it quickly.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::record::RECORD;

/// Window before the first acknowledgement, and the record size until the
/// link's rate is known: like TCP's initial window, small enough that the
/// first burst does not queue (which would inflate the lowest round trip).
const INITIAL: u64 = 16 * 1024;
const INITIAL_RECORD: usize = 8 * 1024;
/// Smallest record the writer is told to cut.
const MIN_RECORD: usize = 2048;
/// Records carry about this much of the link's time, so input waits behind
/// at most that (a 16 KiB record is 13 ms of a 10 Mbit/s link).
const RECORD_TIME: Duration = Duration::from_millis(2);
/// The file always keeps two records in flight: it slows down, never stops.
const MIN_RECORDS: u64 = 2;
/// Upper bound (a satellite link's product is ~1.5 MB).
const MAX: u64 = 64 << 20;
/// Send times kept for round-trip samples (one per record).
const FLIGHTS: usize = 8192;
/// Round-trip samples whose minimum is the current delay (filters jitter).
const CURRENT_FILTER: usize = 2;
/// File records are paced at this multiple of window / round trip: twice in
/// slow start (the window doubles each round trip without bursts that look
/// like a queue), a little above once after.
const PACE_SLOW_START: f64 = 2.0;
const PACE: f64 = 1.25;
/// How far ahead of its paced time a record may go (timer granularity).
const PACE_SLACK: Duration = Duration::from_millis(1);
/// Pacing time a late wake-up may catch up on at once: timers wake a
/// millisecond or two late, and a pacer that forgot that would run slower
/// than its rate.
const PACE_CREDIT: Duration = Duration::from_millis(4);

/// Whether a file record may go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileGate {
    /// Now.
    Open,
    /// At that time (pacing).
    At(Instant),
    /// When an acknowledgement opens the window.
    Closed,
}

/// Why an acknowledgement is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// Acknowledgements only grow.
    #[error("acknowledgement went back from {was} to {now} bytes")]
    Regressed {
        /// The previous one.
        was: u64,
        /// This one.
        now: u64,
    },
    /// The peer acknowledged bytes it was never sent.
    #[error("acknowledgement of {acked} bytes, {sent} sent")]
    Beyond {
        /// Acknowledged.
        acked: u64,
        /// Sent.
        sent: u64,
    },
}

use crate::file_pacer::{BaseDelay, target};

/// An acknowledgement of `total` bytes after one of `acked`, `sent` having
/// been sent: it may only grow, and not past what was sent.
pub(crate) fn check_ack(total: u64, acked: u64, sent: u64) -> Result<(), AckError> {
    if total < acked {
        return Err(AckError::Regressed {
            was: acked,
            now: total,
        });
    }
    if total > sent {
        return Err(AckError::Beyond { acked: total, sent });
    }
    Ok(())
}

/// Bytes in flight, their send times, and the window over them.
#[derive(Debug)]
pub struct FileWindow {
    cwnd: u64,
    sent: u64,
    acked: u64,
    /// (sent total after a record, when, whether a full file record).
    flights: VecDeque<(u64, Instant, bool)>,
    base: BaseDelay,
    recent: VecDeque<Duration>,
    srtt: Option<Duration>,
    slow_start: bool,
    last_decrease: Option<Instant>,
    next_file: Option<Instant>,
    record: usize,
}

impl Default for FileWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl FileWindow {
    /// A window at its initial size.
    pub fn new() -> Self {
        Self {
            cwnd: INITIAL,
            sent: 0,
            acked: 0,
            flights: VecDeque::new(),
            base: BaseDelay::default(),
            recent: VecDeque::new(),
            srtt: None,
            slow_start: true,
            last_decrease: None,
            next_file: None,
            record: INITIAL_RECORD,
        }
    }

    /// A record of `bytes` payload bytes went out; `file` ones are paced.
    pub fn on_sent(&mut self, bytes: usize, file: bool, now: Instant) {
        self.sent += bytes as u64;
        if self.flights.len() < FLIGHTS {
            let full_file = file && bytes == self.record;
            self.flights.push_back((self.sent, now, full_file));
        }
        if let (true, Some(srtt)) = (file, self.srtt) {
            let gain = if self.slow_start {
                PACE_SLOW_START
            } else {
                PACE
            };
            let rate = gain * self.cwnd as f64 / srtt.as_secs_f64().max(1e-4);
            let floor = now.checked_sub(PACE_CREDIT).unwrap_or(now);
            let start = self.next_file.map_or(now, |t| t.max(floor));
            self.next_file = Some(start + Duration::from_secs_f64(bytes as f64 / rate));
        }
    }

    /// Whether a file record may go out at `now`.
    pub fn file_gate(&self, now: Instant) -> FileGate {
        if self.in_flight() + self.record as u64 > self.cwnd {
            return FileGate::Closed;
        }
        match self.next_file {
            Some(t) if t > now + PACE_SLACK => FileGate::At(t - PACE_SLACK),
            _ => FileGate::Open,
        }
    }

    /// Payload bytes sent and not yet acknowledged.
    pub fn in_flight(&self) -> u64 {
        self.sent - self.acked
    }

    /// How long the writer cuts records, so that one record is about
    /// [`RECORD_TIME`] of the link.
    pub fn record_size(&self) -> usize {
        self.record
    }

    fn min_cwnd(&self) -> u64 {
        MIN_RECORDS * self.record as u64
    }

    /// The window, bytes.
    pub fn cwnd(&self) -> u64 {
        self.cwnd
    }

    /// Smoothed round trip through the peer, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// What the window lets through per second, bits (window / round trip).
    pub fn rate_bps(&self) -> Option<u64> {
        let srtt = self.srtt?.as_secs_f64().max(1e-4);
        Some((self.cwnd as f64 * 8.0 / srtt) as u64)
    }

    /// The peer has read `total` payload bytes in all.
    pub fn on_ack(&mut self, total: u64, now: Instant) -> Result<(), AckError> {
        check_ack(total, self.acked, self.sent)?;
        let newly = total - self.acked;
        if newly == 0 {
            return Ok(());
        }
        let was_in_flight = self.in_flight();
        self.acked = total;
        let (mut sample, mut file_sample) = (None, None);
        while let Some(&(end, at, full_file)) = self.flights.front() {
            if end > total {
                break;
            }
            let rtt = now.saturating_duration_since(at);
            sample = Some(rtt);
            if full_file {
                file_sample = Some(rtt);
            }
            self.flights.pop_front();
        }
        if let Some(rtt) = sample {
            let srtt = self.srtt.map_or(rtt, |s| (s * 7 + rtt) / 8);
            self.srtt = Some(srtt);
            let rate = self.cwnd as f64 / srtt.as_secs_f64().max(1e-4);
            let size = (rate * RECORD_TIME.as_secs_f64()) as usize / 1024 * 1024;
            self.record = size.clamp(MIN_RECORD, RECORD);
        }
        // The delay is judged on full file records only: each sample then
        // includes the same serialization time (13 ms of a record at 10
        // Mbit/s), which the base includes too, so what is above the base is
        // the queue ahead of the record.
        let Some(rtt) = file_sample else {
            return Ok(());
        };
        self.base.note(rtt, now);
        self.recent.push_back(rtt);
        if self.recent.len() > CURRENT_FILTER {
            self.recent.pop_front();
        }
        let base = self.base.get().unwrap_or(rtt);
        let current = self.recent.iter().copied().min().unwrap_or(rtt);
        let queue = current.saturating_sub(base);
        let target = target(base);
        // Grow only a window in use, or an idle link would grow it forever.
        let in_use = was_in_flight * 2 >= self.cwnd;
        tracing::trace!(
            rtt_ms = rtt.as_secs_f64() * 1e3,
            base_ms = base.as_secs_f64() * 1e3,
            queue_ms = queue.as_secs_f64() * 1e3,
            cwnd = self.cwnd,
            in_flight = was_in_flight,
            newly,
            slow_start = self.slow_start,
            "relay window sample"
        );
        if queue > target {
            self.slow_start = false;
            // Once per round trip: the last cut shows only a round trip later.
            let srtt = self.srtt.unwrap_or(rtt);
            if self
                .last_decrease
                .is_none_or(|t| now.saturating_duration_since(t) >= srtt)
            {
                // Delivery rate is about cwnd / (base + queue); aim at
                // rate * (base + target).
                let scale = (base + target).as_secs_f64() / (base + queue).as_secs_f64();
                self.cwnd = ((self.cwnd as f64 * scale) as u64).max(self.min_cwnd());
                self.last_decrease = Some(now);
            }
        } else if self.slow_start {
            if queue * 2 > target {
                self.slow_start = false;
            } else if in_use {
                self.cwnd = (self.cwnd + newly).min(MAX);
            }
        } else if in_use {
            let off = 1.0 - queue.as_secs_f64() / target.as_secs_f64();
            // One record a round trip when the queue is empty: records are
            // sized to the link's rate, so this is the same share of any link.
            let grow = off * newly as f64 * self.record as f64 / self.cwnd as f64;
            self.cwnd = (self.cwnd + grow as u64).min(MAX);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A path with a round trip of `base` plus whatever queue the window
    /// builds at `rate` bytes/s: sends while the window allows, acks what a
    /// bottleneck of that rate delivered, in simulated time.
    fn run(w: &mut FileWindow, base: Duration, rate: f64, secs: f64) -> (u64, Duration) {
        let t0 = Instant::now();
        let mut now = t0;
        let step = Duration::from_micros(500);
        let mut link_free = t0;
        let mut arrivals: VecDeque<(Instant, u64)> = VecDeque::new();
        let mut delivered = 0u64;
        let mut worst_queue = Duration::ZERO;
        while now.duration_since(t0).as_secs_f64() < secs {
            while w.file_gate(now) == FileGate::Open {
                let size = w.record_size();
                w.on_sent(size, true, now);
                let start = link_free.max(now);
                worst_queue = worst_queue.max(start - now);
                link_free = start + Duration::from_secs_f64(size as f64 / rate);
                arrivals.push_back((link_free + base, w.sent));
            }
            while arrivals.front().is_some_and(|(t, _)| *t <= now) {
                let (_, total) = arrivals.pop_front().unwrap();
                delivered = total;
                w.on_ack(total, now).unwrap();
            }
            now += step;
        }
        (delivered, worst_queue)
    }

    #[test]
    fn fills_the_path_and_keeps_the_queue_near_the_target() {
        // 10 Mbit/s, 40 ms: a product of 50 KB, a target of 10 ms.
        let mut w = FileWindow::new();
        let rate = 10e6 / 8.0;
        let (delivered, _) = run(&mut w, Duration::from_millis(40), rate, 10.0);
        let goodput = delivered as f64 / 10.0 / rate;
        assert!(goodput > 0.8, "goodput {goodput:.2} of the path");
        // Steady state: a second more, the queue stays within a few targets.
        let (_, queue) = run(&mut w, Duration::from_millis(40), rate, 1.0);
        assert!(queue < Duration::from_millis(40), "queue {queue:?}");
        assert!(w.srtt().unwrap() < Duration::from_millis(80));
    }

    #[test]
    fn a_long_path_is_filled_by_slow_start() {
        // 20 Mbit/s, 600 ms: 1.5 MB in flight needed.
        let mut w = FileWindow::new();
        let rate = 20e6 / 8.0;
        run(&mut w, Duration::from_millis(600), rate, 8.0);
        assert!(w.cwnd() > 1_200_000, "window {}", w.cwnd());
    }

    #[test]
    fn a_queue_shrinks_the_window_but_not_below_its_floor() {
        // First a window grown on a 10 Mbit/s, 10 ms path.
        let mut w = FileWindow::new();
        run(&mut w, Duration::from_millis(10), 10e6 / 8.0, 3.0);
        let before = w.cwnd();
        assert!(before > MIN_RECORDS * w.record_size() as u64 * 2);
        // Then every record comes back 200 ms late: a queue far above target.
        let t = Instant::now() + Duration::from_secs(10);
        let mut total = w.sent;
        for i in 0..100u64 {
            let at = t + Duration::from_millis(100 * i);
            let size = w.record_size();
            w.on_sent(size, true, at);
            total += size as u64;
            w.on_ack(total, at + Duration::from_millis(210)).unwrap();
        }
        assert!(w.cwnd() < before);
        assert_eq!(w.cwnd(), MIN_RECORDS * w.record_size() as u64);
        // The file slows down, never stops.
        assert_eq!(w.file_gate(t + Duration::from_secs(60)), FileGate::Open);
    }

    #[test]
    fn acknowledgements_beyond_or_backwards_are_refused() {
        let mut w = FileWindow::new();
        let t = Instant::now();
        w.on_sent(100, false, t);
        assert_eq!(
            w.on_ack(101, t),
            Err(AckError::Beyond {
                acked: 101,
                sent: 100
            })
        );
        w.on_ack(60, t).unwrap();
        assert_eq!(w.in_flight(), 40);
        assert_eq!(
            w.on_ack(50, t),
            Err(AckError::Regressed { was: 60, now: 50 })
        );
        w.on_ack(60, t).unwrap();
    }

    #[test]
    fn an_idle_link_does_not_grow_the_window() {
        let mut w = FileWindow::new();
        let t = Instant::now();
        for i in 1..100u64 {
            let at = t + Duration::from_millis(50 * i);
            w.on_sent(10, false, at);
            w.on_ack(10 * i, at + Duration::from_millis(20)).unwrap();
        }
        assert_eq!(w.cwnd(), INITIAL);
    }
}
