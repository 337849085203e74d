//! The session driver: runs a sans-IO [`Session`] over a [`Link`] (quinn's
//! `ConnectionDriver` is the model). It feeds the session what the link
//! delivers and the passing time, hands every session event to the
//! application, and writes what the session wants sent, in order, without
//! ever blocking the reads: two peers pushing bulk data at each other never
//! deadlock.
//!
//! Time comes from tokio's clock (`tokio::time::Instant`), so under a
//! paused runtime (`#[tokio::test(start_paused = true)]`) a whole session
//! runs on virtual time, deterministically.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use secours_protocol::session::Event;
use secours_protocol::{Channel, Session};
use secours_transport::{Link, LinkError, LinkEvent, LinkStats, PathInfo};
use tokio::sync::Notify;

/// What an application's handlers may fail with.
pub type AppError = Box<dyn std::error::Error + Send + Sync>;

/// Why a session's drive ended in failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The link failed while the session was open.
    #[error("the link failed under an open session: {0}")]
    Link(#[from] LinkError),
    /// The link closed while the session was open.
    #[error("the link closed under an open session")]
    LinkClosed,
    /// The session did not end within the driver's limit.
    #[error("the session did not finish within {0:?}")]
    Timeout(Duration),
    /// The application refused to go on.
    #[error(transparent)]
    App(AppError),
}

/// A peer's application logic: the console's or the applet's.
pub trait App: Send {
    /// Reacts to one session event.
    fn on_event(
        &mut self,
        session: &mut Session,
        event: Event,
        now: Instant,
    ) -> Result<(), AppError>;

    /// Called on every turn of the loop (push file data, encode a frame,
    /// run a command that arrived). Returns when it wants to be called
    /// again at the latest, or `None` when only events matter.
    fn poll(&mut self, session: &mut Session, now: Instant) -> Result<Option<Instant>, AppError>;

    /// The link's figures, a few times a second (the rate estimate the
    /// video follows).
    fn link_stats(&mut self, _stats: &LinkStats) {}

    /// Our video frames were dropped on the link for being late.
    fn video_dropped(&mut self, _frames: u64) {}
}

/// How often the application hears the link's figures.
const STATS_EVERY: Duration = Duration::from_millis(250);
/// Frames the driver holds for a full link before it stops polling the
/// application for more (the session keeps its own queue behind these).
const MAX_PENDING: usize = 64;

/// The clock: tokio's, so that a paused runtime drives virtual time.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Runs one session over one link.
#[derive(Debug)]
pub struct Driver {
    wake: Arc<Notify>,
    limit: Option<Duration>,
}

impl Default for Driver {
    fn default() -> Self {
        Self::new()
    }
}

impl Driver {
    /// A driver without a time limit.
    pub fn new() -> Self {
        Self {
            wake: Arc::new(Notify::new()),
            limit: None,
        }
    }

    /// Gives up (with [`DriverError::Timeout`]) after `limit`.
    pub fn with_limit(mut self, limit: Duration) -> Self {
        self.limit = Some(limit);
        self
    }

    /// A handle other tasks use to wake the loop when they have handed the
    /// application something (a command typed, a screen captured).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Drives `session` over `link` until it closes; returns the path the
    /// session ended on.
    pub async fn run(
        &self,
        session: &mut Session,
        link: &mut Link,
        app: &mut dyn App,
    ) -> Result<PathInfo, DriverError> {
        let deadline = self.limit.map(|l| now() + l);
        let mut pending: VecDeque<(Channel, Bytes)> = VecDeque::new();
        let mut stats_at = now();
        let sender = link.sender();
        loop {
            let t = now();
            if t >= stats_at {
                app.link_stats(&link.stats());
                stats_at = t + STATS_EVERY;
            }
            if let (Some(d), Some(limit)) = (deadline, self.limit)
                && t >= d
            {
                return Err(DriverError::Timeout(limit));
            }
            let mut app_wake = None;
            if pending.len() < MAX_PENDING {
                app_wake = app.poll(session, t).map_err(DriverError::App)?;
            }
            let closed = deliver_events(session, app)?;
            // The path the session ended on, read before the end goes out
            // (the peer then drops its side, and a connector falls back).
            let path_at_end = closed.then(|| link.path());
            while let Some(tx) = session.poll_transmit() {
                pending.push_back((tx.channel, tx.data));
            }
            while let Some((channel, data)) = pending.pop_front() {
                if !link.try_send(channel, data.clone())? {
                    pending.push_front((channel, data));
                    break;
                }
            }
            if closed {
                // Let the last frames (the end of the session) go out.
                for (channel, data) in pending.drain(..) {
                    link.send(channel, data).await?;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Ok(path_at_end.unwrap_or_else(|| link.path()));
            }
            let mut wake_at = stats_at;
            for w in [session.poll_timeout(), app_wake, deadline]
                .into_iter()
                .flatten()
            {
                wake_at = wake_at.min(w);
            }
            let sleep = tokio::time::sleep_until(wake_at.into());
            let front = pending.front().cloned();
            tokio::select! {
                event = link.recv() => match event {
                    Some(LinkEvent::Data { channel, data }) => session.handle_data(channel, &data, now()),
                    Some(LinkEvent::VideoDropped { frames }) => app.video_dropped(frames),
                    Some(LinkEvent::Closed(error)) => {
                        return link_ended(session, app, error).map(|()| link.path());
                    }
                    None => return link_ended(session, app, None).map(|()| link.path()),
                },
                // The link's queue had no room for the oldest frame: wait
                // for room without stopping the reads.
                sent = async {
                    match &front {
                        Some((channel, data)) => sender.send(*channel, data.clone()).await,
                        None => std::future::pending().await,
                    }
                } => {
                    sent?;
                    pending.pop_front();
                }
                () = sleep => {}
                () = self.wake.notified() => {}
            }
            let t = now();
            if session.poll_timeout().is_some_and(|d| d <= t) {
                session.handle_timeout(t);
            }
        }
    }
}

/// Hands the session's events to the application; `true` once it closed.
fn deliver_events(session: &mut Session, app: &mut dyn App) -> Result<bool, DriverError> {
    let mut closed = false;
    while let Some(event) = session.poll_event() {
        closed |= matches!(event, Event::Closed { .. });
        app.on_event(session, event, now())
            .map_err(DriverError::App)?;
    }
    Ok(closed)
}

/// The link ended: fine if the session ended (its end may still be queued
/// as an event), an error otherwise.
fn link_ended(
    session: &mut Session,
    app: &mut dyn App,
    error: Option<LinkError>,
) -> Result<(), DriverError> {
    let closed = session.is_closed() | deliver_events(session, app)?;
    match (closed, error) {
        (true, _) => Ok(()),
        (false, Some(e)) => Err(DriverError::Link(e)),
        (false, None) => Err(DriverError::LinkClosed),
    }
}
