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
    /// A scheduled scan started and has not ended: if the bot stops before
    /// it does, the next start runs it again.
    pub running: bool,
    /// The job a skipped run was last reported for (not saved).
    pub skipped_for: Option<super::JobId>,
}

/// How a finished scheduled scan is posted.
pub(super) enum Posting {
    /// One line: the same candidates as last time.
    Quiet,
    /// In full; with an offer unless one already stands.
    Full { offer: bool },
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
        // Not before the start-up's own work (a deletion to resume) nor
        // while shutting down: the next start runs it, as a missed run.
        if self.shutting_down || !self.ready {
            return;
        }
        let busy = self.job.as_ref().map(|j| (j.id, describe(j, now)));
        let Some(s) = &mut self.schedule else { return };
        if now < s.next {
            return;
        }
        s.next = s.schedule.after(s.next, now);
        s.running = busy.is_none();
        out.push(Effect::SaveSchedule {
            next: s.next,
            last: s.last,
            running: s.running,
        });
        if let Some((id, what)) = busy {
            // Once per job: a short period must not flood the room.
            if s.skipped_for != Some(id) {
                s.skipped_for = Some(id);
                out.push(say(&format!(
                    "The scheduled scan was skipped: busy ({what}). The next one is at {}.",
                    rfc3339(s.next)
                )));
            }
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

    /// A scheduled scan ended, however. Unless the bot is shutting down
    /// (then the next start runs it again), it no longer counts as running.
    pub(super) fn scheduled_ended(&mut self, out: &mut Vec<Effect>) {
        if self.shutting_down {
            return;
        }
        if let Some(s) = &mut self.schedule {
            s.running = false;
            out.push(Effect::SaveSchedule {
                next: s.next,
                last: s.last,
                running: false,
            });
        }
    }

    /// How a finished scheduled scan is posted: in one line when its
    /// candidates are the last scheduled scan's; otherwise in full, and
    /// never replacing an offer that stands (an admin may be reading it).
    pub(super) fn scheduled_result(
        &mut self,
        result: &ScanResult,
        out: &mut Vec<Effect>,
    ) -> Posting {
        let print = Fingerprint::of(&result.outcome.rows);
        let Some(s) = &mut self.schedule else {
            return Posting::Full {
                offer: self.offer.is_none(),
            };
        };
        let same = s.last == Some(print);
        s.last = Some(print);
        out.push(Effect::SaveSchedule {
            next: s.next,
            last: s.last,
            running: s.running,
        });
        if same {
            out.push(say(&format!(
                "Scheduled scan: the same {} to delete as at the last scheduled scan, so \
                 nothing new is posted. `{} scan` posts the full results and an offer.",
                crate::plain::rooms(print.rooms),
                self.s.prefix
            )));
            return Posting::Quiet;
        }
        if self.offer.is_some() {
            out.push(say(&format!(
                "Scheduled scan: an offer to delete already stands, so this scan's candidates \
                 are not offered. `{} scan` offers them (and withdraws the standing offer).",
                self.s.prefix
            )));
            return Posting::Full { offer: false };
        }
        Posting::Full { offer: true }
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
