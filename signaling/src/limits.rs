//! Per-socket bounds of the signaling WebSockets: a message rate, and queue
//! pushes cut into pages that each fit the peers' frame limit.

use std::time::Instant;

use secours_protocol::signaling::ServerMessage;

use crate::sessions::SessionView;

/// A token bucket: `per_s` messages a second, bursts of twice that.
#[derive(Debug)]
pub struct Rate {
    per_s: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Rate {
    /// A full bucket.
    pub fn per_second(per_s: u32) -> Self {
        let per_s = f64::from(per_s.max(1));
        Self {
            per_s,
            burst: per_s * 2.0,
            tokens: per_s * 2.0,
            last: Instant::now(),
        }
    }

    /// Takes a token for one message; false when the peer is over its rate.
    pub fn allow(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_s;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Room left in a frame for a page's envelope (`type`, `page`, `pages`).
const ENVELOPE: usize = 128;

/// The `queue` messages of a queue: `{"type":"queue","sessions":[...],
/// "page":i,"pages":n}`, each at most `max_bytes` serialised (an entry is
/// bounded far below it by the field limits). An empty queue is one page.
pub fn queue_pages(queue: Vec<SessionView>, max_bytes: usize) -> Vec<ServerMessage> {
    let budget = max_bytes.saturating_sub(ENVELOPE);
    let mut pages: Vec<Vec<SessionView>> = vec![Vec::new()];
    let mut used = 0;
    for v in queue {
        let len = serde_json::to_string(&v).map_or(max_bytes, |t| t.len()) + 1;
        if used + len > budget && pages.last().is_some_and(|p| !p.is_empty()) {
            pages.push(Vec::new());
            used = 0;
        }
        used += len;
        if let Some(p) = pages.last_mut() {
            p.push(v);
        }
    }
    let n = u32::try_from(pages.len()).unwrap_or(u32::MAX);
    pages
        .into_iter()
        .zip(1..)
        .map(|(sessions, page)| ServerMessage::Queue {
            sessions,
            page,
            pages: n,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(i: usize, fields: usize) -> SessionView {
        SessionView {
            id: format!("{i:032x}"),
            kind: "channel".into(),
            state: "waiting".into(),
            channel_id: Some(1),
            tech_id: None,
            group_id: None,
            customer_name: "\"".repeat(100),
            customer_fields: "\"".repeat(fields),
            created_at: 0,
            waiting_since: Some(0),
            picked_at: None,
            expires_at: None,
            close_reason: None,
            is_test: false,
        }
    }

    #[test]
    fn pages_fit_the_frame_and_keep_every_session() {
        let q: Vec<_> = (0..40).map(|i| session(i, 4096)).collect();
        let pages = queue_pages(q, 16 * 1024);
        assert!(pages.len() > 1);
        let mut seen = 0;
        for p in &pages {
            let text = serde_json::to_string(p).unwrap();
            assert!(text.len() <= 16 * 1024, "{}", text.len());
            let ServerMessage::Queue {
                sessions, pages: n, ..
            } = p
            else {
                panic!("not a queue page")
            };
            assert_eq!(*n as usize, pages.len());
            seen += sessions.len();
        }
        assert_eq!(seen, 40);
        assert!(matches!(
            &queue_pages(Vec::new(), 16 * 1024)[..],
            [ServerMessage::Queue { sessions, page: 1, pages: 1 }] if sessions.is_empty()
        ));
    }

    #[test]
    fn a_burst_then_the_rate() {
        let mut r = Rate::per_second(10);
        let allowed = (0..100).filter(|_| r.allow()).count();
        assert!((20..100).contains(&allowed), "{allowed}");
    }
}
