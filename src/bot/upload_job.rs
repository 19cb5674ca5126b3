//! Reading an uploaded results.csv: download (decrypted in an encrypted
//! room), read with the same reader as `oldrooms delete --from`, and
//! compare with the last scan's copy; the state machine decides the offer.

use std::sync::Arc;

use matrix_sdk::media::{MediaFormat, MediaRequestParameters};
use matrix_sdk::ruma::OwnedUserId;
use tokio::sync::watch;
use tracing::warn;

use super::machine::{Input, JobId, Upload};
use super::world::World;
use crate::delete::choice::{Choice, choose};
use crate::delete::input::{Marked, read_marked};
use crate::delete::record;
use crate::delete::settle::settle;

/// The largest file read: a results.csv of a million rooms is about 250 MB.
const MAX_BYTES: u64 = 512 * 1024 * 1024;

pub async fn run(
    world: Arc<World>,
    job: JobId,
    sender: OwnedUserId,
    upload: Upload,
    mut cancel: watch::Receiver<bool>,
) {
    let result = tokio::select! {
        r = read(&world, upload) => r.map(Box::new),
        _ = cancel.wait_for(|c| *c) => Err("cancelled".to_owned()),
    };
    world.inbox.send(Input::UploadRead {
        job,
        sender,
        result,
    });
}

async fn read(world: &World, upload: Upload) -> Result<Choice, String> {
    let too_big = || format!("{} is larger than {} MB", upload.name, MAX_BYTES >> 20);
    if upload.size.is_some_and(|s| s > MAX_BYTES) {
        return Err(too_big());
    }
    let request = MediaRequestParameters {
        source: upload.source.clone(),
        format: MediaFormat::File,
    };
    let bytes = world
        .client
        .media()
        .get_media_content(&request, false)
        .await
        .map_err(|e| format!("{} could not be downloaded ({e})", upload.name))?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_BYTES {
        return Err(too_big());
    }
    let name = upload.name.clone();
    let file = blocking(move || read_marked(&name, &bytes).map_err(|e| e.to_string())).await?;
    let policy = world.policy().await.map_err(|e| format!("{e:#}"))?;
    let path = world.config.bot.data_dir.join("results.csv");
    let last = blocking(move || Ok(last_scan(&path))).await?;
    // The file chose the rooms; the facts come from the last scan's
    // record, or for rooms it lacks, from the server now. The rules are the
    // config's as they are now (never an older scan's, which may be looser).
    let record = world.config.bot.data_dir.join(record::BOT_FILE);
    let mut choice = choose(file, &policy, last.as_ref());
    let offered = std::mem::take(&mut choice.offered);
    let concurrency = world.config.scan.concurrency;
    let settled = settle(&world.admin, &policy, &record, concurrency, offered)
        .await
        .map_err(|e| format!("the chosen rooms could not be read from the homeserver ({e})"))?;
    choice.offered = settled.rooms;
    choice.differ = settled.differ;
    choice.read_now = settled.read_now;
    choice.kept = settled.kept;
    choice.kept_count = settled.kept_count;
    choice.rules = Some(policy.rules);
    Ok(choice)
}

/// The last scan's results.csv, kept by the bot; `None` when there is none
/// or it cannot be read (the offer then says there is nothing to compare).
fn last_scan(path: &std::path::Path) -> Option<Marked> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            warn!(path = %path.display(), error = %e, "cannot read the last scan's results.csv");
            return None;
        }
    };
    read_marked("the last scan's results.csv", &bytes)
        .inspect_err(|e| warn!(error = %e, "cannot compare with the last scan"))
        .ok()
}

/// Parsing a large file stays off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| format!("reading stopped unexpectedly ({e})"))?
}
