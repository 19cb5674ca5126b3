//! A scan started from chat: one message edited with progress, then the
//! summary, results.csv as an attachment, and the offer to delete.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use matrix_sdk::room::Room;
use tokio::sync::watch;
use tracing::{info, warn};

use super::Bot;
use super::chat::{self, Text, escape_html, shorten};
use super::commands::ScanArgs;
use super::confirm;
use super::job::{self, Work, ago, best_effort_edit, post, scan_progress, with_progress};
use crate::policy::ReasonKind;
use crate::report::{Summary, write_csv};
use crate::scan::{Progress, ScanOutcome, scan};
use crate::session::resolve_policy;

/// What `status` reports after a scan.
pub struct LastScan {
    summary: Summary,
    finished: Instant,
}

/// Starts a scan unless a job is running; the reply, if any, is for now.
pub fn start(bot: &Bot, room: &Room, args: ScanArgs) -> Option<Text> {
    let progress: Arc<Mutex<Option<Progress>>> = Arc::default();
    let (bot2, room) = (bot.clone(), room.clone());
    let shared = progress.clone();
    job::start(bot, Work::Scan(progress), move |cancelled| async move {
        run(&bot2, &room, args, shared, cancelled).await;
    })
    .err()
}

pub fn status(bot: &Bot) -> Text {
    let state = bot.state();
    let mut text = match &state.job {
        Some(job) => Text::plain(&format!("Busy: {}.", job.describe())),
        None => Text::plain("Idle: no scan or deletion is running."),
    };
    if let Some(offer) = &state.offer {
        let line = confirm::describe_offer(offer);
        text.line(&line, &escape_html(&line));
    }
    let last = match &state.last_scan {
        Some(last) => format!(
            "Last scan, {} ago: {}",
            ago(last.finished.elapsed()),
            last.summary
        ),
        None => "No scan has finished since the bot started.".to_owned(),
    };
    text.line(&last, &escape_html(&last));
    text
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
    let now = || *progress.lock().unwrap_or_else(|e| e.into_inner());
    let describe = || {
        format!(
            "Scanning: {}, {} elapsed…",
            scan_progress(now()),
            ago(started.elapsed())
        )
    };
    let scanning = with_progress(
        room,
        message.as_ref(),
        config.bot.progress_interval,
        describe,
        scan_rooms(bot, &args, &progress),
    );
    let end = tokio::select! {
        end = scanning => end,
        _ = cancelled.wait_for(|c| *c) => End::Cancelled,
    };
    let elapsed = started.elapsed();
    let (status_line, reply) = match end {
        End::Done(outcome) => {
            let summary = Summary::new(&outcome.rows, outcome.elapsed);
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
            post(
                room,
                &summary_text(&summary, &outcome, &config.bot.command_prefix),
            )
            .await;
            upload(bot, room, &outcome).await;
            info!(
                rooms = summary.scanned,
                candidates = summary.candidates(),
                "scan posted"
            );
            confirm::offer(bot, room, &outcome, &summary).await;
            return;
        }
        End::Failed(error) => (
            "Scan failed.".to_owned(),
            Text::plain(&format!(
                "The scan failed: {error}. Nothing was written; nothing was deleted."
            )),
        ),
        End::Cancelled => {
            let done = format!("{}, {} elapsed", scan_progress(now()), ago(elapsed));
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

async fn scan_rooms(bot: &Bot, args: &ScanArgs, progress: &Mutex<Option<Progress>>) -> End {
    let config = &bot.inner.config;
    let mut policy = match resolve_policy(&bot.inner.admin, config).await {
        Ok(p) => p,
        Err(e) => return End::Failed(format!("{e:#}")),
    };
    policy.inactive_days = args.inactive_days.unwrap_or(policy.inactive_days);
    policy.include_spaces |= args.include_spaces;
    policy.include_public |= args.include_public;
    let record = |p: Progress| *progress.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
    match scan(&bot.inner.admin, &policy, &config.scan, &record).await {
        Ok(outcome) => End::Done(outcome),
        Err(e) => End::Failed(e.to_string()),
    }
}

/// Uploads results.csv, and keeps a copy in `bot.data_dir`.
async fn upload(bot: &Bot, room: &Room, outcome: &ScanOutcome) {
    let mut bytes = Vec::new();
    if let Err(e) = write_csv(&outcome.rows, outcome.now_ms, &mut bytes) {
        post(
            room,
            &Text::plain(&format!("Could not build results.csv: {e}")),
        )
        .await;
        return;
    }
    let copy = bot.inner.config.bot.data_dir.join("results.csv");
    if let Err(e) = crate::atomic::write_bytes(&copy, &bytes) {
        warn!(error = %format!("{e:#}"), "could not keep a copy of results.csv");
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
