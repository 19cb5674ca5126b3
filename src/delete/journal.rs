//! The deletion journal: the confirmed set and each room's state, written
//! to disk before every step, so a crash or a restart resumes the run instead
//! of repeating or forgetting it.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use matrix_sdk::ruma::OwnedRoomId;
use serde::{Deserialize, Serialize};

/// What happened to a room, in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Deleted,
    Skipped,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deleted => "deleted",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
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

/// One confirmed room, with what the scan recorded about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub room_id: OwnedRoomId,
    pub name: String,
    /// Last activity the scan saw (ms); newer activity means "keep".
    pub last_activity: Option<i64>,
    pub joined_local_members: u64,
    pub step: Step,
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub version: u32,
    /// When the deletion was confirmed (ms since the epoch).
    pub confirmed_at: i64,
    /// Who confirmed it (a user id, or "command line").
    pub confirmed_by: String,
    /// No new deletion is started once this is set.
    pub cancelled: bool,
    pub rooms: Vec<Entry>,
}

impl Journal {
    pub fn new(confirmed_by: &str, confirmed_at: i64, rooms: Vec<Entry>) -> Self {
        Self {
            version: 1,
            confirmed_at,
            confirmed_by: confirmed_by.to_owned(),
            cancelled: false,
            rooms,
        }
    }

    pub fn is_finished(&self) -> bool {
        self.rooms
            .iter()
            .all(|r| matches!(r.step, Step::Done { .. }))
    }

    /// (deleted, skipped, failed, still to do)
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            total: self.rooms.len(),
            ..Counts::default()
        };
        for r in &self.rooms {
            match &r.step {
                Step::Done {
                    outcome: Outcome::Deleted,
                    ..
                } => c.deleted += 1,
                Step::Done {
                    outcome: Outcome::Skipped,
                    ..
                } => c.skipped += 1,
                Step::Done {
                    outcome: Outcome::Failed,
                    ..
                } => c.failed += 1,
                _ => {}
            }
        }
        c
    }
}

/// Progress of a deletion run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub deleted: usize,
    pub skipped: usize,
    pub failed: usize,
}

impl Counts {
    pub fn done(&self) -> usize {
        self.deleted + self.skipped + self.failed
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

/// Reads a journal. `Ok(None)` when there is none; an unreadable journal is
/// an error to report, never a guess.
pub fn read(path: &Path) -> anyhow::Result<Option<Journal>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let journal: Journal = serde_json::from_slice(&bytes).with_context(|| {
                format!("the deletion journal {} cannot be read", path.display())
            })?;
            anyhow::ensure!(
                journal.version == 1,
                "the deletion journal {} has version {}, which this oldrooms does not know",
                path.display(),
                journal.version
            );
            Ok(Some(journal))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes a journal whole and durably, creating its directory.
pub fn write(path: &Path, journal: &Journal) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    crate::atomic::write_with(path, |file| {
        Ok(serde_json::to_writer_pretty(file, journal)?)
    })
}

/// Moves a finished journal aside, keeping it as a record.
pub fn archive(path: &Path, journal: &Journal) -> anyhow::Result<PathBuf> {
    let name = format!(
        "{}.{}.done",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("journal"),
        journal.confirmed_at
    );
    let target = path.with_file_name(name);
    std::fs::rename(path, &target).with_context(|| format!("cannot archive {}", path.display()))?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, step: Step) -> Entry {
        Entry {
            room_id: OwnedRoomId::try_from(id).unwrap(),
            name: "n".into(),
            last_activity: Some(5),
            joined_local_members: 0,
            step,
        }
    }

    #[test]
    fn round_trips_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.json");
        assert_eq!(read(&path).unwrap(), None);
        let j = Journal::new(
            "@a:b",
            7,
            vec![
                entry("!a", Step::Pending),
                entry(
                    "!b",
                    Step::Submitted {
                        delete_id: "x".into(),
                    },
                ),
                entry(
                    "!c",
                    Step::Done {
                        outcome: Outcome::Deleted,
                        detail: String::new(),
                    },
                ),
                entry(
                    "!d",
                    Step::Done {
                        outcome: Outcome::Skipped,
                        detail: "gone".into(),
                    },
                ),
            ],
        );
        write(&path, &j).unwrap();
        assert_eq!(read(&path).unwrap(), Some(j.clone()));
        let c = j.counts();
        assert_eq!(
            (c.deleted, c.skipped, c.failed, c.total, c.done()),
            (1, 1, 0, 4, 2)
        );
        assert!(!j.is_finished());
        let archived = archive(&path, &j).unwrap();
        assert!(archived.exists() && !path.exists());
    }

    #[test]
    fn a_damaged_journal_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.json");
        std::fs::write(&path, b"{\"version\": 1, \"rooms\": [tru").unwrap();
        let e = read(&path).unwrap_err();
        assert!(format!("{e:#}").contains("cannot be read"), "{e:#}");
    }
}
