//! Deleting confirmed rooms. One run, for the bot and the command line alike:
//! open a new journal (or resume the one on disk), delete each room after a
//! re-check, finish (archive the journal) and hand back the report.

pub mod choice;
mod dry_run;
mod engine;
pub mod input;
pub mod journal;
pub mod journal_file;
mod recheck;
pub mod record;
pub mod report;
pub mod settle;

use std::path::Path;

use tokio::sync::watch;
use tracing::{info, warn};

use crate::admin::{AdminClient, AdminError};
pub use crate::config::DeleteSettings;
use crate::policy::Policy;
use crate::scan::Read;
pub use dry_run::dry_run;
pub use engine::Halt;
pub use journal::{Counts, Entry, Journal, Outcome, Step};
pub use journal_file::{JournalFile, OpenError};
pub use recheck::{Current, Skip, recheck};

/// Where a run starts.
pub enum Start {
    /// A new confirmation: refused if any journal is on disk.
    New(Box<Journal>),
    /// The journal on disk, if any.
    Resume,
}

/// How the caller steers a run.
#[derive(Clone)]
pub struct Control {
    /// Turns true on a cancel: recorded in the journal, then no room is
    /// submitted any more (across restarts too).
    pub cancel: watch::Receiver<bool>,
    /// Turns true on shutdown: steps in flight reach the journal, then the
    /// run stops, unfinished, to resume at the next start.
    pub stop: watch::Receiver<bool>,
}

/// What a run tells its caller while it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEvent {
    /// The journal is on disk; deleting begins.
    Opened(Counts),
    /// A room is done.
    Progress(Counts),
    /// The cancel is in the journal.
    CancelRecorded,
}

/// How a run ended.
#[derive(Debug)]
pub enum Ended {
    /// Every room is done; the journal is archived.
    Finished(Journal),
    /// Stopped before the end; the journal stays, the run resumes later.
    Stopped { journal: Journal, why: Halt },
    /// `Start::Resume` found no journal.
    NothingToResume,
}

/// Opens (or resumes) a run, runs it and finishes it.
pub async fn execute(
    client: &AdminClient,
    base: &Policy,
    path: &Path,
    start: Start,
    settings: &DeleteSettings,
    control: Control,
    on_event: &(dyn Fn(RunEvent) + Sync),
) -> Result<Ended, OpenError> {
    // File work (reads, fsyncs, renames) stays off the async workers.
    let owned = path.to_owned();
    let opened = tokio::task::spawn_blocking(move || match start {
        Start::New(journal) => JournalFile::create(&owned, *journal).map(Some),
        Start::Resume => JournalFile::resume(&owned),
    })
    .await
    .map_err(|e| OpenError::Io(anyhow::anyhow!("the journal could not be opened: {e}")))?;
    let Some(file) = opened? else {
        return Ok(Ended::NothingToResume);
    };
    on_event(RunEvent::Opened(file.counts()));
    let policy = base.for_run(file.options());
    let stopped = engine::run(client, &policy, &file, settings, control, on_event).await;
    let journal = file.snapshot();
    if let Err(why) = stopped {
        info!(%why, path = %path.display(), "deletion stopped; the journal is kept");
        return Ok(Ended::Stopped { journal, why });
    }
    drop(file);
    let owned = path.to_owned();
    let finished = journal.clone();
    let archived = tokio::task::spawn_blocking(move || journal_file::archive(&owned, &finished))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .and_then(|r| r);
    // Every room is done either way; a journal left in place is finished,
    // so the next start only archives it.
    match archived {
        Ok(to) => info!(path = %to.display(), "deletion finished; journal archived"),
        Err(e) => {
            warn!(error = %format!("{e:#}"), "deletion finished; the journal could not be archived")
        }
    }
    Ok(Ended::Finished(journal))
}

/// What the re-check decided about one room.
#[derive(Debug)]
enum Rechecked {
    /// Delete it; `people` local members are in it now (not those
    /// `policy.ignore_members` ignores, when the member list was read).
    /// `made` is who created it and its name now, as read.
    Delete {
        people: u64,
        made: Option<Made>,
    },
    Keep(Skip),
}

/// Who created a room and what it is called now.
#[derive(Debug)]
struct Made {
    creator: Box<str>,
    name: Option<Box<str>>,
}

/// Reads the room now and asks [`recheck`].
/// The member list is read for a room the scan found abandoned (is a local
/// person back? Synapse's member counts can lag behind the list), and the
/// first invites only when direct chats are to be kept. An answer that
/// lacks what the decision needs skips the room, naming what was missing.
async fn recheck_room(
    client: &AdminClient,
    policy: &Policy,
    entry: &Entry,
) -> Result<Rechecked, AdminError> {
    match read_and_recheck(client, policy, entry).await {
        Err(e @ AdminError::Decode { .. }) => Ok(Rechecked::Keep(Skip::Untrusted(e.to_string()))),
        other => other,
    }
}

async fn read_and_recheck(
    client: &AdminClient,
    policy: &Policy,
    entry: &Entry,
) -> Result<Rechecked, AdminError> {
    let id = &entry.room_id;
    let Some(mut room) = client.room_details(id).await? else {
        return Ok(decided(recheck(entry, Current::default(), policy), 0, None));
    };
    // Completed as the scan completes it, so the rules decide the same way.
    let reader = crate::scan::Reader {
        api: client,
        db: None,
        cache: None,
    };
    crate::scan::recover_left_room(&reader, policy, &mut room).await?;
    if entry.last_activity.is_none() {
        // Nothing to compare with: kept whatever the server says now.
        let now = Current {
            room: Some(&room),
            ..Current::default()
        };
        return Ok(decided(recheck(entry, now, policy), 0, None));
    }
    let now_ms = crate::timefmt::now_ms();
    let (newest, sender) = match crate::scan::last_activity(client, policy, &room, now_ms).await? {
        Read::Last(Some(activity)) => (Some(activity.newest), activity.sender),
        Read::Last(None) => (None, None),
        Read::Unsure(why) => return Ok(Rechecked::Keep(Skip::Unsure(why))),
    };
    let mut now = Current {
        room: Some(&room),
        newest,
        sender,
        ..Current::default()
    };
    if entry.abandoned || entry.joined_local_members == 0 {
        let members = client.joined_members(id).await?;
        now.members = Some(policy.sort_members(members.iter().map(String::as_str)));
    }
    if policy.rules.keep_direct {
        now.direct = client.is_direct(id).await?;
    }
    // The list, when read, over Synapse's counts, as the re-check does.
    let people = now.members.map_or(room.joined_local_members, |m| m.people);
    let made = room.creator.clone().map(|creator| Made {
        creator,
        name: room.name.clone(),
    });
    Ok(decided(recheck(entry, now, policy), people, made))
}

fn decided(verdict: Result<(), Skip>, people: u64, made: Option<Made>) -> Rechecked {
    match verdict {
        Ok(()) => Rechecked::Delete { people, made },
        Err(why) => Rechecked::Keep(why),
    }
}
