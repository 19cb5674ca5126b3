//! The one background job the bot runs at a time (a scan or a deletion),
//! and the progress message it keeps up to date.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use matrix_sdk::room::Room;
use matrix_sdk::ruma::OwnedEventId;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

use super::Bot;
use super::chat::{self, Text};
use crate::delete::JournalFile;
use crate::scan::Progress;

/// What the job is doing, for `status`.
pub enum Work {
    Scan(Arc<Mutex<Option<Progress>>>),
    Delete(Arc<JournalFile>),
}

pub struct Job {
    id: u64,
    started: Instant,
    pub work: Work,
    cancel: watch::Sender<bool>,
}

impl Job {
    pub fn cancel(&self) {
        self.cancel.send_replace(true);
    }

    pub fn is_deletion(&self) -> bool {
        matches!(self.work, Work::Delete(_))
    }

    /// "scanning (checked 120 of 400 rooms, 12 s elapsed)" and the like.
    pub fn describe(&self) -> String {
        let elapsed = ago(self.started.elapsed());
        match &self.work {
            Work::Scan(p) => format!("scanning ({}, {elapsed} elapsed)", scan_progress(lock(p))),
            Work::Delete(j) => format!("deleting ({}, {elapsed} elapsed)", j.counts()),
        }
    }
}

fn lock<T: Copy>(m: &Mutex<T>) -> T {
    *m.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn scan_progress(progress: Option<Progress>) -> String {
    match progress {
        None => "starting".to_owned(),
        Some(Progress::Listing { listed }) => format!("listed {listed} rooms"),
        Some(Progress::Checking { checked, total }) => {
            format!("checked {checked} of {total} rooms")
        }
    }
}

/// Runs `work` as the bot's job unless one is running (then the answer says
/// which). `work` gets a receiver that turns true on `cancel`.
pub fn start<F, Fut>(bot: &Bot, kind: Work, work: F) -> Result<(), Text>
where
    F: FnOnce(watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut state = bot.state();
    if let Some(job) = &state.job {
        return Err(Text::plain(&format!(
            "Busy: {}. Send `{prefix} status` to follow it or `{prefix} cancel` to stop it.",
            job.describe(),
            prefix = bot.inner.config.bot.command_prefix,
        )));
    }
    state.next_job_id += 1;
    let id = state.next_job_id;
    let (cancel, cancelled) = watch::channel(false);
    state.job = Some(Job {
        id,
        started: Instant::now(),
        work: kind,
        cancel,
    });
    let fut = work(cancelled);
    let bot = bot.clone();
    tokio::spawn(async move {
        fut.await;
        let mut state = bot.state();
        if state.job.as_ref().is_some_and(|j| j.id == id) {
            state.job = None;
        }
    });
    Ok(())
}

/// Runs `work` while editing `message` with `describe()` every `interval`
/// when it changed. Edits never hold up the work, and a refused one is
/// skipped.
pub async fn with_progress<T>(
    room: &Room,
    message: Option<&OwnedEventId>,
    interval: Duration,
    describe: impl Fn() -> String,
    work: impl Future<Output = T>,
) -> T {
    tokio::pin!(work);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    ticker.tick().await;
    let mut editing: Option<JoinHandle<()>> = None;
    let mut shown = String::new();
    loop {
        tokio::select! {
            result = &mut work => {
                if let Some(edit) = editing { edit.abort(); }
                return result;
            }
            _ = ticker.tick() => {
                let text = describe();
                let busy = editing.as_ref().is_some_and(|h| !h.is_finished());
                if let (Some(id), false, true) = (message, busy, text != shown) {
                    shown.clone_from(&text);
                    let (room, id) = (room.clone(), id.clone());
                    editing = Some(tokio::spawn(async move {
                        best_effort_edit(&room, &id, &Text::plain(&text)).await;
                    }));
                }
            }
        }
    }
}

/// A progress edit: skipped when refused, never fatal.
pub async fn best_effort_edit(room: &Room, id: &OwnedEventId, text: &Text) {
    if let Err(e) = chat::edit(room, id, text).await {
        info!(error = %e, "progress edit skipped");
    }
}

/// A message that must arrive: retried for a while after failures.
pub async fn post(room: &Room, text: &Text) -> Option<OwnedEventId> {
    let mut delay = Duration::from_secs(2);
    for attempt in 1..=5 {
        match chat::send(room, text).await {
            Ok(id) => return Some(id),
            Err(e) => {
                tracing::warn!(attempt, error = %e, "could not post a message; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    None
}

pub fn ago(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{:.1} s", d.as_secs_f64()),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}
