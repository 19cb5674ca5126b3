//! Reading an admin's (possibly edited) results.csv: the rows marked
//! `should_delete=yes` are what `oldrooms delete` deletes. Anything that does
//! not look like our file is refused with its line number, before anything
//! is deleted.

use std::path::Path;

use matrix_sdk::ruma::OwnedRoomId;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::journal::{Entry, Step};
use crate::report::HEADER;

/// Why a file is not a results.csv we can act on.
#[derive(Debug, thiserror::Error)]
#[error("{file}, line {line}: {message}")]
pub struct InputError {
    pub file: String,
    pub line: u64,
    pub message: String,
}

/// The rooms marked `should_delete=yes`, as journal entries.
pub fn read_candidates(path: &Path) -> Result<Vec<Entry>, InputError> {
    let file = path.display().to_string();
    let fail = |line: u64, message: String| InputError {
        file: file.clone(),
        line,
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(|e| fail(0, format!("cannot open: {e}")))?;
    let headers = reader
        .headers()
        .map_err(|e| fail(1, format!("cannot read the header: {e}")))?
        .clone();
    let found: Vec<&str> = headers.iter().take(HEADER.len()).collect();
    if found != HEADER {
        return Err(fail(
            1,
            format!(
                "not a results.csv: the header must start with {}",
                HEADER.join(",")
            ),
        ));
    }
    let column = |name: &str| HEADER.iter().position(|h| *h == name).unwrap_or(0);
    let (id_col, name_col, local_col, last_col, delete_col) = (
        column("room_id"),
        column("name"),
        column("joined_local_members"),
        column("last_activity"),
        column("should_delete"),
    );
    let mut rooms: Vec<Entry> = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            fail(line, format!("malformed CSV: {e}"))
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let room_id = OwnedRoomId::try_from(&record[id_col]).map_err(|e| {
            fail(
                line,
                format!("`{}` is not a room id ({e})", &record[id_col]),
            )
        })?;
        match &record[delete_col] {
            "yes" => {}
            "no" => continue,
            other => {
                return Err(fail(
                    line,
                    format!("should_delete must be yes or no, not `{other}`"),
                ));
            }
        }
        let last_activity = match &record[last_col] {
            "" => None,
            text => Some(
                OffsetDateTime::parse(text, &Rfc3339)
                    .map(|t| {
                        i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
                    })
                    .map_err(|e| {
                        fail(
                            line,
                            format!("last_activity `{text}` is not RFC 3339 ({e})"),
                        )
                    })?,
            ),
        };
        let joined_local_members = record[local_col].parse().map_err(|_| {
            fail(
                line,
                format!(
                    "joined_local_members `{}` is not a number",
                    &record[local_col]
                ),
            )
        })?;
        if rooms.iter().any(|r| r.room_id == room_id) {
            return Err(fail(line, format!("{room_id} is listed twice")));
        }
        rooms.push(Entry {
            room_id,
            name: unneutralize(&record[name_col]).to_owned(),
            last_activity,
            joined_local_members,
            step: Step::Pending,
        });
    }
    Ok(rooms)
}

/// Undoes [`crate::report::safe_cell`] for display.
fn unneutralize(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if crate::report::safe_cell(rest) != rest => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "room_id,name,canonical_alias,room_type,creator,joined_members,joined_local_members,public,encryption,last_activity,inactive_days,should_delete,reason\n";

    fn read(body: &str) -> Result<Vec<Entry>, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        std::fs::write(&path, body).unwrap();
        read_candidates(&path).map_err(|e| e.to_string().replace(&path.display().to_string(), "F"))
    }

    #[test]
    fn takes_the_yes_rows_as_edited() {
        let body = format!(
            "{HEAD}!a,'=evil,,,,1,0,no,,2020-01-01T00:00:00Z,2000,yes,inactive\n\
             !b:x.org,B,,,,1,1,no,,2020-01-01T00:00:00Z,2000,no,inactive: edited to no\n\
             !c,\"multi\nline\",,,,2,2,no,,,,yes,unknown: edited to yes\n"
        );
        let rooms = read(&body).unwrap();
        assert_eq!(rooms.len(), 2);
        assert_eq!(rooms[0].room_id, "!a");
        assert_eq!(rooms[0].name, "=evil");
        assert_eq!(rooms[0].last_activity, Some(1_577_836_800_000));
        assert_eq!(rooms[1].name, "multi\nline");
        assert_eq!(rooms[1].last_activity, None);
    }

    #[test]
    fn refuses_what_is_not_a_results_csv_with_the_line() {
        assert!(
            read("a,b,c\n1,2,3\n")
                .unwrap_err()
                .starts_with("F, line 1: not a results.csv")
        );
        let bad_id = format!("{HEAD}!a,A,,,,1,0,no,,,,yes,x\nnot-a-room,B,,,,1,0,no,,,,yes,x\n");
        assert!(
            read(&bad_id)
                .unwrap_err()
                .starts_with("F, line 3: `not-a-room` is not a room id")
        );
        let bad_flag = format!("{HEAD}!a,A,,,,1,0,no,,,,maybe,x\n");
        assert!(
            read(&bad_flag)
                .unwrap_err()
                .starts_with("F, line 2: should_delete must be yes or no")
        );
        let short = format!("{HEAD}!a,A,,\n");
        assert!(
            read(&short)
                .unwrap_err()
                .starts_with("F, line 2: malformed CSV"),
            "{:?}",
            read(&short)
        );
        let twice = format!("{HEAD}!a,A,,,,1,0,no,,,,yes,x\n!a,A,,,,1,0,no,,,,yes,x\n");
        assert!(read(&twice).unwrap_err().contains("listed twice"));
    }
}
