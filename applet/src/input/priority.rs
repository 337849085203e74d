//! APPLET-3, "customer first": while the customer moves their own mouse or
//! types on their own keyboard, the technician's input waits (it is
//! dropped, not queued) until they have been still for a moment. The
//! applet samples the pointer and the keyboard a few times a second; what
//! the technician's own injection caused is not the customer's.

use std::time::{Duration, Instant};

use crate::error::AppletError;

/// How long the technician's input waits after the customer's last move.
pub const HOLD: Duration = Duration::from_secs(1);
/// Keys seen down this soon after an injected key are the technician's.
const OWN_KEYS: Duration = Duration::from_millis(250);
/// The X server may answer a sample before it has applied an injected
/// move (another connection): positions this soon after are not judged.
const OWN_MOVE: Duration = Duration::from_millis(150);

/// Who has the mouse and keyboard when both act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// The customer's own activity suspends the technician's input.
    Customer,
    /// The technician's input always goes.
    Technician,
}

/// What the desktop's input looks like now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Pointer position, screen pixels.
    pub pointer: (i32, i32),
    /// Whether any key is down.
    pub any_key: bool,
}

/// Reads the desktop's pointer and keyboard.
pub trait ActivityProbe: Send {
    /// One sample.
    fn sample(&mut self) -> Result<Sample, AppletError>;
}

/// Decides, sample by sample, whether the technician's input may go.
#[derive(Debug)]
pub struct CustomerFirst {
    priority: Priority,
    /// Where the pointer should be if only the technician moved it.
    expected: Option<(i32, i32)>,
    last_own_move: Option<Instant>,
    last_own_key: Option<Instant>,
    held_until: Option<Instant>,
}

impl CustomerFirst {
    /// A judge for `priority`.
    pub fn new(priority: Priority) -> Self {
        Self {
            priority,
            expected: None,
            last_own_move: None,
            last_own_key: None,
            held_until: None,
        }
    }

    /// The technician moved the pointer there.
    pub fn injected_pointer(&mut self, at: (i32, i32), now: Instant) {
        self.expected = Some(at);
        self.last_own_move = Some(now);
    }

    /// The technician pressed or released a key.
    pub fn injected_key(&mut self, now: Instant) {
        self.last_own_key = Some(now);
    }

    /// Looks at a sample; true when it shows the customer acting (the
    /// technician's input then waits for `HOLD`).
    pub fn observe(&mut self, s: Sample, now: Instant) -> bool {
        let settling = self
            .last_own_move
            .is_some_and(|t| now.duration_since(t) < OWN_MOVE);
        let moved = !settling && self.expected.is_some_and(|e| e != s.pointer);
        if !settling {
            self.expected = Some(s.pointer);
        }
        let typed = s.any_key
            && self
                .last_own_key
                .is_none_or(|t| now.duration_since(t) > OWN_KEYS);
        let active = moved || typed;
        if active && self.priority == Priority::Customer {
            self.held_until = Some(now + HOLD);
        }
        active
    }

    /// Whether the technician's input may go now.
    pub fn technician_may(&self, now: Instant) -> bool {
        self.held_until.is_none_or(|t| now >= t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: i32, y: i32) -> Sample {
        Sample {
            pointer: (x, y),
            any_key: false,
        }
    }

    #[test]
    fn the_customer_moving_holds_the_technician_back() {
        let t0 = Instant::now();
        let mut j = CustomerFirst::new(Priority::Customer);
        assert!(!j.observe(at(10, 10), t0), "the first sample is a baseline");
        j.injected_pointer((50, 50), t0);
        assert!(
            !j.observe(at(10, 10), t0 + Duration::from_millis(10)),
            "not applied yet: not the customer"
        );
        let t1 = t0 + Duration::from_millis(200);
        assert!(!j.observe(at(50, 50), t1), "the technician's own move");
        assert!(j.technician_may(t1));
        assert!(j.observe(at(52, 50), t1), "the customer's move");
        assert!(!j.technician_may(t1 + HOLD / 2));
        assert!(j.technician_may(t1 + HOLD));
        let t0 = t1;
        // Keys: the technician's own, then the customer's.
        j.injected_key(t0);
        let key = Sample {
            pointer: (52, 50),
            any_key: true,
        };
        assert!(!j.observe(key, t0 + Duration::from_millis(100)));
        assert!(j.observe(key, t0 + Duration::from_secs(2)));
        assert!(!j.technician_may(t0 + Duration::from_secs(2)));
    }

    #[test]
    fn technician_first_never_holds_back() {
        let t0 = Instant::now();
        let mut j = CustomerFirst::new(Priority::Technician);
        j.observe(at(0, 0), t0);
        assert!(j.observe(at(5, 5), t0));
        assert!(j.technician_may(t0));
    }
}
