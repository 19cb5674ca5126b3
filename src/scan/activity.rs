//! A room's last activity as its members see it, the same for the scan,
//! the deletion's re-check and the settling of an uploaded file's rows:
//! one filtered read, and for a room whose copy here may be stale, a read
//! through it.

use crate::admin::{Activity, AdminClient, AdminError, Through};
use crate::policy::Policy;
use crate::room::ListedRoom;
use crate::timefmt::whole_days;

/// What was read of a room's last activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Read {
    /// The newest activity; none when the timeline holds none.
    Last(Option<Activity>),
    /// Our server's copy may lack newer activity: why, for the reason.
    Unsure(String),
}

/// Reads `room`'s last activity, through our server's copy where
/// [`Policy::may_hide_activity`] says the first answer may be stale.
pub(crate) async fn last_activity(
    client: &AdminClient,
    policy: &Policy,
    room: &ListedRoom,
    now_ms: i64,
) -> Result<Read, AdminError> {
    let first = client.last_activity(&room.room_id).await?;
    let ts = first.as_ref().map(|a| a.newest.ts);
    if !policy.may_hide_activity(room, ts, now_ms) {
        return Ok(Read::Last(first));
    }
    let through = client
        .last_activity_read_through(&room.room_id, &policy.server_name)
        .await?;
    let still_old = through
        .last
        .as_ref()
        .is_some_and(|a| policy.too_old(a.newest.ts, now_ms));
    let judged = judge(policy, &through, now_ms);
    if matches!(judged, Read::Last(_))
        && still_old
        && client.lacks_events_above(&room.room_id, &through).await?
    {
        return Ok(Read::Unsure(LACKING.into()));
    }
    Ok(judged)
}

/// Why a room whose copy here lacks events above its answer is kept.
const LACKING: &str = "our server's copy of the room lacks events above the newest activity it \
    holds; the room's other servers may hold newer messages it could not fetch";

/// A user of ours who joined within `inactive_days`, above activity older
/// than that, came back to a room whose newer history our server could
/// not fetch (its other servers unreachable), or to a room nobody wrote
/// in since: either way the room is not known to be inactive.
fn judge(policy: &Policy, through: &Through, now_ms: i64) -> Read {
    let old = |ts: i64| policy.too_old(ts, now_ms);
    let last_is_old = through.last.as_ref().is_none_or(|a| old(a.newest.ts));
    match &through.local_join {
        Some((user, joined)) if last_is_old && !old(*joined) => Read::Unsure(format!(
            "{user} joined {} ago, after the newest activity our server holds; \
             the room's other servers may hold newer messages it could not fetch",
            crate::plain::count(whole_days(*joined, now_ms), "day", "days")
        )),
        _ => Read::Last(through.last.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room::Newest;
    use crate::timefmt::MS_PER_DAY;

    const NOW: i64 = 1_800_000_000_000;

    fn at(days: i64) -> Option<Activity> {
        Some(Activity {
            newest: Newest {
                ts: NOW - days * MS_PER_DAY,
                event_id: "$e".into(),
            },
            sender: None,
        })
    }

    fn through(last: Option<Activity>, joined_days_ago: Option<i64>) -> Through {
        let join = joined_days_ago.map(|d| ("@a:example.org".to_owned(), NOW - d * MS_PER_DAY));
        Through {
            last,
            local_join: join,
            met: None,
        }
    }

    #[test]
    fn a_recent_join_of_ours_above_old_activity_is_unsure() {
        let p = Policy::for_tests();
        let unsure = judge(&p, &through(at(600), Some(0)), NOW);
        assert_eq!(
            unsure,
            Read::Unsure(
                "@a:example.org joined 0 days ago, after the newest activity our server \
                 holds; the room's other servers may hold newer messages it could not fetch"
                    .into()
            )
        );
        assert!(matches!(
            judge(&p, &through(None, Some(3)), NOW),
            Read::Unsure(_)
        ));
        // Activity as recent as the join, an old join, or none: as read.
        for (last, join) in [(at(3), Some(0)), (at(600), Some(400)), (at(600), None)] {
            let read = judge(&p, &through(last.clone(), join), NOW);
            assert_eq!(read, Read::Last(last), "{join:?}");
        }
    }
}
