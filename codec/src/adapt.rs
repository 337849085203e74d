//! Resolution adaptation: scale the picture down when the encoder cannot
//! keep up with the frame interval, and back up when it clearly can.
//! Sans-IO: fed the time each frame took, it answers with the size to use.

use std::time::Duration;

/// Scale steps, as a fraction of the screen's size (numerator / 4).
const STEPS: [u32; 3] = [4, 3, 2];
/// Weight of the newest frame in the moving average.
const ALPHA: f64 = 0.2;
/// Frames at a level before it may change again (hysteresis).
const SETTLE_DOWN: u32 = 6;
const SETTLE_UP: u32 = 60;

#[derive(Debug, Clone)]
pub struct ResolutionAdapter {
    native: (u32, u32),
    budget: Duration,
    level: usize,
    average_ms: Option<f64>,
    frames_at_level: u32,
    enabled: bool,
}

impl ResolutionAdapter {
    /// `budget`: the time one frame may take (the frame interval).
    pub fn new(native: (u32, u32), budget: Duration, enabled: bool) -> Self {
        Self {
            native,
            budget,
            level: 0,
            average_ms: None,
            frames_at_level: 0,
            enabled,
        }
    }

    /// The screen's size changed: start again at full size.
    pub fn set_native(&mut self, native: (u32, u32)) {
        if native != self.native {
            self.native = native;
            self.level = 0;
            self.average_ms = None;
            self.frames_at_level = 0;
        }
    }

    /// Starts at a given level (from the start-up self-test).
    pub fn start_at(&mut self, size: (u32, u32)) {
        self.level = (0..STEPS.len())
            .find(|&l| self.size_at(l) == size)
            .unwrap_or(0);
    }

    pub fn target(&self) -> (u32, u32) {
        self.size_at(self.level)
    }

    fn size_at(&self, level: usize) -> (u32, u32) {
        scaled(self.native, STEPS[level])
    }

    fn area(&self, level: usize) -> f64 {
        let (w, h) = self.size_at(level);
        f64::from(w) * f64::from(h)
    }

    /// Records how long a frame took at the current size; returns the new
    /// size when it should change.
    pub fn observe(&mut self, took: Duration) -> Option<(u32, u32)> {
        let ms = took.as_secs_f64() * 1000.0;
        let avg = match self.average_ms {
            Some(a) => a + ALPHA * (ms - a),
            None => ms,
        };
        self.average_ms = Some(avg);
        self.frames_at_level += 1;
        if !self.enabled {
            return None;
        }
        let budget = self.budget.as_secs_f64() * 1000.0;
        let next = if avg > 0.9 * budget
            && self.frames_at_level >= SETTLE_DOWN
            && self.level + 1 < STEPS.len()
        {
            self.level + 1
        } else if self.level > 0
            && self.frames_at_level >= SETTLE_UP
            && avg * self.area(self.level - 1) / self.area(self.level) < 0.6 * budget
        {
            self.level - 1
        } else {
            return None;
        };
        // Carry the average over, scaled by the area, so the next decision
        // does not start from nothing.
        self.average_ms = Some(avg * self.area(next) / self.area(self.level));
        self.level = next;
        self.frames_at_level = 0;
        Some(self.target())
    }
}

/// `size` times `quarters / 4`, even sides (4:2:0), at least 16 pixels.
pub fn scaled(size: (u32, u32), quarters: u32) -> (u32, u32) {
    let f = |v: u32| ((v * quarters / 4) & !1).max(16).min(v.max(16));
    (f(size.0), f(size.1))
}

/// The sizes the adapter can choose, largest first.
pub fn candidate_sizes(native: (u32, u32)) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = STEPS.iter().map(|&q| scaled(native, q)).collect();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: Duration = Duration::from_millis(33);

    #[test]
    fn slow_frames_scale_down_then_fast_frames_scale_up() {
        let mut a = ResolutionAdapter::new((1920, 1080), BUDGET, true);
        let mut changes = Vec::new();
        for _ in 0..10 {
            if let Some(s) = a.observe(Duration::from_millis(50)) {
                changes.push(s);
            }
        }
        assert_eq!(changes.first(), Some(&(1440, 810)));
        let down = a.target();
        for _ in 0..200 {
            a.observe(Duration::from_millis(4));
        }
        assert!(a.target().0 > down.0, "went back up: {:?}", a.target());
    }

    #[test]
    fn steady_frames_within_budget_stay() {
        let mut a = ResolutionAdapter::new((1280, 720), BUDGET, true);
        for _ in 0..100 {
            assert_eq!(a.observe(Duration::from_millis(20)), None);
        }
        assert_eq!(a.target(), (1280, 720));
    }

    #[test]
    fn disabled_never_moves() {
        let mut a = ResolutionAdapter::new((1280, 720), BUDGET, false);
        for _ in 0..100 {
            assert_eq!(a.observe(Duration::from_millis(200)), None);
        }
    }

    #[test]
    fn sizes_are_even() {
        assert_eq!(scaled((1366, 768), 3), (1024, 576));
        assert_eq!(scaled((1919, 1079), 4), (1918, 1078));
        assert_eq!(candidate_sizes((1920, 1080)).len(), 3);
    }
}
