//! A dry run from chat: the standing offer's rooms re-checked as a deletion
//! would, the summary and dry-run-report.csv posted, nothing deleted.

use std::sync::Arc;

use tokio::sync::watch;

use super::chat::{Text, post};
use super::delete_job::upload_report;
use super::machine::{Confirmed, Input, JobId};
use super::messages::dry_run_summary;
use super::world::World;
use crate::delete::dry_run;
use crate::delete::journal::Journal;

pub async fn run(
    world: Arc<World>,
    job: JobId,
    rooms: Confirmed,
    mut cancel: watch::Receiver<bool>,
) {
    if let Some(room) = world.room() {
        let done = tokio::select! {
            done = check(&world, rooms) => Some(done),
            _ = cancel.wait_for(|c| *c) => None,
        };
        let text = match done {
            Some(Ok(journal)) => {
                let summary = dry_run_summary(&journal);
                post(&room, &summary).await;
                upload_report(&room, "dry-run-report.csv", &journal).await;
                None
            }
            Some(Err(e)) => Some(format!("The dry run stopped: {e:#}. Nothing was deleted.")),
            None => Some("Dry run cancelled. Nothing was deleted.".to_owned()),
        };
        if let Some(text) = text {
            post(&room, &Text::plain(&text)).await;
        }
    }
    world.inbox.send(Input::DryRunEnded { job });
}

async fn check(world: &World, rooms: Confirmed) -> anyhow::Result<Journal> {
    let base = world.policy().await?;
    let rooms = super::offer_file::journal(&world.offer_path(), rooms)
        .await
        .map_err(anyhow::Error::msg)?;
    Ok(dry_run(&world.admin, &base, rooms, &world.config.delete.engine).await?)
}
