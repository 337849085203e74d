//! The HTTP accept loop, bounded: a header-read timeout (a client that
//! never finishes its headers is dropped), a deadline for each request
//! (body included), at most `max_connections` connections at once and
//! `max_connections_per_address` from one address (trusted proxies apart),
//! and graceful shutdown. axum's `serve` offers none of these limits.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch};
use tower::ServiceExt;

use crate::config::Config;
use crate::error::ApiError;

/// The limits the loop applies (from [`Config`]).
#[derive(Debug, Clone)]
pub struct Limits {
    header_read: Duration,
    request: Duration,
    max_connections: usize,
    per_address: usize,
    exempt: Vec<ipnet::IpNet>,
}

impl Limits {
    /// The configured limits.
    pub fn from_config(c: &Config) -> Self {
        Self {
            header_read: Duration::from_millis(c.header_read_timeout_ms),
            request: Duration::from_millis(c.request_timeout_ms),
            max_connections: c.max_connections,
            per_address: c.max_connections_per_address,
            exempt: c.trusted_proxies.clone(),
        }
    }
}

/// Open connections per address; a slot is released when its guard drops.
#[derive(Debug, Default, Clone)]
struct PerAddress(Arc<Mutex<HashMap<IpAddr, usize>>>);

struct Slot(PerAddress, IpAddr);

impl PerAddress {
    fn take(&self, ip: IpAddr, max: usize) -> Option<Slot> {
        let mut m = self.0.lock().ok()?;
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot(self.clone(), ip))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut m) = (self.0).0.lock()
            && let Some(n) = m.get_mut(&self.1)
        {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

/// A connection's socket with its places in the limits: they are released
/// only when the socket closes, after a WebSocket upgrade too.
struct Held {
    tcp: TcpStream,
    _permit: OwnedSemaphorePermit,
    _slot: Option<Slot>,
}

impl AsyncRead for Held {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Held {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// Serves `app` on `listener` until `shutdown` fires, then lets requests in
/// flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let total = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = PerAddress::default();
    // Each connection holds a receiver; shutdown waits until all are gone.
    let (stop_tx, stop_rx) = watch::channel(());
    let (done_tx, done_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: pause, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let ip = peer.ip().to_canonical();
        let Ok(permit) = total.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection refused: server full");
            continue;
        };
        let slot = if limits.exempt.iter().any(|n| n.contains(&ip)) {
            None
        } else {
            match per_address.take(ip, limits.per_address) {
                Some(s) => Some(s),
                None => {
                    tracing::info!(%peer, "connection refused: too many from this address");
                    continue;
                }
            }
        };
        // No Nagle for small messages, and the relay's settings for its legs
        // (congestion control, a short unsent queue): the relay hub is
        // mounted here too.
        secours_transport::relay::tcp::tune(&tcp);
        let held = Held {
            tcp,
            _permit: permit,
            _slot: slot,
        };
        let app = app.clone();
        let request_timeout = limits.request;
        let service = tower::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            async move {
                let req = req.map(Body::new);
                let response = match tokio::time::timeout(request_timeout, app.oneshot(req)).await {
                    Ok(r) => r.unwrap_or_else(|e: Infallible| match e {}),
                    Err(_) => timed_out(),
                };
                Ok::<Response<Body>, Infallible>(response)
            }
        });
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_read);
        let mut stop = stop_rx.clone();
        let done = done_rx.clone();
        tokio::spawn(async move {
            let conn = http
                .serve_connection(TokioIo::new(held), TowerToHyperService::new(service))
                .with_upgrades();
            let mut conn = pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended");
                    }
                }
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.as_mut().await;
                }
            }
            drop(done);
        });
    }
    drop(listener);
    let _ = stop_tx.send(());
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}

fn timed_out() -> Response<Body> {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "timeout",
        "the request took too long (its body arrived too slowly)",
    )
    .into_response()
}
