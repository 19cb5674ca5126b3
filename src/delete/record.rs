//! The scan's record of each room, kept in `bot.data_dir` beside its
//! results.csv, for the homeserver it was read from. When an edited file
//! chooses the rooms to delete, the file decides only *which* rooms: what
//! the re-check compares against comes from this record (see `settle`). A
//! spreadsheet that rewrote a date or a reason cell then changes nothing
//! the re-check believes.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead as _, Write as _};
use std::path::Path;

use matrix_sdk::ruma::{OwnedRoomId, RoomId, ServerName};
use tracing::warn;

use super::journal::Entry;
use crate::policy::{Protection, ReasonKind, Verdict};
use crate::room::ListedRoom;
use crate::scan::Row;

/// The bot's record of its last scan.
pub const BOT_FILE: &str = "scan-record.tsv";
/// The command line's, next to its journal.
pub const CLI_FILE: &str = "cli-scan-record.tsv";

/// Followed by a tab and the homeserver's name: a record of another
/// server is no record. v2 adds what the rules look at (a v1 file reads as
/// no record: the rooms are read from the server).
const HEADER: &str = "oldrooms scan record v2";

/// What the re-check compares against, for one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub last_activity: Option<i64>,
    pub last_event: Option<String>,
    pub joined_local_members: u64,
    pub abandoned: bool,
    /// What the rules look at, to say before the confirmation which rooms
    /// the re-check will keep.
    pub looks: Looks,
}

/// What the policy's protections look at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Looks {
    pub space: bool,
    pub public: bool,
    /// Known to be a direct chat (read only where the rules asked).
    pub direct: bool,
    pub creator: Option<String>,
    pub name: Option<String>,
    pub alias: Option<String>,
}

impl Looks {
    pub(super) fn of_room(room: &ListedRoom) -> Self {
        Self {
            space: room.room_type() == Some("m.space"),
            public: room.public,
            direct: false,
            creator: room.creator.as_deref().map(str::to_owned),
            name: room.name.as_deref().map(str::to_owned),
            alias: room.canonical_alias().map(str::to_owned),
        }
    }
}

impl Facts {
    fn of_row(row: &Row) -> Self {
        Self {
            last_activity: row.last_activity,
            last_event: row.last_event.as_deref().map(str::to_owned),
            joined_local_members: row.room.joined_local_members,
            abandoned: row.verdict.kind() == ReasonKind::Abandoned,
            looks: Looks {
                direct: row.verdict == Verdict::Protected(Protection::Direct),
                ..Looks::of_room(&row.room)
            },
        }
    }

    pub(crate) fn apply(self, entry: &mut Entry) {
        entry.last_activity = self.last_activity;
        entry.last_event = self.last_event;
        entry.joined_local_members = self.joined_local_members;
        entry.abandoned = self.abandoned;
    }
}

/// Writes the record of every scanned room of `server`, whole or not at
/// all, streamed (a million rooms are not copied into one buffer first).
/// When it cannot be written, the last record is removed: an older scan's
/// facts must not stand for this one's.
pub fn save(rows: &[Row], server: &ServerName, path: &Path) -> anyhow::Result<()> {
    let written = write(rows, server, path);
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

fn write(rows: &[Row], server: &ServerName, path: &Path) -> anyhow::Result<()> {
    crate::atomic::write_with(path, |file| {
        let mut out = std::io::BufWriter::new(file);
        writeln!(out, "{HEADER}\t{server}")?;
        for row in rows {
            let f = Facts::of_row(row);
            // An id that would break the line is recorded as unknown: the
            // re-check then keeps that room.
            let (last, event) = match (f.last_activity, f.last_event.as_deref()) {
                (Some(ts), Some(id)) if !id.contains(['\t', '\n', '\r', '\\']) => {
                    (ts.to_string(), id)
                }
                _ => ("-".to_owned(), "-"),
            };
            let l = &f.looks;
            let flags: String = [(l.space, 's'), (l.public, 'p'), (l.direct, 'd')]
                .iter()
                .filter_map(|(on, c)| on.then_some(*c))
                .collect();
            writeln!(
                out,
                "{}\t{last}\t{event}\t{}\t{}\t{}\t{}\t{}\t{}",
                row.room.room_id,
                f.joined_local_members,
                u8::from(f.abandoned),
                if flags.is_empty() { "-" } else { &flags },
                escape(l.creator.as_deref()),
                escape(l.name.as_deref()),
                escape(l.alias.as_deref()),
            )?;
        }
        out.flush()?;
        Ok(())
    })
}

/// The recorded facts of the rooms in `wanted`, read line by line so a
/// million-room record costs only what is wanted. A missing or foreign file,
/// or one of another server, is an empty record; a damaged line leaves its
/// room unrecorded.
pub fn load(
    path: &Path,
    server: &ServerName,
    wanted: &HashSet<&RoomId>,
) -> HashMap<OwnedRoomId, Facts> {
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
    let ours = |h: &str| h.split_once('\t') == Some((HEADER, server.as_str()));
    if !matches!(lines.next(), Some(Ok(h)) if ours(&h)) {
        warn!(path = %path.display(), %server, "not a scan record of this version and server");
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
    let [last, event, local, abandoned, flags, creator, name, alias] = cells[..] else {
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
        looks: Looks {
            space: flags.contains('s'),
            public: flags.contains('p'),
            direct: flags.contains('d'),
            creator: unescape(creator)?,
            name: unescape(name)?,
            alias: unescape(alias)?,
        },
    })
}

/// A text cell: `-` for none, otherwise `+` and the text with `\\`, tab
/// and line ends escaped (a room name may hold anything).
fn escape(text: Option<&str>) -> String {
    let Some(text) = text else {
        return "-".to_owned();
    };
    let mut out = String::with_capacity(text.len() + 1);
    out.push('+');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// `None` for a damaged cell; `Some(None)` for no text.
fn unescape(cell: &str) -> Option<Option<String>> {
    if cell == "-" {
        return Some(None);
    }
    let text = cell.strip_prefix('+')?;
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            '\\' => '\\',
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            _ => return None,
        });
    }
    Some(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<OwnedRoomId> {
        names
            .iter()
            .map(|s| OwnedRoomId::try_from(*s).unwrap())
            .collect()
    }

    #[test]
    fn a_record_reads_back_the_wanted_rooms_and_skips_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(BOT_FILE);
        std::fs::write(
            &path,
            format!(
                "{HEADER}\tx\n!a:x\t1000\t$a\t2\t0\tsp\t+@c:x\t+Tab\\there\t-\n\
                 !b:x\t-\t-\t0\t1\t-\t-\t-\t+#b:x\n!c:x\tzz\t$c\t1\t0\t-\t-\t-\t-\n\
                 !d:x\t5\t-\t1\t0\t-\t-\t-\t-\n!g:x\t5\t$g\t1\t0\t-\t-\tnoplus\t-\n\
                 !e:x\t7\t$e\t1\t0\t-\t-\t-\t-\n"
            ),
        )
        .unwrap();
        let ids = ids(&["!a:x", "!b:x", "!c:x", "!d:x", "!g:x", "!z:x"]);
        let wanted: HashSet<&RoomId> = ids.iter().map(|id| &**id).collect();
        let x = matrix_sdk::ruma::server_name!("x");
        let got = load(&path, x, &wanted);
        assert_eq!(
            got[&ids[0]],
            Facts {
                last_activity: Some(1000),
                last_event: Some("$a".into()),
                joined_local_members: 2,
                abandoned: false,
                looks: Looks {
                    space: true,
                    public: true,
                    direct: false,
                    creator: Some("@c:x".into()),
                    name: Some("Tab\there".into()),
                    alias: None,
                },
            }
        );
        assert_eq!(got[&ids[1]].last_activity, None);
        assert!(got[&ids[1]].abandoned);
        assert_eq!(got[&ids[1]].looks.alias.as_deref(), Some("#b:x"));
        // A bad time, a time without its event, a bad text cell:
        // unrecorded. !e is not wanted.
        assert_eq!(got.len(), 2, "{got:?}");
        // Another server's record is none.
        let y = matrix_sdk::ruma::server_name!("y");
        assert!(load(&path, y, &wanted).is_empty());
        std::fs::write(&path, "oldrooms scan record v1\n!a:x\t1\t$a\t1\t0\n").unwrap();
        assert!(load(&path, x, &wanted).is_empty());
        assert!(load(&dir.path().join("none"), x, &wanted).is_empty());
    }

    #[test]
    fn any_text_survives_the_record() {
        for text in ["", "plain", "a\tb\nc\rd\\e", "\\t", "ends with \\"] {
            assert_eq!(unescape(&escape(Some(text))), Some(Some(text.to_owned())));
        }
        assert_eq!(unescape(&escape(None)), Some(None));
        assert_eq!(unescape("+bad\\x"), None);
        assert!(!escape(Some("a\tb\nc")).contains(['\t', '\n']));
    }
}
