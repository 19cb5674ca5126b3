//! Incremental scans: each room's last activity kept with a fingerprint of
//! its forward extremities. A room whose extremities are unchanged has had
//! no new event, so its last activity is the one recorded, and the scan
//! skips the `/messages` read. A file that cannot be read is an empty cache
//! (every room read in full): it only ever saves requests.

use std::collections::HashMap;
use std::io::{BufRead as _, Write as _};
use std::path::Path;

use tracing::warn;

use crate::room::Newest;

/// v2 adds the newest event's id (a v1 file is read as no cache).
const HEADER: &str = "oldrooms scan cache v2";

/// What was recorded for one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub extremities: u64,
    /// `None`: the room had no event that is not a membership change.
    pub last: Option<Newest>,
}

#[derive(Debug, Default)]
pub struct Cache {
    rooms: HashMap<Box<str>, Recorded>,
}

impl Cache {
    pub fn get(&self, room_id: &str) -> Option<Recorded> {
        self.rooms.get(room_id).cloned()
    }

    pub fn insert(&mut self, room_id: &str, recorded: Recorded) {
        self.rooms.insert(room_id.into(), recorded);
    }

    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    /// The cache at `path`; empty when there is none or it is damaged.
    pub fn load(path: &Path) -> Self {
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Self::default(),
            Err(e) => {
                warn!(path = %path.display(), error = %e, "cannot read the scan cache; every room is read in full");
                return Self::default();
            }
        };
        let mut lines = std::io::BufReader::new(file).lines();
        if !matches!(lines.next(), Some(Ok(h)) if h == HEADER) {
            warn!(path = %path.display(), "not a scan cache of this version; every room is read in full");
            return Self::default();
        }
        let mut cache = Self::default();
        for line in lines {
            let Some((id, recorded)) = line.ok().as_deref().and_then(parse) else {
                warn!(path = %path.display(), "the scan cache is damaged; every room is read in full");
                return Self::default();
            };
            cache.rooms.insert(id.into(), recorded);
        }
        cache
    }

    /// Writes the cache whole, or not at all.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut out = Vec::with_capacity(self.rooms.len() * 80);
        writeln!(out, "{HEADER}")?;
        for (id, r) in &self.rooms {
            match &r.last {
                None => writeln!(out, "{id}\t{:016x}\t-", r.extremities)?,
                // An id that would break the line is not kept: that room is
                // read in full next time.
                Some(last) if last.event_id.contains(['\t', '\n', '\r']) => {}
                Some(last) => writeln!(
                    out,
                    "{id}\t{:016x}\t{}\t{}",
                    r.extremities, last.ts, last.event_id
                )?,
            }
        }
        crate::atomic::write_bytes(path, &out)
    }
}

fn parse(line: &str) -> Option<(String, Recorded)> {
    let mut parts = line.split('\t');
    let id = parts.next()?.to_owned();
    let extremities = u64::from_str_radix(parts.next()?, 16).ok()?;
    let last = match parts.next()? {
        "-" => None,
        t => Some(Newest {
            ts: t.parse().ok()?,
            event_id: parts.next().filter(|e| !e.is_empty())?.into(),
        }),
    };
    parts
        .next()
        .is_none()
        .then_some((id, Recorded { extremities, last }))
}

/// FNV-1a of the sorted event ids: the same set, the same fingerprint,
/// across builds.
pub fn fingerprint(mut event_ids: Vec<String>) -> u64 {
    event_ids.sort_unstable();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for id in &event_ids {
        for byte in id.bytes().chain([b'\n']) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_reads_back_what_was_saved_and_damage_empties_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.tsv");
        assert!(Cache::load(&path).is_empty());
        let mut cache = Cache::default();
        let a = Recorded {
            extremities: 7,
            last: Some(Newest {
                ts: 1_600_000_000_000,
                event_id: "$ev:x".into(),
            }),
        };
        let b = Recorded {
            extremities: u64::MAX,
            last: None,
        };
        cache.insert("!a:x", a.clone());
        cache.insert("!b", b.clone());
        cache.save(&path).unwrap();
        let back = Cache::load(&path);
        assert_eq!(
            (back.len(), back.get("!a:x"), back.get("!b")),
            (2, Some(a), Some(b))
        );
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{text}!c\tzz\t1\t$e\n")).unwrap();
        assert!(Cache::load(&path).is_empty());
        // A time without its event id is damage too.
        std::fs::write(&path, format!("{text}!c\t07\t1\n")).unwrap();
        assert!(Cache::load(&path).is_empty());
        std::fs::write(&path, "oldrooms scan cache v1\n!a\t07\t1\n").unwrap();
        assert!(Cache::load(&path).is_empty());
        std::fs::write(&path, "something else\n").unwrap();
        assert!(Cache::load(&path).is_empty());
    }

    #[test]
    fn the_fingerprint_is_of_the_set() {
        let ab = fingerprint(vec!["$a".into(), "$b".into()]);
        assert_eq!(ab, fingerprint(vec!["$b".into(), "$a".into()]));
        assert_ne!(ab, fingerprint(vec!["$a".into(), "$c".into()]));
        assert_ne!(fingerprint(vec!["$ab".into()]), ab);
    }
}
