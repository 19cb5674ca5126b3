//! A dry run from chat: the standing offer's rooms re-checked as a deletion
//! would, with one message edited with progress (a million rooms' offer
//! takes hours), then the summary and dry-run-report.csv; nothing deleted.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::watch;

use super::chat::{Text, best_effort_edit, post, with_progress};
use super::delete_job::upload_report;
use super::machine::{Confirmed, Input, JobId};
use super::messages::dry_run_summary;
use super::world::World;
use crate::delete::dry_run;
use crate::delete::journal::Journal;
use crate::plain::ago;

pub async fn run(
    world: Arc<World>,
    job: JobId,
    rooms: Confirmed,
    mut cancel: watch::Receiver<bool>,
) {
    if let Some(room) = world.room() {
        let total = rooms.rooms.len();
        let checked = AtomicUsize::new(0);
        let started = Instant::now();
        let so_far = || {
            format!(
                "{} of {} re-checked, {} elapsed",
                checked.load(Ordering::Relaxed),
                total,
                ago(started.elapsed())
            )
        };
        let describe = || Some(format!("Dry run: {}…", so_far()));
        let work = async {
            tokio::select! {
                done = check(&world, rooms, &checked) => Some(done),
                _ = cancel.wait_for(|c| *c) => None,
            }
        };
        let interval = world.config.bot.progress_interval;
        let (done, message) = with_progress(&room, None, interval, describe, work).await;
        let (how, after) = match done {
            Some(Ok(journal)) => ("finished", Ok(journal)),
            Some(Err(e)) => (
                "stopped",
                Err(format!("The dry run stopped: {e:#}. Nothing was deleted.")),
            ),
            None => (
                "cancelled",
                Err("Dry run cancelled. Nothing was deleted.".to_owned()),
            ),
        };
        if let Some(id) = &message {
            let last = format!("Dry run {how}: {}.", so_far());
            best_effort_edit(&room, id, &Text::plain(&last)).await;
        }
        match after {
            Ok(journal) => {
                post(&room, &dry_run_summary(&journal)).await;
                upload_report(&room, "dry-run-report.csv", &journal).await;
            }
            Err(text) => {
                post(&room, &Text::plain(&text)).await;
            }
        }
    }
    world.inbox.send(Input::DryRunEnded { job });
}

async fn check(world: &World, rooms: Confirmed, checked: &AtomicUsize) -> anyhow::Result<Journal> {
    let base = world.policy().await?;
    let rooms = super::offer_file::journal(&world.offer_path(), rooms)
        .await
        .map_err(anyhow::Error::msg)?;
    let settings = &world.config.delete.engine;
    Ok(dry_run(&world.admin, &base, rooms, settings, checked).await?)
}
