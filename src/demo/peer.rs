//! The run loop of one peer (the sans-IO drive contract of
//! `secours_protocol::session`) and the file desk both peers share.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use secours_protocol::session::Event;
use secours_protocol::transfer::TransferEvent;
use secours_protocol::{Channel, Session};

use super::duplex::{DuplexEnd, Read};

/// A peer's application logic.
pub trait Script {
    /// Reacts to one session event.
    fn on_event(&mut self, session: &mut Session, event: Event, now: Instant) -> Result<()>;
    /// Called every turn of the loop (push file data, start the next step).
    fn tick(&mut self, session: &mut Session, now: Instant) -> Result<()>;
}

/// Drives `session` over `link` until it closes or `limit` passes.
pub fn run(
    session: &mut Session,
    link: &mut DuplexEnd,
    script: &mut dyn Script,
    limit: Duration,
) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let now = Instant::now();
        if now >= deadline {
            bail!("the session did not finish within {limit:?}");
        }
        script.tick(session, now)?;
        while let Some(t) = session.poll_transmit() {
            link.send(t.channel, t.data);
        }
        while let Some(event) = session.poll_event() {
            let closed = matches!(event, Event::Closed { .. });
            script.on_event(session, event, Instant::now())?;
            while let Some(t) = session.poll_transmit() {
                link.send(t.channel, t.data);
            }
            if closed {
                return Ok(());
            }
        }
        let wait = session
            .poll_timeout()
            .map_or(Duration::from_millis(20), |t| {
                t.saturating_duration_since(Instant::now())
            })
            .min(Duration::from_millis(20));
        match link.recv(wait) {
            Read::Data(channel, data) => {
                session.handle_data(channel, &data, Instant::now());
                // Take whatever else is already there before the next turn.
                while let Read::Data(c, d) = link.recv(Duration::ZERO) {
                    session.handle_data(c, &d, Instant::now());
                }
            }
            Read::TimedOut => {}
            Read::Closed => {
                if session.is_closed() {
                    return Ok(());
                }
                bail!("the link closed under an open session");
            }
        }
        let now = Instant::now();
        if session.poll_timeout().is_some_and(|t| t <= now) {
            session.handle_timeout(now);
        }
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

/// Channel names for the summary.
pub fn channel_name(id: usize) -> String {
    Channel::from_id(id as u8).map_or_else(|| "?".into(), |c| c.to_string())
}
