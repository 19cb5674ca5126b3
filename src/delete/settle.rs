//! An edited file's choice made trustworthy before the offer: each chosen
//! row gets the facts of the scan's record, or of the server now for a room
//! the record lacks; the rows whose cells say otherwise are counted; and
//! the rooms that the re-check will keep under the rules that apply are
//! named with what would include them, before anyone confirms.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use futures_util::StreamExt as _;
use matrix_sdk::ruma::{OwnedRoomId, RoomId};
use tracing::warn;

use super::choice::{Named, label};
use super::journal::Entry;
use super::record::{self, Facts, Looks};
use crate::admin::{AdminClient, AdminError};
use crate::policy::{Policy, Protection, RoomFacts, Verdict};
use crate::scan::Read;

/// How many refused rooms are named.
const NAMED: usize = 10;

/// A file's choice with the facts the re-check will believe.
#[derive(Debug, Default)]
pub struct Settled {
    pub rooms: Vec<Entry>,
    /// Rows whose cells (last_activity, joined_local_members, reason)
    /// differ from what the scan recorded.
    pub differ: Named,
    /// Rooms the scan did not record, read from the server now.
    pub read_now: usize,
    /// Rooms the re-check will keep under the rules that apply, each
    /// with why and what would include it (the first few).
    pub kept: Vec<String>,
    pub kept_count: usize,
}

/// Replaces the facts of a file's rows with the scan's record at
/// `record`, or with what the server says now for rooms it lacks, and
/// judges them by `policy`'s protections.
pub async fn settle(
    client: &AdminClient,
    policy: &Policy,
    record: &Path,
    concurrency: usize,
    rows: Vec<Entry>,
) -> Result<Settled, AdminError> {
    let path = record.to_owned();
    let server = policy.server_name.clone();
    let ids: Vec<OwnedRoomId> = rows.iter().map(|e| e.room_id.clone()).collect();
    let recorded = tokio::task::spawn_blocking(move || {
        let wanted: HashSet<&RoomId> = ids.iter().map(|id| &**id).collect();
        record::load(&path, &server, &wanted)
    })
    .await
    .unwrap_or_default();
    let Merged {
        mut settled,
        mut looks,
        unrecorded,
    } = with_record(rows, &recorded);
    let reads = futures_util::stream::iter(unrecorded)
        .map(|i| {
            let id = settled.rooms[i].room_id.clone();
            async move { (i, read_now(client, policy, &id).await) }
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    for (i, read) in reads {
        let facts = read?;
        looks[i] = facts.looks.clone();
        facts.apply(&mut settled.rooms[i]);
    }
    for (entry, looks) in settled.rooms.iter().zip(&looks) {
        if let Some(why) = kept_by_rules(policy, entry, looks) {
            settled.kept_count += 1;
            if settled.kept.len() < NAMED {
                let room = crate::plain::shorten(&label(entry), 100);
                settled.kept.push(format!("{room}: {why}"));
            }
        }
    }
    Ok(settled)
}

/// The file's rows with the record's facts, and what the record lacks.
pub(crate) struct Merged {
    pub settled: Settled,
    /// What the rules look at, by row.
    pub looks: Vec<Looks>,
    /// The rows the record lacks, to read from the server.
    pub unrecorded: Vec<usize>,
}

/// The pure half of [`settle`]: every fact the re-check compares against
/// is the record's; the file's cells only count as disagreements.
pub(crate) fn with_record(rows: Vec<Entry>, recorded: &HashMap<OwnedRoomId, Facts>) -> Merged {
    let mut settled = Settled::default();
    let mut looks = Vec::with_capacity(rows.len());
    let mut unrecorded = Vec::new();
    for (i, mut entry) in rows.into_iter().enumerate() {
        match recorded.get(&entry.room_id) {
            Some(facts) => {
                if disagrees(&entry, facts) {
                    settled.differ.add(&entry);
                }
                looks.push(facts.looks.clone());
                facts.clone().apply(&mut entry);
            }
            None => {
                looks.push(Looks::default());
                unrecorded.push(i);
            }
        }
        settled.rooms.push(entry);
    }
    settled.read_now = unrecorded.len();
    Merged {
        settled,
        looks,
        unrecorded,
    }
}

/// Why the re-check will keep this room under `policy`'s protections, and
/// what would include it; `None` when no protection applies.
fn kept_by_rules(policy: &Policy, entry: &Entry, looks: &Looks) -> Option<String> {
    let facts = RoomFacts {
        room_id: &entry.room_id,
        is_space: looks.space,
        public: looks.public,
        name: looks.name.as_deref(),
        canonical_alias: looks.alias.as_deref(),
        creator: looks.creator.as_deref(),
        joined_local_members: entry.joined_local_members,
        joined_members: entry.joined_local_members,
        members: None,
        direct: looks.direct,
        last_activity: Ok(entry.last_activity.unwrap_or(0)),
        missing: None,
    };
    let Verdict::Protected(why) = policy.decide(&facts, 0) else {
        return None;
    };
    let include = match &why {
        Protection::AdminRoom | Protection::Listed => "never deleted".to_owned(),
        Protection::Space => {
            "--include-spaces or policy.include_spaces would include it".to_owned()
        }
        Protection::Public => {
            "--include-public or policy.include_public would include it".to_owned()
        }
        Protection::Direct => "kept while policy.keep_direct or --keep-direct is set".to_owned(),
        Protection::Excluded(p) => format!("kept while policy.exclude or --exclude has {p}"),
        Protection::Server(s) => {
            format!("kept while policy.exclude_servers or --exclude-server has {s}")
        }
    };
    Some(format!("{} ({include})", Verdict::Protected(why)))
}

/// Whether the file's cells say something else than the record (times in
/// whole seconds, as results.csv writes them).
fn disagrees(file: &Entry, facts: &Facts) -> bool {
    let seconds = |t: Option<i64>| t.map(|t| t.div_euclid(1000));
    seconds(file.last_activity) != seconds(facts.last_activity)
        || file.joined_local_members != facts.joined_local_members
        || file.abandoned != facts.abandoned
}

/// A room's facts as the server gives them now, completed as the scan
/// completes a room. A room that cannot be read gets no last activity, so
/// the re-check keeps it.
async fn read_now(
    client: &AdminClient,
    policy: &Policy,
    room_id: &RoomId,
) -> Result<Facts, AdminError> {
    let unknown = Facts {
        last_activity: None,
        last_event: None,
        joined_local_members: 0,
        abandoned: false,
        looks: Looks::default(),
    };
    let read = async {
        let Some(mut room) = client.room_details(room_id).await? else {
            return Ok(unknown.clone());
        };
        let reader = crate::scan::Reader {
            api: client,
            db: None,
            cache: None,
        };
        crate::scan::recover_left_room(&reader, policy, &mut room).await?;
        let now_ms = crate::timefmt::now_ms();
        let newest = match crate::scan::last_activity(client, policy, &room, now_ms).await? {
            Read::Last(newest) => newest,
            Read::Unsure(why) => {
                warn!(room_id = %room_id, why, "the room's last activity is not known");
                return Ok(unknown.clone());
            }
        };
        // Ghosts are counted where the scan would count them.
        let rules = &policy.rules;
        let local = room.joined_local_members;
        let ghostly = !rules.ignore_members.is_empty() && local <= rules.max_ghosts;
        let people = if local > 0 && ghostly {
            let members = client.joined_members(room_id).await?;
            policy
                .sort_members(members.iter().map(String::as_str))
                .people
        } else {
            local
        };
        Ok::<_, AdminError>(Facts {
            last_activity: newest.as_ref().map(|a| a.newest.ts),
            last_event: newest.map(|a| a.newest.event_id.into()),
            joined_local_members: local,
            abandoned: people == 0,
            looks: Looks::of_room(&room),
        })
    };
    match read.await {
        Ok(facts) => Ok(facts),
        Err(e) if e.is_fatal() => Err(e),
        Err(e) => {
            warn!(room_id = %room_id, error = %e, "could not read the room for the offer");
            Ok(unknown)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            room_id: "!a:x".try_into().unwrap(),
            name: "A".into(),
            last_activity: Some(1_000),
            last_event: None,
            joined_local_members: 0,
            abandoned: true,
            step: super::super::journal::Step::Pending,
            submitting_since: None,
        }
    }

    #[test]
    fn cells_that_differ_from_the_record_are_noticed() {
        let facts = Facts {
            last_activity: Some(1_500),
            last_event: Some("$a".into()),
            joined_local_members: 0,
            abandoned: true,
            looks: Looks::default(),
        };
        let mut file = entry();
        assert!(!disagrees(&file, &facts), "the same second");
        file.abandoned = false;
        assert!(disagrees(&file, &facts), "a reason edited");
        file.abandoned = true;
        file.last_activity = Some(4_102_444_800_000);
        assert!(disagrees(&file, &facts), "a date in the future");
        facts.clone().apply(&mut file);
        assert_eq!(file.last_activity, Some(1_500));
        assert_eq!(file.last_event.as_deref(), Some("$a"));
        assert!(!disagrees(&file, &facts));
    }

    #[test]
    fn the_rooms_the_recheck_will_keep_are_named_with_what_would_include_them() {
        let mut policy = Policy::for_tests();
        let public = Looks {
            public: true,
            ..Looks::default()
        };
        assert_eq!(
            kept_by_rules(&policy, &entry(), &public).as_deref(),
            Some(
                "protected: published in the room directory (--include-public or \
                 policy.include_public would include it)"
            )
        );
        policy.rules.include_public = true;
        assert_eq!(kept_by_rules(&policy, &entry(), &public), None);
        policy.rules.exclude = crate::policy::Patterns::new(vec!["^Old".into()]).unwrap();
        let named = Looks {
            name: Some("Old times".into()),
            ..Looks::default()
        };
        assert_eq!(
            kept_by_rules(&policy, &entry(), &named).as_deref(),
            Some(
                "protected: matches the exclude pattern ^Old (kept while policy.exclude or \
                 --exclude has ^Old)"
            )
        );
        let space = Looks {
            space: true,
            ..Looks::default()
        };
        assert!(
            kept_by_rules(&policy, &entry(), &space)
                .unwrap()
                .ends_with("(--include-spaces or policy.include_spaces would include it)")
        );
        assert_eq!(kept_by_rules(&policy, &entry(), &Looks::default()), None);
    }
}
