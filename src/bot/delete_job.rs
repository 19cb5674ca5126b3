//! A deletion run from chat: the one run of `delete::execute`, with a
//! progress message, then the summary and deletion-report.csv (for a plan
//! at its deadline, the rooms it may delete). How it ends goes back to the
//! state machine.

use std::sync::{Arc, Mutex};

use tracing::warn;

use super::chat::{self, Text, best_effort_edit, post, with_progress};
use super::machine::{DeletionEnd, DeletionStart, Input, JobId};
use super::messages::deletion_summary;
use super::world::World;
use crate::delete::journal::{Counts, Entry, Journal};
use crate::delete::report::write_report;
use crate::delete::{Control, Ended, RunEvent, Start, execute};
use crate::plan::file;
use crate::plan::steps::{self, Due, Held, with_kept};

pub async fn run(world: Arc<World>, job: JobId, start: DeletionStart, control: Control) {
    let resume = matches!(start, DeletionStart::Resume);
    let end = match world.room() {
        Some(room) => delete(&world, &room, job, start, control).await,
        None => DeletionEnd::Refused("the bot is not in the admin room".to_owned()),
    };
    // A run that was already on disk is never "nothing was deleted": it
    // stays there, to resume or to cancel.
    let end = match end {
        DeletionEnd::Refused(why) if resume => DeletionEnd::Stopped {
            why,
            counts: Counts::default(),
        },
        end => end,
    };
    world.inbox.send(Input::DeletionEnded { job, end });
}

async fn delete(
    world: &World,
    room: &matrix_sdk::room::Room,
    job: JobId,
    start: DeletionStart,
    control: Control,
) -> DeletionEnd {
    let start = match start {
        DeletionStart::New(confirmed) => {
            match super::offer_file::journal(&world.offer_path(), *confirmed).await {
                Ok(journal) => Start::New(Box::new(journal)),
                Err(e) => return DeletionEnd::Refused(e),
            }
        }
        DeletionStart::Resume => Start::Resume,
        DeletionStart::Plan => return due(world, room, job, control).await,
    };
    execute_start(world, room, job, start, control, None).await
}

/// A plan's deletion: the plan, archived once the journal holds its rooms,
/// and the rooms kept before it started, which its report lists too.
pub(super) type PlanRun = (Held, Vec<Entry>);

/// Runs the deletion `start` with its progress message, then posts the
/// summary and deletion-report.csv.
pub(super) async fn execute_start(
    world: &World,
    room: &matrix_sdk::room::Room,
    job: JobId,
    start: Start,
    control: Control,
    plan: Option<PlanRun>,
) -> DeletionEnd {
    let config = &world.config;
    let base = match world.policy().await {
        Ok(p) => p,
        Err(e) => {
            return DeletionEnd::Refused(format!("cannot re-check the rooms ({e:#})"));
        }
    };
    let (held, kept) = match plan {
        Some((held, kept)) => (Some(held), kept),
        None => (None, Vec::new()),
    };
    let held = Mutex::new(held);
    let counts: Mutex<Option<Counts>> = Mutex::new(None);
    let on_event = |event: RunEvent| {
        if let RunEvent::Opened(_) = event {
            archive(lock(&held).take());
        }
        if let RunEvent::Opened(c) | RunEvent::Progress(c) = event {
            *lock(&counts) = Some(c);
        }
        world.inbox.send(Input::Deletion { job, event });
    };
    let describe = || {
        let c = (*lock(&counts))?;
        Some(if c.done() == 0 {
            format!("Deleting {}…", crate::plain::rooms(c.total))
        } else {
            format!("Deleting: {c}…")
        })
    };
    let path = world.journal_path();
    let work = execute(
        &world.admin,
        &base,
        &path,
        start,
        &config.delete.engine,
        control,
        &on_event,
    );
    let (ended, message) =
        with_progress(room, None, config.bot.progress_interval, describe, work).await;
    let journal = match ended {
        Ok(Ended::Finished(journal)) => journal,
        Ok(Ended::Stopped { journal, why }) => {
            let counts = journal.counts();
            if let Some(id) = &message {
                let line = format!("Deletion stopped: {counts}.");
                best_effort_edit(room, id, &Text::plain(&line)).await;
            }
            let why = why.to_string();
            return DeletionEnd::Stopped { why, counts };
        }
        Ok(Ended::NothingToResume) => {
            return DeletionEnd::Refused("the journal to resume is gone".to_owned());
        }
        Err(e) => return DeletionEnd::Refused(e.to_string()),
    };
    super::observe::deletion_finished(&world.metrics, &journal);
    if let Some(id) = &message {
        let line = format!("Deletion finished: {}.", journal.counts());
        best_effort_edit(room, id, &Text::plain(&line)).await;
    }
    let journal = if kept.is_empty() {
        journal
    } else {
        with_kept(&journal, kept)
    };
    report(room, &journal).await;
    DeletionEnd::Finished
}

/// Posts a finished run's summary and deletion-report.csv.
async fn report(room: &matrix_sdk::room::Room, journal: &Journal) {
    post(room, &deletion_summary(journal)).await;
    upload_report(room, "deletion-report.csv", journal).await;
}

/// Moves a plan aside once its deletion's journal holds its rooms.
fn archive(held: Option<Held>) {
    if let Some(Err(e)) = held.map(Held::archive) {
        warn!(error = %format!("{e:#}"), "could not archive the plan; its deletion goes on");
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The plan's deletion at its deadline: its rooms whose people were all
/// warned in time go through the journaled deletion.
async fn due(
    world: &World,
    room: &matrix_sdk::room::Room,
    job: JobId,
    control: Control,
) -> DeletionEnd {
    let path = world.plan_path();
    let options = match file::read(&path) {
        Ok(Some(plan)) => plan.options,
        Ok(None) => {
            let text = "The plan is gone from the data_dir: nothing of it is deleted.";
            super::chat::post(room, &super::chat::Text::plain(text)).await;
            return DeletionEnd::Finished;
        }
        Err(e) => return DeletionEnd::Refused(format!("{e:#}")),
    };
    let policy = match world.policy().await {
        Ok(p) => p.for_run(options),
        Err(e) => return DeletionEnd::Refused(format!("cannot read the policy ({e:#})")),
    };
    let config = &world.config;
    let (ours, concurrency) = (&config.user_id, config.scan.concurrency);
    match steps::due(&world.admin, &policy, ours, &path, concurrency).await {
        Err(e) => DeletionEnd::Refused(format!("cannot start the plan's deletion ({e:#})")),
        Ok(Due::Withdrawn) => {
            let text = "The plan was withdrawn: nothing of it is deleted.";
            super::chat::post(room, &super::chat::Text::plain(text)).await;
            DeletionEnd::Finished
        }
        Ok(Due::Delete {
            journal,
            kept,
            plan,
        }) if journal.rooms.is_empty() => {
            archive(Some(plan));
            report(room, &with_kept(&journal, kept)).await;
            DeletionEnd::Finished
        }
        Ok(Due::Delete {
            journal,
            kept,
            plan,
        }) => {
            let start = Start::New(journal);
            execute_start(world, room, job, start, control, Some((plan, kept))).await
        }
    }
}

/// Uploads a run's report (`room_id,name,outcome,detail`) as `name`.
pub(super) async fn upload_report(room: &matrix_sdk::room::Room, name: &str, journal: &Journal) {
    let mut bytes = Vec::new();
    if let Err(e) = write_report(journal, &mut bytes) {
        warn!(error = %e, "could not build {name}");
    } else if let Err(e) = chat::send_file(room, name, &mime::TEXT_CSV, bytes).await {
        post(
            room,
            &Text::plain(&format!("Could not upload {name} ({e}).")),
        )
        .await;
    }
}
