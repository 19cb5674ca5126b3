//! `oldrooms delete --from F --grace 7d`: the confirmed rooms that still
//! have local people go on a plan and those people are warned; `--resume`
//! after the deadline deletes what stayed quiet (before it, it says when).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Config;
use crate::delete::journal::{Entry, Journal};
use crate::plan::steps::{self, Confirm, Due, Held};
use crate::plan::warn::{Channel, Sent};
use crate::plan::{Plan, file};
use crate::policy::Policy;
use crate::session::Session;
use crate::timefmt::{now_ms, rfc3339};

/// The command line's plan, apart from the bot's.
pub const PLAN_FILE: &str = "cli-plan.jsonl";

pub fn plan_path(config: &Config) -> PathBuf {
    config.bot.data_dir.join(PLAN_FILE)
}

/// Puts the confirmed `rooms` that have local people on a plan, warns
/// them, and returns the rooms nobody is in, to delete now.
pub async fn start(
    session: &Session,
    config: &Config,
    policy: &Policy,
    rooms: Vec<Entry>,
    grace: Duration,
) -> anyhow::Result<Vec<Entry>> {
    let path = plan_path(config);
    if let Some(plan) = file::read(&path)? {
        anyhow::bail!(
            "a plan (confirmed at {}, deleting after {}) is recorded in {}: finish it with \
             --resume, or withdraw it with --cancel",
            rfc3339(plan.confirmed_at),
            rfc3339(plan.deadline),
            path.display()
        );
    }
    let at = now_ms();
    let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    let confirm = Confirm {
        by: "command line",
        at,
        deadline: at.saturating_add(grace_ms),
        options: Some(policy.rules.clone()),
        offer: None,
    };
    let client = &session.client;
    let made = steps::make(client, config, policy, rooms, confirm, &path, &|| false).await?;
    let Some((plan, channel, sent)) = made.plan else {
        println!("No local person is in these rooms: nobody to warn.");
        return Ok(made.now);
    };
    told(channel, &sent?);
    println!(
        "{} on the plan in {}: each is deleted after {} unless someone writes in it. Then run \
         `oldrooms delete --config {} --resume`.",
        crate::plain::count(plan.rooms.len(), "room is", "rooms are"),
        path.display(),
        rfc3339(plan.deadline),
        config.file
    );
    Ok(made.now)
}

/// Says who was warned, and who could not be.
fn told(channel: Channel, sent: &Sent) {
    if sent.sent > 0 {
        println!(
            "Warned {} {}.",
            crate::plain::count(sent.sent, "person", "people"),
            channel.how()
        );
    }
    if !sent.failed.is_empty() {
        println!(
            "Could not warn {} (their rooms are kept unless --resume warns them before the \
             deadline):",
            crate::plain::count(sent.failed.len(), "person", "people")
        );
        for line in &sent.failed {
            println!("  {line}");
        }
    }
}

/// `oldrooms delete --cancel`: the plan is withdrawn (its cancel recorded,
/// then the file archived), and none of its rooms is deleted.
pub fn cancel_command(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let Some(plan) = steps::withdraw(&plan_path(&config))? else {
        anyhow::bail!("no plan to cancel in {}", config.bot.data_dir.display());
    };
    println!(
        "Plan withdrawn: none of its {} will be deleted ({} warned; they are not told).",
        crate::plain::rooms(plan.rooms.len()),
        crate::plain::count(plan.warned(), "person was", "people were"),
    );
    Ok(())
}

/// What `--resume` finds in a plan.
pub enum Resumed {
    /// Not yet: the deadline, said.
    Waiting,
    /// The deadline passed: the deletion to run, the rooms kept because
    /// someone in them was not warned in time, and the plan, to archive once
    /// the deletion's journal holds its rooms.
    Due {
        journal: Box<Journal>,
        kept: Vec<Entry>,
        plan: Held,
    },
}

/// Before the deadline: sends the warnings still unsent, and says when.
/// After it: the deletion of what may go (see `steps::due`).
pub async fn resume(
    session: &Session,
    config: &Config,
    policy: &Policy,
    plan: Plan,
) -> anyhow::Result<Resumed> {
    let path = plan_path(config);
    if now_ms() < plan.deadline && !plan.cancelled {
        let _lock = file::lock(&path)?;
        // Read again under the lock: another process may have added to it.
        let mut plan = file::read(&path)?.unwrap_or(plan);
        if !plan.to_warn().is_empty() || !plan.interrupted().is_empty() {
            let client = &session.client;
            let channel = Channel::of(client).await?;
            let never = &|| false;
            told(
                channel,
                &steps::warn(client, config, &mut plan, &path, channel, never).await?,
            );
        }
        println!(
            "Not yet: the plan's {} are deleted after {}. Run --resume again then.",
            crate::plain::rooms(plan.rooms.len()),
            rfc3339(plan.deadline)
        );
        return Ok(Resumed::Waiting);
    }
    let ours = &session.user_id;
    let concurrency = config.scan.concurrency;
    match steps::due(&session.client, policy, ours, &path, concurrency).await? {
        Due::Withdrawn => {
            println!("The plan was withdrawn: nothing of it is deleted.");
            Ok(Resumed::Waiting)
        }
        Due::Delete {
            journal,
            kept,
            plan,
        } => {
            println!(
                "The plan's deadline passed: its rooms are re-checked and deleted unless \
                 someone wrote in them."
            );
            Ok(Resumed::Due {
                journal,
                kept,
                plan,
            })
        }
    }
}
