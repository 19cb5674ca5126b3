//! The last look before a deletion: a pure decision from what the scan
//! recorded and what the server says now.

use crate::policy::{Members, Policy, RoomFacts, Verdict};
use crate::room::{ListedRoom, Newest};

use super::journal::Entry;

/// What the server says about a room now.
#[derive(Debug, Clone, Default)]
pub struct Current<'a> {
    /// `None`: the server no longer has the room.
    pub room: Option<&'a ListedRoom>,
    /// The newest non-membership event, when there is one.
    pub newest: Option<Newest>,
    /// Who sent it, when the server said.
    pub sender: Option<String>,
    /// The member list, when it was read.
    pub members: Option<Members>,
    /// Whether its first invites mark a direct chat, when that was read.
    pub direct: bool,
}

/// Why the re-check keeps a room: a reason, not an error. Its text is made
/// where it is shown (the report, the journal's detail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The server no longer has the room.
    Gone,
    /// The scan recorded no last activity to compare with.
    NothingRecorded,
    /// A protection of the rules applies (the admin room, a protected
    /// room, an exclusion, a space...): the verdict's text.
    Protected(String),
    /// The server described the room in part: what it lacked.
    Incomplete(String),
    /// The room's timeline can no longer be read.
    Unreadable,
    /// Another newest event than the scan recorded, and who sent it.
    NewEvent {
        now: Newest,
        seen: String,
        by: Option<String>,
    },
    /// A newer time than the scan recorded (journals without event ids).
    NewerThan(i64),
    /// Local people in it now, where the scan found none.
    PeopleBack(u64),
    /// An answer of the server that does not decode.
    Untrusted(String),
    /// Our server's copy of the room may lack newer activity: why.
    Unsure(String),
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Gone => f.write_str("already gone: the server no longer has this room"),
            Self::NothingRecorded => f.write_str(
                "the scan recorded no last activity, so newer activity cannot be ruled out",
            ),
            Self::Protected(why) | Self::Incomplete(why) | Self::Unsure(why) => f.write_str(why),
            Self::Unreadable => f.write_str("the room's timeline can no longer be read"),
            Self::NewEvent { now, seen, by } => {
                let by = by
                    .as_deref()
                    .map(|u| format!(", sent by {u}"))
                    .unwrap_or_default();
                write!(
                    f,
                    "new activity since the scan: the newest event is now {} (stamped {}{by}), \
                     not {seen}",
                    now.event_id,
                    crate::timefmt::rfc3339(now.ts)
                )
            }
            Self::NewerThan(ts) => write!(
                f,
                "new activity since the scan (at {})",
                crate::timefmt::rfc3339(*ts)
            ),
            Self::PeopleBack(people) => write!(
                f,
                "{people} local member(s) in it now that policy.ignore_members does not ignore; \
                 the scan found none"
            ),
            Self::Untrusted(why) => {
                write!(f, "the homeserver's answer could not be trusted: {why}")
            }
        }
    }
}

/// Compared with the text it shows, for tests and callers that log it.
impl PartialEq<&str> for Skip {
    fn eq(&self, text: &&str) -> bool {
        self.to_string().as_str() == *text
    }
}

/// `Ok(())` to delete; `Err(why)` to keep the room.
pub fn recheck(entry: &Entry, now: Current<'_>, policy: &Policy) -> Result<(), Skip> {
    let Current {
        room,
        newest,
        sender,
        members,
        direct,
    } = now;
    let Some(room) = room else {
        return Err(Skip::Gone);
    };
    let Some(recorded) = entry.last_activity else {
        return Err(Skip::NothingRecorded);
    };
    let facts = RoomFacts {
        members,
        direct,
        ..RoomFacts::listed(room, Ok(newest.as_ref().map_or(recorded, |n| n.ts)))
    };
    // The admin room and protected rooms are refused here whatever the
    // confirmed set says.
    match policy.decide(&facts, 0) {
        verdict @ Verdict::Protected(_) => return Err(Skip::Protected(verdict.to_string())),
        // Only an incomplete answer from the server makes it unknown here.
        Verdict::Unknown(why) => return Err(Skip::Incomplete(why.into())),
        _ => {}
    }
    let Some(newest) = newest else {
        return Err(Skip::Unreadable);
    };
    match entry.last_event.as_deref() {
        // Any other newest event is new activity, whatever time its sender
        // (a remote server, a bridge) wrote on it.
        Some(seen) if seen != &*newest.event_id => {
            let seen = seen.to_owned();
            let by = sender.map(|s| crate::plain::shorten(&s, 255));
            return Err(Skip::NewEvent {
                now: newest,
                seen,
                by,
            });
        }
        Some(_) => {}
        // A journal written before event ids were recorded: the time is all
        // there is. results.csv kept whole seconds, so compare whole seconds.
        None if newest.ts.div_euclid(1000) > recorded.div_euclid(1000) => {
            return Err(Skip::NewerThan(newest.ts));
        }
        None => {}
    }
    // The list, when read, over Synapse's counts, which can lag behind.
    let people = members.map_or(room.joined_local_members, |m| m.people);
    if (entry.abandoned || entry.joined_local_members == 0) && people > 0 {
        return Err(Skip::PeopleBack(people));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use matrix_sdk::ruma::OwnedRoomId;

    use super::*;
    use crate::delete::journal::Step;

    fn id(s: &str) -> OwnedRoomId {
        OwnedRoomId::try_from(s).unwrap()
    }

    fn policy() -> Policy {
        {
            let mut p = Policy::for_tests();
            p.protected_rooms = HashSet::from([id("!kept")]);
            p.admin_room = Some(id("!admin"));
            p.rules.exclude = crate::policy::Patterns::new(vec!["^!team".into()]).unwrap();
            p.rules.exclude_servers = vec!["bridge.example".into()];
            p
        }
    }

    fn entry(room: &str, local: u64) -> Entry {
        Entry {
            room_id: id(room),
            name: String::new(),
            last_activity: Some(1000),
            last_event: None,
            joined_local_members: local,
            abandoned: local == 0,
            step: Step::Pending,
            submitting_since: None,
        }
    }

    fn listed(room: &str, local: u64) -> ListedRoom {
        ListedRoom {
            room_id: id(room),
            name: None,
            creator: Some("@a:example.org".into()),
            joined_members: local,
            joined_local_members: local,
            public: false,
            rare: None,
        }
    }

    fn at(room: Option<&ListedRoom>, activity: Option<i64>) -> Current<'_> {
        at_event(room, activity, "$newest")
    }

    fn at_event<'a>(room: Option<&'a ListedRoom>, ts: Option<i64>, id: &str) -> Current<'a> {
        Current {
            room,
            newest: ts.map(|ts| Newest {
                ts,
                event_id: id.into(),
            }),
            ..Current::default()
        }
    }

    #[test]
    fn new_activity_is_another_event_whatever_its_time() {
        let p = policy();
        let mut seen = entry("!r", 2);
        seen.last_event = Some("$seen".into());
        let room = listed("!r", 2);
        assert_eq!(
            recheck(&seen, at_event(Some(&room), Some(1000), "$seen"), &p),
            Ok(())
        );
        // Stamped long before the scan's newest event, by a remote server
        // or a bridge: still new.
        let why = recheck(&seen, at_event(Some(&room), Some(5), "$late"), &p).unwrap_err();
        assert_eq!(
            why,
            "new activity since the scan: the newest event is now $late (stamped \
             1970-01-01T00:00:00Z), not $seen"
        );
        // The same event, whatever the clock says of it.
        assert_eq!(
            recheck(&seen, at_event(Some(&room), Some(1000), "$seen"), &p),
            Ok(())
        );
    }

    #[test]
    fn deletes_only_what_is_unchanged() {
        let p = policy();
        assert_eq!(
            recheck(&entry("!r", 2), at(Some(&listed("!r", 2)), Some(1000)), &p),
            Ok(())
        );
        assert_eq!(
            recheck(&entry("!r", 0), at(Some(&listed("!r", 0)), Some(900)), &p),
            Ok(())
        );
        // The CSV's whole seconds: 1.999 s is the same second as 1.000 s.
        assert_eq!(
            recheck(&entry("!r", 2), at(Some(&listed("!r", 2)), Some(1999)), &p),
            Ok(())
        );
    }

    #[test]
    fn every_reason_to_keep() {
        let p = policy();
        let skip = |e: &Entry, l: Option<&ListedRoom>, a| {
            recheck(e, at(l, a), &p).unwrap_err().to_string()
        };
        assert!(skip(&entry("!r", 1), None, None).starts_with("already gone"));
        assert!(
            skip(&entry("!r", 1), Some(&listed("!r", 1)), Some(2000)).starts_with("new activity")
        );
        assert!(
            skip(&entry("!r", 0), Some(&listed("!r", 1)), Some(1000))
                .contains("the scan found none")
        );
        assert!(
            skip(&entry("!r", 1), Some(&listed("!r", 1)), None).contains("can no longer be read")
        );
        assert_eq!(
            skip(&entry("!admin", 1), Some(&listed("!admin", 1)), Some(1)),
            "protected: admin room"
        );
        assert!(
            skip(&entry("!kept", 1), Some(&listed("!kept", 1)), Some(1)).starts_with("protected")
        );
        let mut space = listed("!s", 1);
        space.rare = crate::room::Rare::boxed(None, Some("m.space".into()), None);
        assert_eq!(
            skip(&entry("!s", 1), Some(&space), Some(1)),
            "protected: space"
        );
        let mut public = listed("!p", 1);
        public.public = true;
        assert!(skip(&entry("!p", 1), Some(&public), Some(1)).starts_with("protected"));
        let mut team = listed("!team-a", 1);
        team.name = Some("Team A".into());
        assert_eq!(
            skip(&entry("!team-a", 1), Some(&team), Some(1)),
            "protected: matches the exclude pattern ^!team"
        );
        let mut bridged = listed("!b", 1);
        bridged.creator = Some("@bot:bridge.example".into());
        assert!(skip(&entry("!b", 1), Some(&bridged), Some(1)).contains("bridge.example"));
        let mut unknown = entry("!r", 1);
        unknown.last_activity = None;
        assert!(skip(&unknown, Some(&listed("!r", 1)), Some(1)).contains("no last activity"));
    }

    #[test]
    fn a_room_described_in_part_is_skipped_naming_the_field() {
        let p = policy();
        let mut room = listed("!r", 0);
        room.mark_missing("joined_local_members");
        assert_eq!(
            recheck(&entry("!r", 2), at(Some(&room), Some(1000)), &p).unwrap_err(),
            "the homeserver's answer did not give the room's joined_local_members"
        );
    }

    #[test]
    fn a_room_without_its_creator_is_skipped_while_servers_are_excluded() {
        let mut room = listed("!r", 2);
        room.creator = None;
        assert_eq!(
            recheck(&entry("!r", 2), at(Some(&room), Some(1000)), &policy()).unwrap_err(),
            "the homeserver's answer did not give the room's creator"
        );
    }

    #[test]
    fn a_ghost_room_is_kept_when_a_person_came_back() {
        let p = {
            let mut p = policy();
            p.rules.ignore_members =
                crate::policy::Patterns::new(vec!["^@_bridge_".into()]).unwrap();
            p
        };
        let mut ghosts = entry("!g", 2);
        ghosts.abandoned = true;
        // Synapse's count says 2 local members, whoever they are.
        let room = listed("!g", 2);
        let with = |members: &[&str]| Current {
            members: Some(p.sort_members(members.iter().copied())),
            ..at(Some(&room), Some(1000))
        };
        let two = ["@_bridge_1:example.org", "@_bridge_2:example.org"];
        assert_eq!(recheck(&ghosts, with(&two), &p), Ok(()));
        // The count lags: alice joined and the list shows her.
        let three = [
            "@_bridge_1:example.org",
            "@_bridge_2:example.org",
            "@alice:example.org",
        ];
        assert_eq!(
            recheck(&ghosts, with(&three), &p).unwrap_err(),
            "1 local member(s) in it now that policy.ignore_members does not ignore; the scan \
             found none"
        );
        // A room the scan did not find abandoned is not judged by members.
        assert_eq!(recheck(&entry("!g", 2), with(&three), &p), Ok(()));
        // Without the list, Synapse's count is all there is.
        assert!(recheck(&ghosts, at(Some(&room), Some(1000)), &p).is_err());
    }

    #[test]
    fn a_direct_chat_is_kept_when_the_rules_say_so() {
        let p = {
            let mut p = policy();
            p.rules.keep_direct = true;
            p
        };
        let room = listed("!dm", 2);
        let dm = Current {
            direct: true,
            ..at(Some(&room), Some(1000))
        };
        assert_eq!(
            recheck(&entry("!dm", 2), dm.clone(), &p).unwrap_err(),
            "protected: direct chat"
        );
        assert_eq!(recheck(&entry("!dm", 2), dm, &policy()), Ok(()));
    }
}
