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

use super::serde_quirks::{opt_u64_lenient, present};
use super::{AdminClient, AdminError};
use crate::room::{ListedRoom, Rare, TimelineEvent};

/// A room as the Admin API writes it. Every field a keep-or-delete rule
/// reads is required: absent (or null where a value is due) marks the room
/// as incomplete instead of reading as "none", 0 or false.
#[derive(Deserialize)]
struct WireRoom {
    room_id: OwnedRoomId,
    #[serde(default, deserialize_with = "present")]
    name: Option<Option<Box<str>>>,
    #[serde(default, deserialize_with = "present")]
    canonical_alias: Option<Option<Box<str>>>,
    #[serde(default, deserialize_with = "present")]
    room_type: Option<Option<Box<str>>>,
    #[serde(default, deserialize_with = "present")]
    creator: Option<Option<Box<str>>>,
    #[serde(default)]
    joined_members: Option<u64>,
    #[serde(default)]
    joined_local_members: Option<u64>,
    #[serde(default)]
    public: Option<bool>,
    encryption: Option<Box<str>>,
}

/// A room is read through its wire form, which tells absent from null.
impl<'de> Deserialize<'de> for ListedRoom {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        WireRoom::deserialize(d).map(Into::into)
    }
}

impl From<WireRoom> for ListedRoom {
    fn from(w: WireRoom) -> Self {
        let lacking = [
            ("joined_local_members", w.joined_local_members.is_none()),
            ("joined_members", w.joined_members.is_none()),
            ("public", w.public.is_none()),
            ("room_type", w.room_type.is_none()),
            ("name", w.name.is_none()),
            ("canonical_alias", w.canonical_alias.is_none()),
            ("creator", w.creator.is_none()),
        ]
        .into_iter()
        .find_map(|(field, absent)| absent.then_some(field));
        let mut room = Self {
            room_id: w.room_id,
            name: w.name.flatten(),
            creator: w.creator.flatten(),
            joined_members: w.joined_members.unwrap_or(0),
            joined_local_members: w.joined_local_members.unwrap_or(0),
            public: w.public.unwrap_or(false),
            rare: Rare::boxed(
                w.canonical_alias.flatten(),
                w.room_type.flatten(),
                w.encryption,
            ),
        };
        if let Some(field) = lacking {
            room.mark_missing(field);
        }
        room
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

#[derive(Deserialize)]
struct Messages<E> {
    chunk: Vec<E>,
    /// Where the next page starts; absent once there is none.
    #[serde(default)]
    end: Option<String>,
}

/// Pages followed before the newest matching event is given up on:
/// Synapse cuts a page before it drops the events it does not serve
/// (rejected ones), so a page can come back empty with more behind it; or
/// it holds only events that do not count (soft-failed ones).
const EMPTY_PAGES: usize = 5;

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
    pub async fn events<E: serde::de::DeserializeOwned>(
        &self,
        room_id: &RoomId,
        dir: &str,
        limit: u32,
        filter: &str,
    ) -> Result<Vec<E>, AdminError> {
        let page = self.messages_page(room_id, dir, limit, Some(filter), None);
        Ok(page.await?.0)
    }

    /// One page of the Room Messages API, from `from` (a token a page
    /// ended with) or the newest or oldest end, and where the next starts.
    #[instrument(skip(self), level = "debug")]
    pub(super) async fn messages_page<E: serde::de::DeserializeOwned>(
        &self,
        room_id: &RoomId,
        dir: &str,
        limit: u32,
        filter: Option<&str>,
        from: Option<&str>,
    ) -> Result<(Vec<E>, Option<String>), AdminError> {
        let limit = limit.to_string();
        let mut query = vec![("dir", dir), ("limit", &limit)];
        query.extend(filter.map(|f| ("filter", f)));
        query.extend(from.map(|f| ("from", f)));
        let messages: Messages<E> = self.get(&room_path(room_id, "messages"), &query).await?;
        Ok((messages.chunk, messages.end))
    }

    /// The newest event of the room matching `filter`.
    pub async fn newest_event<E: serde::de::DeserializeOwned>(
        &self,
        room_id: &RoomId,
        filter: &str,
    ) -> Result<Option<E>, AdminError> {
        let newest = self.newest_events(room_id, filter, 1, |_| true).await?;
        Ok(newest.into_iter().next())
    }

    /// The newest events of the room matching `filter` that `counts`, newest
    /// first, from the first page of `limit` that holds any.
    pub async fn newest_events<E: serde::de::DeserializeOwned>(
        &self,
        room_id: &RoomId,
        filter: &str,
        limit: u32,
        counts: impl Fn(&E) -> bool,
    ) -> Result<Vec<E>, AdminError> {
        let mut from: Option<String> = None;
        for _ in 0..EMPTY_PAGES {
            let (page, end) = self
                .messages_page::<E>(room_id, "b", limit, Some(filter), from.as_deref())
                .await?;
            let counted: Vec<E> = page.into_iter().filter(|e| counts(e)).collect();
            if !counted.is_empty() {
                return Ok(counted);
            }
            match end {
                Some(end) if from.as_deref() != Some(end.as_str()) => from = Some(end),
                _ => return Ok(Vec::new()),
            }
        }
        Err(AdminError::Decode {
            endpoint: format!("GET /_synapse/admin/v1/rooms/{room_id}/messages"),
            detail: format!(
                "{EMPTY_PAGES} pages in a row held no event that counts, each naming a next"
            ),
        })
    }

    /// The ids of the room's forward extremities: the newest events of its
    /// DAG. Any new event in the room changes them.
    #[instrument(skip(self))]
    pub async fn forward_extremities(&self, room_id: &RoomId) -> Result<Vec<String>, AdminError> {
        let got = self.extremities(room_id).await?;
        Ok(got.into_iter().map(|e| e.event_id).collect())
    }

    /// The depth of the room's newest events (its forward extremities'
    /// deepest); none when Synapse lists none.
    pub async fn top_depth(&self, room_id: &RoomId) -> Result<Option<i64>, AdminError> {
        let got = self.extremities(room_id).await?;
        Ok(got.into_iter().filter_map(|e| e.depth).max())
    }

    #[instrument(skip(self), level = "debug")]
    async fn extremities(&self, room_id: &RoomId) -> Result<Vec<Extremity>, AdminError> {
        #[derive(Deserialize)]
        struct Extremities {
            results: Vec<Extremity>,
        }
        let got: Extremities = self
            .get(&room_path(room_id, "forward_extremities"), &[])
            .await?;
        Ok(got.results)
    }

    /// The room's name from its history: Synapse drops the current state of a
    /// room it has left, but the last `m.room.name` event is still readable.
    pub async fn name_from_history(&self, room_id: &RoomId) -> Result<Option<String>, AdminError> {
        const NAME_EVENTS: &str = r#"{"types":["m.room.name"]}"#;
        let event: Option<TimelineEvent> = self.newest_event(room_id, NAME_EVENTS).await?;
        Ok(event
            .and_then(|e| e.name().map(str::to_owned))
            .filter(|name| !name.is_empty()))
    }

    /// The room's canonical alias from its history, as for the name.
    pub async fn alias_from_history(&self, room_id: &RoomId) -> Result<Option<String>, AdminError> {
        const ALIAS_EVENTS: &str = r#"{"types":["m.room.canonical_alias"]}"#;
        let event: Option<TimelineEvent> = self.newest_event(room_id, ALIAS_EVENTS).await?;
        Ok(event
            .and_then(|e| e.alias().map(str::to_owned))
            .filter(|alias| !alias.is_empty()))
    }
}

#[derive(Deserialize)]
struct Members {
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
        let first: Vec<TimelineEvent> = self
            .events(room_id, "f", DIRECT_INVITE_WINDOW, MEMBERSHIPS)
            .await?;
        Ok(first.iter().any(TimelineEvent::is_direct_invite))
    }
}

/// A forward extremity as the Admin API lists it.
#[derive(Deserialize)]
struct Extremity {
    event_id: String,
    #[serde(default)]
    depth: Option<i64>,
}

/// `/_synapse/admin/v1/rooms/{room_id}/{tail}`, as path segments.
fn room_path<'a>(room_id: &'a RoomId, tail: &'a str) -> [&'a str; 6] {
    ["_synapse", "admin", "v1", "rooms", room_id.as_str(), tail]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::ListedRoom;

    fn full() -> serde_json::Value {
        json!({"room_id": "!r:example.org", "name": "R", "canonical_alias": null,
            "joined_members": 2, "joined_local_members": 1, "creator": "@a:example.org",
            "encryption": null, "public": false, "room_type": null})
    }

    fn read(value: serde_json::Value) -> ListedRoom {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_complete_answer_lacks_nothing() {
        let room = read(full());
        assert_eq!(room.missing(), None);
        assert_eq!(room.rare, None, "nothing rare, nothing boxed");
        assert_eq!((room.joined_members, room.joined_local_members), (2, 1));
    }

    #[test]
    fn an_absent_or_null_field_a_rule_reads_is_marked() {
        for field in [
            "joined_local_members",
            "joined_members",
            "public",
            "room_type",
            "name",
            "canonical_alias",
            "creator",
        ] {
            let mut absent = full();
            absent.as_object_mut().unwrap().remove(field);
            assert_eq!(read(absent).missing(), Some(field), "{field} absent");
        }
        for field in ["joined_local_members", "joined_members", "public"] {
            let mut null = full();
            null[field] = serde_json::Value::Null;
            assert_eq!(read(null).missing(), Some(field), "{field} null");
        }
        // Null is a real answer for these: no name, no alias, not a space.
        for field in ["name", "canonical_alias", "room_type", "encryption"] {
            let mut null = full();
            null[field] = serde_json::Value::Null;
            assert_eq!(read(null).missing(), None, "{field} null");
        }
    }
}
