//! The headless console's language: one JSON object per line, commands in
//! (`cmd` field), events out (`event` field).

use std::collections::BTreeMap;
use std::path::PathBuf;

use secours_protocol::signaling::{ConsoleTexts, Note, Question, SessionView, TechStatus};

pub use crate::viewer::ScreenCounters;
use serde::{Deserialize, Serialize};

/// A command (standard input, one JSON object per line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Opens a private session: the answer is a `pin` event. `fields`:
    /// the private-session custom fields the group asks for (FIELD-2).
    CreatePin {
        /// Field name to value.
        #[serde(default)]
        fields: BTreeMap<String, String>,
    },
    /// Asks for the technician's status, maximum, private-session fields
    /// and console texts again: a `console_info` event (one follows
    /// `ready` too).
    ConsoleInfo,
    /// Sets the technician's status (SESS-9): a `status` event.
    Status {
        /// `available`, `busy` or `away`.
        status: TechStatus,
    },
    /// Edits a session's custom fields (FIELD-1/2, where PERM-20 allows):
    /// a `fields` event. An empty value removes a field.
    Fields {
        /// Session.
        session_id: String,
        /// Field name to value.
        fields: BTreeMap<String, String>,
    },
    /// Adds a note to a session, during or after it (CONSOLE-10): a
    /// `note` event.
    Note {
        /// Session.
        session_id: String,
        /// The text (up to 4000 characters).
        text: String,
    },
    /// Asks for a session's notes: a `notes` event.
    Notes {
        /// Session.
        session_id: String,
    },
    /// Answers the technician survey of an ended session (SURVEY-1, asked
    /// by a `survey` event): a `survey_sent` event.
    Survey {
        /// Session.
        session_id: String,
        /// The overall rating, 1 to 5, when the survey asks one.
        #[serde(default)]
        rating: Option<i64>,
        /// Question id to answer.
        #[serde(default)]
        answers: BTreeMap<String, String>,
    },
    /// Asks for the queue again (it is also pushed on every change).
    Queue,
    /// Answers an administrator's request to watch this console (SESS-10,
    /// a `monitor` event in state `asked`).
    MonitorAnswer {
        /// The request.
        monitor_id: String,
        /// Let it watch.
        accept: bool,
    },
    /// Stops being watched (or withdraws from a request).
    MonitorEnd {
        /// The request.
        monitor_id: String,
    },
    /// Picks a waiting session up and connects to its applet.
    Pickup {
        /// Session.
        session_id: String,
    },
    /// Puts a session on hold.
    Hold {
        /// Session.
        session_id: String,
    },
    /// Resumes a session on hold.
    Resume {
        /// Session.
        session_id: String,
    },
    /// Transfers a session to a technician or a group.
    Transfer {
        /// Session.
        session_id: String,
        /// A technician.
        #[serde(default)]
        tech_id: Option<i64>,
        /// Or a group.
        #[serde(default)]
        group_id: Option<i64>,
    },
    /// Asks the customer for a permission (`remote_control`, `send_files`...).
    Request {
        /// Session.
        session_id: String,
        /// The permission's name.
        permission: String,
    },
    /// Moves the pointer (video pixels).
    Move {
        /// Session.
        session_id: String,
        /// Column.
        x: i32,
        /// Row.
        y: i32,
    },
    /// Clicks (press and release) at a position (video pixels).
    Click {
        /// Session.
        session_id: String,
        /// Column.
        x: i32,
        /// Row.
        y: i32,
        /// `left` (default), `middle` or `right`.
        #[serde(default)]
        button: Option<String>,
    },
    /// Presses or releases a mouse button at a position (video pixels):
    /// drags are a press, moves, and a release.
    Button {
        /// Session.
        session_id: String,
        /// Column.
        x: i32,
        /// Row.
        y: i32,
        /// `left`, `middle` or `right`.
        button: String,
        /// Down or up.
        pressed: bool,
    },
    /// Turns the wheel, in 1/120 of a notch (positive: right, down).
    Wheel {
        /// Session.
        session_id: String,
        /// Horizontal.
        dx: i32,
        /// Vertical.
        dy: i32,
    },
    /// Draws a line over the customer's screen (CONSOLE-4; needs viewing
    /// or control): points in video pixels, `[x0, y0, x1, y1...]`.
    Draw {
        /// Session.
        session_id: String,
        /// The points (at most 512 pairs).
        points: Vec<i32>,
        /// 0xRRGGBB (default red).
        #[serde(default)]
        rgb: Option<u32>,
        /// Line width in pixels (default 4).
        #[serde(default)]
        width: Option<u32>,
    },
    /// Removes every line drawn over the customer's screen.
    ClearDrawing {
        /// Session.
        session_id: String,
    },
    /// Presses or releases a key by X11 keysym.
    Key {
        /// Session.
        session_id: String,
        /// The keysym (e.g. 65293 for Return).
        keysym: u32,
        /// Down or up.
        pressed: bool,
    },
    /// Types text on the customer's machine.
    Type {
        /// Session.
        session_id: String,
        /// The text (a newline is Return).
        text: String,
    },
    /// A chat line for the customer.
    Chat {
        /// Session.
        session_id: String,
        /// Text.
        text: String,
    },
    /// Offers a file to the customer.
    SendFile {
        /// Session.
        session_id: String,
        /// The file.
        path: PathBuf,
    },
    /// Puts text or a PNG image on the customer's clipboard (needs the
    /// clipboard permission and the customer's consent).
    Clipboard {
        /// Session.
        session_id: String,
        /// Text.
        #[serde(default)]
        text: Option<String>,
        /// Or a PNG file.
        #[serde(default)]
        image: Option<PathBuf>,
    },
    /// Asks for the customer's system information: a `system_info` event.
    SystemInfo {
        /// Session.
        session_id: String,
    },
    /// Restarts the customer's computer; the applet comes back to the
    /// session after it.
    Reboot {
        /// Session.
        session_id: String,
    },
    /// Opens a web page (http or https) on the customer's computer.
    OpenUrl {
        /// Session.
        session_id: String,
        /// The address.
        url: String,
    },
    /// Starts (`on`) or stops recording the session: WebM and a JSON-lines
    /// event log in `dir` (default: the session's folder). The customer is
    /// told.
    Record {
        /// Session.
        session_id: String,
        /// Start or stop.
        on: bool,
        /// Where.
        #[serde(default)]
        dir: Option<PathBuf>,
    },
    /// Asks for the session's figures: a `stats` event.
    Stats {
        /// Session.
        session_id: String,
    },
    /// Writes every decoded picture to `path` as a Y4M stream from now
    /// on; without `path`, stops (a `stream` event says what it holds).
    Stream {
        /// Session.
        session_id: String,
        /// Where; none to stop.
        #[serde(default)]
        path: Option<PathBuf>,
    },
    /// File manager (needs `file_manager` consent, see `request`): lists a
    /// folder under the customer's shared root (`""`: the root).
    List {
        /// Session.
        session_id: String,
        /// Relative to the root.
        #[serde(default)]
        path: String,
    },
    /// File manager: fetches a file of the customer's (a `file` event when
    /// it arrived).
    Get {
        /// Session.
        session_id: String,
        /// Relative to the root.
        path: String,
    },
    /// File manager: puts a local file into a folder under the customer's
    /// root.
    Put {
        /// Session.
        session_id: String,
        /// The local file.
        path: PathBuf,
        /// The folder, relative to the root (`""`: the root).
        #[serde(default)]
        dir: String,
    },
    /// File manager: renames or moves an entry under the root.
    Rename {
        /// Session.
        session_id: String,
        /// Relative to the root.
        path: String,
        /// Relative to the root.
        new_path: String,
    },
    /// File manager: deletes a file, a link or an empty folder.
    Delete {
        /// Session.
        session_id: String,
        /// Relative to the root.
        path: String,
    },
    /// Writes the newest decoded picture as a PNG.
    Snapshot {
        /// Session.
        session_id: String,
        /// Where.
        path: PathBuf,
    },
    /// Ends a session, with a word for the customer.
    End {
        /// Session.
        session_id: String,
        /// Shown to the customer (default: "The technician ended the
        /// session").
        #[serde(default)]
        reason: Option<String>,
    },
    /// Ends every session and the console.
    Quit,
}

/// An event (standard output, one JSON object per line). Text from the
/// customer's side is as received: escape it wherever it is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ConsoleEvent {
    /// Logged in.
    Ready {
        /// Account id.
        user_id: i64,
    },
    /// The live queue.
    Queue {
        /// Sessions.
        sessions: Vec<SessionView>,
    },
    /// A private session opened.
    Pin {
        /// Session.
        session_id: String,
        /// The six digits for the customer.
        pin: String,
        /// The private link.
        link: String,
        /// The invitation to send the customer: the group's default e-mail
        /// text (CONSOLE-16) with `{pin}` and `{link}` filled in (the two
        /// are added when it names neither).
        #[serde(default)]
        email: String,
        /// The custom fields stored with the session.
        #[serde(default)]
        fields: BTreeMap<String, String>,
    },
    /// The technician's status, its group's maximum, the private-session
    /// fields and the group's console texts (SESS-9, FIELD-2, CONSOLE-16).
    ConsoleInfo {
        /// `available`, `busy` or `away`.
        status: TechStatus,
        /// Most sessions auto-assigned at once; 0: no limit.
        max_sessions: i64,
        /// The fields the "create session" dialog asks for.
        fields: Vec<String>,
        /// The create-session dialog's text, the informational link, the
        /// default e-mail text.
        texts: ConsoleTexts,
    },
    /// An administrator asks to watch this console, or the request
    /// changed (SESS-10): `consent` `tell` (told, the watch starts) or `ask`
    /// (answer with `monitor_answer`); `state` `asked`, `watching`,
    /// `declined` or `ended`.
    Monitor {
        /// The request.
        monitor_id: String,
        /// The administrator's name (shown as text).
        admin: String,
        /// `tell` or `ask`.
        consent: String,
        /// Where it stands.
        state: String,
    },
    /// The technician's status changed.
    Status {
        /// `available`, `busy` or `away`.
        status: TechStatus,
    },
    /// A session's custom fields (at pick-up, and after each edit).
    Fields {
        /// Session.
        session_id: String,
        /// Name to value (hostile text: the customer typed them).
        fields: BTreeMap<String, String>,
        /// This technician may edit them (PERM-20).
        editable: bool,
    },
    /// A note was saved.
    Note {
        /// Session.
        session_id: String,
        /// The note as stored.
        note: Note,
    },
    /// A session's notes, oldest first.
    Notes {
        /// Session.
        session_id: String,
        /// The notes.
        notes: Vec<Note>,
    },
    /// The session ended and the technician survey asks these (SURVEY-1);
    /// answer with `survey`.
    Survey {
        /// Session.
        session_id: String,
        /// The overall rating (1 to 5) is asked.
        rating: bool,
        /// Further questions (set by an administrator).
        questions: Vec<Question>,
    },
    /// The survey's answers were stored.
    SurveySent {
        /// Session.
        session_id: String,
    },
    /// The link to the applet is up; the handshake runs.
    Connected {
        /// Session.
        session_id: String,
        /// `relay` or `direct` at first.
        path: String,
    },
    /// The session's path changed: a peer-to-peer path took over (`direct`,
    /// or `turn` through a TURN relay), could not be made (`relay`, with the
    /// reason), or died (`relay`).
    Path {
        /// Session.
        session_id: String,
        /// `direct`, `turn`, `webrtc` or `relay`: where every channel runs
        /// now.
        path: String,
        /// The peer's address on that path, when known.
        #[serde(default)]
        remote: Option<String>,
        /// Why the direct paths failed or fell back; on a direct path, why
        /// the other attempts lost to it.
        #[serde(default)]
        reason: Option<String>,
        /// Milliseconds since the pick-up.
        ms_since_pickup: f64,
    },
    /// The applet went without ending the session (a restart, a crash):
    /// the console waits for it to come back.
    Reconnecting {
        /// Session.
        session_id: String,
    },
    /// The handshake succeeded.
    Established {
        /// Session.
        session_id: String,
        /// The short authentication string to compare with the customer.
        sas: String,
        /// Granted permissions, by name.
        permissions: Vec<String>,
    },
    /// The customer answered a consent request.
    Consent {
        /// Session.
        session_id: String,
        /// Allowed or not.
        allowed: bool,
        /// What.
        actions: Vec<String>,
    },
    /// The first picture of the customer's screen was decoded.
    FirstFrame {
        /// Session.
        session_id: String,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Milliseconds since the pick-up.
        ms_since_pickup: f64,
    },
    /// A Y4M stream ended.
    Stream {
        /// Session.
        session_id: String,
        /// Where.
        path: PathBuf,
        /// Pictures in it.
        frames: u64,
    },
    /// A snapshot was written.
    Snapshot {
        /// Session.
        session_id: String,
        /// Where.
        path: PathBuf,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Pictures decoded so far.
        decoded: u64,
    },
    /// The customer's clipboard changed (text, or an image written as PNG
    /// in the session's folder).
    Clipboard {
        /// Session.
        session_id: String,
        /// Text (hostile).
        text: Option<String>,
        /// Where the image was written.
        image: Option<PathBuf>,
        /// The image's size.
        width: Option<u32>,
        /// The image's size.
        height: Option<u32>,
    },
    /// The customer's system information.
    SystemInfo {
        /// Session.
        session_id: String,
        /// Section, key, value (hostile text).
        items: Vec<InfoItem>,
    },
    /// A recording started or finished.
    Recording {
        /// Session.
        session_id: String,
        /// Running now.
        recording: bool,
        /// The WebM file.
        video: PathBuf,
        /// The event log.
        events: PathBuf,
        /// Frames written (when finished).
        frames: u64,
        /// Keyframes written (when finished).
        keyframes: u64,
        /// Seconds between the first and the last frame (when finished).
        seconds: f64,
        /// Lines in the event log (when finished).
        event_lines: u64,
    },
    /// A session's figures.
    Stats {
        /// Session.
        session_id: String,
        /// The link's smoothed round trip, ms.
        rtt_ms: f64,
        /// Round trip measured by the session's own ping, ms.
        ping_ms: Option<f64>,
        /// Bytes the link carried each way.
        bytes_sent: u64,
        /// Bytes received.
        bytes_received: u64,
        /// The link's sending-rate estimate, bit/s.
        send_rate_bps: u64,
        /// The screen.
        screen: ScreenCounters,
    },
    /// A chat line from the customer.
    Chat {
        /// Session.
        session_id: String,
        /// Text (hostile).
        text: String,
    },
    /// A file on its way (a few times a second while it moves).
    Progress {
        /// Session.
        session_id: String,
        /// `sending` or `receiving`.
        direction: String,
        /// Name (hostile when received).
        name: String,
        /// Bytes so far.
        bytes: u64,
        /// Bytes in all.
        size: u64,
    },
    /// A file finished, either way.
    File {
        /// Session.
        session_id: String,
        /// `sent` or `received`.
        direction: String,
        /// Name (hostile when received).
        name: String,
        /// Bytes.
        size: u64,
        /// MD5, hex.
        md5: String,
        /// The receiver's MD5 matched.
        verified: bool,
        /// Where it is, when received.
        path: Option<PathBuf>,
    },
    /// A folder of the customer's (file manager). Names are hostile.
    FileList {
        /// Session.
        session_id: String,
        /// As asked.
        path: String,
        /// Entries, sorted by name.
        entries: Vec<crate::file_manager::EntryView>,
        /// More than one listing carries.
        truncated: bool,
        /// Why the applet refused, if it did (hostile text).
        error: Option<String>,
    },
    /// A file-manager action's outcome (`get`, `rename`, `delete`; a put's
    /// refusal). A fetched file then arrives as a `file` event.
    FileAction {
        /// Session.
        session_id: String,
        /// `get`, `put`, `rename` or `delete`.
        action: String,
        /// As asked.
        path: String,
        /// Done (for a get: offered).
        ok: bool,
        /// Why not (hostile text from the applet).
        error: Option<String>,
    },
    /// A command was refused (by this console's own check, the applet or
    /// the server).
    Refused {
        /// Session, when the command named one.
        session_id: Option<String>,
        /// Why.
        reason: String,
    },
    /// The session ended.
    Closed {
        /// Session.
        session_id: String,
        /// Why.
        reason: String,
        /// The path the session ended on (`relay`, `direct`), when it ran.
        #[serde(default)]
        path: Option<String>,
    },
    /// Something went wrong outside a session.
    Error {
        /// What.
        message: String,
    },
}

/// One line of system information.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoItem {
    /// `system`, `cpu`, `memory`, `disks`, `network`, `processes`.
    pub section: String,
    /// What.
    pub key: String,
    /// Its value.
    pub value: String,
}

impl Command {
    /// The session a command is for, if any.
    pub fn session_id(&self) -> Option<&str> {
        match self {
            Command::CreatePin { .. }
            | Command::ConsoleInfo
            | Command::Status { .. }
            | Command::MonitorAnswer { .. }
            | Command::MonitorEnd { .. }
            | Command::Queue
            | Command::Quit => None,
            Command::Pickup { session_id }
            | Command::Hold { session_id }
            | Command::Resume { session_id }
            | Command::Transfer { session_id, .. }
            | Command::Request { session_id, .. }
            | Command::Move { session_id, .. }
            | Command::Click { session_id, .. }
            | Command::Button { session_id, .. }
            | Command::Wheel { session_id, .. }
            | Command::Draw { session_id, .. }
            | Command::ClearDrawing { session_id }
            | Command::Key { session_id, .. }
            | Command::Type { session_id, .. }
            | Command::Chat { session_id, .. }
            | Command::SendFile { session_id, .. }
            | Command::Clipboard { session_id, .. }
            | Command::SystemInfo { session_id }
            | Command::OpenUrl { session_id, .. }
            | Command::Reboot { session_id }
            | Command::Record { session_id, .. }
            | Command::Stats { session_id }
            | Command::List { session_id, .. }
            | Command::Get { session_id, .. }
            | Command::Put { session_id, .. }
            | Command::Rename { session_id, .. }
            | Command::Delete { session_id, .. }
            | Command::Snapshot { session_id, .. }
            | Command::Stream { session_id, .. }
            | Command::Fields { session_id, .. }
            | Command::Note { session_id, .. }
            | Command::Notes { session_id }
            | Command::Survey { session_id, .. }
            | Command::End { session_id, .. } => Some(session_id),
        }
    }
}

impl ConsoleEvent {
    /// The session an event is about, if any.
    pub fn session_id(&self) -> Option<&str> {
        use ConsoleEvent as E;
        match self {
            E::Ready { .. }
            | E::Queue { .. }
            | E::Error { .. }
            | E::ConsoleInfo { .. }
            | E::Monitor { .. }
            | E::Status { .. } => None,
            E::Refused { session_id, .. } => session_id.as_deref(),
            E::Pin { session_id, .. }
            | E::Connected { session_id, .. }
            | E::Path { session_id, .. }
            | E::Reconnecting { session_id }
            | E::Established { session_id, .. }
            | E::Consent { session_id, .. }
            | E::FirstFrame { session_id, .. }
            | E::Stream { session_id, .. }
            | E::Snapshot { session_id, .. }
            | E::Clipboard { session_id, .. }
            | E::SystemInfo { session_id, .. }
            | E::Recording { session_id, .. }
            | E::Stats { session_id, .. }
            | E::Chat { session_id, .. }
            | E::Progress { session_id, .. }
            | E::File { session_id, .. }
            | E::FileList { session_id, .. }
            | E::FileAction { session_id, .. }
            | E::Fields { session_id, .. }
            | E::Note { session_id, .. }
            | E::Notes { session_id, .. }
            | E::Survey { session_id, .. }
            | E::SurveySent { session_id }
            | E::Closed { session_id, .. } => Some(session_id),
        }
    }
}
