//! The command line: argument types (clap derive) and the commands behind
//! them. `main.rs` only parses, sets up logging and calls [`run`].

mod delete;
mod grace;
mod progress;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError};
use crate::report::{Summary, write_csv_atomic};
use crate::scan::{CacheKept, Progress as ScanProgress, Source};
use crate::session::Session;

/// Find old and abandoned rooms on a Synapse homeserver, and delete them
/// only when an admin says so.
#[derive(Debug, Parser)]
#[command(name = "oldrooms", version, about, long_about = None)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Log lines as text, or as one JSON object per line (for journald,
    /// Loki or Elasticsearch)
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan every room on the homeserver and write results.csv.
    Scan {
        /// The TOML config file.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// Where to write the CSV (replaced atomically).
        #[arg(short, long, value_name = "FILE", default_value = "results.csv")]
        output: PathBuf,
        /// Also draw the rooms by time since last activity, as a PNG here.
        #[arg(long, value_name = "FILE")]
        chart: Option<PathBuf>,
        /// Keep each room's last activity here with its forward extremities,
        /// and reuse it next time for rooms with no new event (fewer
        /// requests; the same results).
        #[arg(long, value_name = "FILE")]
        cache: Option<PathBuf>,
        #[command(flatten)]
        options: crate::scan_args::ScanArgs,
    },
    /// Run the bot in the admin room until SIGINT or SIGTERM.
    Run {
        /// The TOML config file.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Delete the rooms marked should_delete=yes in a results.csv (edit it to
    /// choose), after re-checking each one; asks on the terminal first.
    Delete {
        /// The TOML config file.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// The results.csv to act on.
        #[arg(long, value_name = "FILE", required_unless_present_any = ["resume", "cancel"])]
        from: Option<PathBuf>,
        /// Do not ask: delete without typing the number of rooms (scripts).
        #[arg(long)]
        yes: bool,
        /// Finish a deletion that was interrupted, or a plan made with
        /// --grace once its time has passed (both kept in bot.data_dir).
        #[arg(long, conflicts_with = "from")]
        resume: bool,
        /// Warn the local people of the rooms first, and delete those rooms
        /// only after this long (7d, 12h…; 0s: at once); finish with
        /// --resume. Default: `[delete] grace` of the config.
        #[arg(long, value_name = "DURATION", value_parser = grace_arg, conflicts_with_all = ["resume", "dry_run"])]
        grace: Option<std::time::Duration>,
        /// Withdraw the plan made with --grace: none of its rooms is deleted.
        #[arg(long, conflicts_with_all = ["from", "resume", "grace", "dry_run", "yes"])]
        cancel: bool,
        /// Re-check every room now and report what a deletion would do;
        /// delete nothing.
        #[arg(long, requires = "from", conflicts_with_all = ["resume", "yes"])]
        dry_run: bool,
        /// Where to write the report.
        #[arg(long, value_name = "FILE", default_value = "deletion-report.csv")]
        report: PathBuf,
        /// The rules each room is re-checked with: give the options the scan
        /// was run with (a resumed deletion keeps those it was confirmed with).
        #[command(flatten)]
        options: crate::scan_args::ScanArgs,
    },
    /// Check that the homeserver answers and the account is a server admin.
    Check {
        /// The TOML config file.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
}

/// Runs a command and prints any error as one line on stderr (a JSON log
/// line with `--log-format json`, so that stderr holds nothing else).
/// Exit status: 0 success, 1 failure, 2 bad configuration or usage.
pub async fn run(cli: Cli) -> ExitCode {
    let log_format = cli.log_format;
    let result = match cli.command {
        Command::Scan {
            config,
            output,
            chart,
            cache,
            options,
        } => {
            let files = ScanFiles {
                output: &output,
                chart: chart.as_deref(),
                cache: cache.as_deref(),
            };
            scan_command(&config, &files, &options).await
        }
        Command::Check { config } => check_command(&config).await,
        Command::Delete {
            config,
            from,
            yes,
            resume,
            grace,
            cancel,
            dry_run,
            report,
            options,
        } => {
            if cancel {
                grace::cancel_command(&config)
            } else {
                let files = delete::Files {
                    from: from.as_deref(),
                    report: &report,
                };
                match (dry_run, from.as_deref()) {
                    (true, Some(from)) => {
                        delete::dry_run_command(&config, from, &report, &options).await
                    }
                    _ => delete::command(&config, &files, yes, resume, grace, &options).await,
                }
            }
        }
        Command::Run { config } => match Config::load(&config) {
            Ok(config) => crate::bot::run(config, shutdown_signal()).await,
            Err(e) => Err(e.into()),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match log_format {
                LogFormat::Text => eprintln!("error: {e:#}"),
                LogFormat::Json => tracing::error!(error = %format!("{e:#}"), "oldrooms stopped"),
            }
            let usage = |c: &(dyn std::error::Error + 'static)| {
                c.is::<ConfigError>() || c.is::<crate::delete::input::InputError>()
            };
            if e.chain().any(usage) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Where `oldrooms scan` writes, and reads its cache.
struct ScanFiles<'a> {
    output: &'a Path,
    chart: Option<&'a Path>,
    cache: Option<&'a Path>,
}

async fn scan_command(
    config_path: &Path,
    files: &ScanFiles<'_>,
    options: &crate::scan_args::ScanArgs,
) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let session = Session::open(&config).await?;
    let output = files.output;
    let result = tokio::select! {
        r = scan_and_write(&session, &config, files, options) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted; {} was not written", output.display())),
    };
    session.close().await;
    let (summary, route) = result?;
    println!("{summary}");
    if let Some(line) = route.describe() {
        println!("{line}");
    }
    println!("Wrote {}", output.display());
    let cache = files.cache.filter(|_| config.database.is_none());
    for path in [files.chart, cache].into_iter().flatten() {
        println!("Wrote {}", path.display());
    }
    Ok(())
}

async fn scan_and_write(
    session: &Session,
    config: &Config,
    files: &ScanFiles<'_>,
    options: &crate::scan_args::ScanArgs,
) -> anyhow::Result<(Summary, crate::scan::Route)> {
    let (output, chart) = (files.output, files.chart);
    let policy = options.apply(session.policy(config).await?);
    let progress = progress::Progress::new("scan");
    let show = |p| match p {
        ScanProgress::Listing { listed } => {
            progress.counting(format!("listed {}…", crate::plain::rooms(listed)))
        }
        ScanProgress::Checking { checked, total } => {
            progress.update(checked as u64, total as u64, String::new);
        }
    };
    if config.database.is_some() && files.cache.is_some() {
        tracing::warn!("--cache is not used with [database]: the database is read instead");
    }
    let source = Source::of(config, files.cache);
    let scanned = crate::scan::run(&session.client, &source, &policy, &config.scan, &show).await;
    let (outcome, kept) = scanned.context("scan failed")?;
    progress.finish();
    write_csv_atomic(&outcome.rows, outcome.now_ms, output)?;
    keep_record(config, &outcome.rows);
    if let CacheKept::NotSaved { path, error } = kept {
        return Err(error.context(format!("cannot write the scan cache {}", path.display())));
    }
    if let Some(path) = chart {
        let server = config.user_id.server_name().as_str();
        let drawn = crate::chart::of_scan(
            &outcome.rows,
            outcome.now_ms,
            server,
            policy.rules.inactive_days,
        )?;
        crate::atomic::write_bytes(path, &drawn.png.bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok((Summary::new(&outcome.rows, outcome.elapsed), outcome.route))
}

/// Keeps the facts of every room for `oldrooms delete --from`'s re-check
/// (`bot.data_dir`, beside its journal). Without them, the deletion reads
/// each chosen room from the server when it is confirmed.
fn keep_record(config: &Config, rows: &[crate::scan::Row]) {
    let dir = &config.bot.data_dir;
    let path = dir.join(crate::delete::record::CLI_FILE);
    let kept = std::fs::create_dir_all(dir)
        .map_err(anyhow::Error::from)
        .and_then(|()| crate::delete::record::save(rows, config.user_id.server_name(), &path));
    if let Err(e) = kept {
        tracing::warn!(path = %path.display(), error = %format!("{e:#}"), "could not keep the scan's record");
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (systemd stop). The handlers
/// are installed now, so a signal during start-up is not fatal.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    async move {
        #[cfg(unix)]
        if let (Ok(mut int), Ok(mut term)) = signals {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn check_command(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let session = Session::connect(&config).await?;
    let result = check_steps(&session, &config).await;
    session.close().await;
    result
}

async fn check_steps(session: &Session, config: &Config) -> anyhow::Result<()> {
    let client = &session.client;
    let versions = client.client_versions().await?;
    println!(
        "homeserver: {} answers (client API {})",
        client.homeserver(),
        versions.last().map_or("?", String::as_str)
    );
    let me = client.whoami().await?.user_id;
    println!("token:      valid, belongs to {me}");
    if me != session.user_id {
        anyhow::bail!(
            "the token belongs to {me}, but auth.user_id is {}",
            session.user_id
        );
    }
    if !client.is_server_admin(&me).await? {
        anyhow::bail!("the access token is not a server admin's ({me} is not an admin)");
    }
    println!("admin:      yes, {me} is a server admin");
    println!("synapse:    {}", client.server_version().await?);
    println!(
        "cross-signing: {}",
        cross_signing_line(session, config).await
    );
    let warnings = match crate::plan::warn::Channel::of(client).await {
        Ok(crate::plan::warn::Channel::ServerNotices) => "as server notices".to_owned(),
        Ok(crate::plan::warn::Channel::Direct) => {
            "in direct chats from this account (server notices are not enabled)".to_owned()
        }
        Err(e) => format!("could not ask the homeserver ({e})"),
    };
    println!("warnings:   a grace period's warnings go out {warnings}");
    Ok(())
}

/// What the bot's start will do about cross-signing, and whether it needs
/// the admin (README: A verified bot, with key backup). Informational: a
/// failure to ask is said, not fatal.
async fn cross_signing_line(session: &Session, config: &Config) -> String {
    if config.bot.admins.contains(&session.user_id) {
        return "the account is shared with a human admin (bot.admins): the bot sets up \
                nothing of its own"
            .to_owned();
    }
    let has_keys = match session.client.has_cross_signing(&session.user_id).await {
        Ok(has) => has,
        Err(e) => return format!("could not ask the homeserver ({e})"),
    };
    let key = config.bot.data_dir.join(crate::bot::RECOVERY_KEY_FILE);
    match (has_keys, key.exists()) {
        (false, _) => "not set up yet; the bot sets it up at its first start".to_owned(),
        (true, true) => format!("set up; the bot's recovery key is in {}", key.display()),
        (true, false) => format!(
            "{} has keys, and no recovery key is in {}: unless this bot's crypto store \
             holds them (it set them up itself), it will not replace them and stays \
             unverified; put its recovery-key file there",
            session.user_id,
            key.display()
        ),
    }
}

/// `--grace`: a duration as in `[schedule]`, or `0s` for none.
fn grace_arg(text: &str) -> Result<std::time::Duration, String> {
    match text.trim() {
        "0" | "0s" => Ok(std::time::Duration::ZERO),
        t => crate::schedule::parse_every(t),
    }
}
