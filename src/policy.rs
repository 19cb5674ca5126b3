//! The policy: a pure function from what we know about a room to a verdict
//! (delete or keep) and the reason, with no I/O, so every branch is tested.

use std::collections::HashSet;
use std::fmt;

use matrix_sdk::ruma::{OwnedRoomId, OwnedServerName, RoomId};

use crate::room::ListedRoom;
use crate::timefmt::{MS_PER_DAY, whole_days};

mod rules;
pub use rules::{DEFAULT_MAX_GHOSTS, Patterns, Rules, valid_pattern};

/// The policy a scan or a re-check applies: the rules, and the rooms
/// protected by name (aliases already resolved to ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub rules: Rules,
    /// `protected_rooms`, resolved.
    pub protected_rooms: HashSet<OwnedRoomId>,
    /// `bot.admin_room`, resolved: always protected.
    pub admin_room: Option<OwnedRoomId>,
    /// The homeserver's name (the admin account's), which tells local
    /// members from remote ones.
    pub server_name: OwnedServerName,
}

impl Policy {
    /// This policy with other rules; the admin room and the protected rooms
    /// stay this policy's own, so they are always refused.
    pub fn with_rules(&self, rules: Rules) -> Policy {
        Policy {
            rules,
            ..self.clone()
        }
    }

    /// The rules a deletion re-checks with: those recorded with it, or this
    /// policy's own when there are none (a journal from before they were).
    pub fn for_run(&self, rules: Option<Rules>) -> Policy {
        match rules {
            Some(rules) => self.with_rules(rules),
            None => self.clone(),
        }
    }
}

/// What the policy looks at. Everything comes from the Admin API.
#[derive(Debug, Clone, Copy)]
pub struct RoomFacts<'a> {
    pub room_id: &'a RoomId,
    pub is_space: bool,
    /// Published in the room directory.
    pub public: bool,
    pub name: Option<&'a str>,
    pub canonical_alias: Option<&'a str>,
    /// The creator's user id.
    pub creator: Option<&'a str>,
    pub joined_local_members: u64,
    pub joined_members: u64,
    /// Who the member list says is joined, when it was read; it then
    /// decides alone, since the counts above are Synapse's room statistics
    /// and can lag behind.
    pub members: Option<Members>,
    /// An invite of the room's history says it is a direct chat; false when
    /// that was not read.
    pub direct: bool,
    /// Timestamp (ms) of the newest event that is not a membership change, or
    /// why it is not known.
    pub last_activity: Result<i64, &'a str>,
    /// A field the homeserver's answer lacked: the rules cannot be applied
    /// with confidence, so the room is kept.
    pub missing: Option<&'a str>,
}

impl<'a> RoomFacts<'a> {
    /// What the Admin API says of a room; the optional reads (ghosts, direct
    /// chat) start as "not read".
    pub fn listed(room: &'a ListedRoom, last_activity: Result<i64, &'a str>) -> Self {
        Self {
            room_id: &room.room_id,
            is_space: room.room_type() == Some("m.space"),
            public: room.public,
            name: room.name.as_deref(),
            canonical_alias: room.canonical_alias(),
            creator: room.creator.as_deref(),
            joined_local_members: room.joined_local_members,
            joined_members: room.joined_members,
            members: None,
            direct: false,
            last_activity,
            missing: room.missing(),
        }
    }
}

/// A room's joined members as the member list gives them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Members {
    /// Local members that `ignore_members` does not match.
    pub people: u64,
    /// Local members that it matches.
    pub ghosts: u64,
    /// Members of other servers.
    pub remote: u64,
}

/// Why a room is protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protection {
    AdminRoom,
    Listed,
    /// Matched this `exclude` pattern.
    Excluded(Box<str>),
    /// Created by a user of this `exclude_servers` server.
    Server(Box<str>),
    Space,
    Public,
    Direct,
}

/// The decision for one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Protected(Protection),
    /// No local members left, or only ghosts (`ignore_members`).
    Abandoned {
        remote_members: u64,
        ghosts: u64,
    },
    /// Last activity longer ago than the limit.
    Inactive {
        days: i64,
        limit: u32,
    },
    Active {
        days: i64,
    },
    /// Last activity could not be read: kept, because we are not sure.
    Unknown(Box<str>),
}

/// The first word of every reason, also a CSV prefix and a summary key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReasonKind {
    Inactive,
    Abandoned,
    Active,
    Protected,
    Unknown,
}

impl ReasonKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Abandoned => "abandoned",
            Self::Protected => "protected",
            Self::Unknown => "unknown",
        }
    }
}

impl Verdict {
    pub fn should_delete(&self) -> bool {
        matches!(self, Self::Abandoned { .. } | Self::Inactive { .. })
    }

    pub fn kind(&self) -> ReasonKind {
        match self {
            Self::Protected(_) => ReasonKind::Protected,
            Self::Abandoned { .. } => ReasonKind::Abandoned,
            Self::Inactive { .. } => ReasonKind::Inactive,
            Self::Active { .. } => ReasonKind::Active,
            Self::Unknown(_) => ReasonKind::Unknown,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Protected(Protection::AdminRoom) => f.write_str("protected: admin room"),
            Self::Protected(Protection::Listed) => {
                f.write_str("protected: listed in policy.protected_rooms")
            }
            Self::Protected(Protection::Excluded(pattern)) => {
                write!(f, "protected: matches the exclude pattern {pattern}")
            }
            Self::Protected(Protection::Server(server)) => {
                write!(
                    f,
                    "protected: created by a user of the excluded server {server}"
                )
            }
            Self::Protected(Protection::Space) => f.write_str("protected: space"),
            Self::Protected(Protection::Public) => {
                f.write_str("protected: published in the room directory")
            }
            Self::Protected(Protection::Direct) => f.write_str("protected: direct chat"),
            Self::Abandoned {
                remote_members: 0,
                ghosts: 0,
            } => f.write_str("abandoned: no members left"),
            Self::Abandoned {
                remote_members,
                ghosts: 0,
            } => write!(f, "abandoned: no local members ({remote_members} remote)"),
            Self::Abandoned {
                remote_members,
                ghosts,
            } => write!(
                f,
                "abandoned: no local members but {ghosts} ignored by policy.ignore_members \
                 ({remote_members} remote)"
            ),
            Self::Inactive { days, limit } => {
                let days = crate::plain::count(*days, "day", "days");
                write!(f, "inactive: no activity for {days} (limit {limit})")
            }
            Self::Active { days } => {
                let days = crate::plain::count(*days, "day", "days");
                write!(f, "active: last activity {days} ago")
            }
            Self::Unknown(why) => write!(f, "unknown: {why}"),
        }
    }
}

impl Policy {
    /// Decides one room. `now_ms` is passed in so the function stays pure.
    /// Whether reading the member list could turn this verdict into
    /// `abandoned`: only rooms kept as active, with few local members.
    pub fn worth_counting_ghosts(&self, room: &RoomFacts<'_>, verdict: &Verdict) -> bool {
        let r = &self.rules;
        matches!(verdict, Verdict::Active { .. })
            && r.delete_abandoned
            && !r.ignore_members.is_empty()
            && (1..=r.max_ghosts).contains(&room.joined_local_members)
    }

    /// Whether our server's copy of `room` may hide activity newer than
    /// `last` (ms) that would change the verdict: a room judged inactive
    /// that has people from other servers in it, or was made on another
    /// server. Such a room's history arrives from elsewhere, late or with
    /// gaps (a local member who left and joined again, our server down
    /// while others wrote), so it is worth reading through. Not a room the
    /// server described in part: it is kept whatever its activity, and its
    /// counts are not known.
    pub fn may_hide_activity(&self, room: &ListedRoom, last: Option<i64>, now_ms: i64) -> bool {
        if room.missing().is_some() {
            return false;
        }
        let ours = self.server_name.as_str();
        let made_here = room
            .creator
            .as_deref()
            .and_then(|c| c.split_once(':'))
            .is_some_and(|(_, server)| server == ours);
        let elsewhere = room.joined_members > room.joined_local_members || !made_here;
        elsewhere && last.is_none_or(|ts| self.too_old(ts, now_ms))
    }

    /// Whether `ts` (ms) is more than `inactive_days` before `now_ms`: the
    /// line between active and inactive.
    pub fn too_old(&self, ts: i64, now_ms: i64) -> bool {
        let limit_ms = i64::from(self.rules.inactive_days) * MS_PER_DAY;
        now_ms.saturating_sub(ts) > limit_ms
    }

    /// Sorts a member list (user ids): local people, local ghosts, remote.
    pub fn sort_members<'a>(&self, members: impl IntoIterator<Item = &'a str>) -> Members {
        let mut m = Members::default();
        for user in members {
            let local = user
                .split_once(':')
                .is_some_and(|(_, s)| s == self.server_name.as_str());
            if !local {
                m.remote += 1;
            } else if self.rules.ignore_members.matches_user(user) {
                m.ghosts += 1;
            } else {
                m.people += 1;
            }
        }
        m
    }

    pub fn decide(&self, room: &RoomFacts<'_>, now_ms: i64) -> Verdict {
        let r = &self.rules;
        if self.admin_room.as_deref() == Some(room.room_id) {
            return Verdict::Protected(Protection::AdminRoom);
        }
        if self.protected_rooms.contains(room.room_id) {
            return Verdict::Protected(Protection::Listed);
        }
        if let Some(field) = room.missing {
            return Verdict::Unknown(lacking(field).into());
        }
        let texts = [Some(room.room_id.as_str()), room.canonical_alias, room.name];
        if let Some(pattern) = r.exclude.first_match(texts.into_iter().flatten()) {
            return Verdict::Protected(Protection::Excluded(pattern.into()));
        }
        // Without a creator the server rule cannot be applied: not sure.
        if room.creator.is_none() && !r.exclude_servers.is_empty() {
            return Verdict::Unknown(lacking("creator").into());
        }
        let server = room.creator.and_then(|c| c.split_once(':')).map(|(_, s)| s);
        if let Some(server) = server.filter(|s| r.exclude_servers.iter().any(|x| x == s)) {
            return Verdict::Protected(Protection::Server(server.into()));
        }
        if room.is_space && !r.include_spaces {
            return Verdict::Protected(Protection::Space);
        }
        if room.public && !r.include_public {
            return Verdict::Protected(Protection::Public);
        }
        if room.direct && r.keep_direct {
            return Verdict::Protected(Protection::Direct);
        }
        // The re-check before deletion compares against the recorded activity,
        // so a room whose activity is unknown is kept whatever else is true.
        let last = match room.last_activity {
            Ok(ts) => ts,
            Err(why) => return Verdict::Unknown(why.into()),
        };
        // No local person left: no local member at all, or only ghosts.
        let members = room.members.unwrap_or(Members {
            people: room.joined_local_members,
            ghosts: 0,
            remote: room
                .joined_members
                .saturating_sub(room.joined_local_members),
        });
        if r.delete_abandoned && members.people == 0 {
            return Verdict::Abandoned {
                remote_members: members.remote,
                ghosts: members.ghosts,
            };
        }
        let days = whole_days(last, now_ms);
        if self.too_old(last, now_ms) {
            Verdict::Inactive {
                days,
                limit: r.inactive_days,
            }
        } else {
            Verdict::Active { days }
        }
    }
}

/// Why a room with an incomplete answer is kept.
pub fn lacking(field: &str) -> String {
    format!("the homeserver's answer did not give the room's {field}")
}

/// The defaults of `[policy]` on a server named example.org, with nothing
/// protected by name, for the tests that vary one rule.
#[cfg(test)]
impl Policy {
    pub(crate) fn for_tests() -> Self {
        Policy {
            rules: Rules::default(),
            protected_rooms: HashSet::new(),
            admin_room: None,
            server_name: matrix_sdk::ruma::owned_server_name!("example.org"),
        }
    }
}

#[cfg(test)]
mod tests;
