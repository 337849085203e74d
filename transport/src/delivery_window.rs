//! QUIC's congestion window for a link whose file is paced by its own rate
//! (`file_rate`), sans IO: twice the path's product, from the fastest
//! delivery rate of the last rounds and the lowest round trip.
//!
//! quinn paces every packet at `1.25 * window / RTT`. Its BBR does not know
//! that the file is paced from above: seeing deliveries level off under our
//! own ramp, it leaves its start-up, and its drain (pacing gain 1/2.89) held
//! the file at 25 Mbit/s for 50 ms on lan, which our samples read as 25 ms of
//! queue (netbench lan 0.87). Cubic has no drain but halves on every random
//! loss (lossy-wifi 0.11). This window never limits a sender that follows the
//! path (it is twice what the path delivered), bounds what unpaced data (a
//! keyframe) may put in flight to two round trips of the path, and ignores
//! random loss like BBR; persistent congestion (RFC 9002) resets it.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use quinn::congestion::{Controller, ControllerFactory};
use quinn_proto::RttEstimator;

/// Delivery rate samples kept (one per round trip): the window follows the
/// fastest of them.
const ROUNDS: usize = 10;
/// The window over the product of that rate and the lowest round trip.
const GAIN: f64 = 2.0;
/// Smallest window, in datagrams (RFC 9002's minimum is 2).
const MIN_DATAGRAMS: u64 = 4;

/// Builds a [`DeliveryWindow`] per connection.
#[derive(Debug, Clone)]
pub struct DeliveryWindowConfig {
    /// Window before the first round trip is measured.
    pub initial_window: u64,
}

impl ControllerFactory for DeliveryWindowConfig {
    fn build(self: Arc<Self>, now: Instant, current_mtu: u16) -> Box<dyn Controller> {
        Box::new(DeliveryWindow::new(self.initial_window, current_mtu, now))
    }
}

/// Twice the product of the path's recent delivery rate and round trip.
#[derive(Debug, Clone)]
pub struct DeliveryWindow {
    initial: u64,
    mtu: u64,
    window: u64,
    /// Bytes acknowledged since the round began, and when it began.
    round_bytes: u64,
    round_start: Instant,
    /// Bytes per second of the last rounds.
    rates: VecDeque<f64>,
    min_rtt: Option<Duration>,
}

impl DeliveryWindow {
    /// A window of `initial` bytes until the path is measured.
    pub fn new(initial: u64, mtu: u16, now: Instant) -> Self {
        Self {
            initial,
            mtu: u64::from(mtu),
            window: initial,
            round_bytes: 0,
            round_start: now,
            rates: VecDeque::new(),
            min_rtt: None,
        }
    }

    /// `bytes` were acknowledged at `now`; `min_rtt` is the lowest round
    /// trip seen, `srtt` the smoothed one (a round lasts that long).
    pub fn on_delivered(&mut self, now: Instant, bytes: u64, min_rtt: Duration, srtt: Duration) {
        self.min_rtt = Some(self.min_rtt.map_or(min_rtt, |m| m.min(min_rtt)));
        self.round_bytes += bytes;
        let round = srtt.max(Duration::from_millis(1));
        let elapsed = now.saturating_duration_since(self.round_start);
        if elapsed >= round {
            let rate = self.round_bytes as f64 / elapsed.as_secs_f64();
            self.rates.push_back(rate);
            if self.rates.len() > ROUNDS {
                self.rates.pop_front();
            }
            self.round_bytes = 0;
            self.round_start = now;
            self.update();
        }
    }

    fn min_window(&self) -> u64 {
        MIN_DATAGRAMS * self.mtu
    }

    fn update(&mut self) {
        let (Some(rtt), Some(rate)) = (self.min_rtt, self.rates.iter().copied().reduce(f64::max))
        else {
            return;
        };
        let product = (rate * rtt.as_secs_f64() * GAIN) as u64;
        // Never under the initial window: the file's own rate keeps the
        // queue short, and a small window would cap a start-up.
        self.window = product.max(self.initial).max(self.min_window());
    }
}

impl Controller for DeliveryWindow {
    fn on_ack(
        &mut self,
        now: Instant,
        _sent: Instant,
        bytes: u64,
        _app_limited: bool,
        rtt: &RttEstimator,
    ) {
        self.on_delivered(now, bytes, rtt.min(), rtt.get());
    }

    fn on_congestion_event(
        &mut self,
        now: Instant,
        _sent: Instant,
        is_persistent_congestion: bool,
        _lost_bytes: u64,
    ) {
        // Random loss says nothing of the rate (lossy-wifi loses 3 %); a
        // path silent for several round trips does.
        if is_persistent_congestion {
            self.rates.clear();
            self.round_bytes = 0;
            self.round_start = now;
            self.window = self.min_window();
        }
    }

    fn on_mtu_update(&mut self, new_mtu: u16) {
        self.mtu = u64::from(new_mtu);
        self.window = self.window.max(self.min_window());
    }

    fn window(&self) -> u64 {
        self.window
    }

    fn clone_box(&self) -> Box<dyn Controller> {
        Box::new(self.clone())
    }

    fn initial_window(&self) -> u64 {
        self.initial
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_twice_the_fastest_recent_product() {
        let t = Instant::now();
        let mut w = DeliveryWindow::new(64 * 1024, 1200, t);
        assert_eq!(w.window(), 64 * 1024);
        let rtt = Duration::from_millis(100);
        // 10 MB/s for 2 s, acknowledged every 10 ms.
        let mut now = t;
        for _ in 0..200 {
            now += Duration::from_millis(10);
            w.on_delivered(now, 100_000, rtt, rtt);
        }
        let product = 10e6 * 0.1 * GAIN;
        let got = w.window() as f64;
        assert!(
            (got - product).abs() < 0.15 * product,
            "{got} against {product}"
        );
        // Random loss changes nothing; persistent congestion resets it.
        w.on_congestion_event(now, now, false, 50_000);
        assert!((w.window() as f64 - got).abs() < 1.0);
        w.on_congestion_event(now, now, true, 50_000);
        assert_eq!(w.window(), 4 * 1200);
    }
}
