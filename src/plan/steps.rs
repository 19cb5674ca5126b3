//! A plan's steps over the network, the same for the command line and the
//! bot: who is in the confirmed rooms, the plan made and its people warned,
//! and at the deadline the deletion of what may go.

use std::path::{Path, PathBuf};

use futures_util::StreamExt as _;
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId, UserId};

use super::warn::{Channel, Sent, Wording, people_in, send_all};
use super::{Plan, file};
use crate::admin::{AdminClient, AdminError};
use crate::config::Config;
use crate::delete::journal::{Entry, Journal, Outcome, Step};
use crate::policy::Policy;

/// The confirmed rooms in two groups: those nobody local is in, deleted at
/// once, and those with people to warn, with those people.
#[derive(Debug, Default)]
pub struct Split {
    pub now: Vec<Entry>,
    pub later: Vec<Entry>,
    pub people_of: Vec<Vec<OwnedUserId>>,
}

/// Reads each room's local people now. A room the scan found with no local
/// member is not asked about: it goes at once, and the deletion's re-check
/// keeps it if anyone has joined since.
pub async fn split(
    client: &AdminClient,
    policy: &Policy,
    ours: &UserId,
    rooms: Vec<Entry>,
    concurrency: usize,
) -> anyhow::Result<Split> {
    let (empty, asked): (Vec<Entry>, Vec<Entry>) =
        rooms.into_iter().partition(|r| r.joined_local_members == 0);
    let read = people_of(client, policy, ours, &asked, concurrency).await;
    let mut split = Split {
        now: empty,
        ..Split::default()
    };
    for (room, people) in asked.into_iter().zip(read) {
        let people = people.map_err(|e| anyhow::anyhow!("{}: {e}", room.room_id))?;
        if people.is_empty() {
            split.now.push(room);
        } else {
            split.people_of.push(people);
            split.later.push(room);
        }
    }
    Ok(split)
}

/// Each room's local people to warn, read now, or why not.
pub async fn people_of(
    client: &AdminClient,
    policy: &Policy,
    ours: &UserId,
    rooms: &[Entry],
    concurrency: usize,
) -> Vec<Result<Vec<OwnedUserId>, AdminError>> {
    // Owned ids: a stream over borrowed entries is not `Send` in a spawned
    // task (the closure would have to hold for every lifetime).
    let ids: Vec<OwnedRoomId> = rooms.iter().map(|r| r.room_id.clone()).collect();
    futures_util::stream::iter(ids)
        .map(|room| async move { people_in(client, policy, ours, &room).await })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// What making a plan came to: the rooms to delete now, and the plan with
/// how its people were warned, unless nobody was there to warn.
pub struct Made {
    pub now: Vec<Entry>,
    pub plan: Option<(Plan, Channel, anyhow::Result<Sent>)>,
}

/// Who a new plan is from and when it ends; `offer` names the bot's offer.
pub struct Confirm<'a> {
    pub by: &'a str,
    pub at: i64,
    pub deadline: i64,
    pub options: Option<crate::policy::Rules>,
    pub offer: Option<String>,
}

/// Splits `rooms`, writes the plan of those with people at `path` (refused
/// when one is there) and warns them, until `stop` says so.
pub async fn make(
    client: &AdminClient,
    config: &Config,
    policy: &Policy,
    rooms: Vec<Entry>,
    confirm: Confirm<'_>,
    path: &Path,
    stop: &(dyn Fn() -> bool + Sync),
) -> anyhow::Result<Made> {
    let concurrency = config.scan.concurrency;
    let Split {
        now,
        later,
        people_of,
    } = split(client, policy, &config.user_id, rooms, concurrency).await?;
    if later.is_empty() {
        return Ok(Made { now, plan: None });
    }
    let channel = Channel::of(client).await?;
    let mut plan = Plan::new(
        format!("{:x}", confirm.at),
        confirm.by,
        confirm.at,
        confirm.deadline,
        confirm.options,
        later,
        &people_of,
    );
    plan.offer = confirm.offer;
    let _held = file::create(path, &plan)?;
    let sent = warn(client, config, &mut plan, path, channel, stop).await;
    Ok(Made {
        now,
        plan: Some((plan, channel, sent)),
    })
}

/// Sends the plan's warnings still owed, as the config says.
pub async fn warn(
    client: &AdminClient,
    config: &Config,
    plan: &mut Plan,
    path: &Path,
    channel: Channel,
    stop: &(dyn Fn() -> bool + Sync),
) -> anyhow::Result<Sent> {
    // Direct chats are messages from our own account, under Synapse's rate
    // limit for it (a server notice is the notices account's).
    if channel == Channel::Direct && config.bot.lift_own_ratelimit {
        client.lift_ratelimit(&config.user_id).await.map_err(|e| {
            anyhow::anyhow!("bot.lift_own_ratelimit: could not lift the rate limit ({e})")
        })?;
    }
    let wording = Wording {
        template: &config.delete.warning,
        server: config.user_id.server_name().as_str(),
        data_dir: &config.bot.data_dir,
    };
    send_all(client, plan, path, channel, &wording, stop).await
}

/// What a plan found at its deadline comes to.
pub enum Due {
    /// Withdrawn: archived, nothing of it is deleted.
    Withdrawn,
    /// The deletion to run, the rooms kept because someone in them was not
    /// warned in time, and the plan, to archive once the deletion's journal
    /// holds its rooms.
    Delete {
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

/// The plan at `path` at its deadline, held: each room's local people are
/// read again, and only rooms whose people were all warned in time go to
/// the deletion (a warning owed then is not sent: it would come too late).
pub async fn due(
    client: &AdminClient,
    policy: &Policy,
    ours: &UserId,
    path: &Path,
    concurrency: usize,
) -> anyhow::Result<Due> {
    let lock = file::lock(path)?;
    // Read under the lock: another process may have added to it.
    let Some(plan) = file::read(path)? else {
        anyhow::bail!("the plan {} is gone", path.display());
    };
    if plan.cancelled {
        file::archive(path, &plan)?;
        return Ok(Due::Withdrawn);
    }
    // A room whose people cannot be read now is kept, not the whole plan.
    let mut unread = Vec::new();
    let mut people_now = Vec::new();
    for (i, read) in people_of(client, policy, ours, &plan.rooms, concurrency)
        .await
        .into_iter()
        .enumerate()
    {
        match read {
            Ok(people) => people_now.push(people),
            Err(e) if e.is_fatal() => return Err(e.into()),
            Err(e) => {
                unread.push((i, format!("kept: could not read who is in it ({e})")));
                people_now.push(Vec::new());
            }
        }
    }
    let (mut journal, mut kept_why) = plan.deletion(&people_now);
    journal.rooms.retain(|r| {
        !unread
            .iter()
            .any(|(i, _)| plan.rooms[*i].room_id == r.room_id)
    });
    kept_why.extend(unread);
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
    Ok(Due::Delete {
        journal: Box::new(journal),
        kept,
        plan: Held {
            path: path.to_owned(),
            plan: Box::new(plan),
            _lock: lock,
        },
    })
}

/// The plan at `path` that still waits, read once. A plan that was
/// withdrawn, or whose rooms `journal` (on disk, unfinished) holds, is
/// archived instead: its deadline's deletion started before a stop could
/// archive it, and must not start twice.
pub fn pending(path: &Path, journal: Option<&Journal>) -> anyhow::Result<Option<Plan>> {
    let Some(plan) = file::read(path)? else {
        return Ok(None);
    };
    let in_journal: std::collections::HashSet<&OwnedRoomId> = journal
        .map_or_else(Default::default, |j| {
            j.rooms.iter().map(|r| &r.room_id).collect()
        });
    let started = plan.rooms.iter().any(|r| in_journal.contains(&r.room_id));
    if started || plan.cancelled {
        file::archive(path, &plan)?;
        return Ok(None);
    }
    Ok(Some(plan))
}

/// Withdraws the plan at `path`: its cancel recorded, then the file
/// archived. Returns it, for what to say.
pub fn withdraw(path: &Path) -> anyhow::Result<Option<Plan>> {
    if !path.exists() {
        return Ok(None);
    }
    let _held = file::lock(path)?;
    let Some(plan) = file::read(path)? else {
        return Ok(None);
    };
    file::append(path, &super::Record::Cancelled)?;
    file::archive(path, &plan)?;
    Ok(Some(plan))
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
