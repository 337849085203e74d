//! Shared test harness: a real server on 127.0.0.1:0 over a fresh database
//! (a temporary SQLite file, and a fresh PostgreSQL database when
//! `SECOURS_TEST_POSTGRES` names a reachable server), an HTTP client that
//! checks every JSON response against the served OpenAPI document, and
//! WebSocket helpers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod webdriver;

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use secours_signaling::config::Config;
use secours_signaling::setup::{self, FirstMaster};
use secours_signaling::store::audit::Actor;
use secours_signaling::{RunningServer, start};
use serde_json::{Value, json};
use sqlx::Connection;

pub const MASTER_EMAIL: &str = "root@acme.test";
pub const PASSWORD: &str = "Sample1%x";

/// A database to run against.
pub struct Db {
    pub url: String,
    pub name: &'static str,
    _dir: Option<tempfile::TempDir>,
    pg_drop: Option<(String, String)>,
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some((admin, db)) = self.pg_drop.take() {
            // Best effort: a leftover test database is harmless.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
                        )))
                        .execute(&mut c)
                        .await;
                    }
                });
            })
            .join();
        }
    }
}

pub fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
    Db {
        url,
        name: "sqlite",
        _dir: Some(dir),
        pg_drop: None,
    }
}

/// A fresh PostgreSQL database, or None (with the reason printed) when
/// `SECOURS_TEST_POSTGRES` is unset or unreachable.
pub async fn postgres() -> Option<Db> {
    let Ok(admin) = std::env::var("SECOURS_TEST_POSTGRES") else {
        eprintln!("SKIPPED on PostgreSQL: SECOURS_TEST_POSTGRES is not set");
        return None;
    };
    let mut c = match sqlx::PgConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("SKIPPED on PostgreSQL: cannot connect: {e}");
            return None;
        }
    };
    let name = format!("secours_t_{}", hex::encode(rand::random::<[u8; 8]>()));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut c)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap();
    Some(Db {
        url: format!("{base}/{name}"),
        name: "postgres",
        _dir: None,
        pg_drop: Some((admin, name)),
    })
}

/// Every backend available here: SQLite always, PostgreSQL when configured.
pub async fn backends() -> Vec<Db> {
    let mut v = vec![sqlite()];
    if let Some(pg) = postgres().await {
        v.push(pg);
    }
    v
}

pub fn test_config(db: &Db) -> Config {
    let mut c = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        stun_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        database_url: db.url.clone(),
        database_max_connections: 8,
        // Tests speak for many addresses through X-Forwarded-For.
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        ..Config::default()
    };
    c.timeouts.sweep_interval_ms = 50;
    c
}

pub struct Harness {
    pub server: RunningServer,
    pub base: String,
    pub http: reqwest::Client,
    pub doc: Value,
    pub master: String,
}

impl Harness {
    /// A server on `db`, organisation set up, master logged in.
    pub async fn start(db: &Db) -> Self {
        Self::start_with(db, |_| {}).await
    }

    pub async fn start_with(db: &Db, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = test_config(db);
        tweak(&mut config);
        let server = start(config).await.unwrap();
        let h = Self::attach(server).await;
        let first = FirstMaster {
            org_name: "Acme".into(),
            name: "Root".into(),
            email: MASTER_EMAIL.into(),
            password: PASSWORD.into(),
        };
        // A second node on the same database finds it already set up.
        let _ = setup::create(&h.server.state.store, &first, &Actor::system("test")).await;
        let mut h = h;
        h.master = h.login_ok(MASTER_EMAIL, PASSWORD).await;
        h
    }

    async fn attach(server: RunningServer) -> Self {
        let base = format!("http://{}", server.http_addr);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let doc: Value = http
            .get(format!("{base}/api/v1/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            server,
            base,
            http,
            doc,
            master: String::new(),
        }
    }

    /// Calls `method template` with `params` substituted, as `token` from
    /// `ip`, and checks the answer against the OpenAPI document.
    pub async fn call_from(
        &self,
        ip: &str,
        method: Method,
        template: &str,
        params: &[&str],
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut path = template.to_owned();
        for p in params {
            let open = path.find('{').expect("more params than placeholders");
            let close = path[open..].find('}').unwrap() + open;
            path.replace_range(open..=close, p);
        }
        let mut req = self
            .http
            .request(method.clone(), format!("{}{}", self.base, path))
            .header("x-forwarded-for", ip);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let ctype = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = resp.text().await.unwrap();
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            assert_eq!(
                ctype.as_deref(),
                Some("application/json"),
                "{method} {path} -> {status}: {text}"
            );
            serde_json::from_str(&text).unwrap()
        };
        assert!(status.as_u16() < 500, "{method} {path} -> {status}: {text}");
        self.check_schema(&method, template, status, &value);
        (status, value)
    }

    pub async fn call(
        &self,
        method: Method,
        template: &str,
        params: &[&str],
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_from("127.0.0.1", method, template, params, token, body)
            .await
    }

    pub async fn get(&self, template: &str, params: &[&str], token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, template, params, Some(token), None)
            .await
    }

    pub async fn post(
        &self,
        template: &str,
        params: &[&str],
        token: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        self.call(Method::POST, template, params, token, Some(body))
            .await
    }

    /// Validates `body` against the response schema the document declares.
    pub fn check_schema(&self, method: &Method, template: &str, status: StatusCode, body: &Value) {
        let template = template.split('?').next().unwrap_or(template);
        let op = &self.doc["paths"][template][method.as_str().to_lowercase()];
        assert!(
            op.is_object(),
            "{method} {template} is not in the OpenAPI document"
        );
        let response = &op["responses"][status.as_str()];
        assert!(
            response.is_object(),
            "{method} {template}: status {status} is not documented ({body})"
        );
        let Some(schema) = response["content"]["application/json"]["schema"].as_object() else {
            return; // documented without a body (204, 101)
        };
        let mut schema = schema.clone();
        schema.insert("components".into(), self.doc["components"].clone());
        let validator = jsonschema::validator_for(&Value::Object(schema)).unwrap();
        if let Err(e) = validator.validate(body) {
            panic!(
                "{method} {template} -> {status}: response does not match the OpenAPI schema: {e}\n{body}"
            );
        }
    }

    pub async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/api/v1/auth/login",
            &[],
            None,
            json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn login_ok(&self, email: &str, password: &str) -> String {
        let (s, v) = self.login(email, password).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["token"].as_str().unwrap().to_owned()
    }

    pub async fn tech_group(
        &self,
        token: &str,
        parent: Option<i64>,
        name: &str,
        perms: &[&str],
    ) -> i64 {
        let (s, v) = self
            .post(
                "/api/v1/tech-groups",
                &[],
                Some(token),
                json!({
                    "parent_id": parent, "name": name,
                    "settings": {"permissions": perms}
                }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["id"].as_i64().unwrap()
    }

    /// Creates an account and logs it in through its forced password change.
    pub async fn user(
        &self,
        token: &str,
        role: &str,
        email: &str,
        group: Option<i64>,
    ) -> (i64, String) {
        let mut body = json!({"role": role, "name": email, "nickname": format!("nick-{email}"),
            "email": email, "password": "Initial1%"});
        if let Some(g) = group {
            body["tech_group_id"] = json!(g);
        }
        let (s, v) = self.post("/api/v1/users", &[], Some(token), body).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let id = v["id"].as_i64().unwrap();
        let first = self.login_ok(email, "Initial1%").await;
        let (s, v) = self
            .post(
                "/api/v1/me/password",
                &[],
                Some(&first),
                json!({"current_password": "Initial1%", "new_password": PASSWORD}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        (id, v["token"].as_str().unwrap().to_owned())
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.server.http_addr, path)
    }
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn ws_connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// The next JSON message whose `type` is `kind` (others are skipped),
/// failing after 10 s.
pub async fn ws_expect(ws: &mut Ws, kind: &str) -> Value {
    use futures_util::StreamExt;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} message within 10 s"))
            .expect("socket ended")
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == kind {
                return v;
            }
        }
    }
}

/// Like [`ws_expect`], for a message also matching `pred`.
pub async fn ws_expect_where(ws: &mut Ws, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        let v = ws_expect(ws, kind).await;
        if pred(&v) {
            return v;
        }
    }
}

pub async fn ws_send(ws: &mut Ws, v: Value) {
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        v.to_string().into(),
    ))
    .await
    .unwrap();
}

/// A customer joins with a PIN and connects its applet socket.
pub async fn customer_joins_pin(h: &Harness, pin: &str) -> (Value, Ws) {
    let (s, joined) = h
        .post(
            "/api/v1/join",
            &[],
            None,
            json!({"pin": pin, "name": "Customer"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{joined}");
    let ws = applet_ws(h, &joined).await;
    (joined, ws)
}

pub async fn applet_ws(h: &Harness, joined: &Value) -> Ws {
    let mut ws = ws_connect(&h.ws_url(&format!(
        "/ws/applet?session={}&token={}",
        joined["session_id"].as_str().unwrap(),
        joined["customer_token"].as_str().unwrap()
    )))
    .await;
    ws_expect(&mut ws, "hello").await;
    ws
}
