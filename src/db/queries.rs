//! The SQL, written against Synapse's schema as its own queries read it
//! (`get_rooms_paginate`, `paginate_room_events_by_topological_ordering`,
//! `_fetch_event_rows`, `get_users_in_room` in Synapse 1.163). Each text
//! runs unchanged on SQLite (3.35 or later) and PostgreSQL (12 or later).

/// Room versions Synapse 1.163 knows (`KNOWN_ROOM_VERSIONS`); it serves no
/// event of a room of another version.
macro_rules! known_room_versions {
    () => {
        "('1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12',
          'org.matrix.hydra.11', 'org.matrix.msc3757.10', 'org.matrix.msc3757.11')"
    };
}

/// Rooms read per query: each batch is a short read, so no snapshot is
/// held for the whole listing.
pub(super) const BATCH: usize = 10_000;

/// A room's activity (not a membership change, not Synapse's own dummy
/// event, not an outlier, not rejected, not soft-failed), newest first as
/// `/messages` serves it: by depth, then stream order. Synapse writes an
/// event's internal metadata as compact JSON (`{"soft_failed":true}`).
macro_rules! activity_newest_first {
    () => {
        "FROM events x
          WHERE x.room_id = s.room_id AND NOT x.outlier
            AND x.type NOT IN ('m.room.member', 'org.matrix.dummy_event')
            AND NOT EXISTS (SELECT 1 FROM rejections rx WHERE rx.event_id = x.event_id)
            AND NOT EXISTS (SELECT 1 FROM event_json sf WHERE sf.event_id = x.event_id
                            AND sf.internal_metadata LIKE '%\"soft_failed\":true%')
          ORDER BY x.topological_ordering DESC, x.stream_ordering DESC"
    };
}

/// A batch of rooms after `$1` (by id) as the List Room API gives them, with
/// each one's newest event that is activity (not a membership change, not
/// Synapse's own dummy event) as the Room Messages API would pick it: not an
/// outlier, not rejected (Synapse serves none), newest by depth then stream
/// order. Its time is the later of its own and the next one's when both
/// share a depth: two events sent at once on two servers do, and the one
/// served first (the later to arrive) may be dated long ago by its sender,
/// which must not hide the other. The fence (`MATERIALIZED`) keeps PostgreSQL from
/// turning the per-room lookups into a join over the whole events table.
///
/// A room whose copy here has a gap at or above that event (a backward
/// extremity: an event we hold names a previous event we do not) is left to
/// the Admin API, which reads the timeline through so that Synapse fetches
/// the missing history first: a local member who left and came back, or
/// our server down while others wrote, leaves such a gap above the old
/// history. So is a room shared with other servers that one of our users
/// (`$2`, a `LIKE` pattern of our user ids) joined above that event: if
/// the history written since could not be fetched, that join is all that
/// tells of it (`scan/activity.rs`).
pub(super) const ROOMS: &str = concat!(
    "
WITH listed AS MATERIALIZED (
  SELECT s.room_id, s.name, s.canonical_alias, s.room_type, r.creator, r.room_version,
         c.joined_members, c.local_users_in_room,
         CASE WHEN r.is_public THEN 1 ELSE 0 END AS public, s.encryption,
         (SELECT x.event_id ",
    activity_newest_first!(),
    "
          LIMIT 1) AS last_id,
         (SELECT x.event_id ",
    activity_newest_first!(),
    "
          LIMIT 1 OFFSET 1) AS next_id
  FROM room_stats_state s
  JOIN room_stats_current c ON c.room_id = s.room_id
  JOIN rooms r ON r.room_id = s.room_id
  WHERE s.room_id > $1
  ORDER BY s.room_id
  LIMIT 10000)
SELECT l.room_id, l.name, l.canonical_alias, l.room_type, l.creator,
       l.joined_members, l.local_users_in_room, l.public, l.encryption,
       (SELECT CASE WHEN n.origin_server_ts > e.origin_server_ts
                         AND n.topological_ordering = e.topological_ordering
                    THEN n.origin_server_ts ELSE e.origin_server_ts END
        FROM events e LEFT JOIN events n ON n.event_id = l.next_id
        WHERE e.event_id = l.last_id) AS ts,
       CASE WHEN l.room_version IS NULL OR l.room_version NOT IN ",
    known_room_versions!(),
    " THEN 2
            WHEN l.last_id IS NULL THEN
              CASE WHEN EXISTS (SELECT 1 FROM event_backward_extremities b
                                WHERE b.room_id = l.room_id) THEN 2 ELSE 0 END
            WHEN NOT EXISTS (SELECT 1 FROM event_json j WHERE j.event_id = l.last_id)
              THEN 2
            WHEN EXISTS (SELECT 1 FROM event_backward_extremities b
                         JOIN event_edges g ON g.prev_event_id = b.event_id
                         JOIN events x ON x.event_id = g.event_id
                         WHERE b.room_id = l.room_id AND NOT x.outlier
                           AND x.topological_ordering >=
                               (SELECT e.topological_ordering FROM events e
                                WHERE e.event_id = l.last_id))
              THEN 2
            WHEN (l.joined_members > l.local_users_in_room OR l.creator IS NULL
                  OR l.creator NOT LIKE $2 ESCAPE '\\')
                 AND EXISTS (SELECT 1 FROM room_memberships m
                             JOIN events x ON x.event_id = m.event_id
                             WHERE m.room_id = l.room_id AND m.membership = 'join'
                               AND m.user_id LIKE $2 ESCAPE '\\' AND NOT x.outlier
                               AND x.topological_ordering >
                                   (SELECT e.topological_ordering FROM events e
                                    WHERE e.event_id = l.last_id))
              THEN 2
            ELSE 1 END AS last_state,
       l.last_id
FROM listed l
ORDER BY l.room_id
"
);

/// Column positions of `ROOMS`.
pub(super) mod col {
    pub const ROOM_ID: usize = 0;
    pub const NAME: usize = 1;
    pub const ALIAS: usize = 2;
    pub const ROOM_TYPE: usize = 3;
    pub const CREATOR: usize = 4;
    pub const JOINED: usize = 5;
    pub const LOCAL: usize = 6;
    pub const PUBLIC: usize = 7;
    pub const ENCRYPTION: usize = 8;
    pub const TS: usize = 9;
    /// 0: the room has no such event. 1: `TS` is the one Synapse would
    /// serve. 2: it may not be, or our copy has a gap above it, or Synapse
    /// would first fetch older history from other servers (backward
    /// extremities): ask the Admin API.
    pub const LAST_STATE: usize = 10;
    /// The id of the event whose time `TS` is.
    pub const LAST_ID: usize = 11;
}

/// Columns of an event whose content we read: its JSON, and 1 when the
/// JSON may not be what Synapse serves (rejected, redacted, redacted with
/// its sender's ban, or a room version Synapse does not know).
macro_rules! event_content {
    () => {
        concat!(
            "SELECT j.json,
       CASE WHEN rej.event_id IS NOT NULL
                 OR EXISTS (SELECT 1 FROM redactions d WHERE d.redacts = e.event_id)
                 OR EXISTS (SELECT 1 FROM room_ban_redactions b
                            WHERE b.room_id = e.room_id AND b.user_id = e.sender)
                 OR NOT EXISTS (SELECT 1 FROM rooms r WHERE r.room_id = e.room_id
                                AND r.room_version IN ",
            known_room_versions!(),
            ")
            THEN 1 ELSE 0 END AS doubt
FROM events e
LEFT JOIN event_json j ON j.event_id = e.event_id
LEFT JOIN rejections rej ON rej.event_id = e.event_id
WHERE e.room_id = $1 AND NOT e.outlier "
        )
    };
}

/// The newest `m.room.name` event of a room.
pub(super) const NEWEST_NAME: &str = concat!(
    event_content!(),
    "AND e.type = 'm.room.name'
ORDER BY e.topological_ordering DESC, e.stream_ordering DESC
LIMIT 1"
);

/// The newest `m.room.canonical_alias` event of a room.
pub(super) const NEWEST_ALIAS: &str = concat!(
    event_content!(),
    "AND e.type = 'm.room.canonical_alias'
ORDER BY e.topological_ordering DESC, e.stream_ordering DESC
LIMIT 1"
);

/// The first membership events of a room, oldest first, as many as the
/// Admin API path reads (`DIRECT_INVITE_WINDOW`). Paging forward from the
/// start, Synapse's bound is a stream position above 0, which leaves out
/// history fetched from other servers (stored at negative positions).
pub(super) const FIRST_MEMBERSHIPS: &str = concat!(
    event_content!(),
    "AND e.type = 'm.room.member' AND e.stream_ordering > 0
ORDER BY e.topological_ordering ASC, e.stream_ordering ASC
LIMIT 10"
);

/// The users joined to a room now, local and remote.
pub(super) const JOINED: &str = "
SELECT state_key FROM current_state_events
WHERE type = 'm.room.member' AND room_id = $1 AND membership = 'join'
";

/// The schema version Synapse recorded when it last upgraded the database.
pub(super) const SCHEMA_VERSION: &str = "SELECT version FROM schema_version";

/// Whether a user is registered here: ties the database to the homeserver.
pub(super) const USER_EXISTS: &str = "SELECT COUNT(name) FROM users WHERE name = $1";
