//! The schedule's state in `bot.data_dir/schedule.json`: the next run and
//! the last scheduled scan's candidates, so a restart neither repeats nor
//! loses a run. Saved with the schedule it belongs to: a changed
//! `[schedule]` starts afresh.

use std::path::Path;

use serde::{Deserialize, Serialize};
use tracing::warn;

use super::machine::{Fingerprint, Scheduled};
use crate::schedule::Schedule;

const FILE: &str = "schedule.json";

#[derive(Debug, Serialize, Deserialize)]
pub struct Saved {
    next_ms: i64,
    last: Option<Fingerprint>,
    /// A scheduled scan had started and not ended.
    #[serde(default)]
    running: bool,
    every_secs: u64,
    at_minute: Option<u32>,
}

impl Saved {
    pub fn new(schedule: Schedule, next_ms: i64, last: Option<Fingerprint>, running: bool) -> Self {
        Self {
            next_ms,
            last,
            running,
            every_secs: schedule.every.as_secs(),
            at_minute: schedule.at_minute,
        }
    }

    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        crate::atomic::write_bytes(&dir.join(FILE), &serde_json::to_vec(self)?)
    }
}

/// The saved state if it belongs to `schedule`, else a first run from now.
/// A scan that was running when the bot stopped runs again now; a next run
/// further away than the schedule allows (a clock that was wrong) is
/// brought back.
pub fn load(dir: &Path, schedule: Schedule, now_ms: i64) -> Scheduled {
    let fresh = Scheduled {
        schedule,
        next: schedule.first(now_ms),
        last: None,
        running: false,
        skipped_for: None,
    };
    let text = match std::fs::read(dir.join(FILE)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return fresh,
        Err(e) => {
            warn!(error = %e, "cannot read {FILE}; the schedule starts afresh");
            return fresh;
        }
    };
    match serde_json::from_slice::<Saved>(&text) {
        Ok(saved)
            if saved.every_secs == schedule.every.as_secs()
                && saved.at_minute == schedule.at_minute =>
        {
            let latest = schedule.after(schedule.first(now_ms), now_ms);
            let next = if saved.running {
                now_ms
            } else {
                saved.next_ms.min(latest)
            };
            Scheduled {
                schedule,
                next,
                last: saved.last,
                running: false,
                skipped_for: None,
            }
        }
        Ok(_) => fresh,
        Err(e) => {
            warn!(error = %e, "{FILE} is damaged; the schedule starts afresh");
            fresh
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_saved_run_is_kept_unless_the_schedule_changed() {
        let dir = tempfile::tempdir().unwrap();
        let weekly = Schedule {
            every: Duration::from_secs(7 * 86_400),
            at_minute: None,
        };
        let now = 1_796_032_800_000;
        assert_eq!(load(dir.path(), weekly, now).next, weekly.first(now));
        let print = Fingerprint { rooms: 3, hash: 42 };
        Saved::new(weekly, now + 5, Some(print), false)
            .write(dir.path())
            .unwrap();
        let back = load(dir.path(), weekly, now + 1_000_000);
        assert_eq!((back.next, back.last), (now + 5, Some(print)));
        // Interrupted mid-scan: it runs again at start.
        Saved::new(weekly, now + 5, Some(print), true)
            .write(dir.path())
            .unwrap();
        assert_eq!(load(dir.path(), weekly, now + 9).next, now + 9);
        // A next run a year away, saved under a wrong clock, is brought back.
        Saved::new(weekly, now + 365 * 86_400_000, None, false)
            .write(dir.path())
            .unwrap();
        assert!(load(dir.path(), weekly, now).next <= now + 14 * 86_400_000);
        let daily = Schedule {
            every: Duration::from_secs(86_400),
            at_minute: None,
        };
        assert_eq!(load(dir.path(), daily, now).next, daily.first(now));
        std::fs::write(dir.path().join(FILE), b"{garbage").unwrap();
        assert_eq!(load(dir.path(), weekly, now).next, weekly.first(now));
    }
}
