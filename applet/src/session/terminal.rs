//! The customer at a terminal: lines on standard output; on standard input
//! the answer to the first open consent question ("y" or "n"), `/send
//! FILE`, `/quit`, or a chat line.

use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, mpsc};

use super::customer::Reply;

type Questions = Arc<Mutex<VecDeque<(u64, String)>>>;

fn lock(q: &Questions) -> std::sync::MutexGuard<'_, VecDeque<(u64, String)>> {
    q.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The terminal: prints, and reads replies on a thread of its own.
#[derive(Debug, Clone)]
pub struct TerminalFront {
    questions: Questions,
}

impl TerminalFront {
    /// Starts reading standard input: replies go to `tx`, and `wake` wakes
    /// the session's driver.
    pub fn start(tx: mpsc::UnboundedSender<Reply>, wake: Arc<Notify>) -> Self {
        let questions: Questions = Arc::default();
        let q = questions.clone();
        let spawned = std::thread::Builder::new()
            .name("secours-terminal".into())
            .spawn(move || {
                for line in std::io::stdin().lock().lines() {
                    let Ok(line) = line else { break };
                    if let Some(r) = reply(&q, line.trim()) {
                        if tx.send(r).is_err() {
                            break;
                        }
                        wake.notify_one();
                    }
                    let next = lock(&q).front().map(|(_, text)| text.clone());
                    if let Some(text) = next {
                        println!("{text} [y/n]");
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no terminal input");
        }
        Self { questions }
    }

    /// Prints a line for the customer.
    pub fn say(&self, line: &str) {
        println!("{line}");
    }

    /// Asks consent question `id` (printed when the ones before it are
    /// answered).
    pub fn ask(&self, id: u64, question: &str) {
        let mut q = lock(&self.questions);
        if q.is_empty() {
            println!("{question} [y/n]");
        }
        q.push_back((id, question.to_owned()));
    }
}

/// What a typed line means, given the open questions.
fn reply(q: &Questions, line: &str) -> Option<Reply> {
    let mut q = lock(q);
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
        None => Some(Reply::Chat(line.to_owned())),
    }
}
