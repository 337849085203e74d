//! The file rate against an emulated bottleneck, on virtual time.

#![allow(clippy::unwrap_used)]
use super::*;

fn both(n: u64) -> FileAck {
    FileAck {
        delivered: n,
        received: n,
    }
}

/// A bottleneck of `capacity` bits/s, one-way delay `base / 2` each way,
/// and every `stall_every`-th piece (if any) held back a further round
/// trip with all pieces behind it (a retransmission); `in_order`: the
/// receiver tells only what it delivered (TCP, under the relay). Returns
/// the utilisation and the worst queue over the last `tail` seconds.
#[allow(clippy::too_many_arguments)]
fn run(
    r: &mut FileRate,
    in_order: bool,
    base: Duration,
    capacity: f64,
    stall_every: Option<u64>,
    secs: f64,
    tail: f64,
) -> (f64, Duration) {
    let t0 = Instant::now();
    let step = Duration::from_micros(250);
    let half = base / 2;
    let mut queue: VecDeque<(u64, f64)> = VecDeque::new(); // (end, bits left)
    // At the receiver: (arrives, delivered, end, bytes).
    let mut arriving: VecDeque<(Instant, Instant, u64, u64)> = VecDeque::new();
    let mut acks: VecDeque<(Instant, FileAck)> = VecDeque::new();
    let mut ack = FileAck {
        delivered: 0,
        received: 0,
    };
    let mut queue_bits = 0.0f64;
    let (mut sent, mut pieces, mut delivered_bits, mut worst) = (0u64, 0u64, 0.0, Duration::ZERO);
    let mut held_until: Option<Instant> = None;
    let mut sizes = VecDeque::new();
    let mut now = t0;
    while now.duration_since(t0).as_secs_f64() < secs {
        while r.wait(now).is_zero() {
            let n = r.piece_len();
            r.on_sent(n, now);
            sent += n as u64;
            queue.push_back((sent, n as f64 * 8.0));
            sizes.push_back(n as u64);
            queue_bits += n as f64 * 8.0;
        }
        let mut budget = capacity * step.as_secs_f64();
        let measuring = now.duration_since(t0).as_secs_f64() >= secs - tail;
        while budget > 0.0 {
            let Some(front) = queue.front_mut() else {
                break;
            };
            let take = front.1.min(budget);
            front.1 -= take;
            budget -= take;
            queue_bits -= take;
            if measuring {
                delivered_bits += take;
            }
            if front.1 <= 0.0 {
                let end = front.0;
                queue.pop_front();
                pieces += 1;
                let arrives = now + half;
                let mut delivered = arrives;
                if stall_every.is_some_and(|k| pieces % k == 0) {
                    // This one is lost and resent a round trip later:
                    // it arrives then, and holds back all behind it.
                    held_until = Some(arrives + base);
                }
                if let Some(h) = held_until {
                    delivered = delivered.max(h);
                }
                let bytes = sizes.pop_front().unwrap();
                arriving.push_back((arrives, delivered, end, bytes));
            }
        }
        let mut changed = false;
        for (arrives, _, _, bytes) in arriving.iter_mut() {
            if *arrives <= now && *bytes > 0 {
                ack.received += *bytes;
                *bytes = 0;
                changed = true;
            }
        }
        while arriving
            .front()
            .is_some_and(|(_, delivered, _, bytes)| *delivered <= now && *bytes == 0)
        {
            let (_, _, end, _) = arriving.pop_front().unwrap();
            ack.delivered = end;
            changed = true;
        }
        if changed {
            // An in-order receiver (TCP) tells only what it delivered.
            let told = if in_order { both(ack.delivered) } else { ack };
            acks.push_back((now + half, told));
        }
        while acks.front().is_some_and(|(at, _)| *at <= now) {
            let (_, ack) = acks.pop_front().unwrap();
            r.on_ack(ack, now).unwrap();
        }
        if measuring {
            worst = worst.max(Duration::from_secs_f64(queue_bits / capacity));
        }
        now += step;
    }
    (delivered_bits / tail / capacity, worst)
}

#[test]
fn a_pause_in_the_file_keeps_the_rate() {
    let mut r = FileRate::new();
    let base = Duration::from_millis(40);
    run(&mut r, false, base, 10e6, None, 5.0, 1.0);
    let before = r.rate_bps();
    assert!(before > 8e6, "{before}");
    // Then the application sends a piece a round trip, no more.
    let mut at = Instant::now() + Duration::from_secs(10);
    for _ in 0..40 {
        r.on_idle();
        r.on_sent(1000, at);
        at += base;
        r.on_ack(both(r.sent), at).unwrap();
    }
    assert!(
        r.rate_bps() > 0.8 * before,
        "{} from {before}",
        r.rate_bps()
    );
}

#[test]
fn small_frames_alone_leave_the_start_up_untouched() {
    // A file comes the other way: this side sends only its credit, a
    // few dozen bytes now and then.
    let mut r = FileRate::new();
    let mut at = Instant::now();
    for _ in 0..200 {
        r.on_idle();
        r.on_sent(30, at);
        at += Duration::from_millis(3);
        r.on_ack(both(r.sent), at).unwrap();
    }
    assert_eq!(r.phase, Phase::StartUp);
    assert!(r.rate_bps() >= INITIAL_BPS, "{}", r.rate_bps());
    // A file then goes this way, on a path without a bottleneck (1 ms
    // round trip): it starts up as a fresh one would, not 4 % a round
    // from the credit's trickle.
    let end = at + Duration::from_secs(1);
    let mut now = at;
    let mut acks = VecDeque::new();
    while now < end {
        while r.wait(now).is_zero() {
            r.on_sent(r.piece_len(), now);
            acks.push_back((now + Duration::from_millis(1), r.sent));
        }
        while let Some(&(t, sent)) = acks.front() {
            if t > now {
                break;
            }
            r.on_ack(both(sent), now).unwrap();
            acks.pop_front();
        }
        now += Duration::from_micros(250);
    }
    assert!(r.rate_bps() > 100e6, "{}", r.rate_bps());
}

#[test]
fn keeps_the_bottleneck_busy_and_its_queue_short() {
    for (base_ms, capacity) in [(40, 10e6), (100, 5e6), (20, 30e6), (4, 200e6)] {
        let mut r = FileRate::new();
        let base = Duration::from_millis(base_ms);
        let (util, queue) = run(&mut r, false, base, capacity, None, 15.0, 5.0);
        assert!(
            util > 0.93,
            "{base_ms} ms, {capacity}: utilisation {util:.3}"
        );
        let bound = target(base) * 3 / 2 + Duration::from_millis(3);
        assert!(queue <= bound, "{base_ms} ms, {capacity}: queue {queue:?}");
    }
}

#[test]
fn retransmission_stalls_are_not_queue() {
    let mut r = FileRate::new();
    let base = Duration::from_millis(20);
    // A stall about every 30 ms at 30 Mbit/s (pieces are ~7.5 KB).
    let (util, _) = run(&mut r, false, base, 30e6, Some(15), 15.0, 5.0);
    assert!(util > 0.85, "utilisation {util:.3}");
}

#[test]
fn in_order_acknowledgements_through_stalls_fill_the_path() {
    // The relay's TCP: deliveries stop at each retransmission (1 % of
    // pieces), which must not hold the rate far under the path.
    for (base_ms, capacity, every) in [(100, 20e6, 100), (20, 30e6, 33)] {
        let mut r = FileRate::new();
        let base = Duration::from_millis(base_ms);
        let (util, _) = run(&mut r, true, base, capacity, Some(every), 2.0, 1.0);
        assert!(util > 0.85, "{base_ms} ms: utilisation {util:.3}");
    }
}

#[test]
fn a_standing_queue_cuts_the_rate_to_its_floor() {
    let mut r = FileRate::new();
    let t = Instant::now();
    let mut at = t;
    r.on_sent(1000, at);
    r.on_ack(both(1000), at + Duration::from_millis(20))
        .unwrap();
    // 40 s: after a minute the base forgets the 20 ms.
    for _ in 0..100 {
        at += Duration::from_millis(400);
        r.on_sent(1000, at);
        r.on_ack(both(r.sent), at + Duration::from_millis(400))
            .unwrap();
    }
    assert_eq!(r.rate_bps(), MIN_BPS);
}

#[test]
fn acknowledgements_are_checked_and_may_come_out_of_order() {
    let mut r = FileRate::new();
    let t = Instant::now();
    r.on_sent(4000, t);
    r.on_sent(4000, t);
    assert_eq!(
        r.on_ack(both(9000), t),
        Err(InvalidAck {
            delivered: 9000,
            received: 9000,
            sent: 8000
        })
    );
    let backwards = FileAck {
        delivered: 5000,
        received: 4000,
    };
    assert!(r.on_ack(backwards, t).is_err());
    r.on_ack(both(8000), t + Duration::from_millis(10)).unwrap();
    r.on_ack(both(4000), t + Duration::from_millis(11)).unwrap();
    assert_eq!(r.in_flight(), 0);
    assert_eq!(r.rtt(), Some(Duration::from_millis(10)));
}

#[test]
fn lost_acknowledgements_do_not_stop_the_transfer() {
    let mut r = FileRate::new();
    let t = Instant::now();
    while r.wait(t).is_zero() {
        r.on_sent(r.piece_len(), t);
    }
    assert!(r.wait(t) > Duration::ZERO);
    assert!(r.wait(t + STALL_PROBE + Duration::from_secs(1)).is_zero());
}

/// A TCP leg under the relay, the way its losses reach the file rate: the
/// receiver tells only what it delivered in order; every `every`-th piece
/// is lost and resent a round trip later (every fifth of those twice: a
/// window that lost several), holding back all behind it; every
/// `every`-th acknowledgement is lost on the way back and resent a round
/// trip later, the ones behind it waiting with it; the acknowledgements
/// that arrive together are read as one, the newest (as the mux reads
/// them). Returns the utilisation and the worst queue over the last
/// `tail` seconds.
fn run_tcp(
    r: &mut FileRate,
    base: Duration,
    capacity: f64,
    every: u64,
    secs: f64,
    tail: f64,
) -> (f64, Duration) {
    let t0 = Instant::now();
    let step = Duration::from_micros(250);
    let half = base / 2;
    let mut queue: VecDeque<(u64, f64)> = VecDeque::new();
    // At the receiver: (delivered at, end).
    let mut arriving: VecDeque<(Instant, u64)> = VecDeque::new();
    let mut acks: VecDeque<(Instant, u64)> = VecDeque::new();
    let mut delivered = 0u64;
    let (mut sent, mut pieces, mut acks_sent) = (0u64, 0u64, 0u64);
    let (mut queue_bits, mut delivered_bits, mut worst) = (0.0f64, 0.0, Duration::ZERO);
    let (mut data_held, mut acks_held): (Option<Instant>, Option<Instant>) = (None, None);
    let mut now = t0;
    while now.duration_since(t0).as_secs_f64() < secs {
        while r.wait(now).is_zero() {
            let n = r.piece_len();
            r.on_sent(n, now);
            sent += n as u64;
            queue.push_back((sent, n as f64 * 8.0));
            queue_bits += n as f64 * 8.0;
        }
        let mut budget = capacity * step.as_secs_f64();
        let measuring = now.duration_since(t0).as_secs_f64() >= secs - tail;
        while budget > 0.0 {
            let Some(front) = queue.front_mut() else {
                break;
            };
            let take = front.1.min(budget);
            front.1 -= take;
            budget -= take;
            queue_bits -= take;
            if measuring {
                delivered_bits += take;
            }
            if front.1 <= 0.0 {
                let end = front.0;
                queue.pop_front();
                pieces += 1;
                let arrives = now + half;
                if pieces % every == 0 {
                    let rounds = if pieces % (5 * every) == 0 { 2 } else { 1 };
                    data_held = Some(arrives + base * rounds);
                }
                let at = data_held.map_or(arrives, |h| h.max(arrives));
                arriving.push_back((at, end));
            }
        }
        let mut changed = false;
        while arriving.front().is_some_and(|(at, _)| *at <= now) {
            let (_, end) = arriving.pop_front().unwrap();
            delivered = end;
            changed = true;
        }
        if changed {
            acks_sent += 1;
            let arrives = now + half;
            if acks_sent % every == 0 {
                acks_held = Some(arrives + base);
            }
            acks.push_back((acks_held.map_or(arrives, |h| h.max(arrives)), delivered));
        }
        let mut newest = None;
        while acks.front().is_some_and(|(at, _)| *at <= now) {
            newest = acks.pop_front().map(|(_, n)| n);
        }
        if let Some(n) = newest {
            r.on_ack(both(n), now).unwrap();
        }
        if measuring {
            worst = worst.max(Duration::from_secs_f64(queue_bits / capacity));
        }
        now += step;
    }
    (delivered_bits / tail / capacity, worst)
}

#[test]
fn an_in_order_rate_fills_a_lossy_tcp_leg_and_keeps_its_queue_short() {
    // The relay's TCP leg on 4g's and lossy Wi-Fi's figures (1 % and 3 %
    // of the packets lost both ways).
    for (base_ms, capacity, every) in [(100, 20e6, 100), (100, 5e6, 100), (20, 30e6, 33)] {
        let mut r = FileRate::in_order();
        let base = Duration::from_millis(base_ms);
        let (util, queue) = run_tcp(&mut r, base, capacity, every, 20.0, 10.0);
        assert!(
            util > 0.9,
            "{base_ms} ms, {capacity}: utilisation {util:.3}"
        );
        // The queue input waits in (on its lanes): under the round trip.
        assert!(queue < base, "{base_ms} ms, {capacity}: queue {queue:?}");
    }
}

#[test]
fn an_in_order_start_up_survives_the_stalls_of_a_lossy_leg() {
    // Where the start-up ends decides how long the file crawls: late
    // acknowledgements read as queue ended it at a tenth of a 20 Mbit/s
    // path, which then took seconds to climb back 4 % a round.
    let mut r = FileRate::in_order();
    let (util, _) = run_tcp(&mut r, Duration::from_millis(100), 20e6, 100, 3.0, 1.0);
    assert!(util > 0.8, "utilisation {util:.3} in the third second");
}
