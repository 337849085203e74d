//! The server of the demo: the real `secours server` (signaling crate),
//! embedded on loopback with a SQLite file in the demo's temporary
//! directory. A master administrator sets up a technician group; the
//! technician logs in, opens a private session and gets a PIN code; the
//! customer enters it; the technician picks the session up from the live
//! queue; the server hands both a relay token and the session's permission
//! set; the peers swap certificate fingerprints and candidates through the
//! signaling sockets. The server never sees their traffic.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use secours_peer::client::{ServerClient, SignalingSocket};
use secours_peer::setup::session_token_from_relay;
use secours_protocol::signaling::{
    GrantedSet, JoinRequest, PeerMessage, Secret, ServerMessage, SignalPayload,
};
use secours_protocol::{Fingerprint, PermissionSet, SessionToken};
use secours_signaling::config::Config;
use secours_signaling::setup::{self, FirstMaster};
use secours_signaling::store::audit::Actor;
use secours_signaling::{RunningServer, start};
use secours_transport::relay::RelayToken;
use serde_json::json;

/// What the server arranged for the two peers.
#[derive(Debug)]
pub struct Brokered {
    /// The running server (its relay hub carries the relay path).
    pub server: RunningServer,
    /// `ws://host:port` of the relay hub.
    pub relay_base: String,
    /// The relay token both peers received.
    pub relay_token: RelayToken,
    /// The applet's fingerprint as the console learned it through signaling.
    pub applet_fp_at_console: Fingerprint,
    /// The console's fingerprint as the applet learned it.
    pub console_fp_at_applet: Fingerprint,
    /// The applet's direct candidate as the console learned it.
    pub candidate_at_console: Option<SocketAddr>,
    /// Permission sets: the console's (REST) and the applet's (signaling).
    pub console_permissions: PermissionSet,
    /// The applet's.
    pub applet_permissions: PermissionSet,
    /// The server's session id.
    pub session_id: String,
    /// What happened, for the summary.
    pub log: Vec<String>,
    /// The session token both handshakes bind (from the relay token).
    pub session_token: SessionToken,
    /// The signaling sockets stay open for the whole session.
    console_ws: SignalingSocket,
    applet_ws: SignalingSocket,
    tech: ServerClient,
}

const MASTER: &str = "admin@helpdesk.example";
const TECH: &str = "alex@helpdesk.example";
const PASSWORD: &str = "Demo-Pass1%";

const WAIT: Duration = Duration::from_secs(10);

fn fingerprint(sha256: &str) -> Result<Fingerprint> {
    let bytes = hex::decode(sha256)?;
    Fingerprint::from_slice(&bytes).context("a fingerprint is 32 bytes")
}

/// The first signal of `kind` on a socket (errors from the server fail).
async fn signal(ws: &mut SignalingSocket, kind: &str) -> Result<SignalPayload> {
    let mut refused = None;
    let got = ws
        .next_where(
            WAIT,
            |m| match m {
                ServerMessage::Signal { payload, .. } if payload.kind() == kind => {
                    Some(payload.clone())
                }
                _ => None,
            },
            |m| {
                if let ServerMessage::Error { message } = m {
                    refused = Some(message);
                }
            },
        )
        .await;
    if let Some(e) = refused {
        bail!("signaling error: {e}");
    }
    Ok(got?)
}

impl Brokered {
    /// The technician closes the session on the server; the audit chain is
    /// verified and the server stops. Returns a line for the summary.
    pub async fn finish(self) -> Result<String> {
        let mut this = self;
        let state = this.server.state.clone();
        let closed = this.tech.close(&this.session_id).await?.state == "closed";
        // The customer's applet hears it on its signaling socket.
        this.applet_ws
            .next_where(
                WAIT,
                |m| {
                    matches!(m, ServerMessage::SessionState { state, .. }
                        if *state == secours_protocol::signaling::SessionState::Closed)
                    .then_some(())
                },
                |_| {},
            )
            .await?;
        this.console_ws.close().await;
        let chain = secours_signaling::store::audit::verify(&state.store.pool)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        this.server.shutdown().await?;
        if !closed || !chain.intact {
            bail!(
                "server: session closed {closed}, audit chain intact {}",
                chain.intact
            );
        }
        Ok(format!(
            "session {} closed by the technician; audit chain intact ({} entries); server stopped",
            this.session_id, chain.entries
        ))
    }
}

/// Runs the server and the sign-up-to-pick-up flow.
pub async fn broker(
    dir: &Path,
    console_fp: Fingerprint,
    applet_fp: Fingerprint,
    applet_candidate: Option<SocketAddr>,
) -> Result<Brokered> {
    let mut log = Vec::new();
    // A free loopback port, so the public URL (relay address) is right.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        stun_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        database_url: format!("sqlite://{}?mode=rwc", dir.join("server.db").display()),
        public_url: base.clone(),
        ..Config::default()
    };
    let server = start(config).await.context("start the embedded server")?;
    let first = FirstMaster {
        org_name: "Demo Help Desk".into(),
        name: "Admin".into(),
        email: MASTER.into(),
        password: PASSWORD.into(),
    };
    setup::create(&server.state.store, &first, &Actor::system("demo"))
        .await
        .map_err(|e| anyhow!("{e}"))?;
    log.push(format!(
        "server on {base} (SQLite), organisation set up by `init`"
    ));
    let anon = ServerClient::new(&base)?;
    let master = anon.login(MASTER, Secret::from(PASSWORD)).await?.token;
    let admin = anon.clone().with_token(master);
    // The group and the technician are the administration centre's work;
    // their routes are the server's, not the peers' contract.
    let group: serde_json::Value = admin_post(
        &admin,
        "/api/v1/tech-groups",
        json!({
            "name": "Printers and peripherals",
            "settings": {"permissions": ["chat", "remote_control", "desktop_view", "send_files",
                "receive_files", "send_url", "system_info", "clipboard", "private_sessions"]}
        }),
    )
    .await?;
    admin_post(
        &admin,
        "/api/v1/users",
        json!({
            "role": "technician", "name": "Alex Martin", "nickname": "Alex", "email": TECH,
            "password": "Initial-Pass1%", "tech_group_id": group["id"]
        }),
    )
    .await?;
    let first_login = anon.login(TECH, Secret::from("Initial-Pass1%")).await?;
    let tech_token = anon
        .clone()
        .with_token(first_login.token)
        .change_password(Secret::from("Initial-Pass1%"), Secret::from(PASSWORD))
        .await?
        .token;
    let tech = anon.clone().with_token(tech_token);
    log.push("technician Alex logged in (first password changed, as POL-4 requires)".into());

    let mut console = SignalingSocket::console(&tech).await?;
    console
        .next_where(
            WAIT,
            |m| matches!(m, ServerMessage::Queue { .. }).then_some(()),
            |_| {},
        )
        .await?;
    let private = tech.create_session().await?;
    log.push(format!(
        "private session opened: PIN {} for the customer",
        private.pin.expose()
    ));
    let joined = anon
        .join(&JoinRequest {
            pin: Some(private.pin.clone()),
            link: None,
            name: "Sam".into(),
        })
        .await?;
    let session_id = joined.session_id.clone();
    let mut applet = SignalingSocket::applet(&anon, &joined).await?;
    applet
        .next_where(
            WAIT,
            |m| matches!(m, ServerMessage::Hello(_)).then_some(()),
            |_| {},
        )
        .await?;
    log.push(format!(
        "customer entered the PIN; session {session_id} waits for {}",
        joined.technician.as_deref().unwrap_or("?")
    ));
    console
        .next_where(
            WAIT,
            |m| match m {
                ServerMessage::Queue { sessions, .. }
                    if sessions.iter().any(|s| s.id == session_id) =>
                {
                    Some(())
                }
                _ => None,
            },
            |_| {},
        )
        .await?;
    tech.pickup(&session_id).await?;
    log.push("the session appeared in Alex's live queue; Alex picked it up".into());

    let applet_set: GrantedSet = applet
        .next_where(
            WAIT,
            |m| match m {
                ServerMessage::Granted { permissions, .. } => Some(permissions.clone()),
                _ => None,
            },
            |_| {},
        )
        .await?;
    let relay = signal(&mut applet, "relay").await?;
    let relay_console = signal(&mut console, "relay").await?;
    if relay != relay_console {
        bail!("the peers received different relay tokens");
    }
    let SignalPayload::Relay { url, token } = relay else {
        bail!("not a relay signal");
    };
    let console_set = tech.permissions(&session_id).await?;
    log.push(format!(
        "server granted: {}",
        applet_set
            .granted
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", ")
    ));

    // Fingerprints and candidates, through the server.
    console
        .send(&PeerMessage::Signal {
            session_id: Some(session_id.clone()),
            payload: SignalPayload::Fingerprint {
                sha256: hex::encode(console_fp.as_bytes()),
                candidates: vec![],
            },
        })
        .await?;
    applet
        .send(&PeerMessage::Signal {
            session_id: None,
            payload: SignalPayload::Fingerprint {
                sha256: hex::encode(applet_fp.as_bytes()),
                candidates: applet_candidate.iter().map(ToString::to_string).collect(),
            },
        })
        .await?;
    let SignalPayload::Fingerprint {
        sha256: at_applet, ..
    } = signal(&mut applet, "fingerprint").await?
    else {
        bail!("not a fingerprint");
    };
    let SignalPayload::Fingerprint {
        sha256: at_console,
        candidates,
    } = signal(&mut console, "fingerprint").await?
    else {
        bail!("not a fingerprint");
    };
    let candidate_at_console = candidates.first().and_then(|s| s.parse().ok());
    log.push("fingerprints and candidates swapped over the signaling sockets".into());
    Ok(Brokered {
        relay_base: url.trim_end_matches("/relay/v1/ws").to_owned(),
        session_token: session_token_from_relay(token.expose()),
        relay_token: RelayToken::from_string(token.into_inner()),
        applet_fp_at_console: fingerprint(&at_console)?,
        console_fp_at_applet: fingerprint(&at_applet)?,
        candidate_at_console,
        console_permissions: console_set.to_permission_set(),
        applet_permissions: applet_set.to_permission_set(),
        session_id,
        server,
        log,
        console_ws: console,
        applet_ws: applet,
        tech,
    })
}

/// An administrator's call outside the peers' contract (the group and the
/// account the demo sets up).
async fn admin_post(
    admin: &ServerClient,
    path: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value> {
    let http = reqwest::Client::new();
    let token = admin
        .token()
        .map(|t| t.expose().to_owned())
        .unwrap_or_default();
    let r = http
        .post(format!("{}{path}", admin.base()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    let status = r.status();
    let v: serde_json::Value = r.json().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{path}: {status} {v}");
    }
    Ok(v)
}
