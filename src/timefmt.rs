//! Timestamps as Synapse gives them (milliseconds since the Unix epoch), and
//! the two ways we show them: RFC 3339 UTC and whole days.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const MS_PER_DAY: i64 = 24 * 60 * 60 * 1000;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    let now = OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// `2025-01-31T12:00:00Z`; empty for a timestamp `time` cannot represent.
pub fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.replace_nanosecond(0).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Whole days from `then` to `now`; zero for a timestamp in the future.
pub fn whole_days(then_ms: i64, now_ms: i64) -> i64 {
    (now_ms.saturating_sub(then_ms) / MS_PER_DAY).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_without_fraction() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(i64::MAX), "");
    }

    #[test]
    fn counts_whole_days() {
        assert_eq!(whole_days(0, MS_PER_DAY - 1), 0);
        assert_eq!(whole_days(0, MS_PER_DAY), 1);
        assert_eq!(whole_days(10 * MS_PER_DAY, 0), 0);
    }
}
