//! What oldrooms knows of a room, whichever way it was read (the Admin API
//! or Synapse's database): the bottom layer that the policy, the scan, the
//! database path and the Admin API client share.

use matrix_sdk::ruma::OwnedRoomId;
use serde::Deserialize;

/// One room as the List Room and Room Details APIs describe it; only the
/// fields we use are kept, so a listed room costs little memory: a million
/// rooms are held at once, so every 8 bytes count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedRoom {
    pub room_id: OwnedRoomId,
    /// Null when the server has left the room (no local members).
    pub name: Option<Box<str>>,
    pub creator: Option<Box<str>>,
    pub joined_members: u64,
    pub joined_local_members: u64,
    /// Published in the room directory.
    pub public: bool,
    /// The fields most rooms lack, in one box (8 bytes instead of 48).
    pub rare: Option<Box<Rare>>,
}

/// What a room has only sometimes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rare {
    pub canonical_alias: Option<Box<str>>,
    /// `m.space` for spaces.
    pub room_type: Option<Box<str>>,
    /// The encryption algorithm.
    pub encryption: Option<Box<str>>,
    /// A field the homeserver's answer lacked (missing, or null where a
    /// value is due): the room's facts are incomplete, so it is kept.
    pub missing: Option<&'static str>,
}

impl Rare {
    /// `None` when the room has none of them.
    pub fn boxed(
        canonical_alias: Option<Box<str>>,
        room_type: Option<Box<str>>,
        encryption: Option<Box<str>>,
    ) -> Option<Box<Self>> {
        let any = canonical_alias.is_some() || room_type.is_some() || encryption.is_some();
        any.then(|| {
            Box::new(Self {
                canonical_alias,
                room_type,
                encryption,
                missing: None,
            })
        })
    }
}

impl ListedRoom {
    pub fn canonical_alias(&self) -> Option<&str> {
        self.rare.as_ref()?.canonical_alias.as_deref()
    }

    pub fn room_type(&self) -> Option<&str> {
        self.rare.as_ref()?.room_type.as_deref()
    }

    pub fn encryption(&self) -> Option<&str> {
        self.rare.as_ref()?.encryption.as_deref()
    }

    /// The first field the homeserver's answer lacked, if any.
    pub fn missing(&self) -> Option<&'static str> {
        self.rare.as_ref()?.missing
    }

    /// Sets the canonical alias (one recovered from history).
    pub fn set_canonical_alias(&mut self, alias: Option<Box<str>>) {
        match &mut self.rare {
            Some(rare) => rare.canonical_alias = alias,
            None => self.rare = Rare::boxed(alias, None, None),
        }
    }

    /// Marks `field` as lacking from the answer.
    pub fn mark_missing(&mut self, field: &'static str) {
        let rare = self.rare.get_or_insert_with(|| {
            Box::new(Rare {
                canonical_alias: None,
                room_type: None,
                encryption: None,
                missing: None,
            })
        });
        rare.missing.get_or_insert(field);
    }
}

/// An event from the Room Messages API, reduced to what we read.
#[derive(Debug, Deserialize)]
pub struct TimelineEvent {
    pub origin_server_ts: i64,
    content: serde_json::Map<String, serde_json::Value>,
}

impl TimelineEvent {
    /// `content.name` of an `m.room.name` event, when it is a string.
    pub fn name(&self) -> Option<&str> {
        self.content.get("name")?.as_str()
    }

    /// `content.alias` of an `m.room.canonical_alias` event, when it is a
    /// string.
    pub fn alias(&self) -> Option<&str> {
        self.content.get("alias")?.as_str()
    }

    /// An `m.room.member` invite that marks a direct chat.
    pub(crate) fn is_direct_invite(&self) -> bool {
        let field = |k: &str| self.content.get(k);
        field("membership").and_then(|m| m.as_str()) == Some("invite")
            && field("is_direct").and_then(|d| d.as_bool()) == Some(true)
    }
}

/// A room's newest non-membership event: when its sender says it was sent,
/// and which event it is. A new event is told by its id, never by its
/// timestamp, which the sending server (or a bridge) chooses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Newest {
    #[serde(rename = "origin_server_ts")]
    pub ts: i64,
    pub event_id: Box<str>,
}
