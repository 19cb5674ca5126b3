//! A scan started from chat: one message edited with progress while it
//! runs; the result goes to the state machine, which decides what is posted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::warn;

use super::chat::{Text, best_effort_edit, with_progress};
use super::commands::ScanArgs;
use super::machine::{Input, JobId, ScanEnd, ScanFailure, ScanResult, scan_progress};
use super::world::{World, say_now};
use crate::plain::ago;
use crate::scan::{CacheKept, Progress, Source};

/// Each room's last activity with its forward extremities, in
/// `bot.data_dir`: the next scan reads again only rooms with new events.
pub const SCAN_CACHE: &str = "scan-cache.tsv";

/// Least time between two progress reports to the state machine.
const REPORT_EVERY: Duration = Duration::from_secs(1);

pub async fn run(world: Arc<World>, job: JobId, args: ScanArgs, mut cancel: watch::Receiver<bool>) {
    let end = match world.room() {
        Some(room) => {
            let started = Instant::now();
            let message = tokio::select! {
                m = say_now(&room, "Scanning all rooms… (listing them)") => m,
                _ = cancel.wait_for(|c| *c) => {
                    world.inbox.send(Input::ScanEnded { job, end: ScanEnd::Cancelled });
                    return;
                }
            };
            let progress: Mutex<Option<Progress>> = Mutex::new(None);
            let now = || *progress.lock().unwrap_or_else(|e| e.into_inner());
            let describe = || {
                Some(format!(
                    "Scanning: {}, {} elapsed…",
                    scan_progress(now()),
                    ago(started.elapsed())
                ))
            };
            // The cancel ends the work inside `with_progress`, so that an edit
            // in flight lands before the final one, not after it.
            let work = async {
                tokio::select! {
                    end = scan_rooms(&world, job, &args, &progress) => end,
                    _ = cancel.wait_for(|c| *c) => ScanEnd::Cancelled,
                }
            };
            let interval = world.config.bot.progress_interval;
            let (end, message) = with_progress(&room, message, interval, describe, work).await;
            let status = match &end {
                ScanEnd::Done(_) => None,
                ScanEnd::Failed(_) => Some("Scan failed.".to_owned()),
                ScanEnd::Cancelled => Some(format!(
                    "Scan cancelled ({}, {} elapsed).",
                    scan_progress(now()),
                    ago(started.elapsed())
                )),
            };
            match (end, message) {
                (ScanEnd::Done(mut result), message) => {
                    result.message = message;
                    ScanEnd::Done(result)
                }
                (end, Some(id)) => {
                    if let Some(line) = status {
                        best_effort_edit(&room, &id, &Text::plain(&line)).await;
                    }
                    end
                }
                (end, None) => end,
            }
        }
        None => ScanEnd::Failed(ScanFailure::NotInAdminRoom),
    };
    world.inbox.send(Input::ScanEnded { job, end });
}

async fn scan_rooms(
    world: &World,
    job: JobId,
    args: &ScanArgs,
    progress: &Mutex<Option<Progress>>,
) -> ScanEnd {
    let config = &world.config;
    let policy = match world.policy().await {
        Ok(p) => args.apply(p),
        Err(e) => return ScanEnd::Failed(ScanFailure::Policy(format!("{e:#}"))),
    };
    let reported = Arc::new(Mutex::new(None::<Instant>));
    let record = |p: Progress| {
        *progress.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
        let mut last = reported.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
            *last = Some(Instant::now());
            world.inbox.send(Input::ScanProgress { job, progress: p });
        }
    };
    let cache = config.bot.data_dir.join(SCAN_CACHE);
    let source = Source::of(config, Some(&cache));
    let scanned = crate::scan::run(&world.admin, &source, &policy, &config.scan, &record).await;
    let scanned = scanned.map(|(outcome, kept)| {
        if let CacheKept::NotSaved { error, .. } = kept {
            warn!(error = %format!("{error:#}"), "could not keep the scan cache");
        }
        outcome
    });
    match scanned {
        Ok(outcome) => ScanEnd::Done(Box::new(ScanResult {
            outcome,
            options: policy.rules.clone(),
            message: None,
        })),
        Err(e) => {
            warn!(error = %e, "scan failed");
            ScanEnd::Failed(ScanFailure::Homeserver(e.to_string()))
        }
    }
}
