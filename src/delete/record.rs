//! The scan's record of each room's facts, kept in `bot.data_dir` beside its
//! results.csv. When an edited file chooses the rooms to delete, the file
//! decides only *which* rooms: what the re-check compares against comes
//! from this record, or, for a room the scan did not record, from a read of
//! the server when the offer is made. A spreadsheet that rewrote a date or
//! a reason cell then changes nothing the re-check believes.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead as _, Write as _};
use std::path::Path;

use futures_util::StreamExt as _;
use matrix_sdk::ruma::{OwnedRoomId, RoomId};
use tracing::warn;

use super::choice::Named;
use super::journal::Entry;
use crate::admin::{AdminClient, AdminError};
use crate::policy::{Policy, ReasonKind};
use crate::scan::Row;

/// The bot's record of its last scan.
pub const BOT_FILE: &str = "scan-record.tsv";
/// The command line's, next to its journal.
pub const CLI_FILE: &str = "cli-scan-record.tsv";

const HEADER: &str = "oldrooms scan record v1";

/// What the re-check compares against, for one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub last_activity: Option<i64>,
    pub last_event: Option<String>,
    pub joined_local_members: u64,
    pub abandoned: bool,
}

impl Facts {
    fn of_row(row: &Row) -> Self {
        Self {
            last_activity: row.last_activity,
            last_event: row.last_event.as_deref().map(str::to_owned),
            joined_local_members: row.room.joined_local_members,
            abandoned: row.verdict.kind() == ReasonKind::Abandoned,
        }
    }

    fn apply(self, entry: &mut Entry) {
        entry.last_activity = self.last_activity;
        entry.last_event = self.last_event;
        entry.joined_local_members = self.joined_local_members;
        entry.abandoned = self.abandoned;
    }
}

/// Writes the record of every scanned room, whole or not at all, streamed
/// (a million rooms are not copied into one buffer first).
pub fn save(rows: &[Row], path: &Path) -> anyhow::Result<()> {
    crate::atomic::write_with(path, |file| {
        let mut out = std::io::BufWriter::new(file);
        writeln!(out, "{HEADER}")?;
        for row in rows {
            let f = Facts::of_row(row);
            // An id that would break the line is recorded as unknown: the
            // re-check then keeps that room.
            let (last, event) = match (f.last_activity, f.last_event.as_deref()) {
                (Some(ts), Some(id)) if !id.contains(['\t', '\n', '\r']) => (ts.to_string(), id),
                _ => ("-".to_owned(), "-"),
            };
            writeln!(
                out,
                "{}\t{last}\t{event}\t{}\t{}",
                row.room.room_id,
                f.joined_local_members,
                u8::from(f.abandoned)
            )?;
        }
        out.flush()?;
        Ok(())
    })
}

/// The recorded facts of the rooms in `wanted`, read line by line so a
/// million-room record costs only what is wanted. A missing or foreign file
/// is an empty record; a damaged line leaves its room unrecorded.
pub fn load(path: &Path, wanted: &HashSet<&RoomId>) -> HashMap<OwnedRoomId, Facts> {
    let mut found = HashMap::new();
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return found,
        Err(e) => {
            warn!(path = %path.display(), error = %e, "cannot read the scan's record");
            return found;
        }
    };
    let mut lines = std::io::BufReader::new(file).lines();
    if !matches!(lines.next(), Some(Ok(h)) if h == HEADER) {
        warn!(path = %path.display(), "not a scan record of this version");
        return found;
    }
    for line in lines.map_while(Result::ok) {
        let Some((id, rest)) = line.split_once('\t') else {
            continue;
        };
        let Ok(room) = <&RoomId>::try_from(id) else {
            continue;
        };
        if wanted.contains(room)
            && let Some(facts) = parse(rest)
        {
            found.insert(room.to_owned(), facts);
        }
    }
    found
}

fn parse(rest: &str) -> Option<Facts> {
    let cells: Vec<&str> = rest.split('\t').collect();
    let [last, event, local, abandoned] = cells[..] else {
        return None;
    };
    let (last_activity, last_event) = match (last, event) {
        ("-", "-") => (None, None),
        (ts, id) if id != "-" && !id.is_empty() => (Some(ts.parse().ok()?), Some(id.to_owned())),
        _ => return None,
    };
    Some(Facts {
        last_activity,
        last_event,
        joined_local_members: local.parse().ok()?,
        abandoned: match abandoned {
            "0" => false,
            "1" => true,
            _ => return None,
        },
    })
}

/// A file's choice with the facts the re-check will believe.
#[derive(Debug, Default)]
pub struct Settled {
    pub rooms: Vec<Entry>,
    /// Rows whose cells (last_activity, joined_local_members, reason)
    /// differ from what the scan recorded.
    pub differ: Named,
    /// Rooms the scan did not record, read from the server now.
    pub read_now: usize,
}

/// Replaces the facts of a file's rows with the scan's record at
/// `record`, or with what the server says now for rooms it lacks.
pub async fn settle(
    client: &AdminClient,
    policy: &Policy,
    record: &Path,
    concurrency: usize,
    rows: Vec<Entry>,
) -> Result<Settled, AdminError> {
    let path = record.to_owned();
    let ids: Vec<OwnedRoomId> = rows.iter().map(|e| e.room_id.clone()).collect();
    let recorded = tokio::task::spawn_blocking(move || {
        let wanted: HashSet<&RoomId> = ids.iter().map(|id| &**id).collect();
        load(&path, &wanted)
    })
    .await
    .unwrap_or_default();
    let mut settled = Settled::default();
    let mut unrecorded = Vec::new();
    for (i, mut entry) in rows.into_iter().enumerate() {
        match recorded.get(&entry.room_id) {
            Some(facts) => {
                if disagrees(&entry, facts) {
                    settled.differ.add(&entry);
                }
                facts.clone().apply(&mut entry);
            }
            None => unrecorded.push(i),
        }
        settled.rooms.push(entry);
    }
    settled.read_now = unrecorded.len();
    let reads = futures_util::stream::iter(unrecorded)
        .map(|i| {
            let id = settled.rooms[i].room_id.clone();
            async move { (i, read_now(client, policy, &id).await) }
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    for (i, read) in reads {
        read?.apply(&mut settled.rooms[i]);
    }
    Ok(settled)
}

/// Whether the file's cells say something else than the record (times in
/// whole seconds, as results.csv writes them).
fn disagrees(file: &Entry, facts: &Facts) -> bool {
    let seconds = |t: Option<i64>| t.map(|t| t.div_euclid(1000));
    seconds(file.last_activity) != seconds(facts.last_activity)
        || file.joined_local_members != facts.joined_local_members
        || file.abandoned != facts.abandoned
}

/// A room's facts as the server gives them now. A room that cannot be read
/// gets no last activity, so the re-check keeps it.
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
    };
    let read = async {
        let Some(room) = client.room_details(room_id).await? else {
            return Ok(unknown.clone());
        };
        let newest = client.last_activity(room_id).await?;
        // Ghosts are counted where the scan would count them.
        let local = room.joined_local_members;
        let ghostly = !policy.rules.ignore_members.is_empty() && local <= policy.rules.max_ghosts;
        let people = if local > 0 && ghostly {
            let members = client.joined_members(room_id).await?;
            policy
                .sort_members(members.iter().map(String::as_str))
                .people
        } else {
            local
        };
        Ok::<_, AdminError>(Facts {
            last_activity: newest.as_ref().map(|n| n.ts),
            last_event: newest.map(|n| n.event_id.into()),
            joined_local_members: local,
            abandoned: people == 0,
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

    #[test]
    fn a_record_reads_back_the_wanted_rooms_and_skips_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(BOT_FILE);
        std::fs::write(
            &path,
            format!(
                "{HEADER}\n!a:x\t1000\t$a\t2\t0\n!b:x\t-\t-\t0\t1\n!c:x\tzz\t$c\t1\t0\n\
                 !d:x\t5\t-\t1\t0\n!e:x\t7\t$e\t1\t0\n"
            ),
        )
        .unwrap();
        let ids: Vec<OwnedRoomId> = ["!a:x", "!b:x", "!c:x", "!d:x", "!z:x"]
            .iter()
            .map(|s| OwnedRoomId::try_from(*s).unwrap())
            .collect();
        let wanted: HashSet<&RoomId> = ids.iter().map(|id| &**id).collect();
        let got = load(&path, &wanted);
        assert_eq!(
            got[&ids[0]],
            Facts {
                last_activity: Some(1000),
                last_event: Some("$a".into()),
                joined_local_members: 2,
                abandoned: false
            }
        );
        assert_eq!(got[&ids[1]].last_activity, None);
        assert!(got[&ids[1]].abandoned);
        // A bad time, a time without its event: unrecorded. !e is not wanted.
        assert_eq!(got.len(), 2, "{got:?}");
        std::fs::write(&path, "something else\n!a:x\t1\t$a\t1\t0\n").unwrap();
        assert!(load(&path, &wanted).is_empty());
        assert!(load(&dir.path().join("none"), &wanted).is_empty());
    }

    #[test]
    fn cells_that_differ_from_the_record_are_noticed() {
        let facts = Facts {
            last_activity: Some(1_500),
            last_event: Some("$a".into()),
            joined_local_members: 0,
            abandoned: true,
        };
        let mut file = Entry {
            room_id: "!a:x".try_into().unwrap(),
            name: String::new(),
            last_activity: Some(1_000),
            last_event: None,
            joined_local_members: 0,
            abandoned: true,
            step: super::super::journal::Step::Pending,
            submitting_since: None,
        };
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
}
