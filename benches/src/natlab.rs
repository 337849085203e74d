//! The NAT lab of the path matrix: two private LANs, each behind a router of
//! one of RFC 4787's kinds (or a network that lets only TCP to port 443
//! out), and a public segment where the server runs. Network namespaces,
//! veth pairs and nftables; needs root. The namespaces go when the [`Lab`]
//! is dropped, on a failed assertion too, and leftovers of an interrupted
//! run are removed before a new lab is built.
//!
//! ```text
//!  nm-a (192.168.10.2) -- nm-nat-a (wan 10.99.10.2) --\
//!                                                     nm-pub (10.99.0.1: server, STUN)
//!  nm-b (192.168.20.2) -- nm-nat-b (wan 10.99.20.2) --/
//! ```

use std::fmt;
use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// The server's address on the public segment (on the public namespace's
/// loopback, reachable from both routers).
pub const SERVER_IP: &str = "10.99.0.1";
/// The TURN server's address on the public segment.
pub const TURN_IP: &str = "10.99.0.2";

/// What stands between a LAN and the public segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Network {
    /// No NAT, no filter: the host's address is public.
    Open,
    /// Endpoint-independent mapping and filtering ("full cone"): once a
    /// mapping exists, anyone may send to it.
    FullCone,
    /// Endpoint-independent mapping, address-dependent filtering: any port
    /// of an address the host has sent to may answer.
    AddressRestricted,
    /// Endpoint-independent mapping, address-and-port-dependent filtering
    /// (Linux's plain masquerade behind a stateful filter).
    PortRestricted,
    /// Address-and-port-dependent mapping: a new public port for every
    /// destination, and port-dependent filtering.
    Symmetric,
    /// A NAT that lets nothing out but TCP to port 443 (a corporate
    /// network that allows only HTTPS).
    TcpOnly443,
    /// A port-restricted NAT whose firewall lets through only the UDP that
    /// looks like WebRTC by its first byte, as some corporate firewalls
    /// do: STUN (0-3, TURN's indications too) and DTLS (20-63). QUIC's
    /// headers (64 and up) and TURN's channel data (64-127) are dropped.
    /// Not in [`Network::ALL`]: the race's own test pairs it.
    StunDtlsOnly,
}

impl Network {
    /// Every kind, the matrix's rows and columns.
    pub const ALL: [Network; 6] = [
        Network::Open,
        Network::FullCone,
        Network::AddressRestricted,
        Network::PortRestricted,
        Network::Symmetric,
        Network::TcpOnly443,
    ];

    /// A short name for tables and logs.
    pub fn name(self) -> &'static str {
        match self {
            Network::Open => "open",
            Network::FullCone => "full-cone",
            Network::AddressRestricted => "address-restricted",
            Network::PortRestricted => "port-restricted",
            Network::Symmetric => "symmetric",
            Network::TcpOnly443 => "tcp-443-only",
            Network::StunDtlsOnly => "stun-dtls-only",
        }
    }

    /// Whether UDP leaves this network at all.
    pub fn udp(self) -> bool {
        self != Network::TcpOnly443
    }

    /// Whether QUIC's packets cross it (and TURN's channel data).
    pub fn quic_passes(self) -> bool {
        !matches!(self, Network::TcpOnly443 | Network::StunDtlsOnly)
    }

    /// Whether a peer's packets reach this host from a port it did not
    /// send to (endpoint-independent or address-dependent filtering), so
    /// that the host can learn the peer's unpredictable mapping from them.
    pub fn open_to_new_ports(self) -> bool {
        matches!(
            self,
            Network::Open | Network::FullCone | Network::AddressRestricted
        )
    }

    /// Whether its public port is the same whatever the destination.
    pub fn endpoint_independent_mapping(self) -> bool {
        !matches!(self, Network::Symmetric)
    }

    /// Where a session between an applet on `self` and a console on
    /// `other` should end: `direct` (QUIC) where punching can work; else
    /// `turn`, QUIC through the relayed address the applet allocates,
    /// wherever UDP leaves the applet's network (it speaks to TURN in
    /// STUN-framed indications, which even a first-byte firewall lets
    /// through) and raw QUIC leaves the console's; else `webrtc` where ICE
    /// can make a direct path; else `relay` (the WebSocket). The race
    /// prefers QUIC, through TURN too, to WebRTC: it is faster (netbench).
    pub fn expected_path(self, other: Network) -> &'static str {
        let quic = self.quic_passes() && other.quic_passes();
        let quic_turn = self.udp() && other.quic_passes();
        if quic && self.direct_possible(other) {
            "direct"
        } else if quic_turn {
            "turn"
        } else if self.direct_possible(other) {
            "webrtc"
        } else {
            "relay"
        }
    }

    /// Whether two peers on `self` and `other` can have a direct UDP path
    /// without a TURN relay: both let UDP out, and either both mappings are
    /// endpoint independent (each peer's public address is the one its
    /// STUN request saw), or the symmetric side's packets are let in by a
    /// peer that learns their source.
    pub fn direct_possible(self, other: Network) -> bool {
        if !self.udp() || !other.udp() {
            return false;
        }
        match (
            self.endpoint_independent_mapping(),
            other.endpoint_independent_mapping(),
        ) {
            (true, true) => true,
            (false, false) => false,
            (true, false) => self.open_to_new_ports(),
            (false, true) => other.open_to_new_ports(),
        }
    }

    /// The router's nftables rules; `lan_host` is the one host behind it.
    fn rules(self, lan_host: &str) -> String {
        let masquerade = match self {
            Network::Open => "",
            Network::Symmetric => "oifname \"wan\" masquerade random",
            _ => "oifname \"wan\" masquerade",
        };
        // Unsolicited packets from the WAN are refused before conntrack
        // confirms an entry for them, like a home router: otherwise a
        // peer's early probe would take the port the host's own mapping
        // needs, and Linux would pick another one.
        let (inbound_nat, outbound, inbound) = match self {
            Network::Open => ("", "iifname \"lan\" accept", "iifname \"wan\" accept"),
            Network::FullCone => (
                "iifname \"wan\" meta l4proto udp dnat to LAN",
                "iifname \"lan\" accept",
                "iifname \"wan\" ct status dnat accept",
            ),
            Network::AddressRestricted => (
                "iifname \"wan\" meta l4proto udp ip saddr @contacted dnat to LAN",
                "iifname \"lan\" update @contacted { ip daddr } accept",
                "iifname \"wan\" ct status dnat accept",
            ),
            Network::PortRestricted | Network::Symmetric | Network::StunDtlsOnly => {
                ("", "iifname \"lan\" accept", "")
            }
            Network::TcpOnly443 => ("", "iifname \"lan\" tcp dport 443 accept", ""),
        };
        let inbound_nat = inbound_nat.replace("LAN", lan_host);
        // The first payload byte, both ways, before anything is accepted.
        let dpi = match self {
            Network::StunDtlsOnly => "meta l4proto udp @th,64,8 > 63 drop",
            _ => "",
        };
        format!(
            "table ip lab {{\n\
             \x20 set contacted {{ type ipv4_addr; flags dynamic, timeout; timeout 2m; }}\n\
             \x20 chain pre {{\n    type nat hook prerouting priority -100;\n    {inbound_nat}\n  }}\n\
             \x20 chain post {{\n    type nat hook postrouting priority 100;\n    {masquerade}\n  }}\n\
             \x20 chain forwarding {{\n\
             \x20   type filter hook forward priority 0; policy drop;\n\
             \x20   {dpi}\n\
             \x20   ct state established,related accept\n\
             \x20   {outbound}\n\
             \x20   {inbound}\n\
             \x20 }}\n\
             \x20 chain input {{\n\
             \x20   type filter hook input priority 0; policy drop;\n\
             \x20   ct state established,related accept\n\
             \x20   iifname {{ \"lo\", \"lan\" }} accept\n\
             \x20 }}\n\
             }}\n"
        )
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which LAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// 192.168.10.0/24.
    A,
    /// 192.168.20.0/24.
    B,
}

impl Side {
    fn letter(self) -> &'static str {
        match self {
            Side::A => "a",
            Side::B => "b",
        }
    }
    fn net(self) -> u8 {
        match self {
            Side::A => 10,
            Side::B => 20,
        }
    }
    /// The host's address in its LAN.
    pub fn host_ip(self) -> String {
        format!("192.168.{}.2", self.net())
    }
    /// The router's public address.
    pub fn public_ip(self) -> String {
        format!("10.99.{}.2", self.net())
    }
}

const NAMESPACES: [&str; 5] = ["nm-pub", "nm-nat-a", "nm-nat-b", "nm-a", "nm-b"];

/// The lab's namespaces; removed when dropped.
#[derive(Debug)]
pub struct Lab {
    /// What each LAN sits behind.
    pub a: Network,
    /// What B sits behind.
    pub b: Network,
}

impl Drop for Lab {
    fn drop(&mut self) {
        remove_namespaces();
    }
}

fn remove_namespaces() {
    for ns in NAMESPACES {
        let _ = Command::new("ip")
            .args(["netns", "del", ns])
            .stderr(Stdio::null())
            .status();
    }
}

fn sh(cmd: &str) -> Result<()> {
    let out = Command::new("sh").arg("-c").arg(cmd).output()?;
    if !out.status.success() {
        bail!("{cmd}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// Whether this process may make namespaces.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

impl Lab {
    /// Builds the lab with LAN A behind `a` and LAN B behind `b`.
    pub fn build(a: Network, b: Network) -> Result<Lab> {
        remove_namespaces();
        let lab = Lab { a, b };
        for ns in NAMESPACES {
            sh(&format!("ip netns add {ns} && ip -n {ns} link set lo up"))?;
        }
        sh(&format!("ip -n nm-pub addr add {SERVER_IP}/32 dev lo"))?;
        sh(&format!("ip -n nm-pub addr add {TURN_IP}/32 dev lo"))?;
        sh("ip netns exec nm-pub sysctl -qw net.ipv4.ip_forward=1")?;
        for (side, network) in [(Side::A, a), (Side::B, b)] {
            lab.wire(side, network)?;
        }
        Ok(lab)
    }

    fn wire(&self, side: Side, network: Network) -> Result<()> {
        let (s, net) = (side.letter(), side.net());
        let (r, h) = (format!("nm-nat-{s}"), Self::namespace(side));
        sh(&format!(
            "ip link add pub-{s} netns nm-pub type veth peer name wan netns {r}"
        ))?;
        sh(&format!(
            "ip -n nm-pub addr add 10.99.{net}.1/24 dev pub-{s} && ip -n nm-pub link set pub-{s} up"
        ))?;
        sh(&format!(
            "ip -n {r} addr add 10.99.{net}.2/24 dev wan && ip -n {r} link set wan up"
        ))?;
        sh(&format!("ip -n {r} route add default via 10.99.{net}.1"))?;
        sh(&format!(
            "ip link add lan netns {r} type veth peer name eth0 netns {h}"
        ))?;
        sh(&format!(
            "ip -n {r} addr add 192.168.{net}.1/24 dev lan && ip -n {r} link set lan up"
        ))?;
        sh(&format!(
            "ip -n {h} addr add 192.168.{net}.2/24 dev eth0 && ip -n {h} link set eth0 up"
        ))?;
        sh(&format!("ip -n {h} route add default via 192.168.{net}.1"))?;
        sh(&format!(
            "ip netns exec {r} sysctl -qw net.ipv4.ip_forward=1"
        ))?;
        if network == Network::Open {
            // The LAN's addresses are public: the segment routes to them.
            sh(&format!(
                "ip -n nm-pub route add 192.168.{net}.0/24 via 10.99.{net}.2"
            ))?;
        }
        let mut nft = Command::new("ip")
            .args(["netns", "exec", &r, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .context("nft (scripts/setup.sh installs nftables)")?;
        nft.stdin
            .as_mut()
            .context("nft stdin")?
            .write_all(network.rules(&side.host_ip()).as_bytes())?;
        if !nft.wait()?.success() {
            bail!("nft rules for {network} in {r}");
        }
        Ok(())
    }

    /// The namespace of `side`'s host.
    pub fn namespace(side: Side) -> String {
        format!("nm-{}", side.letter())
    }

    /// `program` run in the public segment's namespace.
    pub fn public(program: &std::path::Path) -> Command {
        Self::inside("nm-pub", program)
    }

    /// `program` run on `side`'s host.
    pub fn on(side: Side, program: &std::path::Path) -> Command {
        Self::inside(&Self::namespace(side), program)
    }

    fn inside(ns: &str, program: &std::path::Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).arg(program);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_paths_follow_rfc_4787() {
        use Network::*;
        assert!(Symmetric.direct_possible(FullCone));
        assert!(AddressRestricted.direct_possible(Symmetric));
        assert!(PortRestricted.direct_possible(PortRestricted));
        assert!(!Symmetric.direct_possible(PortRestricted));
        assert!(!Symmetric.direct_possible(Symmetric));
        assert!(!TcpOnly443.direct_possible(Open));
        assert_eq!(StunDtlsOnly.expected_path(Open), "turn");
        assert_eq!(StunDtlsOnly.expected_path(StunDtlsOnly), "webrtc");
        assert_eq!(FullCone.expected_path(StunDtlsOnly), "webrtc");
        assert_eq!(Symmetric.expected_path(StunDtlsOnly), "relay");
        assert_eq!(StunDtlsOnly.expected_path(Symmetric), "turn");
        assert_eq!(Symmetric.expected_path(PortRestricted), "turn");
        assert_eq!(TcpOnly443.expected_path(Open), "relay");
    }

    #[test]
    fn rules_name_the_lan_host() {
        let r = Network::FullCone.rules("192.168.10.2");
        assert!(r.contains("dnat to 192.168.10.2"), "{r}");
        assert!(!Network::Open.rules("x").contains("masquerade"));
    }
}
