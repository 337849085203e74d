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
use futures_util::{SinkExt, StreamExt};
use secours_protocol::pb::{ChatMode, Permission};
use secours_protocol::{Fingerprint, PermissionSet};
use secours_signaling::config::Config;
use secours_signaling::model;
use secours_signaling::scope::GrantedSet;
use secours_signaling::setup::{self, FirstMaster};
use secours_signaling::store::audit::Actor;
use secours_signaling::{RunningServer, start};
use secours_transport::relay::RelayToken;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

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
    /// The signaling sockets stay open for the whole session.
    console_ws: Ws,
    applet_ws: Ws,
    http: reqwest::Client,
    base: String,
    tech_token: String,
}

const MASTER: &str = "admin@helpdesk.example";
const TECH: &str = "alex@helpdesk.example";
const PASSWORD: &str = "Demo-Pass1%";

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Value,
) -> Result<Value> {
    let mut req = http.request(method, url.clone()).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.with_context(|| url.clone())?;
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{url}: {status} {v}");
    }
    Ok(v)
}

async fn next_of(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Result<Value> {
    let wait = async {
        while let Some(m) = ws.next().await {
            if let Message::Text(t) = m? {
                let v: Value = serde_json::from_str(&t)?;
                if v["type"] == "error" {
                    bail!("signaling error: {v}");
                }
                if pred(&v) {
                    return Ok(v);
                }
            }
        }
        bail!("signaling socket closed")
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .map_err(|_| anyhow!("no signaling message within 10 s"))?
}

async fn send(ws: &mut Ws, v: Value) -> Result<()> {
    ws.send(Message::Text(v.to_string().into())).await?;
    Ok(())
}

fn to_protocol(set: &GrantedSet) -> PermissionSet {
    let conv = |ps: &[model::Perm]| -> Vec<Permission> {
        ps.iter()
            .filter_map(|p| Permission::try_from(*p as i32).ok())
            .collect()
    };
    let mut out = PermissionSet::new(conv(&set.granted), conv(&set.prompt));
    out.single_prompt = set.single_prompt;
    out.chat_mode = match set.chat_mode {
        model::ChatMode::On => ChatMode::On,
        model::ChatMode::OnToggle => ChatMode::OnToggle,
        model::ChatMode::OffToggle => ChatMode::OffToggle,
    };
    out
}

fn fingerprint(v: &Value) -> Result<Fingerprint> {
    let bytes = hex::decode(v["payload"]["sha256"].as_str().unwrap_or_default())?;
    Fingerprint::from_slice(&bytes).context("a fingerprint is 32 bytes")
}

impl Brokered {
    /// The technician closes the session on the server; the audit chain is
    /// verified and the server stops. Returns a line for the summary.
    pub async fn finish(self) -> Result<String> {
        let mut this = self;
        let state = this.server.state.clone();
        let closed = call(
            &this.http,
            reqwest::Method::POST,
            format!("{}/api/v1/sessions/{}/close", this.base, this.session_id),
            Some(&this.tech_token),
            json!({}),
        )
        .await?;
        let closed = closed["state"] == "closed";
        // The customer's applet hears it on its signaling socket.
        next_of(&mut this.applet_ws, |v| {
            v["type"] == "session_state" && v["state"] == "closed"
        })
        .await?;
        drop(this.console_ws);
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
    let http = reqwest::Client::new();
    let post = reqwest::Method::POST;
    let login = |email: &'static str, pw: &'static str| {
        call(
            &http,
            reqwest::Method::POST,
            format!("{base}/api/v1/auth/login"),
            None,
            json!({"email": email, "password": pw}),
        )
    };
    let master = login(MASTER, PASSWORD).await?["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let group = call(
        &http,
        post.clone(),
        format!("{base}/api/v1/tech-groups"),
        Some(&master),
        json!({
            "name": "Printers and peripherals",
            "settings": {"permissions": ["chat", "remote_control", "desktop_view", "send_files",
                "receive_files", "send_url", "system_info", "clipboard", "private_sessions"]}
        }),
    )
    .await?;
    call(
        &http,
        post.clone(),
        format!("{base}/api/v1/users"),
        Some(&master),
        json!({
            "role": "technician", "name": "Alex Martin", "nickname": "Alex", "email": TECH,
            "password": "Initial-Pass1%", "tech_group_id": group["id"]
        }),
    )
    .await?;
    let first_login = login(TECH, "Initial-Pass1%").await?;
    let tech = call(
        &http,
        post.clone(),
        format!("{base}/api/v1/me/password"),
        first_login["token"].as_str(),
        json!({"current_password": "Initial-Pass1%", "new_password": PASSWORD}),
    )
    .await?["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    log.push("technician Alex logged in (first password changed, as POL-4 requires)".into());

    let ws_base = base.replacen("http", "ws", 1);
    let (mut console, _) =
        tokio_tungstenite::connect_async(format!("{ws_base}/ws/console?token={tech}")).await?;
    next_of(&mut console, |v| v["type"] == "queue").await?;
    let private = call(
        &http,
        post.clone(),
        format!("{base}/api/v1/sessions"),
        Some(&tech),
        json!({}),
    )
    .await?;
    let pin = private["pin"].as_str().unwrap_or_default().to_owned();
    log.push(format!(
        "private session opened: PIN {pin} for the customer"
    ));
    let joined = call(
        &http,
        post.clone(),
        format!("{base}/api/v1/join"),
        None,
        json!({"pin": pin, "name": "Sam"}),
    )
    .await?;
    let session_id = joined["session_id"].as_str().unwrap_or_default().to_owned();
    let (mut applet, _) = tokio_tungstenite::connect_async(format!(
        "{ws_base}/ws/applet?session={session_id}&token={}",
        joined["customer_token"].as_str().unwrap_or_default()
    ))
    .await?;
    next_of(&mut applet, |v| v["type"] == "hello").await?;
    log.push(format!(
        "customer entered the PIN; session {session_id} waits for {}",
        joined["technician"].as_str().unwrap_or("?")
    ));
    next_of(&mut console, |v| {
        v["type"] == "queue"
            && v["sessions"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["id"] == session_id.as_str()))
    })
    .await?;
    call(
        &http,
        post.clone(),
        format!("{base}/api/v1/sessions/{session_id}/pickup"),
        Some(&tech),
        json!({}),
    )
    .await?;
    log.push("the session appeared in Alex's live queue; Alex picked it up".into());

    let granted = next_of(&mut applet, |v| v["type"] == "granted").await?;
    let applet_set: GrantedSet = serde_json::from_value(granted["permissions"].clone())?;
    let relay = next_of(&mut applet, |v| {
        v["type"] == "signal" && v["payload"]["kind"] == "relay"
    })
    .await?;
    let relay_console = next_of(&mut console, |v| {
        v["type"] == "signal" && v["payload"]["kind"] == "relay"
    })
    .await?;
    if relay["payload"] != relay_console["payload"] {
        bail!("the peers received different relay tokens");
    }
    let console_set: GrantedSet = serde_json::from_value(
        reqwest::Client::get(
            &http,
            format!("{base}/api/v1/sessions/{session_id}/permissions"),
        )
        .bearer_auth(&tech)
        .send()
        .await?
        .json()
        .await?,
    )?;
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
    send(
        &mut console,
        json!({"type": "signal", "session_id": session_id,
        "payload": {"kind": "fingerprint", "sha256": hex::encode(console_fp.as_bytes())}}),
    )
    .await?;
    let mut hello = json!({"kind": "fingerprint", "sha256": hex::encode(applet_fp.as_bytes())});
    if let Some(c) = applet_candidate {
        hello["candidates"] = json!([c.to_string()]);
    }
    send(&mut applet, json!({"type": "signal", "payload": hello})).await?;
    let at_applet = next_of(&mut applet, |v| {
        v["type"] == "signal" && v["payload"]["kind"] == "fingerprint"
    })
    .await?;
    let at_console = next_of(&mut console, |v| {
        v["type"] == "signal" && v["payload"]["kind"] == "fingerprint"
    })
    .await?;
    let candidate_at_console = at_console["payload"]["candidates"][0]
        .as_str()
        .and_then(|s| s.parse().ok());
    log.push("fingerprints and candidates swapped over the signaling sockets".into());
    let relay_url = relay["payload"]["url"].as_str().unwrap_or_default();
    Ok(Brokered {
        relay_base: relay_url.trim_end_matches("/relay/v1/ws").to_owned(),
        relay_token: RelayToken::from_string(
            relay["payload"]["token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ),
        applet_fp_at_console: fingerprint(&at_console)?,
        console_fp_at_applet: fingerprint(&at_applet)?,
        candidate_at_console,
        console_permissions: to_protocol(&console_set),
        applet_permissions: to_protocol(&applet_set),
        session_id,
        server,
        log,
        console_ws: console,
        applet_ws: applet,
        http,
        base,
        tech_token: tech,
    })
}
