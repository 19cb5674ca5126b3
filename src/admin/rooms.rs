//! Room endpoints of the Admin API.
//!
//! - List Room API: <https://element-hq.github.io/synapse/latest/admin_api/rooms.html#list-room-api>
//! - Room Details API: <https://element-hq.github.io/synapse/latest/admin_api/rooms.html#room-details-api>
//! - Room Messages API: <https://element-hq.github.io/synapse/latest/admin_api/rooms.html#room-messages-api>
//! - Room Members API: <https://element-hq.github.io/synapse/latest/admin_api/rooms.html#room-members-api>

use futures_util::Stream;
use matrix_sdk::ruma::{OwnedRoomId, RoomId};
use serde::Deserialize;
use tracing::instrument;

use super::serde_quirks::{bool_or_null, opt_u64_lenient, u64_or_null};
use super::{AdminClient, AdminError};

/// One room as the List Room and Room Details APIs describe it; only the
/// fields we use are kept, so a listed room costs little memory: a million
/// rooms are held at once, so every 8 bytes count.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(from = "WireRoom")]
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
}

/// A room as the Admin API writes it.
#[derive(Deserialize)]
struct WireRoom {
    room_id: OwnedRoomId,
    name: Option<Box<str>>,
    canonical_alias: Option<Box<str>>,
    room_type: Option<Box<str>>,
    creator: Option<Box<str>>,
    #[serde(deserialize_with = "u64_or_null", default)]
    joined_members: u64,
    #[serde(deserialize_with = "u64_or_null", default)]
    joined_local_members: u64,
    #[serde(deserialize_with = "bool_or_null", default)]
    public: bool,
    encryption: Option<Box<str>>,
}

impl From<WireRoom> for ListedRoom {
    fn from(w: WireRoom) -> Self {
        Self {
            room_id: w.room_id,
            name: w.name,
            creator: w.creator,
            joined_members: w.joined_members,
            joined_local_members: w.joined_local_members,
            public: w.public,
            rare: Rare::boxed(w.canonical_alias, w.room_type, w.encryption),
        }
    }
}

/// One page of the List Room API.
#[derive(Debug, Deserialize)]
pub struct RoomPage {
    pub rooms: Vec<ListedRoom>,
    /// Offset of the next page; absent on the last page.
    #[serde(default, deserialize_with = "opt_u64_lenient")]
    pub next_batch: Option<u64>,
    #[serde(default, deserialize_with = "opt_u64_lenient")]
    pub total_rooms: Option<u64>,
}

/// An event from the Room Messages API, reduced to what we read.
#[derive(Debug, Deserialize)]
pub struct TimelineEvent {
    pub origin_server_ts: i64,
    #[serde(default)]
    content: serde_json::Map<String, serde_json::Value>,
}

impl TimelineEvent {
    /// `content.name` of an `m.room.name` event, when it is a string.
    pub fn name(&self) -> Option<&str> {
        self.content.get("name")?.as_str()
    }

    /// An `m.room.member` invite that marks a direct chat.
    pub(crate) fn is_direct_invite(&self) -> bool {
        let field = |k: &str| self.content.get(k);
        field("membership").and_then(|m| m.as_str()) == Some("invite")
            && field("is_direct").and_then(|d| d.as_bool()) == Some(true)
    }
}

#[derive(Deserialize)]
struct Messages {
    #[serde(default)]
    chunk: Vec<TimelineEvent>,
}

impl AdminClient {
    /// One page of the List Room API, starting at offset `from`.
    #[instrument(skip(self), level = "debug")]
    pub async fn list_rooms_page(&self, from: u64, limit: u32) -> Result<RoomPage, AdminError> {
        let (from, limit) = (from.to_string(), limit.max(1).to_string());
        self.get(
            &["_synapse", "admin", "v1", "rooms"],
            &[("from", &from), ("limit", &limit), ("dir", "f")],
        )
        .await
    }

    /// Every page of the List Room API, in order. Ends on the last page, on an
    /// empty page, or on a `next_batch` that does not move forward, so a
    /// misbehaving server cannot make it loop.
    pub fn room_pages(
        &self,
        page_size: u32,
    ) -> impl Stream<Item = Result<RoomPage, AdminError>> + '_ {
        futures_util::stream::try_unfold(Some(0u64), move |from| async move {
            let Some(from) = from else { return Ok(None) };
            let page = self.list_rooms_page(from, page_size).await?;
            let next = page
                .next_batch
                .filter(|&next| next > from && !page.rooms.is_empty());
            Ok(Some((page, next)))
        })
    }

    /// The Room Details API; `None` when the server does not know the room.
    #[instrument(skip(self), level = "debug")]
    pub async fn room_details(&self, room_id: &RoomId) -> Result<Option<ListedRoom>, AdminError> {
        match self
            .get(&["_synapse", "admin", "v1", "rooms", room_id.as_str()], &[])
            .await
        {
            Ok(room) => Ok(Some(room)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Up to `limit` events of the room matching `filter` (a Matrix
    /// `RoomEventFilter` as JSON), from the newest (`dir` = `b`) or the oldest
    /// (`f`), by stream order; none when the server does not know the room.
    #[instrument(skip(self), level = "debug")]
    pub async fn events(
        &self,
        room_id: &RoomId,
        dir: &str,
        limit: u32,
        filter: &str,
    ) -> Result<Vec<TimelineEvent>, AdminError> {
        let limit = limit.to_string();
        let messages: Messages = self
            .get(
                &room_path(room_id, "messages"),
                &[("dir", dir), ("limit", &limit), ("filter", filter)],
            )
            .await?;
        Ok(messages.chunk)
    }

    /// The newest event of the room matching `filter`.
    pub async fn newest_event(
        &self,
        room_id: &RoomId,
        filter: &str,
    ) -> Result<Option<TimelineEvent>, AdminError> {
        Ok(self
            .events(room_id, "b", 1, filter)
            .await?
            .into_iter()
            .next())
    }

    /// The ids of the room's forward extremities: the newest events of its
    /// DAG. Any new event in the room changes them.
    #[instrument(skip(self))]
    pub async fn forward_extremities(&self, room_id: &RoomId) -> Result<Vec<String>, AdminError> {
        #[derive(Deserialize)]
        struct Extremities {
            #[serde(default)]
            results: Vec<Extremity>,
        }
        #[derive(Deserialize)]
        struct Extremity {
            event_id: String,
        }
        let got: Extremities = self
            .get(&room_path(room_id, "forward_extremities"), &[])
            .await?;
        Ok(got.results.into_iter().map(|e| e.event_id).collect())
    }

    /// Timestamp (ms) of the newest event that is not a membership change.
    /// Encrypted events count; a room with nothing but memberships counts
    /// from its `m.room.create` event.
    pub async fn last_activity(&self, room_id: &RoomId) -> Result<Option<i64>, AdminError> {
        const NOT_MEMBERSHIP: &str = r#"{"not_types":["m.room.member"]}"#;
        let event = self.newest_event(room_id, NOT_MEMBERSHIP).await?;
        Ok(event.map(|e| e.origin_server_ts))
    }

    /// The room's name from its history: Synapse drops the current state of a
    /// room it has left, but the last `m.room.name` event is still readable.
    pub async fn name_from_history(&self, room_id: &RoomId) -> Result<Option<String>, AdminError> {
        const NAME_EVENTS: &str = r#"{"types":["m.room.name"]}"#;
        let event = self.newest_event(room_id, NAME_EVENTS).await?;
        Ok(event
            .and_then(|e| e.name().map(str::to_owned))
            .filter(|name| !name.is_empty()))
    }
}

#[derive(Deserialize)]
struct Members {
    #[serde(default)]
    members: Vec<String>,
}

/// Membership events, for what their content says.
const MEMBERSHIPS: &str = r#"{"types":["m.room.member"]}"#;

/// How many of a room's first membership events are read for an invite that
/// marks a direct chat: a DM's invites are sent as the room is created.
pub const DIRECT_INVITE_WINDOW: u32 = 10;

impl AdminClient {
    /// The Room Members API: the user ids currently joined (local and remote).
    #[instrument(skip(self), level = "debug")]
    pub async fn joined_members(&self, room_id: &RoomId) -> Result<Vec<String>, AdminError> {
        let members: Members = self.get(&room_path(room_id, "members"), &[]).await?;
        Ok(members.members)
    }

    /// Whether one of the room's first membership events is an invite with
    /// `is_direct`, which clients set when they create a direct chat. The
    /// flag is gone from the current state once the invitee joins, but
    /// stays in the history (Synapse 1.163, measured).
    #[instrument(skip(self), level = "debug")]
    pub async fn is_direct(&self, room_id: &RoomId) -> Result<bool, AdminError> {
        let first = self
            .events(room_id, "f", DIRECT_INVITE_WINDOW, MEMBERSHIPS)
            .await?;
        Ok(first.iter().any(TimelineEvent::is_direct_invite))
    }
}

/// `/_synapse/admin/v1/rooms/{room_id}/{tail}`, as path segments.
fn room_path<'a>(room_id: &'a RoomId, tail: &'a str) -> [&'a str; 6] {
    ["_synapse", "admin", "v1", "rooms", room_id.as_str(), tail]
}
