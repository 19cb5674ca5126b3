//! A scan's offer on disk, in `bot.data_dir`: its rooms with the facts the
//! re-check compares against, one JSON line each, under a header naming
//! the offer. A million rooms' offer then costs no memory while it stands;
//! a confirm or a dry run reads the file back, and refuses a file that is
//! not the offer's own.

use std::io::{BufRead as _, Write as _};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::machine::{Confirmed, Filed, OfferRooms};
use crate::delete::journal::{Entry, Journal};
use crate::policy::ReasonKind;
use crate::scan::Row;

/// In `bot.data_dir`.
pub const FILE: &str = "offer.jsonl";

/// A candidate row as the entry its deletion starts from.
pub fn entry(row: &Row) -> Entry {
    Entry {
        room_id: row.room.room_id.clone(),
        name: row.room.name.as_deref().unwrap_or_default().to_owned(),
        last_activity: row.last_activity,
        last_event: row.last_event.as_deref().map(str::to_owned),
        joined_local_members: row.room.joined_local_members,
        abandoned: row.verdict.kind() == ReasonKind::Abandoned,
        step: crate::delete::journal::Step::Pending,
        submitting_since: None,
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    oldrooms_offer: Filed,
}

/// Writes offer `filed`: the rows of `rows` to delete, whole or not at all.
/// Fails when their number is not the one the offer states.
pub fn write(path: &Path, filed: Filed, rows: &[Row]) -> anyhow::Result<()> {
    crate::atomic::write_with(path, |file| {
        let mut out = std::io::BufWriter::new(file);
        serde_json::to_writer(
            &mut out,
            &Header {
                oldrooms_offer: filed,
            },
        )?;
        out.write_all(b"\n")?;
        let mut written = 0;
        for row in rows.iter().filter(|r| r.verdict.should_delete()) {
            serde_json::to_writer(&mut out, &entry(row))?;
            out.write_all(b"\n")?;
            written += 1;
        }
        anyhow::ensure!(
            written == filed.rooms,
            "{written} rooms to delete, not the offer's {}",
            filed.rooms
        );
        out.flush()?;
        Ok(())
    })
}

/// The rooms of offer `filed`, or why they cannot be trusted: another
/// offer's file, a damaged line, or a number of rooms other than the
/// offer's. Never a guess.
pub fn read(path: &Path, filed: Filed) -> Result<Vec<Entry>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = std::io::BufReader::new(file).lines();
    let head = lines
        .next()
        .ok_or("the file is empty")?
        .map_err(|e| e.to_string())?;
    let header: Header =
        serde_json::from_str(&head).map_err(|e| format!("line 1 (the header): {e}"))?;
    if header.oldrooms_offer != filed {
        return Err("it holds another offer's rooms".to_owned());
    }
    let mut rooms = Vec::with_capacity(filed.rooms);
    for (n, line) in lines.enumerate() {
        let line = line.map_err(|e| e.to_string())?;
        let entry: Entry =
            serde_json::from_str(&line).map_err(|e| format!("line {}: {e}", n + 2))?;
        rooms.push(entry);
    }
    if rooms.len() != filed.rooms {
        return Err(format!(
            "it holds {}, not the offer's {}",
            crate::plain::rooms(rooms.len()),
            filed.rooms
        ));
    }
    Ok(rooms)
}

/// The journal a confirmed offer starts, its rooms read from `path` when
/// they are a scan's: off the async threads, a million lines take a while.
pub async fn journal(path: &Path, confirmed: Confirmed) -> Result<Journal, String> {
    let rooms = match confirmed.rooms {
        OfferRooms::Listed(rooms) => rooms,
        OfferRooms::Filed(filed) => {
            let path = path.to_owned();
            tokio::task::spawn_blocking(move || read(&path, filed))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("cannot read the offer's rooms from {FILE}: {e}"))?
        }
    };
    Ok(Journal::new(
        &confirmed.by,
        confirmed.at,
        confirmed.options,
        rooms,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::machine::builders::scan_result;

    fn offer(rooms: usize) -> Filed {
        Filed {
            offer: 7,
            expires: 1_000,
            rooms,
        }
    }

    #[test]
    fn an_offer_reads_back_as_the_rooms_to_delete_with_their_facts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let result = scan_result(&["!a:example.com".into(), "!b:example.com".into()]);
        let rows = &result.outcome.rows;
        let candidates: Vec<Entry> = rows
            .iter()
            .filter(|r| r.verdict.should_delete())
            .map(entry)
            .collect();
        assert_eq!(candidates.len(), 2, "the fixture's rows are candidates");
        write(&path, offer(2), rows).unwrap();
        assert_eq!(read(&path, offer(2)).unwrap(), candidates);
    }

    #[test]
    fn another_offers_file_or_a_damaged_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let result = scan_result(&["!a:example.com".into(), "!b:example.com".into()]);
        let rows = &result.outcome.rows;
        assert!(write(&path, offer(3), rows).is_err(), "a count that is off");
        assert!(!path.exists(), "nothing is left of a refused write");
        write(&path, offer(2), rows).unwrap();
        let other = Filed {
            offer: 8,
            ..offer(2)
        };
        let refused = read(&path, other).unwrap_err();
        assert!(refused.contains("another offer"), "{refused}");
        let text = std::fs::read_to_string(&path).unwrap();
        let cut: Vec<&str> = text.lines().take(2).collect();
        std::fs::write(&path, cut.join("\n") + "\n").unwrap();
        let short = read(&path, offer(2)).unwrap_err();
        assert!(short.contains("1 room, not the offer's 2"), "{short}");
        std::fs::write(&path, text.replace("\"room_id\"", "\"roomid\"")).unwrap();
        assert!(read(&path, offer(2)).unwrap_err().starts_with("line 2"));
    }
}
