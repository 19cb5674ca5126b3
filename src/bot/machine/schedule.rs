//! Scheduled scans in the state machine: at the due time a scan starts as
//! if an admin had asked (unless a job runs: that run is skipped, said so);
//! its offer goes through the same confirmation as any other. A scheduled
//! scan whose candidates are those of the last one says so in one line.
//! Every change of the next run is an effect, saved before the scan runs.

use serde::{Deserialize, Serialize};

use super::status::describe;
use super::{Effect, JobKind, Machine, Ms, ScanArgs, ScanResult, say};
use crate::policy::ReasonKind;
use crate::scan::Row;
use crate::schedule::Schedule;
use crate::timefmt::rfc3339;

/// The schedule, with what the bot saved of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    pub schedule: Schedule,
    pub next: Ms,
    pub last: Option<Fingerprint>,
}

/// The candidates of a scheduled scan, in brief: how many, and a hash of
/// their sorted room ids (FNV-1a, stable across builds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub rooms: usize,
    pub hash: u64,
}

impl Fingerprint {
    pub fn of(rows: &[Row]) -> Self {
        let mut ids: Vec<&str> = rows
            .iter()
            .filter(|r| {
                matches!(
                    r.verdict.kind(),
                    ReasonKind::Inactive | ReasonKind::Abandoned
                )
            })
            .map(|r| r.room.room_id.as_str())
            .collect();
        ids.sort_unstable();
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for id in &ids {
            for byte in id.bytes().chain([b'\n']) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        Self {
            rooms: ids.len(),
            hash,
        }
    }
}

impl Machine {
    /// When the next scheduled scan runs, if there is a schedule.
    pub fn next_scheduled(&self) -> Option<Ms> {
        self.schedule.as_ref().map(|s| s.next)
    }

    /// Starts the scheduled scan when it is due.
    pub(super) fn scheduled_tick(&mut self, now: Ms, out: &mut Vec<Effect>) {
        // Not while shutting down: the next start runs it, as a missed run.
        if self.shutting_down {
            return;
        }
        let Some(s) = &mut self.schedule else { return };
        if now < s.next {
            return;
        }
        s.next = s.schedule.after(s.next, now);
        let next = s.next;
        out.push(Effect::SaveSchedule { next, last: s.last });
        if let Some(job) = &self.job {
            out.push(say(&format!(
                "The scheduled scan was skipped: busy ({}). The next one is at {}.",
                describe(job, now),
                rfc3339(next)
            )));
            return;
        }
        let kind = JobKind::Scan {
            progress: None,
            cancelled: false,
            scheduled: true,
        };
        let job = self.new_job(now, kind);
        out.push(Effect::StartScan {
            job,
            args: ScanArgs::default(),
        });
    }

    /// A scheduled scan ended. `true` when it has been answered in one
    /// line (its candidates are the last scheduled scan's); otherwise it is
    /// posted in full, and its offer replaces the standing one.
    pub(super) fn scheduled_result(&mut self, result: &ScanResult, out: &mut Vec<Effect>) -> bool {
        let print = Fingerprint::of(&result.outcome.rows);
        let Some(s) = &mut self.schedule else {
            return false;
        };
        let same = s.last == Some(print);
        s.last = Some(print);
        out.push(Effect::SaveSchedule {
            next: s.next,
            last: s.last,
        });
        if same {
            out.push(say(&format!(
                "Scheduled scan: the same {} rooms to delete as at the last scheduled scan, so \
                 nothing new is posted. `{} scan` posts the full results and an offer.",
                print.rooms, self.s.prefix
            )));
            return true;
        }
        self.end_offer(super::Spent::Replaced, out);
        false
    }

    pub(super) fn schedule_line(&self) -> Option<String> {
        let s = self.schedule.as_ref()?;
        Some(format!(
            "Next scheduled scan: {} (every {}).",
            rfc3339(s.next),
            s.schedule.every_text()
        ))
    }
}
