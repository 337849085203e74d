//! The run loop of one peer (the sans-IO drive contract of
//! `secours_protocol::session`) and the file desk both peers share.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use secours_protocol::session::Event;
use secours_protocol::transfer::TransferEvent;
use secours_protocol::{Channel, Session};

use secours_transport::{Link, LinkEvent, LinkStats, PathInfo};

/// A peer's application logic.
pub trait Script {
    /// Reacts to one session event.
    fn on_event(&mut self, session: &mut Session, event: Event, now: Instant) -> Result<()>;
    /// Called every turn of the loop (push file data, start the next step).
    fn tick(&mut self, session: &mut Session, now: Instant) -> Result<()>;
    /// The link's figures, a few times a second (the rate estimate the
    /// video follows).
    fn link_stats(&mut self, _stats: &LinkStats) {}
    /// Our video frames were dropped on the link for being late.
    fn video_dropped(&mut self, _frames: u64) {}
}

/// How often the script hears the link's figures.
const STATS_EVERY: Duration = Duration::from_millis(250);

/// Drives `session` over `link` until it closes or `limit` passes; returns
/// the path the session ended on.
///
/// Frames go to the link with `try_send`; when a channel's queue is full the
/// rest wait here, in order, while the loop keeps reading, so two peers
/// pushing bulk data at each other never deadlock.
pub async fn run(
    session: &mut Session,
    link: &mut Link,
    script: &mut (dyn Script + Send),
    limit: Duration,
) -> Result<PathInfo> {
    let deadline = Instant::now() + limit;
    let mut pending: VecDeque<(Channel, Bytes)> = VecDeque::new();
    let mut stats_at = Instant::now();
    loop {
        let now = Instant::now();
        if now >= stats_at {
            script.link_stats(&link.stats());
            stats_at = now + STATS_EVERY;
        }
        if now >= deadline {
            bail!("the session did not finish within {limit:?}");
        }
        if pending.len() < 64 {
            script.tick(session, now)?;
        }
        let mut closed = false;
        while let Some(event) = session.poll_event() {
            closed |= matches!(event, Event::Closed { .. });
            script.on_event(session, event, Instant::now())?;
        }
        // The path the session ended on, read before the end goes out (the
        // peer then drops its side, and the connector would fall back).
        let path_at_end = closed.then(|| link.path());
        while let Some(t) = session.poll_transmit() {
            pending.push_back((t.channel, t.data));
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
        let wake = if pending.is_empty() {
            session
                .poll_timeout()
                .map_or(Duration::from_millis(20), |t| {
                    t.saturating_duration_since(Instant::now())
                })
        } else {
            Duration::from_millis(1)
        }
        .min(Duration::from_millis(20));
        tokio::select! {
            event = link.recv() => match event {
                Some(LinkEvent::Data { channel, data }) => session.handle_data(channel, &data, Instant::now()),
                Some(LinkEvent::VideoDropped { frames }) => script.video_dropped(frames),
                Some(LinkEvent::Closed(error)) => return link_ended(session, script, error).map(|()| link.path()),
                None => return link_ended(session, script, None).map(|()| link.path()),
            },
            () = tokio::time::sleep(wake) => {}
        }
        let now = Instant::now();
        if session.poll_timeout().is_some_and(|t| t <= now) {
            session.handle_timeout(now);
        }
    }
}

/// The link ended: fine if the session ended (its end may still be queued
/// as an event), an error otherwise.
fn link_ended(
    session: &mut Session,
    script: &mut (dyn Script + Send),
    error: Option<secours_transport::LinkError>,
) -> Result<()> {
    let mut closed = session.is_closed();
    while let Some(event) = session.poll_event() {
        closed |= matches!(event, Event::Closed { .. });
        script.on_event(session, event, Instant::now())?;
    }
    match (closed, error) {
        (true, _) => Ok(()),
        (false, Some(e)) => bail!("the link failed under an open session: {e}"),
        (false, None) => bail!("the link closed under an open session"),
    }
}

/// A finished transfer, as the summary shows it.
#[derive(Debug, Clone)]
pub struct Done {
    pub name: String,
    pub size: u64,
    pub md5: [u8; 16],
    pub verified: bool,
    pub seconds: f64,
}

struct Outgoing {
    file: File,
    name: String,
    size: u64,
    started: Instant,
}

struct Incoming {
    file: File,
    name: String,
    size: u64,
    started: Instant,
}

/// Files of one peer: reads outgoing files window by window and writes
/// incoming ones chunk by chunk; never holds a whole file.
pub struct FileDesk {
    dir: PathBuf,
    outgoing: HashMap<u64, Outgoing>,
    incoming: HashMap<u64, Incoming>,
    pub sent: Vec<Done>,
    pub received: Vec<(Done, PathBuf)>,
}

impl FileDesk {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            outgoing: HashMap::new(),
            incoming: HashMap::new(),
            sent: vec![],
            received: vec![],
        }
    }

    /// Offers `path` to the peer.
    pub fn offer(&mut self, session: &mut Session, path: &Path, now: Instant) -> Result<u64> {
        let file = File::open(path).with_context(|| format!("open {}", path.display()))?;
        let size = file.metadata()?.len();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .context("file name")?
            .to_owned();
        let id = session.offer_file(&name, size, 0, now)?;
        self.outgoing.insert(
            id,
            Outgoing {
                file,
                name,
                size,
                started: now,
            },
        );
        Ok(id)
    }

    /// Pushes every window the session opens.
    pub fn pump(&mut self, session: &mut Session, now: Instant) -> Result<()> {
        for (id, out) in &mut self.outgoing {
            while let Some(w) = session.file_send_window(*id) {
                let mut buf = vec![0; w.max_len as usize];
                out.file.read_exact_at(&mut buf, w.offset)?;
                session.send_file_chunk(*id, Bytes::from(buf), now)?;
                if session.queued_frames() > 64 {
                    return Ok(()); // let the loop write before reading more
                }
            }
        }
        Ok(())
    }

    /// Handles a transfer event.
    pub fn on_event(
        &mut self,
        session: &mut Session,
        event: &TransferEvent,
        now: Instant,
    ) -> Result<()> {
        match event {
            TransferEvent::Offered { id, name, size, .. } => {
                // The name is validated by the protocol (one path component);
                // it is still joined under our own directory only.
                let path = self.dir.join(name);
                let file =
                    File::create(&path).with_context(|| format!("create {}", path.display()))?;
                self.incoming.insert(
                    *id,
                    Incoming {
                        file,
                        name: name.clone(),
                        size: *size,
                        started: now,
                    },
                );
                session.accept_file(*id, 0, now)?;
            }
            TransferEvent::Data { id, offset, data } => {
                if let Some(inc) = self.incoming.get(id) {
                    inc.file.write_all_at(data, *offset)?;
                    session.file_written(*id, data.len() as u64, now)?;
                }
            }
            TransferEvent::Received { id, md5, verified } => {
                if let Some(inc) = self.incoming.remove(id) {
                    inc.file.sync_all()?;
                    let done = Done {
                        name: inc.name.clone(),
                        size: inc.size,
                        md5: *md5,
                        verified: *verified,
                        seconds: now.duration_since(inc.started).as_secs_f64(),
                    };
                    self.received.push((done, self.dir.join(&inc.name)));
                }
            }
            TransferEvent::Sent { id, md5, verified } => {
                if let Some(out) = self.outgoing.remove(id) {
                    self.sent.push(Done {
                        name: out.name,
                        size: out.size,
                        md5: *md5,
                        verified: *verified,
                        seconds: now.duration_since(out.started).as_secs_f64(),
                    });
                }
            }
            TransferEvent::Refused { reason, .. } => bail!("file refused: {reason}"),
            TransferEvent::Cancelled { reason, .. } => bail!("file cancelled: {reason:?}"),
            TransferEvent::Accepted { .. } | TransferEvent::ReadyToSend { .. } => {}
        }
        Ok(())
    }
}
