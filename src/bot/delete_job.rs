//! A confirmed deletion run from chat: journal first, then the engine, a
//! progress message, the summary and deletion-report.csv. Resumed at start
//! after a crash or a restart.

use std::path::PathBuf;
use std::sync::Arc;

use matrix_sdk::Client;
use matrix_sdk::room::Room;
use tokio::sync::watch;
use tracing::{info, warn};

use super::Bot;
use super::chat::{self, Text, escape_html, shorten};
use super::job::{self, Work, best_effort_edit, post, with_progress};
use crate::delete::journal::{self, Journal, Outcome, Step};
use crate::delete::report::write_report;
use crate::delete::{self as engine, JournalFile};
use crate::session::resolve_policy;
use crate::timefmt::rfc3339;

const JOURNAL_FILE: &str = "deletion-journal.json";

fn journal_path(bot: &Bot) -> PathBuf {
    bot.inner.config.bot.data_dir.join(JOURNAL_FILE)
}

/// Writes the journal, then starts deleting. Nothing happens if the journal
/// cannot be written.
pub fn start(bot: &Bot, room: &Room, journal: Journal) -> Result<(), Text> {
    // Checked before the journal is written: a running deletion's journal
    // must never be overwritten.
    if bot.state().job.is_some() {
        return Err(Text::plain(
            "Busy with another job: nothing was deleted. Run a new scan when it is done.",
        ));
    }
    let path = journal_path(bot);
    let file = JournalFile::create(path.clone(), journal).map_err(|e| {
        Text::plain(&format!(
            "Could not write the deletion journal ({e:#}); nothing was deleted."
        ))
    })?;
    let file = Arc::new(file);
    let (bot2, room) = (bot.clone(), room.clone());
    let shared = file.clone();
    job::start(bot, Work::Delete(file), move |cancelled| async move {
        run(&bot2, &room, shared, cancelled).await;
    })
}

/// At start: finishes a deletion a crash or a restart interrupted.
pub async fn resume(bot: &Bot, client: &Client) {
    let path = journal_path(bot);
    let Some(room) = client.get_room(&bot.inner.admin_room) else {
        warn!("not in the admin room: cannot report on an interrupted deletion");
        return;
    };
    match journal::read(&path) {
        Ok(None) => {}
        Ok(Some(journal)) => {
            let text = format!(
                "Resuming the deletion confirmed by {} at {} ({}).",
                journal.confirmed_by,
                rfc3339(journal.confirmed_at),
                journal.counts()
            );
            info!("{text}");
            post(&room, &Text::plain(&text)).await;
            if let Err(busy) = start(bot, &room, journal) {
                post(&room, &busy).await;
            }
        }
        Err(e) => {
            let text = format!(
                "{e:#}. Nothing will be deleted from it: look at the file, then move it away."
            );
            warn!("{text}");
            post(&room, &Text::plain(&text)).await;
        }
    }
}

async fn run(bot: &Bot, room: &Room, file: Arc<JournalFile>, cancelled: watch::Receiver<bool>) {
    let config = &bot.inner.config;
    let total = file.counts().total;
    let message = chat::send(room, &Text::plain(&format!("Deleting {total} rooms…")))
        .await
        .ok();
    let policy = match resolve_policy(&bot.inner.admin, config).await {
        Ok(p) => p,
        Err(e) => {
            let text = format!(
                "Cannot re-check the rooms ({e:#}), so nothing more is deleted now. The journal \
                 {} is kept: the deletion resumes when the bot restarts.",
                file.path().display()
            );
            post(room, &Text::plain(&text)).await;
            return;
        }
    };
    let describe = || format!("Deleting: {}…", file.counts());
    let work = engine::run(
        &bot.inner.admin,
        &policy,
        &file,
        &config.delete.engine,
        &|_| {},
        cancelled,
    );
    let result = with_progress(
        room,
        message.as_ref(),
        config.bot.progress_interval,
        describe,
        work,
    )
    .await;
    let journal = file.snapshot();
    let counts = journal.counts();
    if let Err(e) = result {
        let text = format!(
            "Deletion stopped: {e:#}. {counts}. Rooms not yet handled were left as they are; the \
             journal {} says where it stopped.",
            file.path().display()
        );
        post(room, &Text::plain(&text)).await;
        return;
    }
    if let Some(id) = &message {
        best_effort_edit(
            room,
            id,
            &Text::plain(&format!("Deletion finished: {counts}.")),
        )
        .await;
    }
    post(room, &summary(&journal)).await;
    let mut bytes = Vec::new();
    if let Err(e) = write_report(&journal, &mut bytes) {
        warn!(error = %e, "could not build the report");
    } else if let Err(e) =
        chat::send_file(room, "deletion-report.csv", &mime::TEXT_CSV, bytes).await
    {
        post(
            room,
            &Text::plain(&format!("Could not upload deletion-report.csv ({e}).")),
        )
        .await;
    }
    match journal::archive(file.path(), &journal) {
        Ok(path) => info!(path = %path.display(), "deletion finished; journal archived"),
        Err(e) => warn!(error = %format!("{e:#}"), "could not archive the journal"),
    }
}

fn summary(journal: &Journal) -> Text {
    let counts = journal.counts();
    let mut text = Text::default();
    let head = format!("Deletion finished: {counts}.");
    text.line(&head, &format!("<b>{}</b>", escape_html(&head)));
    if journal.cancelled {
        let line = "Cancelled: rooms not yet started were left as they are.";
        text.line(line, line);
    }
    let notable: Vec<_> = journal
        .rooms
        .iter()
        .filter_map(|r| match &r.step {
            Step::Done { outcome, detail }
                if *outcome != Outcome::Deleted || !detail.is_empty() =>
            {
                Some((r, outcome, detail))
            }
            _ => None,
        })
        .collect();
    for (room, outcome, detail) in notable.iter().take(10) {
        let name = shorten(&room.name, 50);
        let plain = format!(
            "• {} {} ({}): {}",
            outcome.as_str(),
            name,
            room.room_id,
            detail
        );
        text.line(&plain, &escape_html(&plain));
    }
    if notable.len() > 10 {
        let more = format!("… and {} more in deletion-report.csv", notable.len() - 10);
        text.line(&more, &escape_html(&more));
    }
    text
}
