//! Reading an admin's (possibly edited) results.csv, from a file or from an
//! upload in chat, with one reader: the rows marked `should_delete=yes` are
//! what a deletion deletes. What spreadsheets write back is accepted (a BOM,
//! CRLF, `;` or tab separators, quoted cells, the `'` that kept a cell from
//! running as a formula, `Yes`/`YES`); anything that does not look like our
//! file is refused with its line number, before anything is deleted.

use std::collections::HashSet;
use std::path::Path;

use matrix_sdk::ruma::OwnedRoomId;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime, macros::format_description};

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

/// What a results.csv says: the rooms to delete, and the rooms it keeps.
#[derive(Debug, Default)]
pub struct Marked {
    /// The `should_delete=yes` rows, as journal entries.
    pub delete: Vec<Entry>,
    /// The `should_delete=no` rows.
    pub keep: Vec<OwnedRoomId>,
}

/// The rooms marked `should_delete=yes` in the file at `path`.
pub fn read_candidates(path: &Path) -> Result<Vec<Entry>, InputError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| InputError {
        file: file.clone(),
        line: 0,
        message: format!("cannot open: {e}"),
    })?;
    read_marked(&file, &bytes).map(|m| m.delete)
}

/// The most a compressed results.csv may unpack to: a million rooms' file
/// is about 250 MB.
pub const MAX_UNPACKED: u64 = 1 << 30;

/// Reads a whole results.csv, plain or gzip-compressed (`results.csv.gz`);
/// `file` names it in errors.
pub fn read_marked(file: &str, bytes: &[u8]) -> Result<Marked, InputError> {
    let fail = |line: u64, message: String| InputError {
        file: file.to_owned(),
        line,
        message,
    };
    let unpacked;
    let bytes = if crate::gz::is_gzip(bytes) {
        unpacked = crate::gz::gunzip(bytes, MAX_UNPACKED).map_err(|e| fail(0, e.to_string()))?;
        &unpacked[..]
    } else {
        bytes
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator(bytes))
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(bytes);
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
    let cols = Columns {
        id: column("room_id"),
        name: column("name"),
        local: column("joined_local_members"),
        last: column("last_activity"),
        delete: column("should_delete"),
        reason: column("reason"),
    };
    let mut marked = Marked::default();
    // Hashes, not copies of a million ids; a repeated hash is checked
    // against the rows themselves.
    let mut seen: HashSet<u64> = HashSet::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| line_at(bytes, p.byte()));
            fail(line, format!("malformed CSV: {e}"))
        })?;
        let line = record.position().map_or(0, |p| line_at(bytes, p.byte()));
        // Spreadsheets keep formatted but empty rows as bare separators.
        if record.iter().all(str::is_empty) {
            continue;
        }
        let row = read_row(&record, &cols).map_err(|message| fail(line, message))?;
        let id = match &row {
            Row::Delete(entry) => &entry.room_id,
            Row::Keep(id) => id,
        };
        if !seen.insert(hash_of(id)) && marked.has(id) {
            return Err(fail(line, format!("{id} is listed twice")));
        }
        match row {
            Row::Delete(entry) => marked.delete.push(entry),
            Row::Keep(id) => marked.keep.push(id),
        }
    }
    Ok(marked)
}

impl Marked {
    fn has(&self, id: &OwnedRoomId) -> bool {
        self.keep.contains(id) || self.delete.iter().any(|e| e.room_id == *id)
    }
}

/// The same hash for the same id, all through one file.
fn hash_of(id: &OwnedRoomId) -> u64 {
    use std::hash::BuildHasher as _;
    std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default().hash_one(id)
}

struct Columns {
    id: usize,
    name: usize,
    local: usize,
    last: usize,
    delete: usize,
    reason: usize,
}

enum Row {
    Delete(Entry),
    Keep(OwnedRoomId),
}

fn read_row(record: &csv::StringRecord, c: &Columns) -> Result<Row, String> {
    let id_cell = unneutralize(&record[c.id]);
    let room_id = OwnedRoomId::try_from(id_cell)
        .map_err(|e| format!("`{}` is not a room id ({e})", shown(id_cell)))?;
    let flag = &record[c.delete];
    if flag.eq_ignore_ascii_case("no") {
        return Ok(Row::Keep(room_id));
    }
    if !flag.eq_ignore_ascii_case("yes") {
        return Err(format!(
            "should_delete must be yes or no, not `{}`",
            shown(flag)
        ));
    }
    let last_activity = match &record[c.last] {
        "" => None,
        text => Some(parse_time(text).ok_or_else(|| {
            format!(
                "last_activity `{}` is not a time like 2024-01-31T12:00:00Z",
                shown(text)
            )
        })?),
    };
    let local = &record[c.local];
    let joined_local_members = local
        .parse()
        .map_err(|_| format!("joined_local_members `{}` is not a number", shown(local)))?;
    Ok(Row::Delete(Entry {
        room_id,
        name: unneutralize(&record[c.name]).to_owned(),
        last_activity,
        last_event: None,
        joined_local_members,
        // Abandoned rooms had no local person; one back means "keep".
        abandoned: record[c.reason].starts_with("abandoned"),
        step: Step::Pending,
        submitting_since: None,
    }))
}

/// The line (from 1) where the record at byte `at` starts. The csv crate's
/// own line count lags one line behind in CRLF files, and a record's byte
/// position may point at the end of the line before it.
fn line_at(bytes: &[u8], at: u64) -> u64 {
    let at = usize::try_from(at).unwrap_or(usize::MAX).min(bytes.len());
    let start = at
        + bytes[at..]
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
    let newlines = bytes[..start].iter().filter(|&&b| b == b'\n').count();
    u64::try_from(newlines)
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}

/// A cell as quoted in an error: shortened, so that a pasted page does not
/// make a refusal longer than a chat message may be.
fn shown(cell: &str) -> String {
    const MAX: usize = 60;
    match cell.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &cell[..cut]),
        None => cell.to_owned(),
    }
}

/// The separator, from the header line: a European-locale spreadsheet
/// writes `;`, some write tabs.
fn separator(bytes: &[u8]) -> u8 {
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let after_id = first
        .strip_prefix(b"\"room_id\"")
        .or_else(|| first.strip_prefix(b"room_id"));
    match after_id.and_then(|rest| rest.first()) {
        Some(b';') => b';',
        Some(b'\t') => b'\t',
        _ => b',',
    }
}

/// Milliseconds of an RFC 3339 time, or of `YYYY-MM-DD HH:MM:SS` taken as
/// UTC (what a spreadsheet may write back after reading our times as dates).
fn parse_time(text: &str) -> Option<i64> {
    let at = OffsetDateTime::parse(text, &Rfc3339).ok().or_else(|| {
        let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        PrimitiveDateTime::parse(text, format)
            .ok()
            .map(PrimitiveDateTime::assume_utc)
    })?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Undoes [`crate::report::safe_cell`] for display.
fn unneutralize(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if crate::report::safe_cell(rest) != rest => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests;
