//! A room's last activity as its members see it: the newest event that is
//! not a membership change, read so that our server's stale copy of a room
//! whose history comes from other servers is not taken for the room.

use matrix_sdk::ruma::RoomId;
use serde::Deserialize;
use tracing::instrument;

use super::{AdminClient, AdminError};
use crate::room::Newest;

/// What is not activity: membership changes, and the dummy events Synapse
/// sends on its own (as a local member) to merge a room's forward
/// extremities, which no person wrote. As the database path's `ROOMS`.
const NOT_ACTIVITY_TYPES: [&str; 2] = ["m.room.member", "org.matrix.dummy_event"];
const NOT_ACTIVITY: &str = r#"{"not_types":["m.room.member","org.matrix.dummy_event"]}"#;

/// Events a page when the whole timeline is read from the newest.
const THROUGH_PAGE: u32 = 20;
/// Pages read so, at most, to reach the newest activity.
const THROUGH_PAGES: usize = 5;

/// A room's newest activity, and who sent it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Activity {
    #[serde(flatten)]
    pub newest: Newest,
    #[serde(default)]
    pub sender: Option<String>,
}

/// Any event of a page of the whole timeline.
#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
}

impl AdminClient {
    /// The newest event that is not a membership change (nor a dummy event
    /// of Synapse's). Encrypted events count; a room with nothing but
    /// memberships counts from its `m.room.create` event.
    ///
    /// One filtered read of the Room Messages API, from our server's copy
    /// as it is. Where that copy has a gap near its top (a local member who
    /// left and came back, our server down while others wrote), Synapse
    /// answers first and fetches the missing history afterwards: the answer
    /// can be older than what the room's members see.
    pub async fn last_activity(&self, room_id: &RoomId) -> Result<Option<Activity>, AdminError> {
        self.newest_event(room_id, NOT_ACTIVITY).await
    }

    /// [`Self::last_activity`], read through our server's gaps when
    /// `suspect` finds its answer worth it (see
    /// [`Self::last_activity_read_through`]).
    pub async fn last_activity_as_seen(
        &self,
        room_id: &RoomId,
        suspect: impl FnOnce(Option<&Activity>) -> bool,
    ) -> Result<Option<Activity>, AdminError> {
        let first = self.last_activity(room_id).await?;
        if suspect(first.as_ref()) {
            self.last_activity_read_through(room_id).await
        } else {
            Ok(first)
        }
    }

    /// The last activity once Synapse has filled the gaps near the top of
    /// its copy. The whole timeline is read from the newest, a page at a
    /// time, down to the first page that holds activity: for a page whose
    /// events' depths show a gap, Synapse fetches the missing history from
    /// the other servers before it answers, or waits for a fetch already
    /// under way (one that an earlier read started in the background). The
    /// page itself may still be the stale one, so the filtered read then
    /// answers. At most [`THROUGH_PAGES`] pages: a deeper gap stays.
    #[instrument(skip(self), level = "debug")]
    pub async fn last_activity_read_through(
        &self,
        room_id: &RoomId,
    ) -> Result<Option<Activity>, AdminError> {
        let mut from: Option<String> = None;
        for _ in 0..THROUGH_PAGES {
            let (page, end) = self
                .messages_page::<Event>(room_id, "b", THROUGH_PAGE, None, from.as_deref())
                .await?;
            if page
                .iter()
                .any(|e| !NOT_ACTIVITY_TYPES.contains(&e.kind.as_str()))
            {
                break;
            }
            match end {
                Some(end) if from.as_deref() != Some(end.as_str()) => from = Some(end),
                _ => break,
            }
        }
        self.last_activity(room_id).await
    }
}
