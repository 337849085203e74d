//! The console at a terminal: short commands typed by the technician become
//! the same [`Command`]s as the headless mode's JSON lines, and events are
//! printed as sentences. A session is named by the first characters of its
//! id (or left out when only one runs). Text from the customer's side is
//! hostile: control, bidirectional and zero-width characters are dropped
//! before it is printed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secours_protocol::signaling::TechStatus;

use crate::commands::{Command, ConsoleEvent};

/// What `help` prints.
pub const HELP: &str = "\
commands (SESSION: the first characters of a session id, or nothing when one runs):
  pin [NAME=VALUE...]          open a private session: a PIN code, a link, an invitation
  status available|busy|away   your status (new sessions are auto-assigned when available)
  fields SESSION NAME=VALUE    set a session's custom field (empty VALUE removes it)
  note SESSION TEXT            write a note on a session (during or after it)
  notes SESSION                the session's notes
  survey SESSION [RATING] [ID=ANSWER...]   answer the technician survey of an ended session
  monitor ID yes|no|stop       answer an administrator who asks to watch your console, or stop it
  queue                        list the queue
  pickup SESSION               take a waiting session
  hold SESSION | resume SESSION
  transfer SESSION tech ID | transfer SESSION group ID
  control SESSION              ask for remote control
  request SESSION PERMISSION   ask for a permission (send_files, clipboard...)
  type SESSION TEXT            type on the customer's machine (\\n: Return)
  click SESSION X Y            click at a position of the picture
  chat SESSION TEXT            a chat line
  send SESSION FILE            send a file
  clip SESSION TEXT            put text on the customer's clipboard
  info SESSION                 the customer's system information
  url SESSION URL              open a web page on the customer's computer
  reboot SESSION               restart the customer's computer (it comes back)
  record SESSION on|off        record the session (WebM + event log)
  snapshot SESSION FILE.png    save the customer's screen
  ls SESSION [PATH]            the customer's files (ask `request SESSION file_manager` first)
  get SESSION PATH | put SESSION FILE [FOLDER] | mv SESSION PATH NEW | rm SESSION PATH
  stats SESSION                figures of the session
  end SESSION [WORDS]          end the session (WORDS: shown to the customer)
  quit";

pub use secours_peer::text::sanitize;

/// The sessions this console runs, to resolve short names.
#[derive(Debug, Default)]
pub struct Sessions {
    /// Ids of the sessions picked up or in the last queue listing.
    pub known: Vec<String>,
}

impl Sessions {
    /// The full id of `short` (a prefix), or of the only session known.
    pub fn resolve(&self, short: Option<&str>) -> Result<String, String> {
        let matching: Vec<&String> = match short {
            Some(s) => self.known.iter().filter(|id| id.starts_with(s)).collect(),
            None => self.known.iter().collect(),
        };
        match (matching.as_slice(), short) {
            ([one], _) => Ok((*one).clone()),
            ([], Some(s)) => Err(format!("no session {s}")),
            ([], None) => Err("no session yet".into()),
            (_, _) => Err("which session? give the first characters of its id".into()),
        }
    }

    /// Remembers a session id.
    pub fn learn(&mut self, id: &str) {
        if !self.known.iter().any(|k| k == id) {
            self.known.push(id.to_owned());
        }
    }
}

/// Reads one typed line.
pub fn parse(line: &str, sessions: &Sessions) -> Result<Command, String> {
    let line = line.trim();
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim();
    // The session is the first word when it names one; else the only one.
    let with_session = |rest: &str| -> Result<(String, String), String> {
        let (first, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        match sessions.resolve(Some(first).filter(|f| !f.is_empty())) {
            Ok(id) => Ok((id, tail.trim().to_owned())),
            Err(e) if first.is_empty() => Err(e),
            Err(_) => sessions.resolve(None).map(|id| (id, rest.to_owned())),
        }
    };
    let arg = |what: &str, v: String| {
        if v.is_empty() {
            Err(format!("{word}: give {what}"))
        } else {
            Ok(v)
        }
    };
    Ok(match word {
        "pin" => Command::CreatePin {
            fields: pairs(rest)?,
        },
        "status" => Command::Status {
            status: match rest {
                "available" => TechStatus::Available,
                "busy" => TechStatus::Busy,
                "away" => TechStatus::Away,
                _ => return Err("status: available, busy or away".into()),
            },
        },
        "fields" => {
            let (session_id, tail) = with_session(rest)?;
            Command::Fields {
                session_id,
                fields: pairs(&arg("NAME=VALUE", tail)?)?,
            }
        }
        "note" => {
            let (session_id, text) = with_session(rest)?;
            Command::Note {
                session_id,
                text: arg("text", text)?.replace("\\n", "\n"),
            }
        }
        "monitor" => {
            let (id, answer) = rest.split_once(' ').ok_or("monitor: ID yes|no|stop")?;
            let monitor_id = id.to_owned();
            match answer.trim() {
                "yes" => Command::MonitorAnswer {
                    monitor_id,
                    accept: true,
                },
                "no" => Command::MonitorAnswer {
                    monitor_id,
                    accept: false,
                },
                "stop" => Command::MonitorEnd { monitor_id },
                _ => return Err("monitor: ID yes|no|stop".into()),
            }
        }
        "notes" => Command::Notes {
            session_id: with_session(rest)?.0,
        },
        "survey" => {
            let (session_id, tail) = with_session(rest)?;
            let (first, others) = tail.split_once(' ').unwrap_or((tail.as_str(), ""));
            let (rating, others) = match first.parse::<i64>() {
                Ok(r) => (Some(r), others),
                Err(_) => (None, tail.as_str()),
            };
            Command::Survey {
                session_id,
                rating,
                answers: pairs(others)?,
            }
        }
        "queue" => Command::Queue,
        "quit" | "exit" => Command::Quit,
        "pickup" => Command::Pickup {
            session_id: sessions.resolve(Some(arg("a session", rest.into())?.as_str()))?,
        },
        "hold" => Command::Hold {
            session_id: with_session(rest)?.0,
        },
        "resume" => Command::Resume {
            session_id: with_session(rest)?.0,
        },
        "transfer" => {
            let (session_id, tail) = with_session(rest)?;
            let (kind, id) = tail
                .split_once(' ')
                .ok_or("transfer: tech ID or group ID")?;
            let id: i64 = id
                .trim()
                .parse()
                .map_err(|_| "transfer: an id is a number")?;
            match kind {
                "tech" => Command::Transfer {
                    session_id,
                    tech_id: Some(id),
                    group_id: None,
                },
                "group" => Command::Transfer {
                    session_id,
                    tech_id: None,
                    group_id: Some(id),
                },
                _ => return Err("transfer: tech ID or group ID".into()),
            }
        }
        "control" => Command::Request {
            session_id: with_session(rest)?.0,
            permission: "remote_control".into(),
        },
        "request" => {
            let (session_id, p) = with_session(rest)?;
            Command::Request {
                session_id,
                permission: arg("a permission", p)?,
            }
        }
        "type" => {
            let (session_id, text) = with_session(rest)?;
            Command::Type {
                session_id,
                text: arg("text", text)?.replace("\\n", "\n"),
            }
        }
        "click" => {
            let (session_id, xy) = with_session(rest)?;
            let mut n = xy.split_whitespace().map(str::parse::<i32>);
            match (n.next(), n.next()) {
                (Some(Ok(x)), Some(Ok(y))) => Command::Click {
                    session_id,
                    x,
                    y,
                    button: None,
                },
                _ => return Err("click: give X Y".into()),
            }
        }
        "chat" => {
            let (session_id, text) = with_session(rest)?;
            Command::Chat {
                session_id,
                text: arg("text", text)?,
            }
        }
        "send" => {
            let (session_id, path) = with_session(rest)?;
            Command::SendFile {
                session_id,
                path: PathBuf::from(arg("a file", path)?),
            }
        }
        "clip" => {
            let (session_id, text) = with_session(rest)?;
            Command::Clipboard {
                session_id,
                text: Some(arg("text", text)?),
                image: None,
            }
        }
        "info" => Command::SystemInfo {
            session_id: with_session(rest)?.0,
        },
        "url" => {
            let (session_id, url) = with_session(rest)?;
            Command::OpenUrl {
                session_id,
                url: arg("a URL", url)?,
            }
        }
        "reboot" => Command::Reboot {
            session_id: with_session(rest)?.0,
        },
        "record" => {
            let (session_id, on) = with_session(rest)?;
            Command::Record {
                session_id,
                on: match on.as_str() {
                    "on" => true,
                    "off" => false,
                    _ => return Err("record: on or off".into()),
                },
                dir: None,
            }
        }
        "snapshot" => {
            let (session_id, path) = with_session(rest)?;
            Command::Snapshot {
                session_id,
                path: PathBuf::from(arg("a file", path)?),
            }
        }
        "ls" => {
            let (session_id, path) = with_session(rest)?;
            Command::List { session_id, path }
        }
        "get" => {
            let (session_id, path) = with_session(rest)?;
            Command::Get {
                session_id,
                path: arg("a path", path)?,
            }
        }
        "put" => {
            let (session_id, tail) = with_session(rest)?;
            let (file, dir) = tail.split_once(' ').unwrap_or((tail.as_str(), ""));
            Command::Put {
                session_id,
                path: PathBuf::from(arg("a file", file.to_owned())?),
                dir: dir.trim().to_owned(),
            }
        }
        "mv" => {
            let (session_id, tail) = with_session(rest)?;
            let (path, new_path) = tail.split_once(' ').ok_or("mv: give PATH NEW_PATH")?;
            Command::Rename {
                session_id,
                path: path.to_owned(),
                new_path: new_path.trim().to_owned(),
            }
        }
        "rm" => {
            let (session_id, path) = with_session(rest)?;
            Command::Delete {
                session_id,
                path: arg("a path", path)?,
            }
        }
        "stats" => Command::Stats {
            session_id: with_session(rest)?.0,
        },
        "end" => {
            let (session_id, words) = with_session(rest)?;
            Command::End {
                session_id,
                reason: Some(words).filter(|w| !w.is_empty()),
            }
        }
        "" => return Err(String::new()),
        other => return Err(format!("unknown command {other:?} (help lists them)")),
    })
}

/// `NAME=VALUE` words (a value runs to the next word holding `=`, so it
/// may have spaces).
fn pairs(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut last: Option<String> = None;
    for word in text.split_whitespace() {
        match word.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                out.insert(k.to_owned(), v.to_owned());
                last = Some(k.to_owned());
            }
            _ => match last.as_ref().and_then(|k| out.get_mut(k)) {
                Some(v) => {
                    v.push(' ');
                    v.push_str(word);
                }
                None => return Err(format!("{word:?}: give NAME=VALUE")),
            },
        }
    }
    Ok(out)
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// One event as a sentence (`None`: shown otherwise, as progress).
pub fn describe(event: &ConsoleEvent) -> Option<String> {
    use ConsoleEvent as E;
    Some(match event {
        E::Ready { .. } => "Logged in. Type `help` for the commands.".into(),
        E::Queue { sessions } if sessions.is_empty() => "Queue: empty.".into(),
        E::Queue { sessions } => {
            let mut s = String::from("Queue:");
            for v in sessions {
                s.push_str(&format!(
                    "\n  {}  {:<11} {}",
                    short(&v.id),
                    v.state,
                    sanitize(&v.customer_name)
                ));
            }
            s
        }
        E::Pin {
            session_id,
            pin,
            link,
            email,
            ..
        } => format!(
            "Session {}: PIN {pin} (or the link {link}); it appears in the queue when the customer joins.\nInvitation to send:\n{email}",
            short(session_id)
        ),
        E::ConsoleInfo {
            status,
            max_sessions,
            texts,
            ..
        } => {
            let mut s = format!("Status: {}", status.as_str());
            if *max_sessions > 0 {
                s.push_str(&format!(
                    " (at most {max_sessions} sessions assigned at once)"
                ));
            }
            if !texts.info_link_url.is_empty() {
                s.push_str(&format!(
                    ".\n{}: {}",
                    sanitize(&texts.info_link_label),
                    sanitize(&texts.info_link_url)
                ));
            }
            s
        }
        E::Status { status } => format!("Status: {}.", status.as_str()),
        E::Monitor {
            monitor_id,
            admin,
            consent,
            state,
        } => {
            let who = sanitize(admin);
            match (state.as_str(), consent.as_str()) {
                ("asked", _) => format!(
                    "{who} asks to watch your console: `monitor {monitor_id} yes` or `monitor {monitor_id} no`."
                ),
                ("watching", _) => {
                    format!("{who} is watching your console (`monitor {monitor_id} stop` ends it).")
                }
                (other, _) => format!("Monitoring by {who}: {other}."),
            }
        }
        E::Fields {
            session_id, fields, ..
        } => {
            let list: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{}: {}", sanitize(k), sanitize(v)))
                .collect();
            format!("Session {} fields: {}", short(session_id), list.join(", "))
        }
        E::Note { session_id, note } => {
            format!(
                "Session {}: note saved ({} characters).",
                short(session_id),
                note.body.chars().count()
            )
        }
        E::Notes { session_id, notes } => {
            let mut s = format!("Session {} notes:", short(session_id));
            for n in notes {
                s.push_str(&format!(
                    "\n  {}: {}",
                    sanitize(&n.author),
                    sanitize(&n.body)
                ));
            }
            s
        }
        E::Survey {
            session_id,
            rating,
            questions,
        } => {
            let mut s = format!(
                "Session {}: please answer the technician survey (`survey {} {}ID=ANSWER...`):",
                short(session_id),
                short(session_id),
                if *rating { "RATING(1-5) " } else { "" }
            );
            for q in questions {
                s.push_str(&format!(
                    "\n  {} ({:?}): {}",
                    q.id,
                    q.kind,
                    sanitize(&q.label)
                ));
            }
            s
        }
        E::SurveySent { session_id } => {
            format!("Session {}: survey sent, thank you.", short(session_id))
        }
        E::Connected { session_id, path } => {
            format!("Session {}: connected ({path}).", short(session_id))
        }
        E::Path {
            session_id,
            path,
            remote,
            reason,
            ..
        } => {
            let whither = remote
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            let why = reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            format!("Session {}: path {path}{whither}{why}.", short(session_id))
        }
        E::Reconnecting { session_id } => format!(
            "Session {}: the customer's computer left (a restart?); waiting for it to come back.",
            short(session_id)
        ),
        E::Established {
            session_id, sas, ..
        } => format!(
            "Session {}: secure. Short authentication string {sas}: ask the customer to read theirs.",
            short(session_id)
        ),
        E::Consent {
            session_id,
            allowed,
            actions,
        } => format!(
            "Session {}: the customer {} {}.",
            short(session_id),
            if *allowed { "allowed" } else { "refused" },
            actions.join(", ")
        ),
        E::FirstFrame {
            session_id,
            width,
            height,
            ms_since_pickup,
        } => format!(
            "Session {}: the customer's screen ({width}x{height}) after {ms_since_pickup:.0} ms.",
            short(session_id)
        ),
        E::Snapshot {
            session_id, path, ..
        } => format!("Session {}: saved {}.", short(session_id), path.display()),
        E::Stream {
            session_id,
            path,
            frames,
        } => format!(
            "Session {}: {frames} pictures in {}.",
            short(session_id),
            path.display()
        ),
        E::Chat { session_id, text } => {
            format!(
                "Session {}: customer: {}",
                short(session_id),
                sanitize(text)
            )
        }
        E::Clipboard {
            session_id,
            text: Some(t),
            ..
        } => format!(
            "Session {}: the customer copied: {}",
            short(session_id),
            sanitize(t)
        ),
        E::Clipboard {
            session_id, image, ..
        } => format!(
            "Session {}: the customer copied an image ({}).",
            short(session_id),
            image
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ),
        E::SystemInfo { session_id, items } => {
            let mut s = format!("Session {}: system information", short(session_id));
            let mut section = "";
            for i in items {
                if i.section != section {
                    section = &i.section;
                    s.push_str(&format!("\n  [{}]", sanitize(section)));
                }
                s.push_str(&format!(
                    "\n    {}: {}",
                    sanitize(&i.key),
                    sanitize(&i.value)
                ));
            }
            s
        }
        E::Recording {
            session_id,
            recording: true,
            video,
            ..
        } => format!(
            "Session {}: recording into {}.",
            short(session_id),
            video.display()
        ),
        E::Recording {
            session_id,
            video,
            frames,
            seconds,
            ..
        } => format!(
            "Session {}: recorded {frames} frames over {seconds:.1} s in {}.",
            short(session_id),
            video.display()
        ),
        E::Stats {
            session_id,
            rtt_ms,
            bytes_sent,
            bytes_received,
            screen,
            ..
        } => format!(
            "Session {}: round trip {rtt_ms:.1} ms, {bytes_sent} bytes sent, {bytes_received} received, \
             {} pictures decoded",
            short(session_id),
            screen.decoded
        ),
        E::Progress { .. } => return None,
        E::FileList {
            session_id,
            path,
            error: Some(e),
            ..
        } => format!(
            "Session {}: {}: {}",
            short(session_id),
            sanitize(path),
            sanitize(e)
        ),
        E::FileList {
            session_id,
            path,
            entries,
            truncated,
            ..
        } => {
            let mut s = format!("Session {}: /{}", short(session_id), sanitize(path));
            for e in entries {
                s.push_str(&format!(
                    "\n  {}{}{}  {}",
                    sanitize(&e.name),
                    if e.directory { "/" } else { "" },
                    if e.symlink { " (link)" } else { "" },
                    e.size
                ));
            }
            if *truncated {
                s.push_str("\n  (more entries than one listing carries)");
            }
            s
        }
        E::FileAction {
            session_id,
            action,
            path,
            ok,
            error,
        } => format!(
            "Session {}: {action} {}: {}",
            short(session_id),
            sanitize(path),
            if *ok {
                "done".to_owned()
            } else {
                sanitize(error.as_deref().unwrap_or("refused"))
            }
        ),
        E::File {
            session_id,
            direction,
            name,
            size,
            md5,
            verified,
            path,
        } => format!(
            "Session {}: {direction} {} ({size} bytes), MD5 {md5} {}{}",
            short(session_id),
            sanitize(name),
            if *verified { "verified" } else { "MISMATCH" },
            path.as_ref()
                .map(|p| format!(", in {}", p.display()))
                .unwrap_or_default()
        ),
        E::Refused { session_id, reason } => format!(
            "{}refused: {}",
            session_id
                .as_deref()
                .map(|s| format!("Session {}: ", short(s)))
                .unwrap_or_default(),
            sanitize(reason)
        ),
        E::Closed {
            session_id, reason, ..
        } => format!("Session {}: ended ({reason}).", short(session_id)),
        E::Error { message } => format!("Error: {}", sanitize(message)),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn two() -> Sessions {
        Sessions {
            known: vec!["abc123".into(), "abd456".into()],
        }
    }

    #[test]
    fn short_names_and_the_only_session() {
        let s = two();
        assert_eq!(
            parse("chat abc hello there", &s),
            Ok(Command::Chat {
                session_id: "abc123".into(),
                text: "hello there".into()
            })
        );
        assert!(
            parse("chat ab hello", &s)
                .unwrap_err()
                .contains("which session")
        );
        let one = Sessions {
            known: vec!["abc123".into()],
        };
        assert_eq!(
            parse("type ls -l\\n", &one),
            Ok(Command::Type {
                session_id: "abc123".into(),
                text: "ls -l\n".into()
            })
        );
        assert_eq!(
            parse("record abc off", &s),
            Ok(Command::Record {
                session_id: "abc123".into(),
                on: false,
                dir: None
            })
        );
        assert!(parse("frobnicate", &s).is_err());
        assert!(parse("transfer abc tech x", &s).is_err());
    }

    #[test]
    fn hostile_text_is_neutralised_when_printed() {
        let e = ConsoleEvent::Chat {
            session_id: "abc123".into(),
            text: "ok\u{1b}[2J\u{202e}gpj.exe".into(),
        };
        assert_eq!(
            describe(&e).unwrap(),
            "Session abc123: customer: ok[2Jgpj.exe"
        );
    }
}
