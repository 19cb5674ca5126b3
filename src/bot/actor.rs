//! The one task that owns the state machine: it applies inputs in the order
//! they arrive, wakes the machine at its deadline, and carries out its
//! effects. Jobs and sends run as their own tasks and report back through
//! the world's inbox.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use super::health::Health;
use super::machine::{
    DeletionEnd, Effect, Input, InviteAnswer, JobId, Machine, PlanEnd, ScanEnd, ScanFailure,
};
use super::world::{Outgoing, World};
use super::{delete_job, dry_run_job, plan_job, publish, scan_job, upload_job};
use crate::timefmt::now_ms;

/// How long a shutdown waits for jobs to reach a journaled step.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// A job's two signals.
struct Signals {
    cancel: watch::Sender<bool>,
    stop: watch::Sender<bool>,
}

/// Applies inputs until the machine says it is done; `shutdown` turning
/// true is an input too.
pub async fn run(
    mut machine: Machine,
    mut inputs: mpsc::UnboundedReceiver<Input>,
    world: Arc<World>,
    mut shutdown: watch::Receiver<bool>,
    health: &Health,
) {
    let mut jobs: HashMap<JobId, Signals> = HashMap::new();
    let mut grace: Option<tokio::time::Instant> = None;
    loop {
        let deadline = machine.next_deadline().map(instant_of);
        let input = tokio::select! {
            input = inputs.recv() => match input {
                Some(input) => input,
                None => return,
            },
            () = sleep_until(deadline) => Input::Tick,
            _ = shutdown.wait_for(|s| *s), if grace.is_none() => {
                grace = Some(tokio::time::Instant::now() + SHUTDOWN_GRACE);
                info!("shutting down: no new work; waiting for jobs to reach a journaled step");
                Input::Shutdown
            }
            () = sleep_until(grace), if grace.is_some() => {
                warn!("jobs did not stop in time; exiting (the journal keeps what was done)");
                return;
            }
        };
        if let Input::ScanEnded { job, end } = &input {
            super::observe::scan_ended(&world.metrics, &machine, *job, end);
        }
        let ended = match &input {
            Input::ScanEnded { job, .. }
            | Input::DeletionEnded { job, .. }
            | Input::DryRunEnded { job }
            | Input::UploadRead { job, .. }
            | Input::Planned { job, .. } => Some(*job),
            _ => None,
        };
        for effect in machine.handle(now_ms(), input) {
            if !apply(effect, &world, &mut jobs) {
                flush(&world).await;
                return;
            }
        }
        // A plan job that goes on as a deletion keeps its signals.
        if let Some(job) = ended
            && !machine.runs(job)
        {
            jobs.remove(&job);
        }
        health.set_job(machine.job_name());
        health.set_plan(machine.plan_summary());
        super::observe::machine_state(&world.metrics, &machine, now_ms());
        health.set_next_scan(machine.next_scheduled());
    }
}

/// Lets the last replies ("Deletion stopped…") go out before the end.
async fn flush(world: &World) {
    let (done, sent) = tokio::sync::oneshot::channel();
    if world.outbox.send(Outgoing::Flush(done)).is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(5), sent).await;
    }
}

fn instant_of(ms: i64) -> tokio::time::Instant {
    let wait = u64::try_from(ms.saturating_sub(now_ms())).unwrap_or(0);
    tokio::time::Instant::now() + Duration::from_millis(wait)
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Carries out one effect; `false` when the actor should end.
fn apply(effect: Effect, world: &Arc<World>, jobs: &mut HashMap<JobId, Signals>) -> bool {
    let signals = |jobs: &mut HashMap<JobId, Signals>, job: JobId| {
        let (cancel, cancel_rx) = watch::channel(false);
        let (stop, stop_rx) = watch::channel(false);
        jobs.insert(job, Signals { cancel, stop });
        (cancel_rx, stop_rx)
    };
    match effect {
        Effect::Say(text) => {
            let _ = world.outbox.send(Outgoing::Say(text));
        }
        Effect::EditOffer { event_id, text } => {
            let _ = world.outbox.send(Outgoing::Edit(event_id, text));
        }
        Effect::StartScan { job, args } => {
            let (cancel, _) = signals(jobs, job);
            let task = tokio::spawn(scan_job::run(world.clone(), job, args, cancel));
            let end = ScanEnd::Failed(ScanFailure::Stopped);
            watch_task(world, task, Input::ScanEnded { job, end });
        }
        Effect::SaveSchedule {
            next,
            last,
            running,
        } => {
            if let Some(schedule) = world.config.schedule {
                let dir = &world.config.bot.data_dir;
                let saved = super::schedule_file::Saved::new(schedule, next, last, running);
                if let Err(e) = saved.write(dir) {
                    warn!(error = %format!("{e:#}"), "could not save the schedule");
                }
            }
        }
        Effect::PublishScan {
            result,
            summary,
            status_line,
            offer,
        } => {
            let id = offer.as_ref().map(|(filed, _)| filed.offer);
            let task = tokio::spawn(publish::scan(
                world.clone(),
                result,
                summary,
                status_line,
                offer,
            ));
            if let Some(offer) = id {
                let event_id = None;
                watch_task(world, task, Input::OfferPosted { offer, event_id });
            }
        }
        Effect::StartDeletion { job, start } => {
            let (cancel, stop) = signals(jobs, job);
            let control = crate::delete::Control { cancel, stop };
            let task = tokio::spawn(delete_job::run(world.clone(), job, start, control));
            let end = DeletionEnd::Stopped {
                why: "the deletion task stopped unexpectedly".to_owned(),
                counts: crate::delete::Counts::default(),
            };
            watch_task(world, task, Input::DeletionEnded { job, end });
        }
        Effect::StartPlan { job, start } => {
            let (cancel, stop) = signals(jobs, job);
            let control = crate::delete::Control { cancel, stop };
            let task = tokio::spawn(plan_job::run(world.clone(), job, start, control));
            // Whichever the job is by then, a plan or (gone on) a deletion:
            // the machine takes the one that matches it.
            let why = "the plan's task stopped unexpectedly".to_owned();
            let planned = Input::Planned {
                job,
                end: PlanEnd::Failed(why.clone()),
            };
            let counts = crate::delete::Counts::default();
            let deleted = Input::DeletionEnded {
                job,
                end: DeletionEnd::Stopped { why, counts },
            };
            watch_task_all(world, task, vec![planned, deleted]);
        }
        Effect::WithdrawPlan => {
            let world = world.clone();
            tokio::spawn(async move {
                let path = world.plan_path();
                let result = tokio::task::spawn_blocking(move || {
                    crate::plan::steps::withdraw(&path)
                        .map(|plan| plan.map(|p| (p.rooms.len(), p.warned())))
                        .map_err(|e| format!("{e:#}"))
                })
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
                world.inbox.send(Input::PlanWithdrawn(result));
            });
        }
        Effect::StartDryRun { job, rooms } => {
            let (cancel, _) = signals(jobs, job);
            let task = tokio::spawn(dry_run_job::run(world.clone(), job, rooms, cancel));
            watch_task(world, task, Input::DryRunEnded { job });
        }
        Effect::ReadUpload {
            job,
            sender,
            upload,
        } => {
            let (cancel, _) = signals(jobs, job);
            let fallback = Input::UploadRead {
                job,
                sender: sender.clone(),
                result: Err("reading the file stopped unexpectedly".to_owned()),
            };
            let task = tokio::spawn(upload_job::run(world.clone(), job, sender, upload, cancel));
            watch_task(world, task, fallback);
        }
        Effect::PostOffer { offer, text } => {
            let task = tokio::spawn(publish::offer(world.clone(), offer, text));
            let event_id = None;
            watch_task(world, task, Input::OfferPosted { offer, event_id });
        }
        Effect::CancelJob(job) => {
            if let Some(s) = jobs.get(&job) {
                s.cancel.send_replace(true);
            }
        }
        Effect::StopJobs => {
            for s in jobs.values() {
                s.stop.send_replace(true);
            }
        }
        Effect::CancelJournal => {
            let world = world.clone();
            tokio::spawn(async move {
                let result = cancel_journal(&world.journal_path()).await;
                world.inbox.send(Input::JournalCancelled(result));
            });
        }
        Effect::AnswerInvite { room, answer } => {
            let world = world.clone();
            tokio::spawn(async move { answer_invite(&world, room, answer).await });
        }
        Effect::Exit => return false,
    }
    true
}

/// If a job's task dies (a panic), the machine still hears that it ended,
/// so it is never left busy forever.
fn watch_task(world: &Arc<World>, task: tokio::task::JoinHandle<()>, fallback: Input) {
    watch_task_all(world, task, vec![fallback]);
}

fn watch_task_all(world: &Arc<World>, task: tokio::task::JoinHandle<()>, fallbacks: Vec<Input>) {
    let inbox = world.inbox.clone();
    tokio::spawn(async move {
        if let Err(e) = task.await {
            warn!(error = %e, "a job's task ended abnormally");
            for fallback in fallbacks {
                inbox.send(fallback);
            }
        }
    });
}

async fn answer_invite(
    world: &World,
    room_id: matrix_sdk::ruma::OwnedRoomId,
    answer: InviteAnswer,
) {
    let Some(room) = world.client.get_room(&room_id) else {
        return;
    };
    let result = match answer {
        InviteAnswer::Ignore => {
            info!(%room_id, "ignoring an invite (account shared with a human admin)");
            return;
        }
        InviteAnswer::Join => room.join().await.map(|()| "joined the admin room"),
        InviteAnswer::Decline => room.leave().await.map(|()| "declined an invite"),
    };
    match result {
        Ok(done) => info!(%room_id, "{done}"),
        Err(e) => warn!(%room_id, error = %e, ?answer, "could not answer an invite"),
    }
}

/// Writes a cancel into the journal of a run that is not running.
async fn cancel_journal(path: &std::path::Path) -> Result<(), String> {
    let file = match crate::delete::JournalFile::resume(path) {
        Ok(Some(file)) => file,
        Ok(None) => return Err("the journal is gone".to_owned()),
        Err(e) => return Err(e.to_string()),
    };
    file.record(|j| (j.cancel(), ()))
        .await
        .map_err(|e| format!("{e:#}"))
}
