//! The deletion engine: deletes exactly the rooms of a journal, re-checking
//! each one first, with a bounded number of deletions in flight, and records
//! every step in the journal before taking it.

pub mod input;
pub mod journal;
mod recheck;
pub mod report;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::admin::{AdminClient, AdminError, DeleteState};
use crate::policy::Policy;
pub use journal::{Counts, Entry, Journal, Outcome, Step};
pub use recheck::recheck;

/// `[delete]` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteSettings {
    /// Deletions in flight at once.
    pub concurrency: usize,
    /// Block the room ids so they cannot be joined or re-created.
    pub block: bool,
    /// How long one room may take before it is reported as failed.
    pub room_timeout: Duration,
    /// Pause between two status polls of one deletion.
    pub poll_interval: Duration,
}

/// A journal on disk, updated under a lock: each change is written before
/// the step it announces is taken.
pub struct JournalFile {
    path: PathBuf,
    journal: Mutex<Journal>,
}

impl JournalFile {
    /// Writes `journal` to `path` and holds it.
    pub fn create(path: PathBuf, journal: Journal) -> anyhow::Result<Self> {
        journal::write(&path, &journal)?;
        Ok(Self {
            path,
            journal: Mutex::new(journal),
        })
    }

    pub fn snapshot(&self) -> Journal {
        self.lock().clone()
    }

    pub fn counts(&self) -> Counts {
        self.lock().counts()
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, change: impl FnOnce(&mut Journal)) -> anyhow::Result<()> {
        let mut journal = self.lock();
        change(&mut journal);
        journal::write(&self.path, &journal)
    }

    fn set_step(&self, index: usize, step: Step) -> anyhow::Result<()> {
        self.update(|j| j.rooms[index].step = step)
    }

    fn mark_cancelled(&self) -> anyhow::Result<()> {
        self.update(|j| j.cancelled = true)
    }
}

/// Runs (or resumes) the deletion until every room is done. A set `cancel`
/// starts no new deletion; those in flight finish. Fails only when the
/// journal cannot be written: then nothing more is deleted.
pub async fn run(
    client: &AdminClient,
    policy: &Policy,
    journal: &JournalFile,
    settings: &DeleteSettings,
    progress: &(dyn Fn(Counts) + Sync),
    cancel: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let todo: Vec<usize> = journal
        .snapshot()
        .rooms
        .iter()
        .enumerate()
        .filter(|(_, r)| !matches!(r.step, Step::Done { .. }))
        .map(|(i, _)| i)
        .collect();
    info!(rooms = todo.len(), path = %journal.path().display(), "deleting");
    let mut results = futures_util::stream::iter(todo)
        .map(|i| {
            let cancel = cancel.clone();
            async move {
                let result = process(client, policy, journal, settings, i, &cancel).await;
                progress(journal.counts());
                result
            }
        })
        .buffer_unordered(settings.concurrency.max(1));
    while let Some(result) = results.next().await {
        result?;
    }
    Ok(())
}

/// Takes one room from wherever the journal says it is to done.
async fn process(
    client: &AdminClient,
    policy: &Policy,
    journal: &JournalFile,
    settings: &DeleteSettings,
    index: usize,
    cancel: &watch::Receiver<bool>,
) -> anyhow::Result<()> {
    loop {
        let entry = journal.lock().rooms[index].clone();
        let next = match entry.step {
            Step::Done { .. } => return Ok(()),
            Step::Pending if *cancel.borrow() || journal.lock().cancelled => {
                if !journal.lock().cancelled {
                    journal.mark_cancelled()?;
                }
                done(
                    Outcome::Skipped,
                    "cancelled before deletion: the room was left as it is",
                )
            }
            Step::Pending => match recheck_room(client, policy, &entry).await {
                Ok(Some(reason)) => done(Outcome::Skipped, &reason),
                Ok(None) => {
                    journal.set_step(index, Step::Submitting)?;
                    submit(client, &entry, settings).await
                }
                Err(e) => done(Outcome::Failed, &format!("re-check failed: {e}")),
            },
            Step::Submitting => adopt_or_retry(client, &entry).await,
            Step::Submitted { delete_id } => {
                let waited = tokio::time::timeout(
                    settings.room_timeout,
                    wait_for(client, &delete_id, settings.poll_interval),
                )
                .await;
                waited.unwrap_or_else(|_| {
                    done(
                        Outcome::Failed,
                        &format!(
                            "not finished after {} s (Synapse may still complete delete_id {delete_id})",
                            settings.room_timeout.as_secs()
                        ),
                    )
                })
            }
        };
        journal.set_step(index, next)?;
    }
}

fn done(outcome: Outcome, detail: &str) -> Step {
    Step::Done {
        outcome,
        detail: detail.to_owned(),
    }
}

/// Reads the room now and asks [`recheck`]; `Some(reason)` to skip it.
async fn recheck_room(
    client: &AdminClient,
    policy: &Policy,
    entry: &Entry,
) -> Result<Option<String>, AdminError> {
    let now = client.room_details(&entry.room_id).await?;
    let activity = match &now {
        Some(_) => client.last_activity(&entry.room_id).await?,
        None => None,
    };
    Ok(recheck(entry, now.as_ref(), activity, policy).err())
}

async fn submit(client: &AdminClient, entry: &Entry, settings: &DeleteSettings) -> Step {
    match client.start_delete(&entry.room_id, settings.block).await {
        Ok(delete_id) => Step::Submitted { delete_id },
        // A purge of this room is already running (ours, from before a
        // crash): find its task rather than failing.
        Err(AdminError::Api { message, .. }) if message.contains("already in progress") => {
            Step::Submitting
        }
        Err(e) => done(
            Outcome::Failed,
            &format!("Synapse refused the deletion: {e}"),
        ),
    }
}

/// After a crash between "submitting" and "submitted": adopt the task
/// Synapse already has for the room, or go back to the re-check.
async fn adopt_or_retry(client: &AdminClient, entry: &Entry) -> Step {
    match client.room_delete_statuses(&entry.room_id).await {
        Ok(tasks) => match tasks.into_iter().rev().find_map(|t| t.delete_id) {
            Some(delete_id) => Step::Submitted { delete_id },
            None => {
                // Synapse hides a task while it is only scheduled; give it
                // a moment before deciding that there is none.
                tokio::time::sleep(Duration::from_secs(2)).await;
                match client.room_delete_statuses(&entry.room_id).await {
                    Ok(tasks) => match tasks.into_iter().rev().find_map(|t| t.delete_id) {
                        Some(delete_id) => Step::Submitted { delete_id },
                        None => Step::Pending,
                    },
                    Err(e) => done(
                        Outcome::Failed,
                        &format!("cannot read the deletion status: {e}"),
                    ),
                }
            }
        },
        Err(e) => done(
            Outcome::Failed,
            &format!("cannot read the deletion status: {e}"),
        ),
    }
}

/// Polls a deletion task until it ends.
async fn wait_for(client: &AdminClient, delete_id: &str, every: Duration) -> Step {
    loop {
        match client.delete_status(delete_id).await {
            Ok(status) => match status.status {
                DeleteState::Complete => {
                    let failed = status
                        .shutdown_room
                        .map(|s| s.failed_to_kick_users)
                        .unwrap_or_default();
                    let detail = if failed.is_empty() {
                        String::new()
                    } else {
                        format!("deleted; Synapse could not kick: {}", failed.join(" "))
                    };
                    return done(Outcome::Deleted, &detail);
                }
                DeleteState::Failed | DeleteState::Cancelled => {
                    let why = status.error.unwrap_or_else(|| "no reason given".into());
                    return done(
                        Outcome::Failed,
                        &format!("Synapse's deletion task ended: {why}"),
                    );
                }
                DeleteState::Scheduled | DeleteState::Active => {}
            },
            Err(e) if e.is_fatal() => {
                return done(
                    Outcome::Failed,
                    &format!("cannot read the deletion status: {e}"),
                );
            }
            Err(e) => warn!(delete_id, error = %e, "deletion status unavailable; polling on"),
        }
        tokio::time::sleep(every).await;
    }
}
