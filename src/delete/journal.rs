//! The deletion journal's content: the confirmed set and each room's step,
//! as records appended one per line (JSON lines) and replayed at start. Pure:
//! the file itself is `journal_file.rs`.
//!
//! Line 1 is the header (who confirmed what, with which scan options); each
//! later line is one [`Record`]. Every record is written before the step it
//! announces is taken, so a crash resumes the run instead of repeating it.

use matrix_sdk::ruma::OwnedRoomId;
use serde::{Deserialize, Serialize};

use crate::policy::Rules;

/// The journal format this oldrooms writes and reads.
pub const VERSION: u32 = 2;

/// What happened to a room, in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Deleted,
    Skipped,
    Failed,
    /// A dry run's verdict: the re-check would let it be deleted.
    WouldDelete,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deleted => "deleted",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
            Self::WouldDelete => "would-delete",
        }
    }
}

/// A room's progress through the deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Confirmed, not yet re-checked.
    Pending,
    /// About to ask Synapse; after a crash here, Synapse is asked whether a
    /// task exists before anything is sent again.
    Submitting,
    /// Synapse accepted the deletion.
    Submitted {
        delete_id: String,
    },
    Done {
        outcome: Outcome,
        detail: String,
    },
}

/// The detail of a room left because the run was cancelled.
pub const CANCELLED: &str = "cancelled before deletion: the room was left as it is";

/// One confirmed room, with what the scan recorded about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub room_id: OwnedRoomId,
    pub name: String,
    /// Last activity the scan saw (ms).
    pub last_activity: Option<i64>,
    /// The id of the event behind `last_activity`: another newest event
    /// means "keep". Absent in journals written before it was recorded.
    #[serde(default)]
    pub last_event: Option<String>,
    pub joined_local_members: u64,
    /// The scan found no local person in it (no local member, or only
    /// `policy.ignore_members` ghosts): a local person there now means
    /// someone came back, so the room is kept.
    #[serde(default)]
    pub abandoned: bool,
    #[serde(skip, default = "pending")]
    pub step: Step,
    /// When the room last moved to `Submitting` (ms, this host's clock):
    /// only a deletion task Synapse created after it is ours to adopt.
    /// `None` in journals written before it was recorded.
    #[serde(skip)]
    pub submitting_since: Option<i64>,
}

fn pending() -> Step {
    Step::Pending
}

/// One line after the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// Room `room` (its index in the header) moves to `step`, at `at` (ms)
    /// for `Submitting`.
    Step {
        room: usize,
        step: Step,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<i64>,
    },
    /// No room is submitted after this line.
    Cancelled,
}

/// The whole run: the header plus every record replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub version: u32,
    /// When the deletion was confirmed (ms since the epoch).
    pub confirmed_at: i64,
    /// Who confirmed it (a user id, or "command line").
    pub confirmed_by: String,
    /// The options of the scan whose offer was confirmed; `None` (the
    /// command line's edited CSV) re-checks with the config's.
    pub options: Option<Rules>,
    /// No new deletion is started once this is set.
    #[serde(skip)]
    pub cancelled: bool,
    /// Change steps through [`Journal::set`] (or `apply`): the counts are
    /// kept as steps change, not recounted for every finished room.
    pub rooms: Vec<Entry>,
    #[serde(skip)]
    tally: Counts,
}

impl Journal {
    pub fn new(
        confirmed_by: &str,
        confirmed_at: i64,
        options: Option<Rules>,
        rooms: Vec<Entry>,
    ) -> Self {
        Self {
            version: VERSION,
            confirmed_at,
            confirmed_by: confirmed_by.to_owned(),
            options,
            cancelled: false,
            tally: recount(&rooms),
            rooms,
        }
    }

    pub fn is_finished(&self) -> bool {
        self.rooms
            .iter()
            .all(|r| matches!(r.step, Step::Done { .. }))
    }

    /// Applies one record; an index out of range means a damaged journal.
    pub fn apply(&mut self, record: &Record) -> Result<(), String> {
        match record {
            Record::Cancelled => self.cancelled = true,
            Record::Step { room, step, at } => {
                let entry = self
                    .rooms
                    .get_mut(*room)
                    .ok_or_else(|| format!("room index {room} is not in the header"))?;
                self.tally.add(&entry.step, -1);
                self.tally.add(step, 1);
                entry.step = step.clone();
                // A room sent back to "submitting" (Synapse said a purge is
                // already in progress) keeps the time of its claim.
                if *step == Step::Submitting && at.is_some() {
                    entry.submitting_since = *at;
                }
            }
        }
        Ok(())
    }

    /// Moves room `i` to `step`; the record to write first.
    pub fn set(&mut self, i: usize, step: Step) -> Record {
        self.set_at(i, step, None)
    }

    fn set_at(&mut self, i: usize, step: Step, at: Option<i64>) -> Record {
        let record = Record::Step { room: i, step, at };
        // Indices come from this journal's own rooms.
        let _ = self.apply(&record);
        record
    }

    /// The decision just before a room is sent to Synapse at `now` (ms),
    /// taken together with the cancel under one lock: `Submitting` unless
    /// the run is cancelled, then the room is left as it is.
    pub fn claim_submit(&mut self, i: usize, now: i64) -> Record {
        if self.cancelled {
            let left = Step::Done {
                outcome: Outcome::Skipped,
                detail: CANCELLED.to_owned(),
            };
            return self.set(i, left);
        }
        self.set_at(i, Step::Submitting, Some(now))
    }

    /// Marks the run cancelled; `None` when it already was.
    pub fn cancel(&mut self) -> Option<Record> {
        (!self.cancelled).then(|| {
            self.cancelled = true;
            Record::Cancelled
        })
    }

    /// O(1): a run reports progress after every room.
    pub fn counts(&self) -> Counts {
        debug_assert_eq!(
            self.tally,
            recount(&self.rooms),
            "a step changed outside set"
        );
        Counts {
            total: self.rooms.len(),
            ..self.tally
        }
    }

    /// The header line, with its newline.
    pub fn header_line(&self) -> Vec<u8> {
        line(self)
    }
}

/// A record as one line, with its newline.
pub fn record_line(record: &Record) -> Vec<u8> {
    line(record)
}

fn line<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail.
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Rebuilds a journal from the file's bytes. A last line without its
/// newline was cut by a crash while it was written, so its step was never
/// taken: it is ignored. Anything else that does not parse is an error to
/// report, never a guess.
pub fn replay(bytes: &[u8]) -> Result<Journal, String> {
    crate::jsonl::replay(bytes, check_version, |j: &mut Journal, r| j.apply(r))
}

fn check_version(journal: &mut Journal) -> Result<(), String> {
    if journal.version == VERSION {
        return Ok(());
    }
    Err(format!(
        "version {} is not the version {VERSION} this oldrooms knows",
        journal.version
    ))
}

/// The counts of `rooms`, one by one (without `total`).
fn recount(rooms: &[Entry]) -> Counts {
    let mut c = Counts::default();
    for r in rooms {
        c.add(&r.step, 1);
    }
    c
}

/// Progress of a deletion run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub deleted: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Dry runs only.
    pub would_delete: usize,
}

impl Counts {
    /// Counts `step` once more (`by` = 1) or once less (-1).
    fn add(&mut self, step: &Step, by: isize) {
        let Step::Done { outcome, .. } = step else {
            return;
        };
        let n = match outcome {
            Outcome::Deleted => &mut self.deleted,
            Outcome::Skipped => &mut self.skipped,
            Outcome::Failed => &mut self.failed,
            Outcome::WouldDelete => &mut self.would_delete,
        };
        *n = n.saturating_add_signed(by);
    }

    pub fn done(&self) -> usize {
        self.deleted + self.skipped + self.failed + self.would_delete
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} deleted, {} skipped, {} failed, of {}",
            self.deleted, self.skipped, self.failed, self.total
        )
    }
}

#[cfg(test)]
mod tests;
