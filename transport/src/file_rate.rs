//! The file channel's rate from end-to-end delivery acknowledgements, sans IO.
//!
//! The receiver tells the sender how many file bytes it has delivered to its
//! application in order, and how many it has received in all (`file_ack`
//! datagrams on the direct path). Each acknowledgement that completes a piece
//! gives a round-trip sample for the newest piece it covers: after a
//! retransmission stall the receiver delivers a burst at once, and the newest
//! piece of that burst did not wait, so stalls from random loss do not read
//! as queue (a smoothed round trip, as QUIC keeps, would carry them, and lag
//! the queue by several round trips).
//!
//! Rounds of a round trip, at least 10 ms (a round ends when the bytes sent
//! at its start are delivered). At the end of each, the lowest sample of this
//! round and the last minus the path's base round trip is the queue at the
//! bottleneck, and bytes received over the last four rounds per time the
//! delivery rate (the bottleneck's rate whenever a queue stands).
//! - Start-up: the rate grows by a quarter a round until a queue shows or the
//!   deliveries fall behind what was sent, then drains.
//! - Over 1.5 times the target queue: a cut of at most 15 %, then, if the
//!   queue is still there a round later, `delivery * base / (base + queue)`.
//! - Under half the target: up to 4 % more a round (the probe that finds a
//!   faster path); around it, the delivery rate; eight rounds in a row under
//!   it start the start-up again.
//!
//! So the bottleneck stays busy (goodput near the path's) while the queue
//! input and video wait in stays near an eighth of the base round trip.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::file_ack::FileAck;
use crate::file_pacer::BaseDelay;

/// Queueing delay aimed at: a quarter of the base round trip plus 2.5 ms,
/// 5 to 25 ms. Input may take one way plus 5 ms (the base round trip plus
/// 5 ms in all): half of the queue that allows, so that jitter and the
/// probe above the target stay inside it; and not under 5 ms, where the
/// timers of a busy host read as queue.
fn target(base: Duration) -> Duration {
    (base / 4 + Duration::from_micros(2500))
        .clamp(Duration::from_millis(5), Duration::from_millis(25))
}

/// A file acknowledgement the sender cannot accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("acknowledged {delivered} file bytes delivered and {received} received, {sent} were sent")]
pub struct InvalidAck {
    /// Delivered, by the acknowledgement.
    pub delivered: u64,
    /// Received, by the acknowledgement.
    pub received: u64,
    /// What we had sent.
    pub sent: u64,
}

const INITIAL_BPS: f64 = 4e6;
/// The rate never goes below this.
pub(crate) const MIN_BPS: f64 = 200e3;
/// Growth per round in start-up: by the time a queue shows (a round
/// later) the path has had a round at up to this many times its rate.
const STARTUP_GAIN: f64 = 1.25;
/// The start-up's growth a round where the base round trip is under
/// [`FAST_PATH`]: the round (at least [`MIN_ROUND`]) then holds several
/// round trips, and a queue shows within one of them, long before the round
/// ends; a quarter a round took 300 ms of a 64 MiB loopback transfer (from
/// 4 Mbit/s to the gigabits) while the file crawled.
const FAST_STARTUP_GAIN: f64 = 2.0;
/// (netsim's lan, the shortest emulated path, is 1 ms: it keeps the quarter.)
const FAST_PATH: Duration = Duration::from_micros(500);

fn startup_gain(base: Duration) -> f64 {
    if base < FAST_PATH {
        FAST_STARTUP_GAIN
    } else {
        STARTUP_GAIN
    }
}
/// A round lasts a round trip, and at least this long.
const MIN_ROUND: Duration = Duration::from_millis(10);
/// Steady rounds in a row under half the target, deliveries keeping up,
/// that restart the start-up (from a rate cut too far, on a busy host, it
/// would otherwise climb back 4 % a round at best).
const CALM_ROUNDS: u32 = 8;
/// How far the rate may run ahead of the deliveries while growing.
const AHEAD: f64 = 1.05;
/// Growth per round at an empty queue.
const GAIN: f64 = 0.04;
/// The rate while the start-up's overshoot drains, as a share of the
/// deliveries.
const MIN_DRAIN: f64 = 0.3;
/// Start-up ends at once when a round's deliveries are under this share of
/// what was sent (a round under 0.92 of it must be followed by another).
const FAR_BEHIND: f64 = 0.8;
/// Calm rounds restart the start-up only from under this share of the best
/// round's deliveries: at the path's rate it would only overshoot.
const RESTART_SHARE: f64 = 0.5;
/// Rounds whose deliveries make the bottleneck estimate.
const BANDWIDTH_ROUNDS: usize = 4;
/// The same, acknowledged in order: a stall moves up to a round's bytes
/// into the next round, which over four rounds read as a path a quarter
/// faster (and the rate went past it).
const IN_ORDER_BANDWIDTH_ROUNDS: usize = 8;
/// Bytes that may go at once after an idle or late wake-up, at most
/// ([`BURST_TIME`] of the rate when that is more).
const BURST: f64 = 64.0 * 1024.0;
/// tokio's timer wakes on whole milliseconds, often a millisecond late: a
/// credit under two of them caps the rate at the credit per wake-up
/// (64 KiB a millisecond held lan at about 470 Mbit/s).
const BURST_TIME: f64 = 0.002;
/// Pieces are about this long at the current rate: the serialization of one
/// piece is in every round-trip sample.
const PIECE_TIME: f64 = 0.002;
const MIN_PIECE: usize = 2 * 1024;
const MAX_PIECE: usize = 16 * 1024;
/// Unacknowledged pieces remembered, at most (older ones are forgotten:
/// their acknowledgement then gives no sample).
const MAX_MARKS: usize = 4096;
/// In flight without acknowledgement, at most: this many round trips at the
/// current rate (a loss stalls delivery for one or two), plus a margin.
const FLIGHT_ROUNDS: f64 = 4.0;
const FLIGHT_MARGIN: u64 = 64 * 1024;
/// Rounds with fewer round-trip samples read only a large queue.
const BLIND_SAMPLES: u32 = 4;
/// The round trip the flight is sized on, at least: an acknowledgement's
/// batching and a late timer's.
const MIN_FLIGHT_RTT: Duration = Duration::from_millis(2);
/// and never more than this: the receiver holds what arrives past a gap,
/// up to twice as much ([`crate::file_ack::MAX_AHEAD`]).
const MAX_FLIGHT: u64 = 16 * 1024 * 1024;
/// An in-order controller's start-up neither grows nor ends until a round
/// delivers this share of the rate sent (or for this many rounds at most):
/// TCP's slow start from its initial window holds the first round trips
/// (at 100 ms a 4 Mbit/s start waited in the kernel two rounds, at 600 ms
/// five), and what waits reads as a queue.
const IN_ORDER_CAUGHT_UP: f64 = 0.8;
const IN_ORDER_BLIND_ROUNDS: u32 = 10;
/// Samples in a row over the target that end an in-order start-up (a
/// stall of several round trips gave three, a queue delays them all).
const IN_ORDER_HIGH_SAMPLES: u32 = 8;
/// With the flight full and no acknowledgement for this long, one piece may
/// go anyway (lost acknowledgements must not stop the transfer).
const STALL_PROBE: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    StartUp,
    Drain,
    Steady,
}

#[derive(Debug, Clone, Copy)]
struct DrainTo {
    flight: u64,
    bps: f64,
    /// Round ends seen while draining (the drain gives up after two).
    rounds: u32,
}

#[derive(Debug)]
struct Round {
    /// The round ends when this many bytes are delivered.
    until: u64,
    started: Instant,
    received_at_start: u64,
    sent_at_start: u64,
    min_rtt: Option<Duration>,
    /// Round-trip samples taken.
    samples: u32,
    /// The sender ran out of data during the round.
    app_limited: bool,
}

/// Rate and pacing state of one file stream.
#[derive(Debug)]
pub struct FileRate {
    rate_bps: f64,
    phase: Phase,
    base: BaseDelay,
    srtt: Option<Duration>,
    sent: u64,
    received: u64,
    /// The last acknowledgement, or piece sent past a full flight.
    stall_clock: Option<Instant>,
    /// Pieces not yet acknowledged: (bytes sent after it, when).
    marks: VecDeque<(u64, Instant)>,
    round: Option<Round>,
    /// Bytes delivered and time taken in each of the last rounds.
    delivery: VecDeque<(u64, Duration)>,
    /// The fastest round's delivery rate, bits per second.
    best_round_bps: f64,
    /// The lowest sample of the round before.
    last_min_rtt: Option<Duration>,
    /// Steady rounds in a row with hardly any queue.
    calm_rounds: u32,
    /// The rate was just cut: the next round's samples predate it.
    hold: bool,
    /// After the start-up: the rate to resume at once the flight is down
    /// to the path's product, and that flight.
    drain_to: Option<DrainTo>,
    /// Start-up rounds in a row whose deliveries fell behind.
    behind_rounds: u32,
    /// The rate of the round before (what the bytes delivered now were sent at).
    sending_bps: f64,
    /// Pacing clock: when the next byte may go.
    next: Option<Instant>,
    /// Acknowledgements count only in-order deliveries (TCP, under the
    /// relay): see [`FileRate::in_order`].
    in_order: bool,
    /// Rounds ended with a measure of the deliveries.
    rounds: u32,
    /// Round-trip samples in a row a target over the base.
    high_samples: u32,
    /// In order: TCP's slow start no longer holds the rate.
    caught_up: bool,
}

impl Default for FileRate {
    fn default() -> Self {
        Self::new()
    }
}

impl FileRate {
    /// A controller at its initial rate.
    pub fn new() -> Self {
        Self {
            rate_bps: INITIAL_BPS,
            phase: Phase::StartUp,
            base: BaseDelay::default(),
            srtt: None,
            sent: 0,
            received: 0,
            stall_clock: None,
            marks: VecDeque::new(),
            round: None,
            delivery: VecDeque::new(),
            best_round_bps: 0.0,
            hold: false,
            drain_to: None,
            behind_rounds: 0,
            calm_rounds: 0,
            last_min_rtt: None,
            sending_bps: INITIAL_BPS,
            next: None,
            in_order: false,
            rounds: 0,
            high_samples: 0,
            caught_up: false,
        }
    }

    /// A controller whose acknowledgements count only what a TCP receiver
    /// delivered in order (the relay). Behind each lost packet on either
    /// way, deliveries and acknowledgements stop for a round trip or more,
    /// and then come in a burst: a single late sample is no queue, and a
    /// round's deliveries under what was sent are no sign of the path's
    /// rate. So the start-up ends on a queue seen over whole rounds (the
    /// lowest sample of two) or in many samples in a row, never on a few
    /// or on deliveries that fell behind; and it neither grows nor ends in
    /// the first rounds: TCP's own slow start, from its initial window,
    /// holds them.
    pub fn in_order() -> Self {
        Self {
            in_order: true,
            ..Self::new()
        }
    }

    /// The rate the file may use, bits per second.
    pub fn rate_bps(&self) -> f64 {
        self.rate_bps
    }

    /// The round trip through the peer's application, smoothed.
    pub fn rtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// Bytes sent and not yet received.
    pub fn in_flight(&self) -> u64 {
        self.sent - self.received
    }

    /// How many bytes the next piece should have.
    pub fn piece_len(&self) -> usize {
        ((self.rate_bps / 8.0 * PIECE_TIME) as usize).clamp(MIN_PIECE, MAX_PIECE)
    }

    fn flight_limit(&self) -> u64 {
        // The base, not the smoothed round trip: that one grows with the
        // queue, and the limit with it. But not under the acknowledgement's
        // own turn-around (the receiver batches a millisecond, timers wake a
        // millisecond late): on loopback, a base of 50 us held the flight to
        // the margin, and the file to 50 MiB/s on an idle gigabit path.
        let rtt = self
            .base
            .get()
            .map_or(0.1, |r| r.max(MIN_FLIGHT_RTT).as_secs_f64());
        ((self.rate_bps / 8.0 * rtt * FLIGHT_ROUNDS) as u64 + FLIGHT_MARGIN).min(MAX_FLIGHT)
    }

    /// Whether the flight is at its limit: only an acknowledgement (or, on
    /// QUIC, the stall probe of [`FileRate::wait`]) lets the next piece go.
    pub fn flight_full(&self) -> bool {
        self.in_flight() >= self.flight_limit()
    }

    /// How long to wait before the next piece may go (zero: now). The caller
    /// also wakes on an acknowledgement.
    pub fn wait(&self, now: Instant) -> Duration {
        if self.flight_full() {
            let since = self
                .stall_clock
                .map_or(STALL_PROBE, |t| now.saturating_duration_since(t));
            if since < STALL_PROBE {
                return STALL_PROBE - since;
            }
        }
        match self.next {
            Some(t) if t > now => t - now,
            _ => Duration::ZERO,
        }
    }

    /// A piece of `bytes` went out at `now`.
    pub fn on_sent(&mut self, bytes: usize, now: Instant) {
        if self.stall_clock.is_none() || self.in_flight() >= self.flight_limit() {
            self.stall_clock = Some(now);
        }
        self.sent += bytes as u64;
        if self.marks.len() < MAX_MARKS {
            self.marks.push_back((self.sent, now));
        }
        let per_sec = self.rate_bps / 8.0;
        let burst = (per_sec * 0.004).min(BURST.max(per_sec * BURST_TIME));
        let credit = Duration::from_secs_f64(burst / per_sec);
        let floor = now.checked_sub(credit).unwrap_or(now);
        let start = self.next.map_or(floor, |t| t.max(floor));
        self.next = Some(start + Duration::from_secs_f64(bytes as f64 * 8.0 / self.rate_bps));
    }

    /// The peer's acknowledgement (they may arrive out of order: older
    /// counts are ignored).
    pub fn on_ack(&mut self, ack: FileAck, now: Instant) -> Result<(), InvalidAck> {
        let FileAck {
            delivered,
            received,
        } = ack;
        if received > self.sent || delivered > received {
            return Err(InvalidAck {
                delivered,
                received,
                sent: self.sent,
            });
        }
        let was = self.received;
        self.received = self.received.max(received);
        if let Some(d) = self.drain_to
            && self.in_flight() <= d.flight
        {
            // The overshoot has left the queue: back to the path's rate.
            self.drain_to = None;
            self.rate_bps = d.bps.max(MIN_BPS);
            self.hold = true;
        }
        if self.received <= was {
            return Ok(());
        }
        self.stall_clock = Some(now);
        // Samples and rounds follow what arrived, not what was delivered in
        // order: behind a lost packet deliveries stop for a round trip or
        // more, while a start-up or a queue goes on growing. (The pieces
        // past a hole count a hole's bytes early: a packet's time.)
        let mut newest = None;
        while let Some(&(end, at)) = self.marks.front() {
            if end > self.received {
                break;
            }
            newest = Some(at);
            self.marks.pop_front();
        }
        let Some(sent_at) = newest else {
            return Ok(());
        };
        let rtt = now.saturating_duration_since(sent_at);
        tracing::trace!(
            rtt_ms = rtt.as_secs_f64() * 1e3,
            in_flight = self.in_flight(),
            "file rate sample"
        );
        self.base.note(rtt, now);
        self.srtt = Some(self.srtt.map_or(rtt, |s| (s * 7 + rtt) / 8));
        // A start-up round lasts a round trip while the queue it builds
        // grows: a sample a whole target over the base ends it at once (4g:
        // a round sooner, 100 ms less queue; two in a row still left a
        // cluster of inputs at 100-130 ms there). Jitter (4g's 10 ms) is
        // under any target, and samples follow arrivals, not a
        // retransmission.
        // In order, only after TCP's slow start and on many samples in a
        // row: the acknowledgements TCP held behind a retransmission (on
        // either way, sometimes several round trips when a window lost
        // several packets) come late one after another, but few, while a
        // queue delays every one.
        let high = self
            .base
            .get()
            .is_some_and(|base| rtt.saturating_sub(base) > target(base));
        self.high_samples = if high { self.high_samples + 1 } else { 0 };
        let judged =
            !self.in_order || (self.caught_up && self.high_samples >= IN_ORDER_HIGH_SAMPLES);
        if let (Phase::StartUp, Some(base), Some(bottleneck), true) = (
            self.phase,
            self.base.get(),
            self.delivery_bps(),
            high && judged,
        ) {
            self.leave_startup(bottleneck, bottleneck, base);
        }
        match &mut self.round {
            None => self.start_round(now),
            Some(round) => {
                round.min_rtt = Some(round.min_rtt.map_or(rtt, |m| m.min(rtt)));
                round.samples += 1;
                // At least MIN_ROUND long: on a short path a round trip
                // holds a sample or two, and one late acknowledgement or
                // timer would read as queue.
                if self.received >= round.until
                    && now.saturating_duration_since(round.started) >= MIN_ROUND
                {
                    self.end_round(now);
                }
            }
        }
        Ok(())
    }

    /// Start-up overshoots by up to a round or two at 1.25 times the path,
    /// and the queue samples show only what was queued a round ago: what is
    /// in flight past the path's product (and half the target) is queued or
    /// about to be. Drain that within a round, then go on at `resume_bps`.
    fn leave_startup(&mut self, bottleneck: f64, resume_bps: f64, base: Duration) {
        self.behind_rounds = 0;
        self.phase = Phase::Drain;
        let flight = bottleneck / 8.0 * (base + target(base) / 2).as_secs_f64();
        // Never under the floor (a start-up may end on its first samples,
        // with a bottleneck measured on a few bytes).
        if self.in_flight() as f64 > flight {
            self.rate_bps = (bottleneck * MIN_DRAIN).max(MIN_BPS);
            self.drain_to = Some(DrainTo {
                flight: flight as u64,
                bps: resume_bps,
                rounds: 0,
            });
        } else {
            self.rate_bps = resume_bps.max(MIN_BPS);
            self.hold = true;
        }
    }

    /// Bytes received over the last rounds by their time, bits per second.
    fn delivery_bps(&self) -> Option<f64> {
        let (bytes, span) = self
            .delivery
            .iter()
            .fold((0u64, Duration::ZERO), |(b, t), (rb, rt)| (b + rb, t + *rt));
        (!span.is_zero()).then(|| bytes as f64 * 8.0 / span.as_secs_f64().max(1e-3))
    }

    /// The sender has nothing to send: this round's deliveries measure the
    /// application, not the path.
    pub fn on_idle(&mut self) {
        if let Some(round) = &mut self.round {
            round.app_limited = true;
        }
    }

    fn start_round(&mut self, now: Instant) {
        self.round = Some(Round {
            app_limited: false,
            until: self.sent,
            started: now,
            received_at_start: self.received,
            sent_at_start: self.sent,
            min_rtt: None,
            samples: 0,
        });
    }

    fn end_round(&mut self, now: Instant) {
        let Some(round) = self.round.take() else {
            return;
        };
        self.start_round(now);
        let (Some(min_rtt), Some(base)) = (round.min_rtt, self.base.get()) else {
            return;
        };
        // Rounds tile time: over the last few, bytes received over time is
        // the delivery rate (arrivals, so a retransmission stall does not
        // hide what arrived behind the lost packet); while a queue stands,
        // it is the bottleneck's rate.
        let bytes = self.received - round.received_at_start;
        let span = now
            .saturating_duration_since(round.started)
            .max(Duration::from_millis(1));
        let delivered_bps = bytes as f64 * 8.0 / span.as_secs_f64();
        // The file had nothing to send for a while: the round measured the
        // application, not the path (a reply after a pause would otherwise
        // start from the floor). A round of a few small frames (the
        // receiver's credit, while a file comes the other way) measures
        // nothing at all, flagged idle or not (the flag may miss a round):
        // such rounds had set the rate to the credit's own
        // trickle, and the next file this way crawled up from there 4 % a
        // round (3 MiB took 10 s on loopback).
        let sent = self.sent - round.sent_at_start;
        // (A standing queue is news whatever carried it.)
        let few = sent < 8 * self.piece_len() as u64
            && (sent as f64) * 8.0 < 0.25 * self.rate_bps * span.as_secs_f64()
            && min_rtt.saturating_sub(base) <= target(base);
        if few || round.app_limited && self.delivery_bps().is_some_and(|d| delivered_bps < d) {
            return;
        }
        self.rounds = self.rounds.saturating_add(1);
        self.delivery.push_back((bytes, span));
        let rounds = if self.in_order {
            IN_ORDER_BANDWIDTH_ROUNDS
        } else {
            BANDWIDTH_ROUNDS
        };
        while self.delivery.len() > rounds {
            self.delivery.pop_front();
        }
        let bottleneck = self.delivery_bps().unwrap_or(delivered_bps);
        // The lower of this round's and the last one's: on a short path a
        // round holds few samples, and a late timer or acknowledgement in
        // each would read as queue (a real queue lasts two rounds).
        let queue = min_rtt
            .min(self.last_min_rtt.replace(min_rtt).unwrap_or(min_rtt))
            .saturating_sub(base);
        let target = target(base);
        // A round of a sample or two (a rate near the floor) cannot tell a
        // queue of a few milliseconds from a late timer: only a queue well
        // past the target counts then. Otherwise the noise of a busy host
        // (netsim's lan: 1 ms over a 2.4 ms base) held the rate at the
        // floor for good, every round reading as a queue at half the target.
        let queue = if round.samples < BLIND_SAMPLES && queue < 2 * target {
            Duration::ZERO
        } else {
            queue
        };
        let rate = delivered_bps;
        // The bytes delivered over this round were sent at the rate set a
        // round before: the path kept up with it, or not (a round of a few
        // pieces measures nothing). That rate is a measure only once a round
        // has been: the first one may have been held by QUIC's own initial
        // window (a satellite start-up ended in its first round).
        let measured = bytes >= 8 * self.piece_len() as u64 && self.best_round_bps > 0.0;
        let fell_behind = measured && rate < 0.92 * self.sending_bps;
        let during = self.rate_bps;
        self.best_round_bps = self.best_round_bps.max(rate);
        // Sending at this share of the bottleneck for a round drains the queue.
        let drain = base.as_secs_f64() / (base + queue).as_secs_f64();
        // After a cut the queue samples of the next round were sent before
        // it: skip them.
        let hold = std::mem::take(&mut self.hold);
        if let Some(d) = &mut self.drain_to {
            d.rounds += 1;
            if d.rounds > 2 {
                self.rate_bps = d.bps;
                self.drain_to = None;
            }
        }
        match self.phase {
            _ if hold || self.drain_to.is_some() => {}
            Phase::StartUp => {
                // Out at the first sign of a queue: the round in flight
                // already carries a quarter more.
                // Deliveries far under what was sent, or under it in two
                // rounds running: one short round on a lossy path is noise.
                self.behind_rounds = if fell_behind {
                    self.behind_rounds + 1
                } else {
                    0
                };
                let far_behind = fell_behind && rate < FAR_BEHIND * self.sending_bps;
                let behind = !self.in_order && (far_behind || self.behind_rounds >= 2);
                // The queue of two rounds: on a lossy path one round's
                // lowest sample may wait for a retransmission; the flight
                // drained below makes up for the round this waits.
                // (In order, TCP's slow start holds the first rounds, not
                // the path: they end nothing.)
                self.caught_up |= rate >= IN_ORDER_CAUGHT_UP * self.sending_bps
                    || self.rounds > IN_ORDER_BLIND_ROUNDS;
                let blind = self.in_order && !self.caught_up;
                if !blind && (queue * 2 > target || behind) {
                    self.leave_startup(bottleneck, bottleneck * drain, base);
                } else if self.in_order {
                    // Deliveries behind a stall say nothing of the path: a
                    // round under the best one holds the rate, never cuts it.
                    let g = startup_gain(base);
                    let grown = (self.rate_bps * g).min(self.best_round_bps * g * g);
                    if !blind {
                        self.rate_bps = self.rate_bps.max(grown);
                    }
                } else {
                    // The deliveries of a round are what was sent a round
                    // before: a quarter past them would grow by only 12 %
                    // a round (broadband's 47 Mbit/s took a second).
                    let g = startup_gain(base);
                    self.rate_bps = (self.rate_bps * g).min(self.best_round_bps * g * g);
                }
            }
            Phase::Drain if queue > target => {
                // Still there after a cut and a round: a real queue. Drain it
                // within a round.
                self.rate_bps = self.rate_bps.min(bottleneck * drain);
                self.hold = true;
            }
            Phase::Steady if queue * 2 > target * 3 => {
                // Down towards the target, by 15 % at most: one round's
                // queue may be a stall, and a real one shows again.
                self.phase = Phase::Drain;
                let towards = (base + target).as_secs_f64() / (base + queue).as_secs_f64();
                self.rate_bps *= towards.max(0.85);
                self.hold = true;
            }
            Phase::Drain | Phase::Steady => {
                // Probe up to 4 % past the bottleneck at an empty queue, hold
                // at half the target, ease off above it.
                self.phase = Phase::Steady;
                let room = 1.0 - 2.0 * queue.as_secs_f64() / target.as_secs_f64();
                let factor = (1.0 + GAIN * room).max(1.0 - GAIN);
                // Under half the target the path has room: grow from our own
                // rate (the deliveries lag it by a round or more, and on a
                // lossy path by their stalls); above it, from the deliveries,
                // which then are the bottleneck's rate.
                let from = if queue * 2 < target {
                    // But not far past them: they catch up within a round
                    // or two on a clean path, and a queue shows that late.
                    self.rate_bps.max(bottleneck).min(bottleneck * AHEAD)
                } else {
                    bottleneck
                };
                self.rate_bps = from * factor;
                // A start-up that ended on a stall or a late timer, a rate
                // cut too far, or a path that got faster: rounds in a row
                // under half the target while the deliveries keep up start
                // it again.
                self.calm_rounds = if queue * 2 < target && !fell_behind {
                    self.calm_rounds + 1
                } else {
                    0
                };
                if self.calm_rounds >= CALM_ROUNDS
                    && self.rate_bps < RESTART_SHARE * self.best_round_bps
                {
                    self.calm_rounds = 0;
                    self.phase = Phase::StartUp;
                }
            }
        }
        self.sending_bps = during;
        tracing::debug!(
            queue_ms = queue.as_secs_f64() * 1e3,
            base_ms = base.as_secs_f64() * 1e3,
            delivered_mbps = delivered_bps / 1e6,
            bottleneck_mbps = bottleneck / 1e6,
            rate_mbps = self.rate_bps / 1e6,
            phase = ?self.phase,
            in_flight = self.in_flight(),
            "file rate round"
        );
        // Not far past what the path delivered: with nothing to send, the
        // rate would grow without evidence.
        let ceiling = (2.0 * bottleneck).max(INITIAL_BPS);
        self.rate_bps = self.rate_bps.min(ceiling).max(MIN_BPS);
        // A round the file ran dry in, with no queue, is no reason to slow
        // down: the deliveries followed the application (the demo's applet
        // encodes between its pumps), and a rate that followed them down
        // stayed there, the next rounds measuring only itself (a reply of
        // 3 MiB took 10 to 40 s on loopback).
        if round.app_limited && queue <= target {
            self.rate_bps = self.rate_bps.max(during);
        }
    }
}

#[cfg(test)]
mod tests;
