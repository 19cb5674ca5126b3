//! When scheduled scans run: `[schedule] every = "7d"`, optionally `at =
//! "03:00"` (UTC). Pure: times in, times out; the bot keeps the next run in
//! `bot.data_dir` so a restart neither loses nor repeats one.

use std::time::Duration;

use crate::timefmt::MS_PER_DAY;

/// How often, and at what time of day (minutes after midnight UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub every: Duration,
    pub at_minute: Option<u32>,
}

impl Schedule {
    fn every_ms(&self) -> i64 {
        i64::try_from(self.every.as_millis())
            .unwrap_or(i64::MAX)
            .max(1)
    }

    /// "7 days", "12 hours", "90 minutes", "5 seconds".
    pub fn every_text(&self) -> String {
        let secs = self.every.as_secs();
        let (n, unit) = [(86_400, "day"), (3_600, "hour"), (60, "minute")]
            .into_iter()
            .find(|(size, _)| secs.is_multiple_of(*size))
            .map_or((secs, "second"), |(size, unit)| (secs / size, unit));
        format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
    }

    /// The first run for a bot that has none saved: the next `at` time of
    /// day, or one period from now.
    pub fn first(&self, now_ms: i64) -> i64 {
        match self.at_minute {
            Some(minute) => {
                let day_start = now_ms - now_ms.rem_euclid(MS_PER_DAY);
                let at = day_start + i64::from(minute) * 60_000;
                if at > now_ms { at } else { at + MS_PER_DAY }
            }
            None => now_ms.saturating_add(self.every_ms()),
        }
    }

    /// The run after the one due at `due`, later than `now`: runs missed
    /// while the bot was down collapse into the one being started.
    pub fn after(&self, due: i64, now_ms: i64) -> i64 {
        let every = self.every_ms();
        let behind = now_ms.saturating_sub(due).max(0);
        due.saturating_add(every.saturating_mul(behind / every + 1))
    }
}

/// `"7d"`, `"12h"`, `"1d12h"`, `"90m"`, `"30s"`, `"2w"`.
pub fn parse_every(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a duration like 7d, 12h, 1d12h or 30m");
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() || total == 0 {
        return Err(bad());
    }
    if total > 366 * 86_400 {
        return Err(format!("`{text}` is longer than a year"));
    }
    Ok(Duration::from_secs(total))
}

/// `"03:00"` -> minutes after midnight.
pub fn parse_at(text: &str) -> Result<u32, String> {
    let bad = || format!("`{text}` is not a time of day like 03:00 (UTC)");
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    let two_digits = |p: &str| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = MS_PER_DAY;
    /// 2026-11-30T10:00:00Z.
    const NOW: i64 = 1_796_032_800_000;

    #[test]
    fn durations_read_as_written() {
        assert_eq!(parse_every("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_every("1d12h"), Ok(Duration::from_secs(36 * 3_600)));
        assert_eq!(parse_every(" 90m "), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_every("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse_every("5s"), Ok(Duration::from_secs(5)));
        for bad in [
            "",
            "7",
            "d",
            "7x",
            "0d",
            "-1d",
            "1.5d",
            "400d",
            "99999999999999999999d",
        ] {
            assert!(parse_every(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_at("03:00"), Ok(180));
        assert_eq!(parse_at("23:59"), Ok(1439));
        for bad in ["3:00", "24:00", "12:60", "noon", "12-00", "+3:00", "1:234"] {
            assert!(parse_at(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn periods_read_in_their_largest_whole_unit() {
        let text = |secs| {
            Schedule {
                every: Duration::from_secs(secs),
                at_minute: None,
            }
            .every_text()
        };
        assert_eq!(text(7 * 86_400), "7 days");
        assert_eq!(text(86_400), "1 day");
        assert_eq!(text(36 * 3_600), "36 hours");
        assert_eq!(text(5_400), "90 minutes");
        assert_eq!(text(5), "5 seconds");
    }

    #[test]
    fn the_first_run_is_at_the_time_of_day_or_one_period_away() {
        let weekly = |at| Schedule {
            every: Duration::from_secs(7 * 86_400),
            at_minute: at,
        };
        assert_eq!(weekly(None).first(NOW), NOW + 7 * DAY);
        // 03:00 has passed today (10:00): tomorrow's.
        assert_eq!(weekly(Some(180)).first(NOW), NOW - 7 * 3_600_000 + DAY);
        assert_eq!(weekly(Some(720)).first(NOW), NOW + 2 * 3_600_000);
    }

    #[test]
    fn missed_runs_collapse_into_one() {
        let daily = Schedule {
            every: Duration::from_secs(86_400),
            at_minute: Some(180),
        };
        let due = NOW - 7 * 3_600_000; // 03:00 today
        assert_eq!(daily.after(due, due), due + DAY);
        // Down for three days and a bit: one run now, the next at 03:00.
        assert_eq!(daily.after(due - 3 * DAY, NOW), due + DAY);
    }
}
