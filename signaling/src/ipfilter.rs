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

/// A dotted IPv4 address without leading zeros.
macro_rules! v4 {
    () => {
        r"((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
    };
}
/// An IPv6 address in hexadecimal groups, `::` compressing zeros, or an
/// IPv4-mapped one (`::ffff:192.0.2.1`, as ranges are written back).
macro_rules! v6 {
    () => {
        concat!(
            r"(([0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:",
            r"|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}",
            r"|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}",
            r"|([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:(:[0-9a-fA-F]{1,4}){1,6}",
            r"|:((:[0-9a-fA-F]{1,4}){1,7}|:)|::[fF]{4}:",
            v4!(),
            ")"
        )
    };
}

/// The OpenAPI `pattern` of one range [`parse_ranges`] accepts: an IPv4
/// or IPv6 address, with or without a prefix length.
pub const RANGE_PATTERN: &str = concat!(
    "^(",
    v4!(),
    r"(/(3[0-2]|[12]?[0-9]))?|",
    v6!(),
    r"(/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))?)$"
);

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

    /// The document's pattern accepts only ranges the parser accepts, and
    /// the forms the parser writes back.
    #[test]
    fn the_range_pattern_is_within_the_parser() {
        let pattern = jsonschema::validator_for(&serde_json::json!({
            "type": "string", "pattern": RANGE_PATTERN
        }))
        .unwrap();
        let ok = |r: &str| parse_ranges(&[r.to_owned()]).is_ok();
        for r in [
            "10.0.0.0/8",
            "192.0.2.1",
            "0.0.0.0/0",
            "255.255.255.255/32",
            "2001:db8::/32",
            "::",
            "::/0",
            "::1",
            "1::",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "fe80::1/128",
            "::ffff:192.0.2.1",
            "::FFFF:1.2.3.4/120",
            "a:b::c:d/64",
        ] {
            assert!(pattern.is_valid(&serde_json::json!(r)), "{r} should match");
            assert!(ok(r), "{r} should parse");
        }
        for r in [
            "",
            "10.0.0.0/33",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "10.0.0.0/08",
            ":::",
            "1:2:3:4:5:6:7:8:9",
            "1::2::3",
            "2001:db8::/129",
            "12345::",
            "g::",
            " 1.2.3.4",
        ] {
            assert!(
                !pattern.is_valid(&serde_json::json!(r)),
                "{r} should not match"
            );
        }
        for net in [
            "10.1.2.3/8",
            "2001:db8::1/32",
            "::ffff:10.0.0.1",
            "fe80::/10",
        ] {
            let stored = join(&parse_ranges(&[net.to_owned()]).unwrap());
            assert!(pattern.is_valid(&serde_json::json!(stored)), "{stored}");
        }
    }

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
