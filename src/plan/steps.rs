//! A plan's steps over the network, the same for the command line and the
//! bot: who is in the confirmed rooms, the plan made and its people warned,
//! and at the deadline the deletion of what may go.

use std::path::{Path, PathBuf};

use futures_util::StreamExt as _;
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId, UserId};

use super::warn::{Channel, Sent, people_in, send_all};
use super::{Plan, file};
use crate::admin::AdminClient;
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
    let read = people_of(client, policy, ours, &asked, concurrency).await?;
    let mut split = Split {
        now: empty,
        ..Split::default()
    };
    for (room, people) in asked.into_iter().zip(read) {
        if people.is_empty() {
            split.now.push(room);
        } else {
            split.people_of.push(people);
            split.later.push(room);
        }
    }
    Ok(split)
}

/// Each room's local people to warn, read now.
pub async fn people_of(
    client: &AdminClient,
    policy: &Policy,
    ours: &UserId,
    rooms: &[Entry],
    concurrency: usize,
) -> anyhow::Result<Vec<Vec<OwnedUserId>>> {
    // Owned ids: a stream over borrowed entries is not `Send` in a spawned
    // task (the closure would have to hold for every lifetime).
    let ids: Vec<OwnedRoomId> = rooms.iter().map(|r| r.room_id.clone()).collect();
    let read: Vec<_> = futures_util::stream::iter(ids)
        .map(|room| async move { people_in(client, policy, ours, &room).await })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    Ok(read.into_iter().collect::<Result<_, _>>()?)
}

/// Sends the plan's warnings still owed, as the config says.
pub async fn warn(
    client: &AdminClient,
    config: &Config,
    plan: &mut Plan,
    path: &Path,
    channel: Channel,
) -> anyhow::Result<Sent> {
    // Direct chats are messages from our own account, under Synapse's rate
    // limit for it (a server notice is the notices account's).
    if channel == Channel::Direct && config.bot.lift_own_ratelimit {
        client.lift_ratelimit(&config.user_id).await.map_err(|e| {
            anyhow::anyhow!("bot.lift_own_ratelimit: could not lift the rate limit ({e})")
        })?;
    }
    send_all(
        client,
        plan,
        path,
        channel,
        &config.delete.warning,
        config.user_id.server_name().as_str(),
        &config.bot.data_dir,
    )
    .await
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
    let people_now = people_of(client, policy, ours, &plan.rooms, concurrency).await?;
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
