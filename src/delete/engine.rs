//! The workers of a run: each room from wherever the journal says it is to
//! done, at most `concurrency` at once, every step recorded before it is
//! taken. A cancel is recorded once and checked under the journal's lock
//! just before each submission.

use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::sync::watch;
use tracing::{info, warn};

use super::journal::{Outcome, Step};
use super::{Control, DeleteSettings, JournalFile, Made, Rechecked, RunEvent, recheck_room};
use crate::admin::{AdminClient, AdminError, DeleteState, DeleteTask, NoticeRoom, ShutdownRoom};
use crate::policy::Policy;

/// Why a run stops before the end: the journal stays for a resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Halt {
    /// The journal could not be written, so no step may be taken.
    Journal(String),
    /// The homeserver refused what every room needs (the token, the admin
    /// right, its patience run out).
    Homeserver(String),
    /// A cancel could not be written to the journal.
    Cancel(String),
    /// The process is stopping; the run resumes at the next start.
    Shutdown,
}

impl std::fmt::Display for Halt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Journal(why) => write!(f, "cannot write the journal: {why}"),
            Self::Homeserver(why) => f.write_str(why),
            Self::Cancel(why) => write!(f, "cannot record the cancel: {why}"),
            Self::Shutdown => f.write_str("the bot is shutting down"),
        }
    }
}

/// Shutdown from outside, or a permanent error inside: either way, no new
/// step starts.
struct Stopper {
    outside: watch::Receiver<bool>,
    inside: watch::Sender<Option<Halt>>,
    /// The cancel signal: it interrupts a submission in flight (which may
    /// be waiting out a homeserver restart), so none is sent after it.
    cancel: watch::Receiver<bool>,
}

impl Stopper {
    fn is_set(&self) -> bool {
        // A caller gone without a word is a stop too.
        let gone = self.outside.has_changed().is_err();
        gone || *self.outside.borrow() || self.inside.borrow().is_some()
    }

    async fn wait(&self) {
        let mut outside = self.outside.clone();
        let mut inside = self.inside.subscribe();
        tokio::select! {
            _ = outside.wait_for(|s| *s) => {}
            _ = inside.wait_for(Option::is_some) => {}
        }
    }

    /// Runs a submission unless a stop (`Err(true)`) or a cancel
    /// (`Err(false)`) comes first.
    async fn submitting<T>(&self, work: impl std::future::Future<Output = T>) -> Result<T, bool> {
        let mut cancel = self.cancel.clone();
        let cancelled = async move {
            if cancel.wait_for(|c| *c).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            out = work => Ok(out),
            () = self.wait() => Err(true),
            () = cancelled => Err(false),
        }
    }

    /// Runs `work` unless a stop comes first (`None`).
    async fn until<T>(&self, work: impl std::future::Future<Output = T>) -> Option<T> {
        tokio::select! {
            out = work => Some(out),
            () = self.wait() => None,
        }
    }

    fn halt(&self, why: Halt) {
        self.inside.send_if_modified(|h| {
            let first = h.is_none();
            if first {
                *h = Some(why);
            }
            first
        });
    }
}

/// Runs until every room is done, or returns why it stopped first.
pub(super) async fn run(
    client: &AdminClient,
    policy: &Policy,
    file: &JournalFile,
    settings: &DeleteSettings,
    control: Control,
    on_event: &(dyn Fn(RunEvent) + Sync),
) -> Result<(), Halt> {
    let todo: Vec<usize> = file
        .snapshot()
        .rooms
        .iter()
        .enumerate()
        .filter(|(_, r)| !matches!(r.step, Step::Done { .. }))
        .map(|(i, _)| i)
        .collect();
    info!(rooms = todo.len(), path = %file.path().display(), "deleting");
    let stopper = Stopper {
        outside: control.stop.clone(),
        inside: watch::channel(None).0,
        cancel: control.cancel.clone(),
    };
    let work = futures_util::stream::iter(todo)
        .map(|i| {
            let stopper = &stopper;
            async move {
                if let Err(why) = process(client, policy, file, settings, i, stopper).await {
                    stopper.halt(why);
                }
                on_event(RunEvent::Progress(file.counts()));
            }
        })
        .buffer_unordered(settings.concurrency.max(1))
        .for_each(|()| async {});
    let mut cancel = control.cancel.clone();
    let record_cancel = async {
        if cancel.wait_for(|c| *c).await.is_ok() {
            match file.record(|j| (j.cancel(), ())).await {
                Ok(()) => on_event(RunEvent::CancelRecorded),
                Err(e) => stopper.halt(Halt::Cancel(format!("{e:#}"))),
            }
        }
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = work => {}
        () = record_cancel => {}
    }
    // A halt first: after a failed write, the state in memory may be ahead
    // of the disk, so "finished" there proves nothing.
    if let Some(why) = stopper.inside.borrow().clone() {
        return Err(why);
    }
    if file.snapshot().is_finished() {
        return Ok(());
    }
    Err(Halt::Shutdown)
}

/// How many times a room is submitted again after Synapse ended its task
/// unfinished (cancelled, or failed with no reason), before it is reported
/// failed.
const MAX_INTERRUPTED: u32 = 3;

/// Takes one room as far as it can go.
async fn process(
    client: &AdminClient,
    policy: &Policy,
    file: &JournalFile,
    settings: &DeleteSettings,
    i: usize,
    stopper: &Stopper,
) -> Result<(), Halt> {
    // Tasks of this room that Synapse ended without finishing them.
    let mut interrupted = 0;
    loop {
        if stopper.is_set() {
            return Ok(());
        }
        let entry = file.snapshot_room(i);
        let next = match entry.step {
            Step::Done { .. } => return Ok(()),
            Step::Pending if file.cancelled() => done(Outcome::Skipped, super::journal::CANCELLED),
            // Requests below may wait out a homeserver restart; a stop does
            // not wait for them. Each step is on disk before it is taken, so
            // dropping one midway leaves the room where the journal says.
            Step::Pending => match pending(client, policy, file, settings, i, stopper).await? {
                Next::Record(step) => step,
                Next::Again => continue,
                Next::Stop => return Ok(()),
            },
            Step::Submitting => {
                let since = entry.submitting_since;
                let Some(adopted) = stopper
                    .until(adopt_or_retry(client, &entry.room_id, since))
                    .await
                else {
                    return Ok(());
                };
                adopted.map_err(fatal)?
            }
            Step::Submitted { delete_id } => {
                let waited = tokio::select! {
                    w = tokio::time::timeout(
                        settings.room_timeout,
                        wait_for(client, &delete_id, settings.poll_interval),
                    ) => w,
                    () = stopper.wait() => return Ok(()),
                };
                match waited {
                    Ok(Ok(Step::Pending)) if interrupted >= MAX_INTERRUPTED => done(
                        Outcome::Failed,
                        &format!(
                            "Synapse ended its deletion task {} without finishing it",
                            crate::plain::count(interrupted + 1, "time", "times")
                        ),
                    ),
                    Ok(Ok(Step::Pending)) => {
                        interrupted += 1;
                        Step::Pending
                    }
                    Ok(step) => step.map_err(fatal)?,
                    Err(_) => done(
                        Outcome::Failed,
                        &format!(
                            "not finished after {} s (Synapse may still complete delete_id {delete_id})",
                            settings.room_timeout.as_secs()
                        ),
                    ),
                }
            }
        };
        file.record(|j| (Some(j.set(i, next)), ()))
            .await
            .map_err(journal_write)?;
    }
}

/// What to do after a pending room's turn.
enum Next {
    Record(Step),
    /// The journal changed under us: look at the room again.
    Again,
    Stop,
}

/// A pending room: re-check it, then claim it in the journal and submit.
async fn pending(
    client: &AdminClient,
    policy: &Policy,
    file: &JournalFile,
    settings: &DeleteSettings,
    i: usize,
    stopper: &Stopper,
) -> Result<Next, Halt> {
    let entry = file.snapshot_room(i);
    let Some(rechecked) = stopper.until(recheck_room(client, policy, &entry)).await else {
        return Ok(Next::Stop);
    };
    let (people, made) = match rechecked {
        Ok(Rechecked::Keep(why)) => {
            return Ok(Next::Record(done(Outcome::Skipped, &why.to_string())));
        }
        Ok(Rechecked::Delete { people, made }) => (people, made),
        Err(e) if e.is_fatal() => return Err(fatal(e)),
        Err(e) => {
            let why = format!("re-check failed: {e}");
            return Ok(Next::Record(done(Outcome::Failed, &why)));
        }
    };
    // Only people get a notice room: one made for an empty room would be
    // a new room with nobody but us in it. The count the re-check read
    // includes the account that makes the notice room, so the member list
    // decides (one more request, only for rooms with local members). A
    // notice room of ours gets none: its people would be moved into a new
    // one at every deletion, for ever.
    let notice = match &settings.notice {
        Some(notice) if people > 0 && !is_notice_room(notice, made.as_ref()) => {
            let Some(members) = stopper.until(client.joined_members(&entry.room_id)).await else {
                return Ok(Next::Stop);
            };
            match members {
                Ok(members) => {
                    let others = members
                        .iter()
                        .map(String::as_str)
                        .filter(|u| *u != notice.creator.as_str());
                    (policy.sort_members(others).people > 0).then_some(notice)
                }
                Err(e) if e.is_fatal() => return Err(fatal(e)),
                Err(e) => {
                    let why = format!("re-check failed: {e}");
                    return Ok(Next::Record(done(Outcome::Failed, &why)));
                }
            }
        }
        _ => None,
    };
    if stopper.is_set() {
        return Ok(Next::Stop);
    }
    let claimed = file
        .record(|j| {
            let record = j.claim_submit(i, crate::timefmt::now_ms());
            (Some(record), j.rooms[i].step == Step::Submitting)
        })
        .await
        .map_err(journal_write)?;
    if !claimed {
        return Ok(Next::Again);
    }
    // A cancel recorded while the claim was being written wins: nothing is
    // sent once a cancel is on disk.
    if file.cancelled() {
        let left = done(Outcome::Skipped, super::journal::CANCELLED);
        file.record(|j| (Some(j.set(i, left)), ()))
            .await
            .map_err(journal_write)?;
        return Ok(Next::Again);
    }
    // Interrupted, the request may still have reached Synapse: the room
    // stays at `Submitting`, where its task is adopted or, if there is none,
    // the room goes back to pending and the cancel skips it.
    match stopper
        .submitting(submit(client, &entry.room_id, settings.block, notice))
        .await
    {
        Ok(submitted) => submitted.map(Next::Record).map_err(fatal),
        Err(true) => Ok(Next::Stop),
        Err(false) => Ok(Next::Again),
    }
}

fn journal_write(e: anyhow::Error) -> Halt {
    Halt::Journal(format!("{e:#}"))
}

fn fatal(e: AdminError) -> Halt {
    Halt::Homeserver(e.to_string())
}

fn done(outcome: Outcome, detail: &str) -> Step {
    Step::Done {
        outcome,
        detail: detail.to_owned(),
    }
}

/// Whether a room is one of our notice rooms: made by the account that
/// makes them, under the notice rooms' name.
fn is_notice_room(notice: &NoticeRoom, made: Option<&Made>) -> bool {
    made.is_some_and(|m| {
        &*m.creator == notice.creator.as_str()
            && m.name.as_deref() == Some(notice.room_name.as_str())
    })
}

/// What the report says of a deleted room: where its members went, whom
/// Synapse could not kick; nothing when there is nothing to say.
fn deleted_detail(shutdown: &ShutdownRoom) -> String {
    let mut parts = Vec::new();
    // Synapse removes joined, invited and knocking local users, and moves
    // only the joined ones into the notice room.
    if let Some(room) = &shutdown.new_room_id {
        let removed = shutdown.kicked_users.len();
        parts.push(format!(
            "its joined local members moved to the notice room {room} ({} removed)",
            crate::plain::count(removed, "local user", "local users")
        ));
    }
    if !shutdown.failed_to_kick_users.is_empty() {
        parts.push(format!(
            "Synapse could not kick: {}",
            shutdown.failed_to_kick_users.join(" ")
        ));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("deleted; {}", parts.join("; "))
    }
}

/// Asks Synapse to delete the room. A permanent error (the token is gone)
/// leaves the room at `Submitting`, to be looked up after the resume.
async fn submit(
    client: &AdminClient,
    room_id: &matrix_sdk::ruma::RoomId,
    block: bool,
    notice: Option<&NoticeRoom>,
) -> Result<Step, AdminError> {
    match client.start_delete(room_id, block, notice).await {
        Ok(delete_id) => Ok(Step::Submitted { delete_id }),
        // A purge of this room is already running (ours, from before a
        // crash): find its task rather than failing.
        Err(AdminError::Api { message, .. }) if message.contains("already in progress") => {
            Ok(Step::Submitting)
        }
        Err(e) if e.is_fatal() => Err(e),
        Err(e) => Ok(done(
            Outcome::Failed,
            &format!("Synapse refused the deletion: {e}"),
        )),
    }
}

/// How far this host's clock may run ahead of Synapse's when a task is
/// judged ours by its time.
const CLOCK_SLACK_MS: i64 = 5_000;

/// After a crash (or a stop, or a cancel) between "submitting" and
/// "submitted": adopt the deletion task that Synapse created for the room
/// after the room was marked submitting, scheduled ones included; with
/// none, back to the re-check (where a cancel leaves the room as it is).
async fn adopt_or_retry(
    client: &AdminClient,
    room_id: &matrix_sdk::ruma::RoomId,
    since: Option<i64>,
) -> Result<Step, AdminError> {
    let find = || async {
        let tasks = client.room_delete_tasks(room_id).await?;
        Ok::<_, AdminError>(ours(&tasks, since))
    };
    let step = |found: Option<String>| found.map(|delete_id| Step::Submitted { delete_id });
    match find().await {
        Ok(Some(id)) => return Ok(Step::Submitted { delete_id: id }),
        Ok(None) => {}
        Err(e) if e.is_fatal() => return Err(e),
        Err(e) => return Ok(unreadable_status(&e)),
    }
    // A request cut off in flight may still be creating its task.
    tokio::time::sleep(Duration::from_secs(2)).await;
    match find().await {
        Ok(found) => Ok(step(found).unwrap_or(Step::Pending)),
        Err(e) if e.is_fatal() => Err(e),
        Err(e) => Ok(unreadable_status(&e)),
    }
}

/// The newest task Synapse touched after `since` (a task's time is its
/// last update, never before its creation): an older one (Synapse keeps
/// finished tasks a week) is not ours. A journal from before `since` was
/// recorded takes the newest.
fn ours(tasks: &[DeleteTask], since: Option<i64>) -> Option<String> {
    tasks
        .iter()
        .filter(|t| since.is_none_or(|s| t.timestamp_ms >= s.saturating_sub(CLOCK_SLACK_MS)))
        .max_by_key(|t| t.timestamp_ms)
        .map(|t| t.id.clone())
}

fn unreadable_status(e: &AdminError) -> Step {
    done(
        Outcome::Failed,
        &format!("cannot read the deletion status: {e}"),
    )
}

/// Polls a deletion task until it ends.
async fn wait_for(
    client: &AdminClient,
    delete_id: &str,
    every: Duration,
) -> Result<Step, AdminError> {
    loop {
        match client.delete_status(delete_id).await {
            Ok(status) => match status.status {
                DeleteState::Complete => {
                    let shutdown = status.shutdown_room.unwrap_or_default();
                    return Ok(done(Outcome::Deleted, &deleted_detail(&shutdown)));
                }
                // Synapse cancels the tasks it is running when it shuts
                // down (a restart), and does not resume them; we never
                // cancel one. A task its shutdown interrupts can also end
                // failed with no reason (seen in the restart e2e test).
                // The room goes back to pending: re-checked, then submitted
                // again, unless our own cancel came first.
                DeleteState::Failed if status.error.as_deref().is_none_or(str::is_empty) => {
                    warn!(
                        delete_id,
                        "Synapse ended the deletion task without a reason (a restart?); the room is re-checked and submitted again"
                    );
                    return Ok(Step::Pending);
                }
                DeleteState::Cancelled => {
                    warn!(
                        delete_id,
                        "Synapse cancelled the deletion task (a restart?); the room is re-checked and submitted again"
                    );
                    return Ok(Step::Pending);
                }
                DeleteState::Failed => {
                    let why = status.error.unwrap_or_default();
                    return Ok(done(
                        Outcome::Failed,
                        &format!("Synapse's deletion task ended: {why}"),
                    ));
                }
                DeleteState::Scheduled | DeleteState::Active => {}
            },
            Err(e) if e.is_fatal() => return Err(e),
            Err(e) => warn!(delete_id, error = %e, "deletion status unavailable; polling on"),
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_says_where_the_members_went_and_whom_synapse_could_not_kick() {
        let mut shutdown = ShutdownRoom::default();
        assert_eq!(deleted_detail(&shutdown), "");
        shutdown.new_room_id = Some("!notice:example.com".into());
        shutdown.kicked_users = vec!["@a:example.com".into()];
        assert_eq!(
            deleted_detail(&shutdown),
            "deleted; its joined local members moved to the notice room !notice:example.com \
             (1 local user removed)"
        );
        shutdown.failed_to_kick_users = vec!["@b:example.com".into()];
        assert_eq!(
            deleted_detail(&shutdown),
            "deleted; its joined local members moved to the notice room !notice:example.com \
             (1 local user removed); Synapse could not kick: @b:example.com"
        );
        shutdown.new_room_id = None;
        assert_eq!(
            deleted_detail(&shutdown),
            "deleted; Synapse could not kick: @b:example.com"
        );
    }

    fn task(id: &str, at: i64) -> DeleteTask {
        DeleteTask {
            id: id.into(),
            status: DeleteState::Complete,
            timestamp_ms: at,
        }
    }

    #[test]
    fn only_a_task_from_after_submitting_is_ours() {
        let week_old = task("old", 1_000);
        let fresh = task("fresh", 100_000);
        assert_eq!(ours(std::slice::from_ref(&week_old), Some(90_000)), None);
        assert_eq!(
            ours(&[week_old.clone(), fresh.clone()], Some(90_000)).as_deref(),
            Some("fresh")
        );
        // This host's clock a little ahead of Synapse's.
        assert_eq!(
            ours(&[task("skewed", 88_000)], Some(90_000)).as_deref(),
            Some("skewed")
        );
        // A journal from before the time was recorded.
        assert_eq!(ours(&[week_old, fresh], None).as_deref(), Some("fresh"));
    }
}
