//! The relay's TCP sockets, at both ends of each leg (a peer's and the
//! hub's): the kernel's delay-based congestion control where it has one, and
//! a short queue of unsent bytes instead of a small send buffer.
//!
//! A relay leg loses packets the way the path does (lossy Wi-Fi, mobile).
//! Cubic halves its window at each loss; BBR paces at the delivery rate it
//! measures and does not read random loss as congestion, as the file rate
//! above it does not. The congestion controller is chosen per socket, so a
//! host whose default is Cubic still runs the relay on BBR when the kernel
//! offers it, and keeps its default when it does not.
//!
//! The send buffer bounds what is in flight (sent, not yet acknowledged by
//! TCP): a fixed one smaller than the path's product plus its
//! retransmissions caps the leg (a 1 MiB buffer held a 600 ms satellite hop
//! near 10 Mbit/s). So the buffer is left to the kernel's autotuning, and
//! `TCP_NOTSENT_LOWAT` keeps what waits in it unsent short: the mux, not the
//! kernel, holds the queue, and schedules input and control ahead of the
//! file.

use std::os::fd::AsFd;

/// Tried in this order; the kernel's default stays when none is offered.
const CONGESTION: &[&[u8]] = &[b"bbr"];

/// Unsent bytes the kernel may hold before the socket stops taking writes.
/// What waits there goes out in a burst when TCP's window opens (after its
/// slow start from the initial window, after a recovery), at the
/// bottleneck: 128 KiB held input ~100 ms behind a 5 Mbit/s uplink at the
/// start of a transfer. The mux's file rate holds the rest, paced.
pub const NOTSENT_LOWAT: u32 = 16 * 1024;

/// Applies the relay's socket settings; each is best effort (a kernel
/// without one keeps its default, and the link still works).
pub fn tune(socket: &impl AsFd) {
    let s = socket2::SockRef::from(socket);
    if let Err(e) = s.set_tcp_nodelay(true) {
        tracing::warn!("TCP_NODELAY on a relay connection: {e}");
    }
    if let Err(e) = s.set_tcp_notsent_lowat(NOTSENT_LOWAT) {
        tracing::debug!("TCP_NOTSENT_LOWAT on a relay connection: {e}");
    }
    let chosen = CONGESTION
        .iter()
        .find(|name| s.set_tcp_congestion(name).is_ok());
    if chosen.is_none() {
        tracing::debug!("the relay connection keeps the kernel's congestion control");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The settings land on a real socket where the kernel has them, and a
    /// kernel without BBR leaves the socket usable.
    #[tokio::test]
    async fn a_tuned_socket_has_a_short_unsent_queue() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        tune(&client);
        let s = socket2::SockRef::from(&client);
        assert!(s.tcp_nodelay().unwrap());
        assert_eq!(s.tcp_notsent_lowat().unwrap(), NOTSENT_LOWAT);
        let available =
            std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control")
                .unwrap_or_default();
        if available.split_whitespace().any(|n| n == "bbr") {
            let name = s.tcp_congestion().unwrap();
            assert_eq!(name.split(|b| *b == 0).next(), Some(&b"bbr"[..]));
        }
    }
}
