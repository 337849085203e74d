//! Damage detection: which tiles of the screen changed since the last frame.
//! Nothing changed means nothing is encoded and nothing is sent.
//!
//! The tracker keeps its own copy of the last frame and compares tile by
//! tile (row slices, which the compiler turns into `memcmp`). A capture
//! backend that knows what changed (XDamage) passes its rectangles as hints
//! and only those tiles are compared; the comparison still decides, so a
//! hint that covers unchanged pixels costs nothing downstream.

use crate::frame::{BgraFrame, Rect};

/// Tile side in pixels: small enough that a caret blinking damages little,
/// large enough that the bookkeeping stays negligible at 1080p (510 tiles).
pub const DEFAULT_TILE: u32 = 64;

/// What changed in one frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Damage {
    /// Changed areas, tile-aligned and merged (left to right, top to bottom).
    pub rects: Vec<Rect>,
    /// The whole frame is new (first frame, size change, reset).
    pub full: bool,
}

impl Damage {
    pub fn is_empty(&self) -> bool {
        !self.full && self.rects.is_empty()
    }

    /// Pixels covered.
    pub fn area(&self) -> u64 {
        self.rects.iter().map(Rect::area).sum()
    }
}

/// Compares each frame with the previous one.
#[derive(Debug)]
pub struct DamageTracker {
    tile: u32,
    previous: Option<BgraFrame>,
}

impl Default for DamageTracker {
    fn default() -> Self {
        Self::new(DEFAULT_TILE)
    }
}

impl DamageTracker {
    pub fn new(tile: u32) -> Self {
        Self {
            tile: tile.max(8),
            previous: None,
        }
    }

    /// Forgets the last frame: the next one is reported as fully damaged.
    pub fn reset(&mut self) {
        self.previous = None;
    }

    /// What changed in `frame` since the last call. `hints` (from the capture
    /// backend) limit the comparison to those areas; `None` compares everything.
    pub fn update(&mut self, frame: &BgraFrame, hints: Option<&[Rect]>) -> Damage {
        let (w, h) = (frame.width(), frame.height());
        let previous = match &mut self.previous {
            Some(p) if p.width() == w && p.height() == h => p,
            _ => {
                self.previous = Some(frame.clone());
                return Damage {
                    rects: vec![Rect::new(0, 0, w, h)],
                    full: true,
                };
            }
        };
        let tile = self.tile;
        let cols = w.div_ceil(tile);
        let rows = h.div_ceil(tile);
        let mut rects: Vec<Rect> = Vec::new();
        for ty in 0..rows {
            let mut run: Option<Rect> = None;
            for tx in 0..cols {
                let r = Rect::new(tx * tile, ty * tile, tile, tile)
                    .clamp_to(w, h)
                    .unwrap_or(Rect::new(0, 0, 0, 0));
                let hinted = hints.is_none_or(|hs| hs.iter().any(|hint| intersects(hint, &r)));
                let dirty = hinted && tile_differs(previous, frame, r);
                if dirty {
                    previous.copy_rect_from(frame, r);
                    run = Some(match run {
                        Some(mut open) => {
                            open.width += r.width;
                            open
                        }
                        None => r,
                    });
                } else if let Some(open) = run.take() {
                    push_merged(&mut rects, open);
                }
            }
            if let Some(open) = run.take() {
                push_merged(&mut rects, open);
            }
        }
        Damage { rects, full: false }
    }
}

fn intersects(a: &Rect, b: &Rect) -> bool {
    a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
}

fn tile_differs(a: &BgraFrame, b: &BgraFrame, r: Rect) -> bool {
    (r.y..r.y + r.height).any(|y| a.span(r.x, y, r.width) != b.span(r.x, y, r.width))
}

/// Adds a row run, growing the rectangle just above it when they line up.
fn push_merged(rects: &mut Vec<Rect>, run: Rect) {
    if let Some(above) = rects
        .iter_mut()
        .rev()
        .find(|a| a.x == run.x && a.width == run.width && a.y + a.height == run.y)
    {
        above.height += run.height;
        return;
    }
    rects.push(run);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(w: u32, h: u32) -> BgraFrame {
        BgraFrame::new(w, h).unwrap()
    }

    #[test]
    fn first_frame_is_full_then_nothing() {
        let mut t = DamageTracker::default();
        let f = frame(200, 100);
        assert!(t.update(&f, None).full);
        assert!(t.update(&f, None).is_empty());
    }

    #[test]
    fn one_pixel_damages_one_tile() {
        let mut t = DamageTracker::new(64);
        let mut f = frame(200, 100);
        t.update(&f, None);
        f.fill_rect(Rect::new(130, 70, 1, 1), [255, 255, 255, 255]);
        let d = t.update(&f, None);
        assert_eq!(d.rects, vec![Rect::new(128, 64, 64, 36)]);
        assert!(t.update(&f, None).is_empty(), "the tracker kept the change");
    }

    #[test]
    fn adjacent_tiles_merge_and_edges_are_cut() {
        let mut t = DamageTracker::new(64);
        let mut f = frame(200, 200);
        t.update(&f, None);
        f.fill_rect(Rect::new(10, 10, 150, 100), [1, 2, 3, 255]);
        let d = t.update(&f, None);
        assert_eq!(d.rects, vec![Rect::new(0, 0, 192, 128)]);
        f.fill_rect(Rect::new(190, 190, 10, 10), [9, 9, 9, 255]);
        assert_eq!(t.update(&f, None).rects, vec![Rect::new(128, 128, 72, 72)]);
    }

    #[test]
    fn hints_limit_the_comparison() {
        let mut t = DamageTracker::new(64);
        let mut f = frame(256, 64);
        t.update(&f, None);
        f.fill_rect(Rect::new(0, 0, 1, 1), [7, 7, 7, 255]);
        f.fill_rect(Rect::new(200, 0, 1, 1), [7, 7, 7, 255]);
        let d = t.update(&f, Some(&[Rect::new(190, 0, 20, 20)]));
        assert_eq!(d.rects, vec![Rect::new(192, 0, 64, 64)]);
        // The unhinted change is found once asked about.
        assert_eq!(t.update(&f, None).rects, vec![Rect::new(0, 0, 64, 64)]);
    }

    #[test]
    fn size_change_is_full() {
        let mut t = DamageTracker::default();
        t.update(&frame(100, 100), None);
        assert!(t.update(&frame(120, 100), None).full);
    }
}
