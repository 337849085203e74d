//! The customer at a terminal: what the applet tells them (the
//! technician's name, the short authentication string, the wait, consent
//! questions, chat, files), and what they type back (`/send FILE`,
//! `/quit`, or a chat line). Nothing answers for
//! them: a consent question waits for their "y" or "n".
//!
//! Everything from the other side is hostile text: control, bidirectional
//! override and zero-width characters are dropped before it is printed.

use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, mpsc};

/// What the customer typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The answer to consent question `id`.
    Consent {
        /// The question.
        id: u64,
        /// Allow?
        allow: bool,
    },
    /// A chat line for the technician.
    Chat(String),
    /// `/send FILE`: the customer sends a file to the technician.
    SendFile(std::path::PathBuf),
    /// `/quit`: the customer ends the session.
    Quit,
}

pub use secours_peer::text::sanitize;

/// The terminal: prints notices, reads replies on a thread of its own.
#[derive(Debug)]
pub struct Terminal {
    questions: Arc<Mutex<VecDeque<(u64, String)>>>,
    replies: mpsc::UnboundedReceiver<Reply>,
}

impl Terminal {
    /// Starts reading standard input; `wake` wakes the session's driver.
    pub fn start(wake: Arc<Notify>) -> Self {
        let questions: Arc<Mutex<VecDeque<(u64, String)>>> = Arc::default();
        let (tx, replies) = mpsc::unbounded_channel();
        let q = questions.clone();
        let spawned = std::thread::Builder::new()
            .name("secours-terminal".into())
            .spawn(move || {
                for line in std::io::stdin().lock().lines() {
                    let Ok(line) = line else { break };
                    let line = line.trim().to_owned();
                    let reply = {
                        let mut q = q.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        match q.front().map(|(id, _)| *id) {
                            Some(id) => match line.to_ascii_lowercase().as_str() {
                                "y" | "yes" => {
                                    q.pop_front();
                                    Some(Reply::Consent { id, allow: true })
                                }
                                "n" | "no" => {
                                    q.pop_front();
                                    Some(Reply::Consent { id, allow: false })
                                }
                                _ => {
                                    println!("Please answer y or n.");
                                    None
                                }
                            },
                            None if line == "/quit" => Some(Reply::Quit),
                            None if line.starts_with("/send ") => {
                                Some(Reply::SendFile(line["/send ".len()..].trim().into()))
                            }
                            None if line.is_empty() => None,
                            None => Some(Reply::Chat(line)),
                        }
                    };
                    if let Some(r) = reply {
                        if tx.send(r).is_err() {
                            break;
                        }
                        wake.notify_one();
                    }
                    let next = q
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .front()
                        .map(|(_, text)| text.clone());
                    if let Some(text) = next {
                        println!("{text} [y/n]");
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no terminal input");
        }
        Self { questions, replies }
    }

    /// Prints a line for the customer.
    pub fn say(&self, line: &str) {
        println!("{line}");
    }

    /// Asks consent question `id`; the answer comes back as a [`Reply`].
    pub fn ask(&self, id: u64, question: &str) {
        let mut q = self
            .questions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if q.is_empty() {
            println!("{question} [y/n]");
        }
        q.push_back((id, question.to_owned()));
    }

    /// A reply typed since the last call.
    pub fn try_reply(&mut self) -> Option<Reply> {
        self.replies.try_recv().ok()
    }
}
