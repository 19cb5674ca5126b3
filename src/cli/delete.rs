//! `oldrooms delete --from results.csv`: the admin's edited CSV decides what
//! goes. Asks on the terminal (type the number of rooms), records the run in
//! a journal, deletes through the same engine as the bot, writes the report.

use std::io::{BufRead as _, Write as _};
use std::path::Path;

use anyhow::Context as _;
use tokio::sync::watch;

use super::TerminalProgress;
use crate::config::Config;
use crate::delete::input::read_candidates;
use crate::delete::journal::{self, Entry, Journal};
use crate::delete::report::write_report;
use crate::delete::{JournalFile, run};
use crate::session::Session;
use crate::timefmt::now_ms;

/// The command line's own journal, apart from the bot's.
const JOURNAL_FILE: &str = "cli-deletion-journal.json";

pub async fn command(
    config_path: &Path,
    from: Option<&Path>,
    yes: bool,
    resume: bool,
    report: &Path,
) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let journal_path = config.bot.data_dir.join(JOURNAL_FILE);
    let journal = match (journal::read(&journal_path)?, from) {
        (Some(journal), _) if resume => {
            println!(
                "Resuming the deletion confirmed at {} ({}).",
                crate::timefmt::rfc3339(journal.confirmed_at),
                journal.counts()
            );
            journal
        }
        (Some(_), _) => anyhow::bail!(
            "an interrupted deletion is recorded in {}: finish it with `oldrooms delete --config {} --resume`",
            journal_path.display(),
            config_path.display()
        ),
        (None, _) if resume => {
            anyhow::bail!(
                "no interrupted deletion to resume in {}",
                journal_path.display()
            )
        }
        (None, None) => anyhow::bail!("--from FILE is required"),
        (None, Some(from)) => {
            let rooms = read_candidates(from)?;
            if rooms.is_empty() {
                println!(
                    "No row of {} is marked should_delete=yes: nothing to delete.",
                    from.display()
                );
                return Ok(());
            }
            if !yes && !confirmed(&rooms, from)? {
                println!("Nothing was deleted.");
                return Ok(());
            }
            Journal::new("command line", now_ms(), rooms)
        }
    };

    let session = Session::open(&config).await?;
    let result = delete_all(&session, &config, journal_path, journal).await;
    session.close().await;
    let (journal, file) = result?;

    let mut bytes = Vec::new();
    write_report(&journal, &mut bytes)?;
    crate::atomic::write_bytes(report, &bytes)?;
    println!("Deletion finished: {}.", journal.counts());
    println!("Wrote {}", report.display());
    journal::archive(file.path(), &journal)?;
    Ok(())
}

async fn delete_all(
    session: &Session,
    config: &Config,
    path: std::path::PathBuf,
    journal: Journal,
) -> anyhow::Result<(Journal, JournalFile)> {
    let policy = session.policy(config).await?;
    let file = JournalFile::create(path, journal)?;
    let (cancel, cancelled) = watch::channel(false);
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nInterrupted: no new deletion starts; waiting for those in flight…");
            cancel.send_replace(true);
        }
    });
    let progress = TerminalProgress::new();
    let show = |c: crate::delete::Counts| progress.show(|| format!("deleting: {c}…"));
    let result = run(
        &session.client,
        &policy,
        &file,
        &config.delete.engine,
        &show,
        cancelled,
    )
    .await;
    interrupt.abort();
    progress.finish();
    result.context("deletion stopped")?;
    Ok((file.snapshot(), file))
}

/// Shows what will go and asks for the number of rooms.
fn confirmed(rooms: &[Entry], from: &Path) -> anyhow::Result<bool> {
    println!(
        "{} rooms are marked should_delete=yes in {}. Each is re-checked just before it is deleted.",
        rooms.len(),
        from.display()
    );
    for room in rooms.iter().take(10) {
        let name = crate::bot::shorten(&room.name, 60);
        println!("  {} {}", room.room_id, name);
    }
    if rooms.len() > 10 {
        println!("  … and {} more", rooms.len() - 10);
    }
    print!(
        "Type {} to delete them, anything else to stop: ",
        rooms.len()
    );
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == rooms.len().to_string())
}
