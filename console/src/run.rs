//! The console program: logs in, follows the live queue on the signaling
//! socket, runs commands, and runs each picked-up session on a task of its
//! own (several at once, CONSOLE-1). The socket's signals are routed to
//! their session by id.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use secours_peer::client::{ClientError, ServerClient, SignalingSocket};
use secours_peer::connect::{MeetError, Route, host_ip_toward, meet, with_trickle};
use secours_peer::setup::{capabilities, session_config};
use secours_peer::{Driver, DriverError};
use secours_protocol::Session;
use secours_protocol::pb::Role;
use secours_protocol::signaling::{
    PeerMessage, Secret, ServerMessage, SessionState, SignalPayload, TransferTarget,
};
use secours_transport::LocalIdentity;
use secours_transport::connector::{PathReport, Reports};
use tokio::sync::mpsc;
use tracing::Instrument;

pub use secours_peer::connect::PathChoice;

use crate::commands::{Command, ConsoleEvent};
use crate::session::{ConsoleApp, received_dir};

/// What `secours console` needs.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// The server, `http[s]://host[:port]`.
    pub server: String,
    /// Login e-mail.
    pub email: String,
    /// Password (from a prompt or a variable, never a flag).
    pub password: Secret,
    /// Where the customers' files land (a folder per session).
    pub files_dir: PathBuf,
    /// Paths allowed.
    pub path: PathChoice,
    /// The server's STUN responder.
    pub stun: Option<std::net::SocketAddr>,
    /// A window's copy of every session's screen, when there is a window.
    pub screens: Option<crate::screens::Screens>,
}

/// Why the console stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// The server refused or could not be reached.
    #[error(transparent)]
    Server(#[from] ClientError),
    /// The account must change its password first.
    #[error("this account must change its password first (in the administration centre)")]
    PasswordChangeRequired,
}

/// Where the server's news of one session goes: its signals, and word
/// that its applet went away (the server waits for it to come back).
#[derive(Debug, Clone)]
struct SessionRoute {
    signals: mpsc::Sender<SignalPayload>,
    applet_gone: mpsc::UnboundedSender<()>,
    /// The server closed the session (an administrator, a revocation): a
    /// session on a direct path, which the server cannot cut, ends here.
    closed: mpsc::UnboundedSender<String>,
}

type Routes = Arc<Mutex<HashMap<String, SessionRoute>>>;

fn lock(r: &Routes) -> std::sync::MutexGuard<'_, HashMap<String, SessionRoute>> {
    r.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs the console: `commands` in, `events` out, until `Quit` or the
/// commands end.
pub async fn run(
    config: ConsoleConfig,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<ConsoleEvent>,
) -> Result<(), ConsoleError> {
    let anon = ServerClient::new(&config.server)?;
    let login = anon.login(&config.email, config.password.clone()).await?;
    if login.must_change_password {
        return Err(ConsoleError::PasswordChangeRequired);
    }
    let client = anon.with_token(login.token);
    let ws = SignalingSocket::console(&client).await?;
    let _ = events.send(ConsoleEvent::Ready {
        user_id: login.user_id,
    });
    // The status switch, the create-session dialog and the texts need it
    // at once; an administrator's account has none (403).
    match crate::desk::console_info(&client).await {
        Ok(e) => {
            let _ = events.send(e);
        }
        Err(e) => tracing::info!(error = %e, "no console settings"),
    }
    let routes: Routes = Arc::default();
    let out = run_socket(ws, routes.clone(), events.clone());
    let mut sessions: HashMap<String, mpsc::UnboundedSender<Command>> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    while let Some(c) = commands.recv().await {
        let error = |e: ClientError| ConsoleEvent::Refused {
            session_id: c.session_id().map(str::to_owned),
            reason: e.to_string(),
        };
        if crate::desk::handle(&client, &c, &events).await.is_some() {
            continue;
        }
        match &c {
            Command::Quit => break,
            Command::Queue => match client.sessions().await {
                Ok(sessions) => {
                    let _ = events.send(ConsoleEvent::Queue { sessions });
                }
                Err(e) => {
                    let _ = events.send(error(e));
                }
            },
            Command::Pickup { session_id } => {
                let (tx, rx) = mpsc::unbounded_channel();
                sessions.insert(session_id.clone(), tx);
                // Routed before the pick-up: the relay signal follows it at once.
                let (sig_tx, sig_rx) = mpsc::channel(16);
                let (gone_tx, gone_rx) = mpsc::unbounded_channel();
                let (closed_tx, closed_rx) = mpsc::unbounded_channel();
                lock(&routes).insert(
                    session_id.clone(),
                    SessionRoute {
                        signals: sig_tx,
                        applet_gone: gone_tx,
                        closed: closed_tx,
                    },
                );
                let job = SessionJob {
                    client: client.clone(),
                    config: config.clone(),
                    session_id: session_id.clone(),
                    events: events.clone(),
                    out: out.clone(),
                };
                let routes = routes.clone();
                let span = tracing::info_span!("console", session = %session_id);
                tasks.spawn(
                    async move {
                        let id = job.session_id.clone();
                        let events = job.events.clone();
                        if let Err(reason) = job.run(sig_rx, gone_rx, closed_rx, rx).await {
                            let _ = events.send(ConsoleEvent::Closed {
                                session_id: id.clone(),
                                reason,
                                path: None,
                            });
                        }
                        lock(&routes).remove(&id);
                    }
                    .instrument(span),
                );
            }
            Command::Hold { session_id } | Command::Resume { session_id } => {
                let r = if matches!(c, Command::Hold { .. }) {
                    client.hold(session_id).await
                } else {
                    client.resume(session_id).await
                };
                if let Err(e) = r {
                    let _ = events.send(error(e));
                }
            }
            Command::Transfer {
                session_id,
                tech_id,
                group_id,
            } => {
                let to = TransferTarget {
                    tech_id: *tech_id,
                    group_id: *group_id,
                };
                if let Err(e) = client.transfer(session_id, &to).await {
                    let _ = events.send(error(e));
                }
            }
            other => match other.session_id().and_then(|id| sessions.get(id)) {
                Some(tx) => {
                    // An end goes to the applet over the link first; the
                    // session's task closes it on the server afterwards
                    // (closing there first would cut the relay under it).
                    let _ = tx.send(other.clone());
                }
                None => {
                    let _ = events.send(ConsoleEvent::Refused {
                        session_id: other.session_id().map(str::to_owned),
                        reason: "no such session running here".into(),
                    });
                }
            },
        }
    }
    for (id, tx) in &sessions {
        let _ = tx.send(Command::End {
            session_id: id.clone(),
            reason: Some("The technician closed the console".into()),
        });
        let _ = client.close(id).await;
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Routes the server's messages: queue and states to events, signals to
/// their session; the sessions' signals go out through `out`.
fn run_socket(
    mut ws: SignalingSocket,
    routes: Routes,
    events: mpsc::UnboundedSender<ConsoleEvent>,
) -> mpsc::Sender<PeerMessage> {
    let (out, mut out_rx) = mpsc::channel::<PeerMessage>(64);
    tokio::spawn(async move {
        // A push comes in pages: the queue is their concatenation.
        let mut queue = Vec::new();
        loop {
            tokio::select! {
                m = ws.next() => match m {
                    Ok(ServerMessage::Queue { sessions, page, pages }) => {
                        if page <= 1 {
                            queue.clear();
                        }
                        queue.extend(sessions);
                        if page >= pages {
                            let sessions = std::mem::take(&mut queue);
                            let _ = events.send(ConsoleEvent::Queue { sessions });
                        }
                    }
                    Ok(ServerMessage::Signal { session_id, payload, .. }) => {
                        let route = lock(&routes).get(&session_id).cloned();
                        if let Some(route) = route {
                            let _ = route.signals.send(payload).await;
                        }
                    }
                    Ok(ServerMessage::Warning { session_id, timeout, .. }) if timeout == "reconnect" => {
                        if let Some(route) = lock(&routes).get(&session_id) {
                            let _ = route.applet_gone.send(());
                        }
                    }
                    Ok(ServerMessage::SessionState { session_id, state: SessionState::Closed, reason, .. }) => {
                        if let Some(route) = lock(&routes).remove(&session_id) {
                            tracing::info!(%session_id, reason = ?reason, "closed on the server");
                            let _ = route.closed.send(reason.unwrap_or_else(|| "closed".into()));
                        }
                    }
                    Ok(ServerMessage::Monitor { monitor_id, admin, consent, state }) => {
                        let _ = events.send(ConsoleEvent::Monitor { monitor_id, admin, consent, state });
                    }
                    Ok(ServerMessage::Error { message }) => {
                        let _ = events.send(ConsoleEvent::Error { message });
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = events.send(ConsoleEvent::Error { message: e.to_string() });
                        break;
                    }
                },
                m = out_rx.recv() => match m {
                    Some(m) => if ws.send(&m).await.is_err() { break },
                    None => break,
                },
            }
        }
    });
    out
}

/// One picked-up session, from the pick-up to its end.
struct SessionJob {
    client: ServerClient,
    config: ConsoleConfig,
    session_id: String,
    events: mpsc::UnboundedSender<ConsoleEvent>,
    out: mpsc::Sender<PeerMessage>,
}

impl SessionJob {
    async fn run(
        self,
        mut signals: mpsc::Receiver<SignalPayload>,
        mut applet_gone: mpsc::UnboundedReceiver<()>,
        mut closed: mpsc::UnboundedReceiver<String>,
        commands: mpsc::UnboundedReceiver<Command>,
    ) -> Result<(), String> {
        let picked_at = tokio::time::Instant::now().into_std();
        let view = self
            .client
            .pickup(&self.session_id)
            .await
            .map_err(|e| format!("pick-up refused: {e}"))?;
        let granted = self
            .client
            .permissions(&self.session_id)
            .await
            .map_err(|e| e.to_string())?;
        let _ = self.events.send(ConsoleEvent::Fields {
            session_id: self.session_id.clone(),
            fields: crate::desk::fields_of(&view.customer_fields),
            editable: crate::desk::may_edit_fields(&granted),
        });
        let dir = received_dir(&self.config.files_dir, &self.session_id);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut app = ConsoleApp::new(
            self.session_id.clone(),
            commands,
            self.events.clone(),
            &dir,
            picked_at,
        )
        .map_err(|e| e.to_string())?
        .with_screens(self.config.screens.clone());
        let route = Route {
            path: self.config.path,
            host_ips: host_ip_toward(&self.config.server).into_iter().collect(),
            stun: self.config.stun,
            // The applet offers the relayed address; the console reaches it.
            turn: None,
        };
        let mut first = true;
        let ended = loop {
            // Each meeting has its own certificates and handshake: after the
            // applet comes back (a reboot), the customer sees a new SAS.
            let identity = LocalIdentity::generate().map_err(|e| e.to_string())?;
            let meeting = meet(
                Role::Console,
                &self.session_id,
                &mut signals,
                &self.out,
                &identity,
                &route,
            )
            .await
            .map_err(|e: MeetError| {
                if first {
                    e.to_string()
                } else {
                    format!("the applet did not come back: {e}")
                }
            });
            let meeting = match meeting {
                Ok(m) => m,
                Err(e) if first => return Err(e),
                // The applet left because the server closed the session,
                // which said so before it dropped the session's signals.
                Err(e) => match closed.try_recv() {
                    Ok(reason) => break Err(format!("closed on the server ({reason})")),
                    Err(_) => break Err(e),
                },
            };
            first = false;
            let mut link = meeting.link;
            let _ = self.events.send(ConsoleEvent::Connected {
                session_id: self.session_id.clone(),
                path: link.path().kind.to_string(),
            });
            let watcher = meeting.race.clone().map(|race| {
                tokio::spawn(report_paths(
                    race,
                    self.session_id.clone(),
                    self.events.clone(),
                    picked_at,
                ))
            });
            let cfg = session_config(
                &meeting.pairing,
                granted.to_permission_set(),
                capabilities(false, false),
            )
            .map_err(|e| e.to_string())?;
            let mut session = Session::new(cfg, tokio::time::Instant::now().into_std());
            while applet_gone.try_recv().is_ok() {}
            let driver = Driver::new();
            // The server says at once when the applet's socket went; the
            // link may take its idle timeout to notice.
            let mut closed_by_server = None;
            let ended = tokio::select! {
                ended = with_trickle(
                    driver.run(&mut session, &mut link, &mut app),
                    &mut signals,
                    meeting.trickle.as_ref(),
                ) => ended,
                Some(()) = applet_gone.recv() => Err(DriverError::LinkClosed),
                Some(reason) = closed.recv() => {
                    closed_by_server = Some(reason);
                    Err(DriverError::LinkClosed)
                }
            };
            if let Some(w) = watcher {
                w.abort();
            }
            // The applet may have ended its side first.
            if let Some(reason) = closed_by_server.or_else(|| closed.try_recv().ok()) {
                link.close();
                break Err(format!("closed on the server ({reason})"));
            }
            match ended {
                // The applet is gone without ending the session (a reboot,
                // a crash): the server waits for it; so does this console.
                Err(DriverError::LinkClosed | DriverError::Link(_)) | Ok(_)
                    if app.closed.is_none() =>
                {
                    app.interrupted();
                    // What the gone applet said last is stale now.
                    while signals.try_recv().is_ok() {}
                    let _ = self.events.send(ConsoleEvent::Reconnecting {
                        session_id: self.session_id.clone(),
                    });
                }
                other => break other.map_err(|e: DriverError| e.to_string()),
            }
        };
        app.abandon_files();
        app.finish_recording();
        // Closed on the server too, whichever side ended it (the applet may
        // be gone); a session already closed there answers 409.
        let _ = self.client.close(&self.session_id).await;
        let path = ended.as_ref().ok().map(|p| p.kind.to_string());
        let reason = match (&ended, app.closed.take()) {
            (Err(e), _) => e.clone(),
            (Ok(_), Some(r)) => r,
            (Ok(_), None) => "ended".into(),
        };
        let _ = self.events.send(ConsoleEvent::Closed {
            session_id: self.session_id.clone(),
            reason,
            path,
        });
        crate::desk::survey_after(&self.client, &self.session_id, &self.events).await;
        Ok(())
    }
}

/// Tells the technician (and scripts) each change of the session's path as
/// the connector reports it: which path won, and why a direct one failed.
async fn report_paths(
    race: Reports,
    session_id: String,
    events: mpsc::UnboundedSender<ConsoleEvent>,
    picked_at: std::time::Instant,
) {
    let mut told = 0;
    loop {
        let all = race.timed();
        for (at, report) in all.iter().skip(told) {
            let (path, remote, reason) = match report {
                // Which direct path won, and why the others lost.
                PathReport::Direct => {
                    let now = race.path();
                    let losers = race.losers();
                    let why = (!losers.is_empty()).then(|| losers.join("; "));
                    (now.kind.to_string(), now.remote, why)
                }
                PathReport::DirectFailed(e) => ("relay".into(), None, Some(e.to_string())),
                PathReport::FellBack(e) => (
                    "relay".into(),
                    None,
                    Some(
                        e.as_ref()
                            .map_or("the direct path closed".into(), ToString::to_string),
                    ),
                ),
            };
            let ms = at.saturating_duration_since(picked_at).as_secs_f64() * 1e3;
            let _ = events.send(ConsoleEvent::Path {
                session_id: session_id.clone(),
                path,
                remote: remote.map(|r| r.to_string()),
                reason,
                ms_since_pickup: ms,
            });
        }
        told = all.len();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
