//! The customer's program (`secours applet`): enter the PIN (or open a
//! link), wait for the technician, compare the short authentication string,
//! answer each consent question, and be helped. The session's rights are
//! the server's granted set, checked again here for every message; when
//! the session ends every right goes and the temporary folder is deleted.

mod clipboard;
pub mod customer;
mod encoder_cache;
mod file_manager;
pub mod resume;
mod screen;
mod serve;
pub mod terminal;

use std::net::SocketAddr;
use std::path::PathBuf;

use secours_codec::Backend;
use secours_peer::client::{ClientError, ServerClient, SignalingSocket};
use secours_peer::connect::{MeetError, PathChoice, Route, host_ip_toward, meet, with_trickle};
use secours_peer::setup::{capabilities, session_config};
use secours_peer::{Driver, DriverError};
use secours_protocol::Session;
use secours_protocol::pb::Role;
use secours_protocol::signaling::{
    ChannelJoin, GrantedSet, InputPriority, JoinRequest, PeerMessage, Secret, ServerMessage,
    SessionState, SignalPayload, TurnGrant,
};
use secours_transport::LocalIdentity;
use secours_transport::punch::TurnRoute;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::Instrument;

use customer::{Customer, Status, Teller};
pub use screen::{OpenScreen, ScreenStream};
pub use serve::{AppletApp, ServeOptions};

use crate::capture::ScreenCapture;
use crate::input::InputInjector;
use crate::{AppletError, SyntheticScreen, X11Capture, X11Injector};

/// How the customer reaches the session.
#[derive(Debug, Clone)]
pub enum Entry {
    /// The six digits the technician gave.
    Pin(Secret),
    /// A private link (`.../join?link=SECRET`).
    Link(Secret),
    /// A channel's link (`.../join/CODE`), with the channel's form fields.
    Channel {
        /// The channel's link code.
        code: String,
        /// Form fields, name to value.
        fields: std::collections::BTreeMap<String, String>,
    },
    /// The session an earlier run left to resume (after a reboot or a
    /// crash), from the reconnection file.
    Reconnect(resume::ResumeState),
}

/// Which screen the applet serves.
#[derive(Debug, Clone)]
pub enum ScreenSource {
    /// An X display (`None`: `$DISPLAY`).
    X11(Option<String>),
    /// A synthetic scene (tests and the demo; no input injection).
    Synthetic(crate::Scene, u32, u32),
}

/// Everything `secours applet` needs.
#[derive(Debug, Clone)]
pub struct AppletConfig {
    /// The server, `http[s]://host[:port]`.
    pub server: String,
    /// PIN or link.
    pub entry: Entry,
    /// The customer's name, shown in the technician's queue.
    pub name: String,
    /// The screen.
    pub screen: ScreenSource,
    /// Where received files land (a folder the customer can see).
    pub received_dir: PathBuf,
    /// The file manager's root (`None`: the home folder).
    pub files_root: Option<PathBuf>,
    /// Paths allowed.
    pub path: PathChoice,
    /// The encoder (`None`: the start-up self-test picks).
    pub encoder: Option<Backend>,
    /// The server's STUN responder, for a reflexive candidate.
    pub stun: Option<SocketAddr>,
    /// Opens a pushed web page: program and arguments, the URL last.
    pub url_opener: Vec<String>,
    /// Restarts the computer: program and arguments.
    pub reboot_command: Vec<String>,
    /// Who has the mouse and keyboard when both act (APPLET-3).
    pub priority: crate::input::priority::Priority,
    /// The applet's window, if the customer has one (else the terminal).
    pub window: Option<crate::window::WindowLink>,
}

/// Why the applet stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppletRunError {
    /// The server refused or could not be reached.
    #[error(transparent)]
    Server(#[from] ClientError),
    /// The peers could not meet.
    #[error(transparent)]
    Meet(#[from] MeetError),
    /// The session failed.
    #[error(transparent)]
    Session(#[from] DriverError),
    /// The screen or input could not be opened.
    #[error(transparent)]
    Local(#[from] AppletError),
    /// The session ended before a technician took it.
    #[error("the session ended before a technician joined ({0})")]
    EndedEarly(String),
    /// No randomness for the session's nonce.
    #[error("no system randomness: {0}")]
    Random(String),
}

/// How a session ended, for the caller's last line.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The server's session id.
    pub session_id: String,
    /// Input events injected.
    pub injected: u64,
    /// The protocol's end reason.
    pub end: Option<secours_protocol::pb::EndReason>,
}

/// What the signaling socket task hands the session.
struct Signaling {
    /// The granted set, the technician's nickname, and the input priority
    /// the organisation set (APPLET-3, from `hello`).
    granted: oneshot::Receiver<(GrantedSet, Option<String>, Option<InputPriority>)>,
    /// The help desk's terms (APPLET-6; empty: none) and this session's
    /// TURN credentials, from `hello`.
    hello: oneshot::Receiver<(String, Option<TurnGrant>)>,
    signals: mpsc::Receiver<SignalPayload>,
    out: mpsc::Sender<PeerMessage>,
    ended: oneshot::Receiver<String>,
    /// Set when the server closes the session (the technician or an
    /// administrator ended it, or it was revoked): a session on a direct
    /// path, which the server cannot cut, ends here.
    closed: watch::Receiver<Option<String>>,
    /// The server asks the customer survey at the end (SURVEY-2, `hello`).
    survey: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Runs the socket: the server's messages to the session, the session's
/// signals to the server; tells the customer the wait and the warnings.
fn run_socket(mut ws: SignalingSocket, teller: Teller) -> Signaling {
    let (granted_tx, granted) = oneshot::channel();
    let (hello_tx, hello) = oneshot::channel();
    let (sig_tx, signals) = mpsc::channel(16);
    let (out, mut out_rx) = mpsc::channel::<PeerMessage>(16);
    let (ended_tx, ended) = oneshot::channel();
    let (closed_tx, closed) = watch::channel(None);
    let survey = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let asked = survey.clone();
    tokio::spawn(async move {
        let mut granted_tx = Some(granted_tx);
        let mut hello_tx = Some(hello_tx);
        let mut ended_tx = Some(ended_tx);
        let mut priority = None;
        loop {
            tokio::select! {
                msg = ws.next() => match msg {
                    Ok(ServerMessage::Hello(h)) => {
                        asked.store(h.customer_survey, std::sync::atomic::Ordering::Relaxed);
                        priority = h.applet.as_ref().map(|a| a.priority);
                        if let Some(tx) = hello_tx.take() {
                            let terms = h.applet.as_ref().map(|a| a.terms.clone()).unwrap_or_default();
                            let _ = tx.send((terms, h.turn.clone()));
                        }
                        let look = h.applet.map(|a| a.look).unwrap_or_default();
                        teller.tell(Status::HelpDesk {
                            organisation: h.organisation,
                            title: look.title,
                            welcome: look.welcome,
                        });
                        if let Some(w) = h.estimated_wait_s {
                            teller.tell(Status::Wait(w));
                        }
                    }
                    Ok(ServerMessage::Granted { permissions, technician, .. }) => {
                        if let Some(tx) = granted_tx.take() {
                            let _ = tx.send((permissions, technician, priority));
                        }
                    }
                    Ok(ServerMessage::Signal { payload, .. }) => {
                        if sig_tx.send(payload).await.is_err() {
                            // The session no longer listens: fine.
                        }
                    }
                    Ok(ServerMessage::Warning { timeout, seconds_left, .. }) => {
                        teller.say(&format!("The session will time out ({timeout}) in {seconds_left} s."));
                    }
                    Ok(ServerMessage::SessionState { state: SessionState::Closed, reason, .. }) => {
                        let reason = reason.unwrap_or_else(|| "closed".into());
                        closed_tx.send_replace(Some(reason.clone()));
                        if let Some(tx) = ended_tx.take() {
                            let _ = tx.send(reason);
                        }
                        break;
                    }
                    Ok(ServerMessage::Error { message }) => {
                        tracing::warn!(%message, "the server refused a signal");
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if let Some(tx) = ended_tx.take() {
                            let _ = tx.send(e.to_string());
                        }
                        break;
                    }
                },
                m = out_rx.recv() => match m {
                    Some(m) => {
                        if ws.send(&m).await.is_err() {
                            break;
                        }
                    }
                    None => break,
                },
            }
        }
        // The customer's close is the last thing said.
        while let Ok(m) = out_rx.try_recv() {
            let _ = ws.send(&m).await;
        }
        ws.close().await;
    });
    Signaling {
        granted,
        hello,
        signals,
        out,
        ended,
        closed,
        survey,
    }
}

/// Returns the reason once the server has closed the session; never when
/// the signaling socket merely went (the session goes on without it).
async fn closed_on_server(closed: &mut watch::Receiver<Option<String>>) -> String {
    match closed.wait_for(Option::is_some).await {
        Ok(reason) => reason.clone().unwrap_or_default(),
        Err(_) => std::future::pending().await,
    }
}

/// Removes the applet's temporary files when the session is over (SEC-8).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the applet until the session ends.
pub async fn run(config: AppletConfig) -> Result<Outcome, AppletRunError> {
    let driver = Driver::new();
    let customer = match &config.window {
        Some(w) => Customer::window(w.clone(), driver.waker()),
        None => Customer::terminal(driver.waker()),
    };
    let teller = customer.teller();
    let result = serve_session(config, driver, customer).await;
    if let Err(e) = &result {
        // A terminal's caller prints the error; a window shows it.
        teller.failed(&e.to_string());
    }
    result
}

/// How long the server's `hello` may take to arrive.
const HELLO_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

async fn serve_session(
    config: AppletConfig,
    driver: Driver,
    mut customer: Customer,
) -> Result<Outcome, AppletRunError> {
    let teller = customer.teller();
    let say = |line: &str| teller.say(line);
    let client = ServerClient::new(&config.server)?;
    let (pin, link) = match &config.entry {
        Entry::Pin(p) => (Some(p.clone()), None),
        Entry::Link(l) => (None, Some(l.clone())),
        Entry::Reconnect(_) | Entry::Channel { .. } => (None, None),
    };
    let joined = match &config.entry {
        Entry::Reconnect(state) => {
            say("Reconnecting to your technician...");
            state.joined()
        }
        Entry::Channel { code, fields } => {
            client
                .join_channel(
                    code,
                    &ChannelJoin {
                        name: config.name.clone(),
                        fields: fields.clone(),
                    },
                )
                .await?
        }
        _ => {
            client
                .join(&JoinRequest {
                    pin,
                    link,
                    name: config.name.clone(),
                })
                .await?
        }
    };
    let session_id = joined.session_id.clone();
    match &joined.technician {
        None if matches!(config.entry, Entry::Reconnect(_)) => {}
        t => customer.tell(Status::Waiting(t.clone())),
    }
    let ws = SignalingSocket::applet(&client, &joined).await?;
    let mut signaling = run_socket(ws, customer.teller());
    let (terms, fresh_turn) = tokio::time::timeout(HELLO_WAIT, &mut signaling.hello)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    // The server's fresh TURN credentials; the join answer's for a server
    // that sends none in `hello`.
    let turn = fresh_turn.or_else(|| joined.turn.clone());
    // APPLET-6: the help desk's terms come before anything else (once: a
    // session coming back had them accepted).
    if !matches!(config.entry, Entry::Reconnect(_))
        && !terms.trim().is_empty()
        && !customer.accepts_terms(&terms).await
    {
        let _ = signaling.out.send(PeerMessage::Close).await;
        // The server closes the session and says so.
        let _ = tokio::time::timeout(HELLO_WAIT, &mut signaling.ended).await;
        return Err(AppletRunError::EndedEarly(
            "you declined the help desk's terms".into(),
        ));
    }
    let temp = TempDir(std::env::temp_dir().join(format!("secours-applet-{}", std::process::id())));
    std::fs::create_dir_all(&temp.0).map_err(AppletError::Io)?;

    // The screen thread opens the display and runs the encoder self-test
    // while the customer waits.
    let (open, injector, screen_size): (OpenScreen, Option<Box<dyn InputInjector>>, (u32, u32)) =
        match &config.screen {
            ScreenSource::X11(display) => {
                let injector = X11Injector::connect(display.as_deref())?;
                let probe = X11Capture::connect(display.as_deref())?;
                let size = probe.size();
                drop(probe);
                let d = display.clone();
                (
                    Box::new(move || {
                        Ok(Box::new(X11Capture::connect(d.as_deref())?) as Box<dyn ScreenCapture>)
                    }),
                    Some(Box::new(injector)),
                    size,
                )
            }
            ScreenSource::Synthetic(scene, w, h) => {
                let (scene, w, h) = (*scene, *w, *h);
                (
                    Box::new(move || {
                        Ok(Box::new(SyntheticScreen::new(scene, w, h)?) as Box<dyn ScreenCapture>)
                    }),
                    None,
                    (w, h),
                )
            }
        };
    let screen = ScreenStream::start(open, config.encoder, driver.waker());

    let (granted, technician, set_priority) = tokio::select! {
        g = &mut signaling.granted => g.map_err(|_| AppletRunError::EndedEarly("signaling closed".into()))?,
        r = &mut signaling.ended => return Err(AppletRunError::EndedEarly(r.unwrap_or_default())),
    };
    customer.tell(Status::Technician(
        technician.unwrap_or_else(|| "Your technician".into()),
    ));
    // From here a reboot or a crash can come back to this session.
    let resume = resume::ResumeState {
        server: config.server.clone(),
        session_id: session_id.clone(),
        customer_token: joined.customer_token.clone(),
        name: config.name.clone(),
        turn: turn.clone(),
    };
    if let Err(e) = resume.save() {
        tracing::warn!(error = %e, "no reconnection file");
    }
    let identity = LocalIdentity::generate().map_err(MeetError::Link)?;
    let route = Route {
        path: config.path,
        host_ips: host_ip_toward(&config.server).into_iter().collect(),
        stun: config.stun,
        turn: turn.as_ref().and_then(turn_route),
    };
    let meeting = meet(
        Role::Applet,
        &session_id,
        &mut signaling.signals,
        &signaling.out,
        &identity,
        &route,
    )
    .await?;
    let mut link = meeting.link;
    // The applet enforces the server's set: never what a console claims.
    let permissions = granted.to_permission_set();
    let cfg = session_config(&meeting.pairing, permissions, capabilities(true, false))
        .map_err(|e| AppletRunError::Random(e.to_string()))?;
    let mut session = Session::new(cfg, tokio::time::Instant::now().into_std());
    // A real desktop has a clipboard to share (once allowed); arboard
    // opens $DISPLAY's.
    let clipboard = match &config.screen {
        ScreenSource::X11(None) => true,
        ScreenSource::X11(Some(d)) => std::env::var("DISPLAY").is_ok_and(|e| e == *d),
        ScreenSource::Synthetic(..) => false,
    };
    let options = ServeOptions {
        received: config.received_dir.clone(),
        clipboard,
        wake: driver.waker(),
        url_opener: config.url_opener.clone(),
        reboot_command: config.reboot_command.clone(),
        // The organisation's setting (APPLET-3) wins over the command line's.
        priority: match set_priority {
            Some(InputPriority::Customer) => crate::input::priority::Priority::Customer,
            Some(InputPriority::Technician) => crate::input::priority::Priority::Technician,
            None => config.priority,
        },
    };
    let mut app = AppletApp::new(screen, injector, screen_size, customer, options)
        .with_files_root(config.files_root.as_deref());
    if let ScreenSource::X11(display) = &config.screen {
        app = app.with_whiteboard(display.clone());
        match crate::input::x11::X11Activity::connect(display.as_deref()) {
            Ok(probe) => app = app.with_activity(Box::new(probe)),
            Err(e) => tracing::warn!(error = %e, "the customer's own input is not watched"),
        }
    }
    let run = driver
        .run(&mut session, &mut link, &mut app)
        .instrument(tracing::info_span!("applet", session = %session_id));
    let mut closed_by_server = None;
    let result = tokio::select! {
        r = with_trickle(run, &mut signaling.signals, meeting.trickle.as_ref()) => r,
        reason = closed_on_server(&mut signaling.closed) => {
            tracing::info!(%reason, "the server closed the session");
            closed_by_server = Some(reason);
            Err(DriverError::LinkClosed)
        }
    };
    drop(link);
    if app.rebooting {
        // The session waits on the server for this applet to come back.
        drop(app);
        drop(temp);
        say("Restarting. Your technician keeps the session open.");
        return Ok(Outcome {
            session_id,
            injected: 0,
            end: None,
        });
    }
    if app.end == Some(secours_protocol::pb::EndReason::ByCustomer) {
        let _ = signaling.out.send(PeerMessage::Close).await;
    }
    drop(signaling.out);
    let end = app.end;
    let injected = app.injected;
    app.abandon_files();
    drop(app);
    drop(temp);
    resume::ResumeState::forget();
    match result {
        Ok(_) => {}
        // The server closed the session (the technician ended it, or
        // revoked it): the relay goes with it, maybe before the end crossed
        // it, and the signaling socket says so.
        Err(DriverError::LinkClosed) if closed_by_server.is_some() => {}
        Err(e @ (DriverError::LinkClosed | DriverError::Link(_))) => {
            let closed =
                tokio::time::timeout(std::time::Duration::from_secs(2), &mut signaling.ended).await;
            if !matches!(closed, Ok(Ok(_))) {
                return Err(e.into());
            }
        }
        Err(e) => return Err(e.into()),
    }
    teller.tell(Status::Ended(
        "The session is over. Your technician no longer has access to this computer.".into(),
    ));
    if signaling.survey.load(std::sync::atomic::Ordering::Relaxed) {
        // The page on the server, with the token this session was joined
        // with: it answers once.
        teller.tell(Status::Survey {
            url: format!(
                "{}/survey/{session_id}?token={}",
                config.server.trim_end_matches('/'),
                joined.customer_token.expose()
            ),
            opener: config.url_opener.clone(),
        });
    }
    Ok(Outcome {
        session_id,
        injected,
        end,
    })
}

/// What a link the customer was given leads to: a private session's
/// secret (`.../join?link=SECRET`) or a channel (`.../join/CODE`); and the
/// server it is on.
pub fn parse_link(url: &str) -> Option<(String, Entry)> {
    let (server, rest) = url.split_once("/join")?;
    if let Some(secret) = link_secret(url) {
        return Some((server.to_owned(), Entry::Link(secret)));
    }
    let code = rest.strip_prefix('/')?.split(['?', '#', '/']).next()?;
    (code.len() == 32 && code.bytes().all(|b| b.is_ascii_hexdigit())).then(|| {
        (
            server.to_owned(),
            Entry::Channel {
                code: code.to_owned(),
                fields: Default::default(),
            },
        )
    })
}

/// Reads the link's secret from a private link URL (`...?link=SECRET`).
pub fn link_secret(url: &str) -> Option<Secret> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("link="))
        .filter(|s| !s.is_empty())
        .map(Secret::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_say_where_they_lead() {
        let secret = "ab".repeat(32);
        match parse_link(&format!("https://help.example/join?link={secret}")) {
            Some((server, Entry::Link(s))) => {
                assert_eq!(server, "https://help.example");
                assert_eq!(s.expose(), secret);
            }
            other => panic!("{other:?}"),
        }
        let code = "0123456789abcdef0123456789abcdef";
        match parse_link(&format!("https://help.example/sub/join/{code}")) {
            Some((server, Entry::Channel { code: c, .. })) => {
                assert_eq!(server, "https://help.example/sub");
                assert_eq!(c, code);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_link("https://help.example/join/xyz").is_none());
        assert!(parse_link("https://help.example/other").is_none());
    }
}

/// The first UDP TURN server of `grant`, with its credentials; `None` when
/// it names none this applet can use.
fn turn_route(grant: &TurnGrant) -> Option<TurnRoute> {
    let server = grant.urls.iter().find_map(|u| turn_udp_address(u))?;
    Some(TurnRoute {
        server,
        username: grant.username.clone(),
        password: grant.credential.clone(),
    })
}

/// `turn:host[:port][?transport=udp]` as a socket address (3478 by default);
/// `None` for `turns:` and TCP transports.
fn turn_udp_address(url: &str) -> Option<SocketAddr> {
    let rest = url.strip_prefix("turn:")?;
    let (host, query) = rest.split_once('?').unwrap_or((rest, ""));
    if !query.is_empty() && query != "transport=udp" {
        return None;
    }
    let with_port = if host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !host.ends_with(']')
    {
        host.to_owned()
    } else {
        format!("{host}:3478")
    };
    std::net::ToSocketAddrs::to_socket_addrs(&with_port)
        .ok()?
        .next()
}

#[cfg(test)]
mod turn_url_tests {
    use super::turn_udp_address;

    #[test]
    fn turn_urls_name_udp_servers() {
        assert_eq!(
            turn_udp_address("turn:10.0.0.2:3479?transport=udp"),
            Some("10.0.0.2:3479".parse().unwrap())
        );
        assert_eq!(
            turn_udp_address("turn:10.0.0.2"),
            Some("10.0.0.2:3478".parse().unwrap())
        );
        assert_eq!(turn_udp_address("turns:10.0.0.2:443?transport=tcp"), None);
        assert_eq!(turn_udp_address("turn:10.0.0.2:3478?transport=tcp"), None);
        assert_eq!(turn_udp_address("stun:10.0.0.2"), None);
    }
}
