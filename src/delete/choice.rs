//! What an edited results.csv chooses: the rooms it offers to delete, the
//! rows the rules always refuse (the admin room, `protected_rooms`), and how
//! the choice differs from the last scan's. Pure, so every case is tested.

use std::collections::HashSet;

use matrix_sdk::ruma::RoomId;

use super::input::Marked;
use super::journal::Entry;
use crate::policy::{Policy, Protection, Verdict};

/// How many rooms of each kind are named in the offer.
const NAMED: usize = 5;

/// An edited file's choice.
#[derive(Debug, Default)]
pub struct Choice {
    /// The `yes` rows that may be offered.
    pub offered: Vec<Entry>,
    /// `yes` rows refused whatever the file says, with the reason.
    pub refused: Vec<(Entry, String)>,
    /// How the file differs from the last scan; `None` with no scan to
    /// compare with.
    pub changes: Option<Changes>,
    /// Offered rows whose cells differ from the scan's record (which the
    /// re-check believes instead).
    pub differ: Named,
    /// Offered rooms the scan did not record, read from the server.
    pub read_now: usize,
    /// Offered rooms the re-check will keep under the rules that apply,
    /// with why and what would include them (the first few), and how many.
    pub kept: Vec<String>,
    pub kept_count: usize,
    /// The rules the offer carries: the scan's, from its record.
    pub rules: Option<crate::policy::Rules>,
}

/// The file against the last scan's results.csv.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Candidates of the scan marked `no` in the file.
    pub turned_no: usize,
    /// Candidates of the scan that are not in the file at all.
    pub removed: usize,
    /// Rooms the scan kept, marked `yes` in the file (the first few).
    pub turned_yes: Named,
    /// `yes` rows for rooms the scan did not list (the first few).
    pub unknown: Named,
}

/// A count and the first few rooms, as `name (id)`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Named {
    pub count: usize,
    pub first: Vec<String>,
}

impl Named {
    pub(crate) fn add(&mut self, entry: &Entry) {
        self.count += 1;
        if self.first.len() < NAMED {
            self.first.push(label(entry));
        }
    }
}

/// `name (id)`, or the id alone for a room without a name.
pub fn label(entry: &Entry) -> String {
    if entry.name.is_empty() {
        entry.room_id.to_string()
    } else {
        format!("{} ({})", entry.name, entry.room_id)
    }
}

/// Splits the file's `yes` rows into offered and refused, and compares it
/// with `last`, the last scan's results.csv.
pub fn choose(file: Marked, policy: &Policy, last: Option<&Marked>) -> Choice {
    let changes = last.map(|last| compare(&file, last));
    let mut choice = Choice {
        changes,
        ..Choice::default()
    };
    for entry in file.delete {
        match always_refused(policy, &entry.room_id) {
            Some(why) => choice.refused.push((entry, why)),
            None => choice.offered.push(entry),
        }
    }
    choice
}

/// The rules no file can override: the admin room and `protected_rooms`.
fn always_refused(policy: &Policy, room: &RoomId) -> Option<String> {
    let why = if policy.admin_room.as_deref() == Some(room) {
        Protection::AdminRoom
    } else if policy.protected_rooms.contains(room) {
        Protection::Listed
    } else {
        return None;
    };
    Some(Verdict::Protected(why).to_string())
}

fn compare(file: &Marked, last: &Marked) -> Changes {
    let scan_yes: HashSet<&RoomId> = last.delete.iter().map(|e| &*e.room_id).collect();
    let scan_no: HashSet<&RoomId> = last.keep.iter().map(|id| &**id).collect();
    let mut changes = Changes::default();
    let mut listed = 0;
    for entry in &file.delete {
        if scan_yes.contains(&*entry.room_id) {
            listed += 1;
        } else if scan_no.contains(&*entry.room_id) {
            changes.turned_yes.add(entry);
        } else {
            changes.unknown.add(entry);
        }
    }
    for id in &file.keep {
        if scan_yes.contains(&**id) {
            changes.turned_no += 1;
            listed += 1;
        }
    }
    changes.removed = scan_yes.len() - listed;
    changes
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use matrix_sdk::ruma::OwnedRoomId;

    use super::*;
    use crate::delete::journal::Step;

    fn entry(id: &str) -> Entry {
        Entry {
            room_id: id.try_into().unwrap(),
            name: format!("name of {id}"),
            last_activity: Some(1),
            last_event: None,
            joined_local_members: 0,
            abandoned: true,
            step: Step::Pending,
            submitting_since: None,
        }
    }

    fn marked(yes: &[&str], no: &[&str]) -> Marked {
        Marked {
            delete: yes.iter().map(|id| entry(id)).collect(),
            keep: no
                .iter()
                .map(|id| OwnedRoomId::try_from(*id).unwrap())
                .collect(),
        }
    }

    fn policy() -> Policy {
        Policy {
            protected_rooms: HashSet::from([OwnedRoomId::try_from("!listed").unwrap()]),
            admin_room: Some("!admin".try_into().unwrap()),
            ..Policy::for_tests()
        }
    }

    #[test]
    fn offers_the_yes_rows_but_never_the_admin_room_or_protected_rooms() {
        let file = marked(&["!a", "!admin", "!b", "!listed"], &["!c"]);
        let choice = choose(file, &policy(), None);
        let ids: Vec<_> = choice.offered.iter().map(|e| e.room_id.as_str()).collect();
        assert_eq!(ids, ["!a", "!b"]);
        let refused: Vec<_> = choice
            .refused
            .iter()
            .map(|(e, why)| format!("{}: {why}", e.room_id))
            .collect();
        assert_eq!(
            refused,
            [
                "!admin: protected: admin room",
                "!listed: protected: listed in policy.protected_rooms"
            ]
        );
        assert_eq!(choice.changes, None);
    }

    #[test]
    fn says_how_the_file_differs_from_the_scan() {
        let scan = marked(&["!a", "!b", "!c", "!d"], &["!k1", "!k2"]);
        // !a kept as is, !b turned to no, !c and !d removed from the file,
        // !k1 turned to yes, !new unknown to the scan, !k2 still no.
        let file = marked(&["!a", "!k1", "!new"], &["!b", "!k2"]);
        let changes = choose(file, &policy(), Some(&scan)).changes.unwrap();
        assert_eq!(
            changes,
            Changes {
                turned_no: 1,
                removed: 2,
                turned_yes: Named {
                    count: 1,
                    first: vec!["name of !k1 (!k1)".into()]
                },
                unknown: Named {
                    count: 1,
                    first: vec!["name of !new (!new)".into()]
                },
            }
        );
        let same = choose(marked(&["!a"], &[]), &policy(), Some(&marked(&["!a"], &[])));
        assert_eq!(same.changes, Some(Changes::default()));
    }
}
