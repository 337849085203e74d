//! POL-5: IP restrictions per technician group, for console access.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};

/// Most ranges one group may list.
pub const MAX_RANGES: usize = 256;

/// How a group's list of ranges is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum IpMode {
    /// No restriction.
    #[default]
    Off,
    /// Every address may connect except those in the listed ranges.
    AllowAllExcept,
    /// No address may connect except those in the listed ranges.
    DenyAllExcept,
}

impl IpMode {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::AllowAllExcept => "allow_all_except",
            Self::DenyAllExcept => "deny_all_except",
        }
    }
    /// From the stored form; unknown values deny (fail closed).
    pub fn parse(s: &str) -> Self {
        match s {
            "off" => Self::Off,
            "allow_all_except" => Self::AllowAllExcept,
            _ => Self::DenyAllExcept,
        }
    }
}

/// Parses ranges given as CIDR (`10.0.0.0/8`, `2001:db8::/32`) or single
/// addresses, refusing anything else.
pub fn parse_ranges(ranges: &[String]) -> ApiResult<Vec<IpNet>> {
    if ranges.len() > MAX_RANGES {
        return Err(ApiError::invalid(format!("at most {MAX_RANGES} IP ranges")));
    }
    ranges
        .iter()
        .map(|r| {
            let r = r.trim();
            r.parse::<IpNet>()
                .or_else(|_| r.parse::<IpAddr>().map(IpNet::from))
                .map(|n| n.trunc())
                .map_err(|_| ApiError::invalid(format!("not an IP range: {:?}", truncate(r))))
        })
        .collect()
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Stored form of a parsed list.
pub fn join(ranges: &[IpNet]) -> String {
    ranges
        .iter()
        .map(IpNet::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads the stored form back (entries that no longer parse are skipped
/// and, under `DenyAllExcept`, thus deny).
pub fn split(stored: &str) -> Vec<IpNet> {
    stored
        .split(',')
        .filter_map(|s| s.parse::<IpNet>().ok())
        .collect()
}

/// Whether `addr` may use the console under this rule.
pub fn allows(mode: IpMode, ranges: &[IpNet], addr: IpAddr) -> bool {
    // An IPv4 client reaching an IPv6 socket appears as ::ffff:a.b.c.d.
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
        v4 => v4,
    };
    let listed = ranges.iter().any(|n| n.contains(&addr));
    match mode {
        IpMode::Off => true,
        IpMode::AllowAllExcept => !listed,
        IpMode::DenyAllExcept => listed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn both_modes_v4_and_v6() {
        let r = parse_ranges(&[
            "10.1.0.0/16".into(),
            "2001:db8::/32".into(),
            "192.0.2.7".into(),
        ])
        .unwrap();
        assert!(allows(IpMode::DenyAllExcept, &r, ip("10.1.2.3")));
        assert!(allows(IpMode::DenyAllExcept, &r, ip("2001:db8::1")));
        assert!(allows(IpMode::DenyAllExcept, &r, ip("::ffff:192.0.2.7")));
        assert!(!allows(IpMode::DenyAllExcept, &r, ip("10.2.0.1")));
        assert!(!allows(IpMode::AllowAllExcept, &r, ip("10.1.9.9")));
        assert!(allows(IpMode::AllowAllExcept, &r, ip("2001:db9::1")));
        assert!(allows(IpMode::Off, &r, ip("10.1.9.9")));
        assert_eq!(split(&join(&r)), r);
    }

    #[test]
    fn garbage_is_refused() {
        assert!(parse_ranges(&["10.0.0.0/33".into()]).is_err());
        assert!(parse_ranges(&["<script>".into()]).is_err());
    }
}
