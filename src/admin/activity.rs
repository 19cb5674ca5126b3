//! A room's last activity as its members see it: the newest event that is
//! not a membership change, read so that our server's stale copy of a room
//! whose history comes from other servers is not taken for the room.

use matrix_sdk::ruma::{RoomId, ServerName};
use serde::Deserialize;
use tracing::instrument;

use super::{AdminClient, AdminError};
use crate::room::Newest;

/// What is not activity: membership changes, and the dummy events Synapse
/// sends on its own (as a local member) to merge a room's forward
/// extremities, which no person wrote. As the database path's `ROOMS`.
const NOT_ACTIVITY_TYPES: [&str; 2] = ["m.room.member", "org.matrix.dummy_event"];
const NOT_ACTIVITY: &str = r#"{"not_types":["m.room.member","org.matrix.dummy_event"]}"#;

/// Activity events read at once: of two sent at once on two servers,
/// which share a depth, the one served first (the later to arrive) may be
/// dated long ago by its sender, and must not hide the other.
const TIES: u32 = 2;

/// An event as the Admin API's Fetch Event API gives it, in the servers'
/// own format, which has its depth.
#[derive(Deserialize)]
struct Fetched {
    event: Depth,
}

#[derive(Deserialize)]
struct Depth {
    depth: i64,
}

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

/// What reading a room's timeline through found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Through {
    /// The last activity, read once the gaps were filled that could be.
    pub last: Option<Activity>,
    /// The newest join of a local user met on the way down (who, when by
    /// its sender's clock): someone of ours came in above that activity.
    pub local_join: Option<(String, i64)>,
    /// The first activity the pages met, and how many events they held
    /// above it.
    pub met: Option<(Box<str>, usize)>,
}

impl From<Newest> for Activity {
    /// An activity read elsewhere (the database), whose sender is not
    /// needed.
    fn from(newest: Newest) -> Self {
        Self {
            newest,
            sender: None,
        }
    }
}

/// Any event of a page of the whole timeline, with what tells a join.
#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    event_id: Box<str>,
    #[serde(default)]
    state_key: Option<String>,
    #[serde(default)]
    origin_server_ts: i64,
    #[serde(default)]
    content: Membership,
    #[serde(default)]
    unsigned: Unsigned,
}

#[derive(Deserialize, Default)]
struct Membership {
    #[serde(default)]
    membership: Option<String>,
}

#[derive(Deserialize, Default)]
struct Unsigned {
    #[serde(default)]
    prev_content: Option<Membership>,
    #[serde(default, rename = "io.element.synapse.soft_failed")]
    soft_failed: bool,
}

/// An activity as served, with the mark Synapse gives a server admin on a
/// soft-failed event: one that passed the checks at its place in the room's
/// history but not against the room's state now (from a user already
/// banned here, say). No member's client shows it; it is not activity.
#[derive(Deserialize)]
struct Served {
    #[serde(flatten)]
    activity: Activity,
    #[serde(default)]
    unsigned: Unsigned,
}

impl Event {
    fn is_activity(&self) -> bool {
        !NOT_ACTIVITY_TYPES.contains(&self.kind.as_str()) && !self.unsigned.soft_failed
    }

    /// A user of `ours` who was not joined before, joined. A profile
    /// change is a join after a join; without the previous content, a
    /// join is taken for one.
    fn local_join(&self, ours: &ServerName) -> Option<(String, i64)> {
        let user = self.state_key.as_deref()?;
        let joined = |m: &Membership| m.membership.as_deref() == Some("join");
        let is_join = self.kind == "m.room.member"
            && !self.unsigned.soft_failed
            && joined(&self.content)
            && !self.unsigned.prev_content.as_ref().is_some_and(joined);
        let local = user
            .split_once(':')
            .is_some_and(|(_, s)| s == ours.as_str());
        (is_join && local).then(|| (user.to_owned(), self.origin_server_ts))
    }
}

impl AdminClient {
    /// The newest event that is not a membership change (nor a dummy event
    /// of Synapse's, nor a soft-failed one), at the later time of its own
    /// and the next one's when both share a depth (see [`TIES`]; the depths
    /// are read only when the next one is dated later, two requests more).
    /// Encrypted events count; a room with nothing but memberships counts
    /// from its `m.room.create` event.
    ///
    /// One filtered read of the Room Messages API, from our server's copy
    /// as it is. Where that copy has a gap near its top (a local member who
    /// left and came back, our server down while others wrote), Synapse
    /// answers first and fetches the missing history afterwards: the answer
    /// can be older than what the room's members see.
    pub async fn last_activity(&self, room_id: &RoomId) -> Result<Option<Activity>, AdminError> {
        let counts = |e: &Served| !e.unsigned.soft_failed;
        let served = self
            .newest_events(room_id, NOT_ACTIVITY, TIES, counts)
            .await?;
        let mut newest = served.into_iter().map(|s| s.activity);
        let Some(mut first) = newest.next() else {
            return Ok(None);
        };
        if let Some(next) = newest.next()
            && next.newest.ts > first.newest.ts
            && self.depth(&first.newest.event_id).await?
                == self.depth(&next.newest.event_id).await?
        {
            first.newest.ts = next.newest.ts;
        }
        Ok(Some(first))
    }

    /// An event's depth (the Fetch Event API).
    async fn depth(&self, event_id: &str) -> Result<i64, AdminError> {
        let path = ["_synapse", "admin", "v1", "fetch_event", event_id];
        let fetched: Fetched = self.get(&path, &[]).await?;
        Ok(fetched.event.depth)
    }

    /// The last activity once Synapse has filled the gaps near the top of
    /// its copy. The whole timeline is read from the newest, a page at a
    /// time, down to the first page that holds activity: for a page whose
    /// events' depths show a gap, Synapse fetches the missing history from
    /// the other servers before it answers, or waits for a fetch already
    /// under way (one that an earlier read started in the background). The
    /// page itself may still be the stale one, so the filtered read then
    /// answers. At most [`THROUGH_PAGES`] pages: a deeper gap stays. On the
    /// way, the newest join of a user of `ours` is noted: where the gap
    /// could not be filled (the other servers unreachable), a join of ours
    /// above an old answer is all that tells of it.
    #[instrument(skip(self), level = "debug")]
    pub async fn last_activity_read_through(
        &self,
        room_id: &RoomId,
        ours: &ServerName,
    ) -> Result<Through, AdminError> {
        let mut local_join = None;
        let met = self
            .down_to_activity(room_id, |event| {
                local_join = local_join.take().or_else(|| event.local_join(ours));
            })
            .await?;
        let last = self.last_activity(room_id).await?;
        Ok(Through {
            last,
            local_join,
            met,
        })
    }

    /// Reads the whole timeline from the newest, a page at a time, showing
    /// `above` each event before the first activity; that activity's id
    /// and how many events came before it, if met within [`THROUGH_PAGES`].
    async fn down_to_activity(
        &self,
        room_id: &RoomId,
        mut above: impl FnMut(&Event),
    ) -> Result<Option<(Box<str>, usize)>, AdminError> {
        let mut from: Option<String> = None;
        let mut held = 0;
        for _ in 0..THROUGH_PAGES {
            let (page, end) = self
                .messages_page::<Event>(room_id, "b", THROUGH_PAGE, None, from.as_deref())
                .await?;
            for event in page {
                if event.is_activity() {
                    return Ok(Some((event.event_id, held)));
                }
                above(&event);
                held += 1;
            }
            match end {
                Some(end) if from.as_deref() != Some(end.as_str()) => from = Some(end),
                _ => break,
            }
        }
        Ok(None)
    }

    /// Whether our copy of the room lacks events above `through`'s answer.
    /// Every depth between an event and the room's newest holds at least
    /// one event (each event is one deeper than its deepest predecessor),
    /// so fewer events above it than depths means some were never fetched.
    /// The pages read through may predate a fetch that filled them: a count
    /// that falls short, or met another activity, is taken again. Where the
    /// pages never reached the answer, this cannot tell: false.
    pub async fn lacks_events_above(
        &self,
        room_id: &RoomId,
        through: &Through,
    ) -> Result<bool, AdminError> {
        let Some(last) = &through.last else {
            return Ok(false);
        };
        let Some(top) = self.top_depth(room_id).await? else {
            return Ok(false);
        };
        if through.met.is_none() {
            return Ok(false);
        }
        let needed = top - self.depth(&last.newest.event_id).await?;
        let short = |met: &Option<(Box<str>, usize)>| match met {
            Some((id, held)) if *id == last.newest.event_id => Some((*held as i64) < needed),
            Some(_) => None,
            None => Some(false),
        };
        if short(&through.met) == Some(false) {
            return Ok(false);
        }
        let again = self.down_to_activity(room_id, |_| {}).await?;
        Ok(short(&again) == Some(true))
    }
}
