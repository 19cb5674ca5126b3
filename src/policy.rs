//! The policy: a pure function from what we know about a room to a verdict
//! (delete or keep) and the reason, with no I/O, so every branch is tested.

use std::collections::HashSet;
use std::fmt;

use matrix_sdk::ruma::{OwnedRoomId, RoomId};

use crate::timefmt::{MS_PER_DAY, whole_days};

mod options;
pub use options::{Exclusions, ScanOptions, valid_pattern};

/// The validated `[policy]` settings, with aliases already resolved to ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub inactive_days: u32,
    pub delete_abandoned: bool,
    pub include_spaces: bool,
    pub include_public: bool,
    /// `protected_rooms`, resolved.
    pub protected_rooms: HashSet<OwnedRoomId>,
    /// `bot.admin_room`, resolved: always protected.
    pub admin_room: Option<OwnedRoomId>,
    /// `exclude`: rooms whose id, alias or name matches are protected.
    pub exclude: Exclusions,
    /// `exclude_servers`: rooms created by users of these servers are
    /// protected.
    pub exclude_servers: Vec<String>,
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
    /// Timestamp (ms) of the newest event that is not a membership change, or
    /// why it is not known.
    pub last_activity: Result<i64, &'a str>,
}

/// Why a room is protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protection {
    AdminRoom,
    Listed,
    /// Matched this `exclude` pattern.
    Excluded(String),
    /// Created by a user of this `exclude_servers` server.
    Server(String),
    Space,
    Public,
}

/// The decision for one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Protected(Protection),
    /// No local members left.
    Abandoned {
        remote_members: u64,
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
    Unknown(String),
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
            Self::Abandoned { remote_members: 0 } => f.write_str("abandoned: no members left"),
            Self::Abandoned { remote_members } => {
                write!(f, "abandoned: no local members ({remote_members} remote)")
            }
            Self::Inactive { days, limit } => {
                write!(f, "inactive: no activity for {days} days (limit {limit})")
            }
            Self::Active { days } => write!(f, "active: last activity {days} days ago"),
            Self::Unknown(why) => write!(f, "unknown: {why}"),
        }
    }
}

impl Policy {
    /// Decides one room. `now_ms` is passed in so the function stays pure.
    pub fn decide(&self, room: &RoomFacts<'_>, now_ms: i64) -> Verdict {
        if self.admin_room.as_deref() == Some(room.room_id) {
            return Verdict::Protected(Protection::AdminRoom);
        }
        if self.protected_rooms.contains(room.room_id) {
            return Verdict::Protected(Protection::Listed);
        }
        let texts = [Some(room.room_id.as_str()), room.canonical_alias, room.name];
        if let Some(pattern) = self.exclude.first_match(texts.into_iter().flatten()) {
            return Verdict::Protected(Protection::Excluded(pattern.to_owned()));
        }
        let server = room.creator.and_then(|c| c.split_once(':')).map(|(_, s)| s);
        if let Some(server) = server.filter(|s| self.exclude_servers.iter().any(|x| x == s)) {
            return Verdict::Protected(Protection::Server(server.to_owned()));
        }
        if room.is_space && !self.include_spaces {
            return Verdict::Protected(Protection::Space);
        }
        if room.public && !self.include_public {
            return Verdict::Protected(Protection::Public);
        }
        // The re-check before deletion compares against the recorded activity,
        // so a room whose activity is unknown is kept whatever else is true.
        let last = match room.last_activity {
            Ok(ts) => ts,
            Err(why) => return Verdict::Unknown(why.to_owned()),
        };
        if self.delete_abandoned && room.joined_local_members == 0 {
            return Verdict::Abandoned {
                remote_members: room.joined_members,
            };
        }
        let days = whole_days(last, now_ms);
        let limit_ms = i64::from(self.inactive_days) * MS_PER_DAY;
        if now_ms.saturating_sub(last) > limit_ms {
            Verdict::Inactive {
                days,
                limit: self.inactive_days,
            }
        } else {
            Verdict::Active { days }
        }
    }
}

#[cfg(test)]
mod tests;
