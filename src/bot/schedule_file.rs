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
struct Saved {
    next_ms: i64,
    last: Option<Fingerprint>,
    every_secs: u64,
    at_minute: Option<u32>,
}

/// The saved state if it belongs to `schedule`, else a first run from now.
pub fn load(dir: &Path, schedule: Schedule, now_ms: i64) -> Scheduled {
    let fresh = Scheduled {
        schedule,
        next: schedule.first(now_ms),
        last: None,
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
            Scheduled {
                schedule,
                next: saved.next_ms,
                last: saved.last,
            }
        }
        Ok(_) => fresh,
        Err(e) => {
            warn!(error = %e, "{FILE} is damaged; the schedule starts afresh");
            fresh
        }
    }
}

pub fn save(
    dir: &Path,
    schedule: Schedule,
    next_ms: i64,
    last: Option<Fingerprint>,
) -> anyhow::Result<()> {
    let saved = Saved {
        next_ms,
        last,
        every_secs: schedule.every.as_secs(),
        at_minute: schedule.at_minute,
    };
    crate::atomic::write_bytes(&dir.join(FILE), &serde_json::to_vec(&saved)?)
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
        save(dir.path(), weekly, now + 5, Some(print)).unwrap();
        let back = load(dir.path(), weekly, now + 1_000_000);
        assert_eq!((back.next, back.last), (now + 5, Some(print)));
        let daily = Schedule {
            every: Duration::from_secs(86_400),
            at_minute: None,
        };
        assert_eq!(load(dir.path(), daily, now).next, daily.first(now));
        std::fs::write(dir.path().join(FILE), b"{garbage").unwrap();
        assert_eq!(load(dir.path(), weekly, now).next, weekly.first(now));
    }
}
