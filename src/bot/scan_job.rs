//! A scan started from chat: one message edited with progress, then the
//! summary and results.csv as an attachment. One at a time; `status` and
//! `cancel` answer while it runs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use matrix_sdk::room::Room;
use matrix_sdk::ruma::OwnedEventId;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::Bot;
use super::chat::{self, Text, escape_html, shorten};
use super::commands::ScanArgs;
use crate::policy::ReasonKind;
use crate::report::{Summary, write_csv, write_csv_atomic};
use crate::scan::{Progress, ScanOutcome, scan};
use crate::session::resolve_policy;

/// The scan in progress.
pub struct Job {
    id: u64,
    started: Instant,
    progress: Arc<Mutex<Option<Progress>>>,
    cancel: watch::Sender<bool>,
}

impl Job {
    fn cancel(&self) {
        self.cancel.send_replace(true);
    }

    fn progress(&self) -> Option<Progress> {
        *self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What `status` reports after a scan.
pub struct LastScan {
    summary: Summary,
    finished: Instant,
}

/// Starts a scan unless one is running; the reply, if any, is for now.
pub fn start(bot: &Bot, room: &Room, args: ScanArgs) -> Option<Text> {
    let mut state = bot.state();
    if let Some(job) = &state.job {
        return Some(Text::plain(&format!(
            "A scan is already running ({}). Send `{prefix} status` to follow it or `{prefix} cancel` to stop it.",
            describe(job.progress(), job.started.elapsed()),
            prefix = bot.inner.config.bot.command_prefix,
        )));
    }
    state.next_job_id += 1;
    let (cancel, cancelled) = watch::channel(false);
    let job = Job {
        id: state.next_job_id,
        started: Instant::now(),
        progress: Arc::default(),
        cancel,
    };
    let (id, progress) = (job.id, job.progress.clone());
    state.job = Some(job);
    let (bot, room) = (bot.clone(), room.clone());
    tokio::spawn(async move {
        run(&bot, &room, args, progress, cancelled).await;
        let mut state = bot.state();
        if state.job.as_ref().is_some_and(|j| j.id == id) {
            state.job = None;
        }
    });
    None
}

pub fn status(bot: &Bot) -> Text {
    let state = bot.state();
    let mut text = match &state.job {
        Some(job) => Text::plain(&format!(
            "Scanning: {}.",
            describe(job.progress(), job.started.elapsed())
        )),
        None => Text::plain("Idle: no scan is running."),
    };
    match &state.last_scan {
        Some(last) => text.line(
            &format!(
                "Last scan, {} ago: {}",
                ago(last.finished.elapsed()),
                last.summary
            ),
            &escape_html(&format!(
                "Last scan, {} ago: {}",
                ago(last.finished.elapsed()),
                last.summary
            )),
        ),
        None => text.line(
            "No scan has finished since the bot started.",
            "No scan has finished since the bot started.",
        ),
    }
    text
}

pub fn cancel(bot: &Bot) -> Text {
    match &bot.state().job {
        Some(job) => {
            job.cancel();
            Text::plain("Cancelling the scan…")
        }
        None => Text::plain("Nothing to cancel: no scan is running."),
    }
}

enum End {
    Done(ScanOutcome),
    Failed(String),
    Cancelled,
}

async fn run(
    bot: &Bot,
    room: &Room,
    args: ScanArgs,
    progress: Arc<Mutex<Option<Progress>>>,
    mut cancelled: watch::Receiver<bool>,
) {
    let started = Instant::now();
    let message = match chat::send(room, &Text::plain("Scanning all rooms… (listing them)")).await
    {
        Ok(id) => Some(id),
        Err(e) => {
            warn!(error = %e, "could not post the progress message");
            None
        }
    };
    let config = &bot.inner.config;
    let end = tokio::select! {
        end = scan_with_progress(bot, room, &args, message.as_ref(), &progress) => end,
        _ = cancelled.wait_for(|c| *c) => End::Cancelled,
    };
    let elapsed = started.elapsed();
    let (status_line, reply) = match end {
        End::Done(outcome) => {
            let summary = Summary::new(&outcome.rows, outcome.elapsed);
            let reply = summary_text(&summary, &outcome, &config.bot.command_prefix);
            bot.state().last_scan = Some(LastScan {
                summary: summary.clone(),
                finished: Instant::now(),
            });
            let line = format!(
                "Scan finished: {} rooms in {}.",
                summary.scanned,
                ago(elapsed)
            );
            if let Some(id) = &message {
                best_effort_edit(room, id, &Text::plain(&line)).await;
            }
            post(room, &reply).await;
            upload(bot, room, &outcome).await;
            info!(
                rooms = summary.scanned,
                candidates = summary.candidates(),
                "scan posted"
            );
            return;
        }
        End::Failed(error) => (
            "Scan failed.".to_owned(),
            Text::plain(&format!(
                "The scan failed: {error}. Nothing was written; nothing was deleted."
            )),
        ),
        End::Cancelled => {
            let done = describe(*progress.lock().unwrap_or_else(|e| e.into_inner()), elapsed);
            (
                format!("Scan cancelled ({done})."),
                Text::plain(&format!(
                    "Scan cancelled ({done}). No results were written."
                )),
            )
        }
    };
    if let Some(id) = &message {
        best_effort_edit(room, id, &Text::plain(&status_line)).await;
    }
    post(room, &reply).await;
}

async fn scan_with_progress(
    bot: &Bot,
    room: &Room,
    args: &ScanArgs,
    message: Option<&OwnedEventId>,
    progress: &Arc<Mutex<Option<Progress>>>,
) -> End {
    let config = &bot.inner.config;
    let mut policy = match resolve_policy(&bot.inner.admin, config).await {
        Ok(p) => p,
        Err(e) => return End::Failed(format!("{e:#}")),
    };
    policy.inactive_days = args.inactive_days.unwrap_or(policy.inactive_days);
    policy.include_spaces |= args.include_spaces;
    policy.include_public |= args.include_public;

    let started = Instant::now();
    let record = |p: Progress| *progress.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
    let scanning = scan(&bot.inner.admin, &policy, &config.scan, &record);
    tokio::pin!(scanning);
    let mut ticker = tokio::time::interval(config.bot.progress_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    ticker.tick().await;
    let mut editing: Option<JoinHandle<()>> = None;
    let mut shown = None;
    loop {
        tokio::select! {
            result = &mut scanning => {
                if let Some(edit) = editing { edit.abort(); }
                return match result {
                    Ok(outcome) => End::Done(outcome),
                    Err(e) => End::Failed(e.to_string()),
                };
            }
            _ = ticker.tick() => {
                let now = *progress.lock().unwrap_or_else(|e| e.into_inner());
                let busy = editing.as_ref().is_some_and(|h| !h.is_finished());
                if let (Some(id), false, true) = (message, busy, now != shown) {
                    shown = now;
                    let text = Text::plain(&format!("Scanning: {}…", describe(now, started.elapsed())));
                    let (room, id) = (room.clone(), id.clone());
                    editing = Some(tokio::spawn(async move {
                        best_effort_edit(&room, &id, &text).await;
                    }));
                }
            }
        }
    }
}

/// A progress edit: skipped when refused, never fatal.
async fn best_effort_edit(room: &Room, id: &OwnedEventId, text: &Text) {
    if let Err(e) = chat::edit(room, id, text).await {
        info!(error = %e, "progress edit skipped");
    }
}

/// A message that must arrive: retried for a while after failures.
async fn post(room: &Room, text: &Text) {
    let mut delay = Duration::from_secs(2);
    for attempt in 1..=5 {
        match chat::send(room, text).await {
            Ok(_) => return,
            Err(e) => {
                warn!(attempt, error = %e, "could not post a message; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
}

/// Uploads results.csv, and keeps a copy in `bot.data_dir`.
async fn upload(bot: &Bot, room: &Room, outcome: &ScanOutcome) {
    let copy = bot.inner.config.bot.data_dir.join("results.csv");
    if let Err(e) = write_csv_atomic(&outcome.rows, &copy) {
        warn!(error = %format!("{e:#}"), "could not keep a copy of results.csv");
    }
    let mut bytes = Vec::new();
    if let Err(e) = write_csv(&outcome.rows, &mut bytes) {
        post(
            room,
            &Text::plain(&format!("Could not build results.csv: {e}")),
        )
        .await;
        return;
    }
    if let Err(e) = chat::send_file(room, "results.csv", &mime::TEXT_CSV, bytes).await {
        warn!(error = %e, "upload failed");
        let text = format!(
            "Could not upload results.csv ({e}). A copy is on the bot's host at {}.",
            copy.display()
        );
        post(room, &Text::plain(&text)).await;
    }
}

fn summary_text(summary: &Summary, outcome: &ScanOutcome, prefix: &str) -> Text {
    let count = |k: ReasonKind| summary.count(k);
    let mut text = Text::default();
    let head = format!(
        "Scan finished: {} rooms in {:.1} s.",
        summary.scanned,
        summary.elapsed.as_secs_f64()
    );
    text.line(&head, &format!("<b>{}</b>", escape_html(&head)));
    let delete = format!(
        "To delete: {} ({} inactive, {} abandoned)",
        summary.candidates(),
        count(ReasonKind::Inactive),
        count(ReasonKind::Abandoned)
    );
    text.line(&delete, &escape_html(&delete));
    let keep = format!(
        "To keep: {} ({} active, {} protected, {} unknown)",
        summary.scanned - summary.candidates(),
        count(ReasonKind::Active),
        count(ReasonKind::Protected),
        count(ReasonKind::Unknown)
    );
    text.line(&keep, &escape_html(&keep));
    let oldest: Vec<_> = outcome
        .rows
        .iter()
        .filter(|r| r.verdict.should_delete())
        .take(5)
        .collect();
    if !oldest.is_empty() {
        text.line("Oldest candidates:", "<b>Oldest candidates:</b>");
        for row in oldest {
            let name = shorten(row.room.name.as_deref().unwrap_or("(no name)"), 60);
            let id = row.room.room_id.as_str();
            let reason = row.verdict.to_string();
            text.line(
                &format!("• {name} ({id}): {reason}"),
                &format!(
                    "• {} (<code>{}</code>): {}",
                    escape_html(&name),
                    escape_html(id),
                    escape_html(&reason)
                ),
            );
        }
    }
    let tail = format!(
        "results.csv lists every room with should_delete and the reason. Nothing has been deleted. \
         ({prefix} help lists the commands.)"
    );
    text.line(&tail, &escape_html(&tail));
    text
}

/// "checked 120 of 400 rooms, 12 s" and the like.
fn describe(progress: Option<Progress>, elapsed: Duration) -> String {
    let done = match progress {
        None => "starting".to_owned(),
        Some(Progress::Listing { listed }) => format!("listed {listed} rooms"),
        Some(Progress::Checking { checked, total }) => {
            format!("checked {checked} of {total} rooms")
        }
    };
    format!("{done}, {} elapsed", ago(elapsed))
}

fn ago(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{:.1} s", d.as_secs_f64()),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}
