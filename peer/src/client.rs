//! The typed client of the server: the REST routes a console and an applet
//! use, and the signaling WebSockets, all in the contract's types
//! (`secours_protocol::signaling`, spec/SIGNALING.md).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use secours_protocol::signaling::{
    ChannelJoin, ConsoleInfo, ErrorBody, FieldsChange, GrantedSet, JoinRequest, Joined,
    LoginRequest, LoginResponse, MAX_WS_MESSAGE, Me, MonitorAnswer, MonitorView, NewNote, Note,
    PasswordChange, PeerMessage, PrivateSession, Secret, ServerMessage, SessionView, StatusChange,
    Survey, SurveyAnswer, TechStatus, TransferTarget,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Why a call to the server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server's address is not an `http://` or `https://` URL.
    #[error("not a server URL: {0}")]
    BadUrl(String),
    /// The request did not reach the server, or its answer was cut.
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    /// The server refused, with its stable code.
    #[error("{message} ({code}, HTTP {status})")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stable code (SIGNALING.md section 1).
        code: String,
        /// For people.
        message: String,
    },
    /// The signaling socket failed.
    #[error("signaling socket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    /// The signaling socket closed.
    #[error("the signaling socket closed")]
    Closed,
    /// The server sent something outside the contract.
    #[error("unreadable message from the server: {0}")]
    Unreadable(#[from] serde_json::Error),
    /// No awaited message came in time.
    #[error("nothing from the server within {0:?}")]
    TimedOut(Duration),
}

/// The REST client, with a staff token once logged in.
#[derive(Debug, Clone)]
pub struct ServerClient {
    http: reqwest::Client,
    base: String,
    token: Option<Secret>,
}

impl ServerClient {
    /// A client of the server at `base` (`http[s]://host[:port]`).
    pub fn new(base: &str) -> Result<Self, ClientError> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::BadUrl(base));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            http,
            base,
            token: None,
        })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The same client, authenticated with a staff token.
    pub fn with_token(mut self, token: Secret) -> Self {
        self.token = Some(token);
        self
    }

    /// The staff token, if any.
    pub fn token(&self) -> Option<&Secret> {
        self.token.as_ref()
    }

    async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<R, ClientError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t.expose());
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        if !status.is_success() {
            let bytes = resp.bytes().await.unwrap_or_default();
            let body: ErrorBody = serde_json::from_slice(&bytes).unwrap_or(ErrorBody {
                code: "unknown".into(),
                message: String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
            });
            return Err(ClientError::Api {
                status: status.as_u16(),
                code: body.code,
                message: body.message,
            });
        }
        let bytes = resp.bytes().await?;
        // 204 and the like: an empty body reads as JSON null.
        let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        Ok(serde_json::from_slice(bytes)?)
    }

    async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, ClientError> {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn get<R: DeserializeOwned>(&self, path: &str) -> Result<R, ClientError> {
        self.call::<(), R>(Method::GET, path, None).await
    }

    /// Logs in; the answer's token authenticates what follows
    /// (see [`ServerClient::with_token`]).
    pub async fn login(&self, email: &str, password: Secret) -> Result<LoginResponse, ClientError> {
        let req = LoginRequest {
            email: email.to_owned(),
            password,
        };
        self.post("/api/v1/auth/login", &req).await
    }

    /// Changes the caller's password; every token of the account ends and
    /// the answer holds a fresh one.
    pub async fn change_password(
        &self,
        current: Secret,
        new: Secret,
    ) -> Result<LoginResponse, ClientError> {
        let req = PasswordChange {
            current_password: current,
            new_password: new,
        };
        self.post("/api/v1/me/password", &req).await
    }

    /// Who the token belongs to.
    pub async fn me(&self) -> Result<Me, ClientError> {
        self.get("/api/v1/me").await
    }

    /// Opens a private session with a PIN code and a link (SESS-1).
    pub async fn create_session(&self) -> Result<PrivateSession, ClientError> {
        self.post("/api/v1/sessions", &serde_json::json!({})).await
    }

    /// The technician's queue (or an administrator's live sessions).
    pub async fn sessions(&self) -> Result<Vec<SessionView>, ClientError> {
        self.get("/api/v1/sessions").await
    }

    async fn session_action(&self, id: &str, action: &str) -> Result<SessionView, ClientError> {
        self.post(
            &format!("/api/v1/sessions/{id}/{action}"),
            &serde_json::json!({}),
        )
        .await
    }

    /// Picks a waiting session up.
    pub async fn pickup(&self, id: &str) -> Result<SessionView, ClientError> {
        self.session_action(id, "pickup").await
    }

    /// Puts a session on hold.
    pub async fn hold(&self, id: &str) -> Result<SessionView, ClientError> {
        self.session_action(id, "hold").await
    }

    /// Resumes a session on hold.
    pub async fn resume(&self, id: &str) -> Result<SessionView, ClientError> {
        self.session_action(id, "resume").await
    }

    /// Ends a session.
    pub async fn close(&self, id: &str) -> Result<SessionView, ClientError> {
        self.session_action(id, "close").await
    }

    /// Transfers a session to a technician or a group.
    pub async fn transfer(
        &self,
        id: &str,
        to: &TransferTarget,
    ) -> Result<SessionView, ClientError> {
        self.post(&format!("/api/v1/sessions/{id}/transfer"), to)
            .await
    }

    /// What the technician may do in a session.
    pub async fn permissions(&self, id: &str) -> Result<GrantedSet, ClientError> {
        self.get(&format!("/api/v1/sessions/{id}/permissions"))
            .await
    }

    /// A customer uses a PIN code or a link.
    pub async fn join(&self, req: &JoinRequest) -> Result<Joined, ClientError> {
        self.post("/api/v1/join", req).await
    }

    /// A customer opens a channel session.
    pub async fn join_channel(&self, code: &str, req: &ChannelJoin) -> Result<Joined, ClientError> {
        self.post(&format!("/api/v1/join/channel/{code}"), req)
            .await
    }

    /// The technician's status, maximum, private-session fields and
    /// console texts (SESS-9, FIELD-2, CONSOLE-16).
    pub async fn console_info(&self) -> Result<ConsoleInfo, ClientError> {
        self.get("/api/v1/me/console").await
    }

    /// Sets the technician's status (SESS-9).
    pub async fn set_status(&self, status: TechStatus) -> Result<StatusChange, ClientError> {
        self.call(
            Method::PUT,
            "/api/v1/me/status",
            Some(&StatusChange { status }),
        )
        .await
    }

    /// Sets a session's custom fields (FIELD-1/2, PERM-20); an empty value
    /// removes one.
    pub async fn set_fields(
        &self,
        id: &str,
        fields: &std::collections::BTreeMap<String, String>,
    ) -> Result<SessionView, ClientError> {
        let body = FieldsChange {
            fields: fields.clone(),
        };
        self.call(
            Method::PATCH,
            &format!("/api/v1/sessions/{id}/fields"),
            Some(&body),
        )
        .await
    }

    /// Adds a note to a session (CONSOLE-10).
    pub async fn add_note(&self, id: &str, body: &str) -> Result<Note, ClientError> {
        let note = NewNote {
            body: body.to_owned(),
        };
        self.post(&format!("/api/v1/sessions/{id}/notes"), &note)
            .await
    }

    /// A session's notes, oldest first.
    pub async fn notes(&self, id: &str) -> Result<Vec<Note>, ClientError> {
        self.get(&format!("/api/v1/sessions/{id}/notes")).await
    }

    /// The technician survey's questions (SURVEY-1).
    pub async fn technician_survey(&self) -> Result<Survey, ClientError> {
        self.get("/api/v1/surveys/technician").await
    }

    /// Answers the technician survey of a closed session.
    pub async fn answer_survey(&self, id: &str, answer: &SurveyAnswer) -> Result<(), ClientError> {
        self.post(&format!("/api/v1/sessions/{id}/survey"), answer)
            .await
    }

    /// The technician answers an administrator's request to watch its
    /// console (SESS-10).
    pub async fn answer_monitor(&self, id: &str, accept: bool) -> Result<MonitorView, ClientError> {
        self.post(
            &format!("/api/v1/monitors/{id}/answer"),
            &MonitorAnswer { accept },
        )
        .await
    }

    /// Ends a monitoring request or watch (either side).
    pub async fn end_monitor(&self, id: &str) -> Result<MonitorView, ClientError> {
        self.post(
            &format!("/api/v1/monitors/{id}/end"),
            &serde_json::json!({}),
        )
        .await
    }

    /// Asks to watch a technician's console (administrators, SESS-10).
    pub async fn monitor(&self, tech_id: i64) -> Result<MonitorView, ClientError> {
        self.post(
            &format!("/api/v1/technicians/{tech_id}/monitor"),
            &serde_json::json!({}),
        )
        .await
    }

    fn ws_base(&self) -> String {
        self.base.replacen("http", "ws", 1)
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A signaling WebSocket: the server's messages in, the peer's out.
#[derive(Debug)]
pub struct SignalingSocket {
    ws: Ws,
}

impl SignalingSocket {
    async fn open(url: String) -> Result<Self, ClientError> {
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_WS_MESSAGE * 64))
            .max_frame_size(Some(MAX_WS_MESSAGE * 64));
        let (ws, _) =
            tokio_tungstenite::connect_async_with_config(url, Some(config), false).await?;
        Ok(Self { ws })
    }

    /// The technician's socket (`/ws/console`), with the client's token.
    pub async fn console(client: &ServerClient) -> Result<Self, ClientError> {
        let token = client
            .token()
            .ok_or_else(|| ClientError::Api {
                status: 401,
                code: "unauthenticated".into(),
                message: "log in first".into(),
            })?
            .expose()
            .to_owned();
        Self::open(format!("{}/ws/console?token={token}", client.ws_base())).await
    }

    /// The customer's socket (`/ws/applet`) for a joined session.
    pub async fn applet(client: &ServerClient, joined: &Joined) -> Result<Self, ClientError> {
        Self::open(format!(
            "{}/ws/applet?session={}&token={}",
            client.ws_base(),
            joined.session_id,
            joined.customer_token.expose()
        ))
        .await
    }

    /// Sends one message.
    pub async fn send(&mut self, msg: &PeerMessage) -> Result<(), ClientError> {
        let text = serde_json::to_string(msg)?;
        self.ws.send(Message::Text(text.into())).await?;
        Ok(())
    }

    /// The next message from the server.
    pub async fn next(&mut self) -> Result<ServerMessage, ClientError> {
        while let Some(m) = self.ws.next().await {
            match m? {
                Message::Text(t) => return Ok(serde_json::from_str(&t)?),
                Message::Close(_) => return Err(ClientError::Closed),
                _ => {}
            }
        }
        Err(ClientError::Closed)
    }

    /// The next message `pick` accepts, within `limit`; the others are
    /// handed to `other` (a queue push while waiting for a signal, say).
    pub async fn next_where<T>(
        &mut self,
        limit: Duration,
        mut pick: impl FnMut(&ServerMessage) -> Option<T>,
        mut other: impl FnMut(ServerMessage),
    ) -> Result<T, ClientError> {
        let wait = async {
            loop {
                let m = self.next().await?;
                match pick(&m) {
                    Some(t) => return Ok(t),
                    None => other(m),
                }
            }
        };
        tokio::time::timeout(limit, wait)
            .await
            .map_err(|_| ClientError::TimedOut(limit))?
    }

    /// Closes the socket.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
