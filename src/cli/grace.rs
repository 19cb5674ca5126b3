//! `oldrooms delete --from F --grace 7d`: the confirmed rooms that still
//! have local people go on a plan and those people are warned; `--resume`
//! after the deadline deletes what stayed quiet (before it, it says when).

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt as _;
use matrix_sdk::ruma::OwnedUserId;

use crate::config::Config;
use crate::delete::journal::{Entry, Journal, Outcome, Step};
use crate::plan::warn::{Channel, people_in, send_all};
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
    let read = people_of_rooms(session, config, policy, &rooms).await?;
    let mut now = Vec::new();
    let mut later = Vec::new();
    let mut people_of = Vec::new();
    for (room, people) in rooms.into_iter().zip(read) {
        if people.is_empty() {
            now.push(room);
        } else {
            people_of.push(people);
            later.push(room);
        }
    }
    if later.is_empty() {
        println!("No local person is in these rooms: nobody to warn.");
        return Ok(now);
    }
    let channel = Channel::of(&session.client).await?;
    let confirmed_at = now_ms();
    let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    let id = format!("{confirmed_at:x}");
    let mut plan = Plan::new(
        id,
        "command line",
        confirmed_at,
        confirmed_at.saturating_add(grace_ms),
        Some(policy.rules.clone()),
        later,
        &people_of,
    );
    let _held = file::create(&path, &plan)?;
    warn(session, config, &mut plan, &path, channel).await?;
    println!(
        "{} on the plan in {}: each is deleted after {} unless someone writes in it. Then run \
         `oldrooms delete --config {} --resume`.",
        crate::plain::count(plan.rooms.len(), "room is", "rooms are"),
        path.display(),
        rfc3339(plan.deadline),
        config.file
    );
    Ok(now)
}

/// Each room's local people to warn, read now.
async fn people_of_rooms(
    session: &Session,
    config: &Config,
    policy: &Policy,
    rooms: &[Entry],
) -> anyhow::Result<Vec<Vec<OwnedUserId>>> {
    let ours = &session.user_id;
    let read: Vec<_> = futures_util::stream::iter(rooms)
        .map(|room| people_in(&session.client, policy, ours, &room.room_id))
        .buffered(config.scan.concurrency.max(1))
        .collect()
        .await;
    Ok(read.into_iter().collect::<Result<_, _>>()?)
}

async fn warn(
    session: &Session,
    config: &Config,
    plan: &mut Plan,
    path: &Path,
    channel: Channel,
) -> anyhow::Result<()> {
    // Direct chats are messages from our own account, under Synapse's rate
    // limit for it (a server notice is the notices account's).
    if channel == Channel::Direct && config.bot.lift_own_ratelimit {
        session
            .client
            .lift_ratelimit(&session.user_id)
            .await
            .map_err(|e| {
                anyhow::anyhow!("bot.lift_own_ratelimit: could not lift the rate limit ({e})")
            })?;
    }
    let server = config.user_id.server_name().as_str();
    let sent = send_all(
        &session.client,
        plan,
        path,
        channel,
        &config.delete.warning,
        server,
        &config.bot.data_dir,
    )
    .await?;
    let how = match channel {
        Channel::ServerNotices => "by server notice",
        Channel::Direct => "in a direct chat",
    };
    if sent.sent > 0 {
        println!(
            "Warned {} {how}.",
            crate::plain::count(sent.sent, "person", "people")
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
    Ok(())
}

/// `oldrooms delete --cancel`: the plan is withdrawn (its cancel recorded,
/// then the file archived), and none of its rooms is deleted.
pub fn cancel_command(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let path = plan_path(&config);
    if !path.exists() {
        anyhow::bail!("no plan to cancel in {}", config.bot.data_dir.display());
    }
    let _held = file::lock(&path)?;
    let Some(plan) = file::read(&path)? else {
        anyhow::bail!("no plan to cancel in {}", config.bot.data_dir.display());
    };
    file::append(&path, &crate::plan::Record::Cancelled)?;
    let archived = file::archive(&path, &plan)?;
    let warned = (0..plan.people.len())
        .filter(|&i| matches!(plan.warnings[i], crate::plan::Warning::Sent { .. }))
        .count();
    println!(
        "Plan withdrawn: none of its {} will be deleted ({} warned; they are not told). The \
         plan is kept as {}.",
        crate::plain::rooms(plan.rooms.len()),
        crate::plain::count(warned, "person was", "people were"),
        archived.display()
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

/// A plan this process holds (locked), to archive.
pub struct Held {
    path: PathBuf,
    plan: Box<Plan>,
    _lock: std::fs::File,
}

impl Held {
    /// Moves the plan aside: its rooms are in the deletion's journal now.
    pub fn archive(self) -> anyhow::Result<PathBuf> {
        file::archive(&self.path, &self.plan)
    }
}

/// Before the deadline: sends the warnings still unsent, and says when.
/// After it: reads each room's local people again and hands the rooms whose
/// people were all warned in time to the deletion (a warning owed then is
/// not sent: it would come too late).
pub async fn resume(
    session: &Session,
    config: &Config,
    policy: &Policy,
    plan: Plan,
) -> anyhow::Result<Resumed> {
    let path = plan_path(config);
    let lock = file::lock(&path)?;
    // Read again under the lock: another process may have added to it.
    let mut plan = file::read(&path)?.unwrap_or(plan);
    if plan.cancelled {
        file::archive(&path, &plan)?;
        println!("The plan was withdrawn: nothing of it is deleted.");
        return Ok(Resumed::Waiting);
    }
    if now_ms() < plan.deadline {
        if !plan.to_warn().is_empty() || !plan.interrupted().is_empty() {
            let channel = Channel::of(&session.client).await?;
            warn(session, config, &mut plan, &path, channel).await?;
        }
        println!(
            "Not yet: the plan's {} are deleted after {}. Run --resume again then.",
            crate::plain::rooms(plan.rooms.len()),
            rfc3339(plan.deadline)
        );
        return Ok(Resumed::Waiting);
    }
    let people_now = people_of_rooms(session, config, policy, &plan.rooms).await?;
    let (journal, kept_why) = plan.deletion(&people_now);
    let kept = kept_why
        .into_iter()
        .map(|(i, detail)| Entry {
            step: Step::Done {
                outcome: Outcome::Skipped,
                detail,
            },
            ..plan.rooms[i].clone()
        })
        .collect();
    println!(
        "The plan's deadline passed: its rooms are re-checked and deleted unless someone wrote \
         in them."
    );
    Ok(Resumed::Due {
        journal: Box::new(journal),
        kept,
        plan: Held {
            path,
            plan: Box::new(plan),
            _lock: lock,
        },
    })
}

/// The report of a plan's deletion: its journal's rooms and those kept
/// before it started.
pub fn with_kept(journal: &Journal, kept: Vec<Entry>) -> Journal {
    let mut rooms = journal.rooms.clone();
    rooms.extend(kept);
    Journal::new(
        &journal.confirmed_by,
        journal.confirmed_at,
        journal.options.clone(),
        rooms,
    )
}
