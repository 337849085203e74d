//! The file channel's pacer on the direct (QUIC) path, sans IO: a scavenger
//! rate after LEDBAT, fed by the connection's round-trip time.
//!
//! QUIC stream priorities put input first among the packets *we* send next,
//! but not ahead of the file packets already queued at the bottleneck:
//! whatever congestion controller fills the path (Cubic to its loss point,
//! BBR to about twice its product) builds a queue that input waits in. The
//! pacer gives the file stream a rate instead of the whole window: it grows
//! while the round trip stays near the lowest seen and shrinks in proportion
//! when a queue builds, so the file leaves the bottleneck nearly empty for
//! input and video, and yields to them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Queueing delay aimed at (a quarter of the base round trip, 3 to 25 ms):
/// the same rule as the relay's window.
pub(crate) fn target(base: Duration) -> Duration {
    (base / 4).clamp(Duration::from_millis(3), Duration::from_millis(25))
}

/// The lowest round trip is remembered per bucket, for this many buckets.
const BASE_BUCKET: Duration = Duration::from_secs(10);
const BASE_BUCKETS: usize = 6;

/// The path's own round trip: the lowest seen over the last minute (in
/// 10 s buckets, so a route change is forgotten), as LEDBAT keeps it.
#[derive(Debug, Default)]
pub(crate) struct BaseDelay {
    buckets: VecDeque<(Instant, Duration)>,
}

impl BaseDelay {
    pub(crate) fn note(&mut self, rtt: Duration, now: Instant) {
        match self.buckets.back_mut() {
            Some((start, min)) if now.saturating_duration_since(*start) < BASE_BUCKET => {
                *min = (*min).min(rtt);
            }
            _ => {
                self.buckets.push_back((now, rtt));
                if self.buckets.len() > BASE_BUCKETS {
                    self.buckets.pop_front();
                }
            }
        }
    }

    pub(crate) fn get(&self) -> Option<Duration> {
        self.buckets.iter().map(|(_, d)| *d).min()
    }
}

const INITIAL_BPS: f64 = 2e6;
const MIN_BPS: f64 = 200e3;
/// The rate is reconsidered at most this often (and at most once a round trip).
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// Bytes that may go at once after an idle or late wake-up.
const BURST: f64 = 64.0 * 1024.0;

/// Rate and pacing state of one file stream.
#[derive(Debug)]
pub struct FilePacer {
    rate_bps: f64,
    slow_start: bool,
    base: BaseDelay,
    last_update: Option<Instant>,
    tx_at_update: u64,
    /// After a cut, the round trip estimate still shows the old queue for a
    /// while: no further change until then.
    hold_until: Option<Instant>,
    /// The rate at the last cut: growth slows near it.
    cut_at_bps: Option<f64>,
    /// Pacing clock: when the next byte may go.
    next: Option<Instant>,
}

impl Default for FilePacer {
    fn default() -> Self {
        Self::new()
    }
}

impl FilePacer {
    /// A pacer at its initial rate.
    pub fn new() -> Self {
        Self {
            rate_bps: INITIAL_BPS,
            slow_start: true,
            base: BaseDelay::default(),
            last_update: None,
            tx_at_update: 0,
            hold_until: None,
            cut_at_bps: None,
            next: None,
        }
    }

    /// The rate the file may use, bits per second.
    pub fn rate_bps(&self) -> f64 {
        self.rate_bps
    }

    /// Whether [`FilePacer::on_rtt`] would reconsider the rate now (once a
    /// round trip): callers skip gathering the connection's counters otherwise.
    pub fn due(&self, rtt: Duration, now: Instant) -> bool {
        self.last_update
            .is_none_or(|last| now.saturating_duration_since(last) >= rtt.max(MIN_INTERVAL))
    }

    /// A round-trip estimate of the connection (`rtt`, smoothed, queue
    /// included) and the bytes it has sent in all (`tx_bytes`).
    pub fn on_rtt(&mut self, rtt: Duration, tx_bytes: u64, now: Instant) {
        if rtt.is_zero() {
            return;
        }
        self.base.note(rtt, now);
        let Some(last) = self.last_update else {
            self.last_update = Some(now);
            self.tx_at_update = tx_bytes;
            return;
        };
        let since = now.saturating_duration_since(last);
        if since < rtt.max(MIN_INTERVAL) {
            return;
        }
        // What the connection actually sent over the interval: the rate may
        // not run far ahead of it (the window, not the pacer, was the limit).
        let sent_bps =
            tx_bytes.saturating_sub(self.tx_at_update) as f64 * 8.0 / since.as_secs_f64().max(1e-3);
        self.last_update = Some(now);
        self.tx_at_update = tx_bytes;
        let base = self.base.get().unwrap_or(rtt);
        let queue = rtt.saturating_sub(base);
        let target = target(base);
        if self.hold_until.is_some_and(|t| now < t) {
            return;
        }
        if queue > target {
            self.slow_start = false;
            self.cut_at_bps = Some(self.rate_bps);
            // Cut from what actually went out (the rate may have been ahead
            // of it), in proportion to the queue seen, by 15 % at most: the
            // hold lets a deeper queue show again if one cut was not enough.
            let scale = (base + target).as_secs_f64() / (base + queue).as_secs_f64();
            let from = self.rate_bps.min(sent_bps.max(MIN_BPS));
            self.rate_bps = (from * scale.max(0.85)).max(MIN_BPS);
            // The smoothed round trip lags: let it show the cut first.
            self.hold_until = Some(now + rtt * 2);
        } else {
            let below = 1.0 - queue.as_secs_f64() / target.as_secs_f64();
            let gain = if self.slow_start {
                if queue * 2 > target {
                    self.slow_start = false;
                }
                1.0
            } else if self
                .cut_at_bps
                .is_some_and(|c| (0.95 * c..=1.1 * c).contains(&self.rate_bps))
            {
                // Near where the queue built last time: probe gently (past
                // it without a queue, the path has grown: speed up again).
                0.01 * below
            } else {
                // A tenth a round trip at an empty queue, less near the target.
                0.1 * below
            };
            let ceiling = (2.0 * sent_bps).max(INITIAL_BPS);
            self.rate_bps = (self.rate_bps * (1.0 + gain)).min(ceiling.max(self.rate_bps));
        }
    }

    /// How long to wait before `bytes` more may go (zero: now).
    pub fn wait(&mut self, now: Instant) -> Duration {
        match self.next {
            Some(t) if t > now => t - now,
            _ => Duration::ZERO,
        }
    }

    /// `bytes` went out at `now`.
    pub fn on_sent(&mut self, bytes: usize, now: Instant) {
        let credit = Duration::from_secs_f64(BURST * 8.0 / self.rate_bps);
        let floor = now.checked_sub(credit).unwrap_or(now);
        let start = self.next.map_or(floor, |t| t.max(floor));
        self.next = Some(start + Duration::from_secs_f64(bytes as f64 * 8.0 / self.rate_bps));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A bottleneck of `capacity` bits/s with a round trip of `base`: the
    /// queue grows when the pacer sends faster, drains when slower. Returns
    /// the utilisation and the worst queue over the last `tail` seconds.
    fn run(
        p: &mut FilePacer,
        base: Duration,
        capacity: f64,
        secs: f64,
        tail: f64,
    ) -> (f64, Duration) {
        let t0 = Instant::now();
        let step = Duration::from_millis(1);
        let mut queue_bits = 0.0f64;
        let mut sent = 0u64;
        let mut delivered = 0.0;
        let mut worst = Duration::ZERO;
        let mut now = t0;
        while now.duration_since(t0).as_secs_f64() < secs {
            while p.wait(now).is_zero() {
                p.on_sent(16 * 1024, now);
                sent += 16 * 1024;
                queue_bits += 16.0 * 1024.0 * 8.0;
            }
            let drained = (capacity * step.as_secs_f64()).min(queue_bits);
            queue_bits -= drained;
            let queue = Duration::from_secs_f64(queue_bits / capacity);
            if now.duration_since(t0).as_secs_f64() >= secs - tail {
                delivered += drained;
                worst = worst.max(queue);
            }
            p.on_rtt(base + queue, sent, now);
            now += step;
        }
        (delivered / tail / capacity, worst)
    }

    #[test]
    fn finds_the_capacity_and_keeps_the_queue_small() {
        let mut p = FilePacer::new();
        let (util, queue) = run(&mut p, Duration::from_millis(40), 10e6, 12.0, 2.0);
        assert!(util > 0.85, "steady utilisation {util:.2}");
        assert!(queue < Duration::from_millis(40), "queue {queue:?}");
    }

    #[test]
    fn a_queue_cuts_the_rate_but_not_below_its_floor() {
        let mut p = FilePacer::new();
        let t = Instant::now();
        p.on_rtt(Duration::from_millis(20), 0, t);
        for i in 1..200u64 {
            let at = t + Duration::from_millis(50 * i);
            p.on_rtt(Duration::from_millis(400), 1_000 * i, at);
        }
        assert_eq!(p.rate_bps(), MIN_BPS);
    }
}
