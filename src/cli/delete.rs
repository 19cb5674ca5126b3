//! `oldrooms delete --from results.csv`: the admin's edited CSV decides what
//! goes. Asks on the terminal (type the number of rooms), records the run in
//! a journal, deletes through the same engine as the bot, writes the report.

use std::io::{BufRead as _, Write as _};
use std::path::Path;
use std::sync::atomic::AtomicUsize;

use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;

use super::grace::Resumed;
use crate::config::Config;
use crate::delete::input::read_candidates;
use crate::delete::journal::{Entry, Journal};
use crate::delete::journal_file;
use crate::delete::record;
use crate::delete::report::write_report;
use crate::delete::settle::settle;
use crate::delete::{Control, Ended, RunEvent, Start, dry_run, execute};
use crate::plan::Plan;
use crate::policy::Policy;
use crate::scan_args::ScanArgs;
use crate::session::Session;
use crate::timefmt::now_ms;

/// The command line's own journal, apart from the bot's.
const JOURNAL_FILE: &str = "cli-deletion-journal.jsonl";

/// What `oldrooms delete` reads and writes.
pub struct Files<'a> {
    pub from: Option<&'a Path>,
    pub report: &'a Path,
}

/// What a `delete` run starts from.
enum Chosen<'a> {
    /// The interrupted deletion's journal.
    Journal,
    /// A plan made with `--grace`.
    Plan(Box<Plan>),
    /// An edited file's rows.
    File(Vec<Entry>, &'a Path),
}

pub async fn command(
    config_path: &Path,
    files: &Files<'_>,
    yes: bool,
    resume: bool,
    grace: Option<Duration>,
    options: &ScanArgs,
) -> anyhow::Result<()> {
    let (from, report) = (files.from, files.report);
    let config = Config::load(config_path)?;
    if resume && *options != ScanArgs::default() {
        anyhow::bail!(
            "a resumed deletion re-checks with the options it was confirmed with: leave the scan \
             options out of --resume"
        );
    }
    let journal_path = config.bot.data_dir.join(JOURNAL_FILE);
    let grace = grace.or(config.delete.grace).filter(|g| !g.is_zero());
    let chosen = match (journal_file::read(&journal_path)?, from) {
        (Some(journal), _) if resume => {
            println!(
                "Resuming the deletion confirmed at {} ({}).",
                crate::timefmt::rfc3339(journal.confirmed_at),
                journal.counts()
            );
            // A plan whose rooms this journal holds is done with: a stop
            // came before it was archived, and it must not run again.
            crate::plan::steps::pending(&super::grace::plan_path(&config), Some(&journal))?;
            Chosen::Journal
        }
        (Some(_), _) => anyhow::bail!(
            "an interrupted deletion is recorded in {}: finish it with `oldrooms delete --config {} --resume`",
            journal_path.display(),
            config_path.display()
        ),
        (None, _) if resume => match crate::plan::file::read(&super::grace::plan_path(&config))? {
            Some(plan) => Chosen::Plan(Box::new(plan)),
            None => anyhow::bail!(
                "no interrupted deletion or plan to resume in {}",
                config.bot.data_dir.display()
            ),
        },
        (None, None) => anyhow::bail!("--from FILE is required"),
        (None, Some(from)) => {
            // The rooms of a plan wait for their deadline: none of them may
            // go sooner through another file.
            let plan = super::grace::plan_path(&config);
            if plan.exists() {
                anyhow::bail!(
                    "a plan is recorded in {}: finish it with `oldrooms delete --config {} \
                     --resume` after its deadline, or withdraw it with --cancel, before \
                     another deletion",
                    plan.display(),
                    config_path.display()
                );
            }
            let rooms = read_candidates(from)?;
            if rooms.is_empty() {
                println!(
                    "No row of {} is marked should_delete=yes: nothing to delete.",
                    from.display()
                );
                return Ok(());
            }
            Chosen::File(rooms, from)
        }
    };

    let session = Session::open(&config).await?;
    let mut kept = Vec::new();
    // Archived once the deletion's journal holds its rooms.
    let held = std::sync::Mutex::new(None);
    let result = async {
        let start = match chosen {
            Chosen::Journal => Start::Resume,
            Chosen::Plan(plan) => {
                let policy = session.policy(&config).await?.for_run(plan.options.clone());
                match super::grace::resume(&session, &config, &policy, *plan).await? {
                    Resumed::Waiting => return Ok(None),
                    Resumed::Due {
                        journal,
                        kept: k,
                        plan,
                    } => {
                        kept = k;
                        *held.lock().unwrap_or_else(|e| e.into_inner()) = Some(plan);
                        Start::New(journal)
                    }
                }
            }
            Chosen::File(rooms, from) => {
                let policy = rules_for(&session, &config, options).await?;
                let rooms = settled(&session, &config, &policy, rooms).await?;
                if let Some(grace) = grace {
                    println!(
                        "With a grace period of {}: the rooms that still have local people are \
        deleted only after those people are warned and the time has passed.",
                        crate::plain::ago(grace)
                    );
                }
                if !yes && !confirmed(&rooms, from)? {
                    println!("Nothing was deleted.");
                    return Ok(None);
                }
                let rooms = match grace {
                    Some(grace) => {
                        super::grace::start(&session, &config, &policy, rooms, grace).await?
                    }
                    None => rooms,
                };
                if rooms.is_empty() {
                    return Ok(None);
                }
                let rules = Some(policy.rules.clone());
                let journal = Journal::new("command line", now_ms(), rules, rooms);
                Start::New(Box::new(journal))
            }
        };
        let archive = || {
            let plan = held.lock().unwrap_or_else(|e| e.into_inner()).take();
            match plan.map(crate::plan::steps::Held::archive) {
                Some(Ok(to)) => println!("The plan is kept as {}.", to.display()),
                Some(Err(e)) => eprintln!("warning: {e:#}"),
                None => {}
            }
        };
        if let Start::New(journal) = &start
            && journal.rooms.is_empty()
        {
            archive();
            return Ok(Some(Ended::Finished((**journal).clone())));
        }
        delete_all(&session, &config, &journal_path, start, &archive)
            .await
            .map(Some)
    }
    .await;
    session.close().await;
    let journal = match result? {
        None => return Ok(()),
        Some(Ended::Finished(journal)) => journal,
        Some(Ended::Stopped { journal, why }) => {
            write_file(&crate::plan::steps::with_kept(&journal, kept), report)?;
            anyhow::bail!(
                "deletion stopped: {why} ({}). The journal {} is kept: finish it with `oldrooms delete --config {} --resume`",
                journal.counts(),
                journal_path.display(),
                config_path.display()
            )
        }
        Some(Ended::NothingToResume) => anyhow::bail!("no interrupted deletion to resume"),
    };
    let journal = if kept.is_empty() {
        journal
    } else {
        crate::plan::steps::with_kept(&journal, kept)
    };
    write_file(&journal, report)?;
    println!("Deletion finished: {}.", journal.counts());
    println!("Wrote {}", report.display());
    Ok(())
}

/// The policy the re-check will apply: the config's, with the scan options
/// given. Never looser rules from elsewhere (an older scan's): the prompt
/// names each room these rules will keep, and what would include it.
async fn rules_for(
    session: &Session,
    config: &Config,
    options: &ScanArgs,
) -> anyhow::Result<Policy> {
    Ok(options.apply(session.policy(config).await?))
}

/// The file's rows with the facts the re-check will believe: those that
/// `oldrooms scan` recorded, or the server's now; says where the file's
/// cells disagree with them.
async fn settled(
    session: &Session,
    config: &Config,
    policy: &Policy,
    rooms: Vec<Entry>,
) -> anyhow::Result<Vec<Entry>> {
    let record = config.bot.data_dir.join(record::CLI_FILE);
    let settled = settle(
        &session.client,
        policy,
        &record,
        config.scan.concurrency,
        rooms,
    )
    .await?;
    if settled.differ.count > 0 {
        println!(
            "{} last_activity, joined_local_members or reason cells differ from what the \
             scan recorded in {}; each room is re-checked against the record, not the file:",
            crate::plain::count(settled.differ.count, "row's", "rows'"),
            record.display()
        );
        for room in &settled.differ.first {
            println!("  {}", crate::plain::shorten(room, 80));
        }
    }
    if settled.kept_count > 0 {
        println!(
            "{} of these rooms will be kept by the re-check under the rules that apply:",
            settled.kept_count
        );
        for line in &settled.kept {
            println!("  {line}");
        }
        if settled.kept_count > settled.kept.len() {
            println!("  … and {} more", settled.kept_count - settled.kept.len());
        }
    }
    if settled.read_now > 0 {
        println!(
            "{} not in the scan's record ({}): their facts were read from the server now.",
            crate::plain::count(settled.read_now, "room was", "rooms were"),
            record.display()
        );
    }
    Ok(settled.rooms)
}

/// `--dry-run`: the same re-checks and report, with `would-delete` for the
/// rooms a deletion would delete; nothing is deleted and no journal kept.
pub async fn dry_run_command(
    config_path: &Path,
    from: &Path,
    report: &Path,
    options: &ScanArgs,
) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let rooms = read_candidates(from)?;
    let session = Session::open(&config).await?;
    let result = async {
        let policy = rules_for(&session, &config, options).await?;
        let rooms = settled(&session, &config, &policy, rooms).await?;
        let journal = Journal::new("dry run", now_ms(), Some(policy.rules.clone()), rooms);
        Ok::<_, anyhow::Error>(
            dry_run(
                &session.client,
                &policy,
                journal,
                &config.delete.engine,
                &AtomicUsize::new(0),
            )
            .await?,
        )
    }
    .await;
    session.close().await;
    let journal = result.context("dry run stopped")?;
    write_file(&journal, report)?;
    let c = journal.counts();
    println!(
        "Dry run: {} would be deleted, {} would be skipped, {} could not be checked, of {}. Nothing was deleted.",
        c.would_delete, c.skipped, c.failed, c.total
    );
    println!("Wrote {}", report.display());
    Ok(())
}

fn write_file(journal: &Journal, report: &Path) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    write_report(journal, &mut bytes)?;
    crate::atomic::write_bytes(report, &bytes)
}

/// Runs the deletion; `opened` once its journal is on disk.
async fn delete_all(
    session: &Session,
    config: &Config,
    path: &Path,
    start: Start,
    opened: &(dyn Fn() + Sync),
) -> anyhow::Result<Ended> {
    let policy = session.policy(config).await?;
    let (cancel, cancelled) = watch::channel(false);
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nInterrupted: no new deletion starts; waiting for those in flight…");
            cancel.send_replace(true);
        }
    });
    let progress = super::progress::Progress::new("deletion");
    let show = |e: RunEvent| {
        if let RunEvent::Opened(_) = e {
            opened();
        }
        if let RunEvent::Opened(c) | RunEvent::Progress(c) = e {
            progress.update(c.done() as u64, c.total as u64, || c.to_string());
        }
    };
    // The command line has no shutdown of its own: Ctrl-C cancels.
    let (_stop, stop) = watch::channel(false);
    let control = Control {
        cancel: cancelled,
        stop,
    };
    let result = execute(
        &session.client,
        &policy,
        path,
        start,
        &config.delete.engine,
        control,
        &show,
    )
    .await;
    interrupt.abort();
    progress.finish();
    Ok(result?)
}

/// Shows what will go and asks for the number of rooms.
fn confirmed(rooms: &[Entry], from: &Path) -> anyhow::Result<bool> {
    println!(
        "{} marked should_delete=yes in {}. Each is re-checked just before it is deleted.",
        crate::plain::count(rooms.len(), "room is", "rooms are"),
        from.display()
    );

    for room in rooms.iter().take(10) {
        let name = crate::plain::shorten(&room.name, 60);
        println!("  {} {}", room.room_id, name);
    }
    if rooms.len() > 10 {
        println!("  … and {} more", rooms.len() - 10);
    }
    print!(
        "Type {} to delete {}, anything else to stop: ",
        rooms.len(),
        if rooms.len() == 1 { "it" } else { "them" }
    );
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == rooms.len().to_string())
}
