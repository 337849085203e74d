//! A channel's working hours (SESS-5): opening times per day of the week,
//! read in the channel's time zone (the IANA database bundled by jiff, so
//! every node agrees whatever its system's files).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};

/// Most opening spans in a week.
pub const MAX_SPANS: usize = 28;

/// One opening span of one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DayHours {
    /// ISO day of the week: 1 Monday .. 7 Sunday.
    #[schema(minimum = 1, maximum = 7)]
    pub day: i64,
    /// Opening, `HH:MM` local time.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub open: String,
    /// Closing, `HH:MM` local time (`24:00`: midnight), after the opening.
    #[schema(pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
    pub close: String,
}

/// When a channel is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkingHours {
    /// IANA time zone, e.g. `Europe/Paris`.
    #[schema(max_length = 100, pattern = "{text}")]
    pub time_zone: String,
    /// Opening spans; a day with none is closed.
    #[schema(max_items = 28)]
    pub days: Vec<DayHours>,
}

/// Minutes since midnight of `HH:MM` (`24:00` is 1440 when `end`).
fn minutes(s: &str, end: bool) -> Option<i64> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) if end => Some(1440),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

impl WorkingHours {
    /// Checks the zone and every span.
    pub fn check(&self) -> ApiResult<()> {
        super::check_text("time_zone", &self.time_zone, 100)?;
        self.zone()?;
        if self.days.len() > MAX_SPANS {
            return Err(ApiError::unprocessable(format!(
                "at most {MAX_SPANS} opening spans"
            )));
        }
        for d in &self.days {
            if !(1..=7).contains(&d.day) {
                return Err(ApiError::unprocessable("day is 1 (Monday) .. 7 (Sunday)"));
            }
            match (minutes(&d.open, false), minutes(&d.close, true)) {
                (Some(o), Some(c)) if o < c => {}
                (Some(_), Some(_)) => {
                    return Err(ApiError::unprocessable("a span closes before it opens"));
                }
                _ => return Err(ApiError::unprocessable("times are HH:MM")),
            }
        }
        Ok(())
    }

    fn zone(&self) -> ApiResult<jiff::tz::TimeZone> {
        jiff::tz::TimeZone::get(&self.time_zone)
            .map_err(|_| ApiError::unprocessable(format!("unknown time zone {:?}", self.time_zone)))
    }

    /// Whether the channel is open at `now_ms` (Unix milliseconds). A zone
    /// that cannot be read counts as open: better a session than none.
    pub fn is_open(&self, now_ms: i64) -> bool {
        let (Ok(tz), Ok(ts)) = (self.zone(), jiff::Timestamp::from_millisecond(now_ms)) else {
            tracing::warn!(zone = %self.time_zone, "working hours unreadable: open");
            return true;
        };
        let local = ts.to_zoned(tz);
        let day = i64::from(local.weekday().to_monday_one_offset());
        let minute = i64::from(local.hour()) * 60 + i64::from(local.minute());
        self.days.iter().any(|d| {
            d.day == day
                && matches!(
                    (minutes(&d.open, false), minutes(&d.close, true)),
                    (Some(o), Some(c)) if o <= minute && minute < c
                )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(zone: &str, day: i64, open: &str, close: &str) -> WorkingHours {
        WorkingHours {
            time_zone: zone.into(),
            days: vec![DayHours {
                day,
                open: open.into(),
                close: close.into(),
            }],
        }
    }

    #[test]
    fn read_in_the_channel_zone() {
        // Monday 2026-11-30 08:00 UTC is Monday 09:00 in Paris and
        // Sunday 21:00 in Honolulu.
        let t = 1_796_025_600_000;
        assert!(hours("Europe/Paris", 1, "09:00", "17:00").is_open(t));
        assert!(!hours("Europe/Paris", 1, "09:01", "17:00").is_open(t));
        assert!(!hours("Pacific/Honolulu", 1, "00:00", "24:00").is_open(t));
        assert!(hours("Pacific/Honolulu", 7, "20:00", "24:00").is_open(t));
    }

    #[test]
    fn checks() {
        assert!(hours("Europe/Paris", 1, "09:00", "24:00").check().is_ok());
        assert!(hours("Mars/Olympus", 1, "09:00", "17:00").check().is_err());
        assert!(hours("UTC", 8, "09:00", "17:00").check().is_err());
        assert!(hours("UTC", 1, "17:00", "09:00").check().is_err());
        assert!(hours("UTC", 1, "9:00", "17:00").check().is_err());
        assert!(hours("UTC", 1, "24:00", "24:00").check().is_err());
    }
}
