//! The person at the customer's computer, whatever they look at: a
//! terminal (lines on standard output, answers typed on standard input) or
//! the applet's window. The session tells them things (`say`, `tell`),
//! asks consent (`ask`) and takes their replies (`try_reply`); nothing
//! answers for them.
//!
//! Everything from the other side is hostile text: control, bidirectional
//! override and zero-width characters are dropped before it is shown.

use std::sync::Arc;

use tokio::sync::{Notify, mpsc};

pub use secours_peer::text::sanitize;

use super::terminal::TerminalFront;
use crate::window::WindowLink;

/// What the customer did.
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
    /// The customer sends a file to the technician.
    SendFile(std::path::PathBuf),
    /// The customer ends the session.
    Quit,
}

/// What the customer is told about the session itself (a window shows
/// each in its place; a terminal prints the sentence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Who the help desk is: the organisation's name, and the title and
    /// welcome text its administrators set (APPLET-5); hostile until
    /// sanitised, like everything from the server.
    HelpDesk {
        /// The organisation.
        organisation: Option<String>,
        /// The applet's title (empty: the product's).
        title: String,
        /// The welcome text (may be empty).
        welcome: String,
    },
    /// Waiting for a technician (named for a private session).
    Waiting(Option<String>),
    /// Estimated seconds before pick-up (APPLET-4).
    Wait(i64),
    /// The technician joined (nickname, sanitised).
    Technician(String),
    /// The link is secure: the short authentication string to compare.
    Secure(String),
    /// The session is recorded, or no longer.
    Recording(bool),
    /// The session is over (the sentence says how).
    Ended(String),
    /// The help desk's survey of the session (SURVEY-2), on the server:
    /// its address, and the program that opens it in the browser.
    Survey {
        /// `.../survey/{session}?token=...`.
        url: String,
        /// Program and arguments, the URL last.
        opener: Vec<String>,
    },
}

impl Status {
    /// The sentence a terminal prints.
    pub fn sentence(&self) -> String {
        match self {
            Self::HelpDesk {
                organisation,
                title,
                welcome,
            } => {
                let who = match (organisation.as_deref(), title.is_empty()) {
                    (Some(o), true) => sanitize(o),
                    (Some(o), false) => format!("{} ({})", sanitize(title), sanitize(o)),
                    (None, false) => sanitize(title),
                    (None, true) => "your help desk".into(),
                };
                if welcome.is_empty() {
                    format!("Welcome to {who}.")
                } else {
                    format!("Welcome to {who}. {}", sanitize(welcome))
                }
            }
            Self::Waiting(Some(t)) => {
                format!("Connected to the help desk. Waiting for {}...", sanitize(t))
            }
            Self::Waiting(None) => "Connected to the help desk. Waiting for a technician...".into(),
            Self::Wait(s) => format!("Estimated wait: about {} min.", (s + 59) / 60),
            Self::Technician(t) => format!("{} joined the session.", sanitize(t)),
            Self::Secure(sas) => format!(
                "Secure connection established. Short authentication string: {sas} \
                 (your technician sees the same digits)"
            ),
            Self::Recording(true) => "This session is being recorded.".into(),
            Self::Recording(false) => "Recording stopped.".into(),
            Self::Ended(text) => text.clone(),
            Self::Survey { url, .. } => {
                format!("Please tell us how it went: {}", sanitize(url))
            }
        }
    }
}

/// Where the customer looks.
#[derive(Debug, Clone)]
enum Front {
    Terminal(TerminalFront),
    Window(WindowLink),
}

/// The customer, as the session sees them.
#[derive(Debug)]
pub struct Customer {
    front: Front,
    replies: mpsc::UnboundedReceiver<Reply>,
}

/// Tells the customer things from other tasks (the signaling socket).
#[derive(Debug, Clone)]
pub struct Teller(Front);

impl Teller {
    /// A line for the customer.
    pub fn say(&self, line: &str) {
        match &self.0 {
            Front::Terminal(t) => t.say(line),
            Front::Window(w) => w.say(line),
        }
    }

    /// News of the session.
    pub fn tell(&self, status: Status) {
        match &self.0 {
            Front::Terminal(t) => t.say(&status.sentence()),
            Front::Window(w) => w.tell(status),
        }
    }

    /// The applet stopped on an error: a window shows it (at a terminal
    /// the program's caller prints it).
    pub fn failed(&self, error: &str) {
        if let Front::Window(w) = &self.0 {
            w.tell(Status::Ended(format!("The session stopped: {error}")));
        }
    }
}

impl Customer {
    /// A customer at this terminal; `wake` wakes the session's driver when
    /// they answer.
    pub fn terminal(wake: Arc<Notify>) -> Self {
        let (tx, replies) = mpsc::unbounded_channel();
        Self {
            front: Front::Terminal(TerminalFront::start(tx, wake)),
            replies,
        }
    }

    /// A customer in front of the applet's window.
    pub fn window(link: WindowLink, wake: Arc<Notify>) -> Self {
        let (tx, replies) = mpsc::unbounded_channel();
        link.connect(tx, wake);
        Self {
            front: Front::Window(link),
            replies,
        }
    }

    /// Tells the customer things from elsewhere.
    pub fn teller(&self) -> Teller {
        Teller(self.front.clone())
    }

    /// A line for the customer.
    pub fn say(&self, line: &str) {
        self.teller().say(line);
    }

    /// News of the session.
    pub fn tell(&self, status: Status) {
        self.teller().tell(status);
    }

    /// Asks consent question `id`; the answer comes back as a [`Reply`].
    pub fn ask(&self, id: u64, question: &str) {
        match &self.front {
            Front::Terminal(t) => t.ask(id, question),
            Front::Window(w) => w.ask(id, question),
        }
    }

    /// A reply since the last call.
    pub fn try_reply(&mut self) -> Option<Reply> {
        self.replies.try_recv().ok()
    }

    /// Shows the help desk's terms (APPLET-6) and waits for the customer
    /// to accept or decline them.
    pub async fn accepts_terms(&mut self, terms: &str) -> bool {
        const TERMS: u64 = u64::MAX;
        let terms: String = sanitize(terms).chars().take(8_000).collect();
        self.ask(
            TERMS,
            &format!("The help desk's terms: {terms} Do you accept them?"),
        );
        while let Some(r) = self.replies.recv().await {
            match r {
                Reply::Consent { id: TERMS, allow } => return allow,
                Reply::Quit => return false,
                // Nobody to talk to yet.
                _ => {}
            }
        }
        false
    }
}
