//! The SQL, written against Synapse's schema as its own queries read it
//! (`get_rooms_paginate`, `paginate_room_events_by_topological_ordering`,
//! `_fetch_event_rows`, `get_users_in_room` in Synapse 1.163). Each text
//! runs unchanged on SQLite and PostgreSQL.

/// Every room as the List Room API gives it, with its newest
/// non-membership event as the Room Messages API would pick it: not an
/// outlier, newest by depth then stream order. `last_state` is 0 when the
/// room has no such event, 1 when it has, and 2 when Synapse would not
/// serve it (rejected, or its JSON missing): that room is asked through
/// the Admin API instead.
pub(super) const ROOMS: &str = "
SELECT s.room_id, s.name, s.canonical_alias, s.room_type, r.creator,
       c.joined_members, c.local_users_in_room,
       CASE WHEN r.is_public THEN 1 ELSE 0 END AS public,
       s.encryption,
       e.origin_server_ts,
       CASE WHEN e.event_id IS NULL THEN 0
            WHEN j.event_id IS NULL OR rej.event_id IS NOT NULL
                 OR e.origin_server_ts IS NULL THEN 2
            ELSE 1 END AS last_state
FROM room_stats_state s
JOIN room_stats_current c ON c.room_id = s.room_id
JOIN rooms r ON r.room_id = s.room_id
LEFT JOIN events e ON e.event_id = (
    SELECT x.event_id FROM events x
    WHERE x.room_id = s.room_id AND NOT x.outlier AND x.type <> 'm.room.member'
    ORDER BY x.topological_ordering DESC, x.stream_ordering DESC
    LIMIT 1)
LEFT JOIN event_json j ON j.event_id = e.event_id
LEFT JOIN rejections rej ON rej.event_id = e.event_id
";

/// Columns of an event whose content we read: its JSON, and 1 when the
/// JSON may not be what Synapse serves (rejected, or redacted).
macro_rules! event_content {
    () => {
        "SELECT j.json,
       CASE WHEN rej.event_id IS NOT NULL
                 OR EXISTS (SELECT 1 FROM redactions d WHERE d.redacts = e.event_id)
            THEN 1 ELSE 0 END AS doubt
FROM events e
LEFT JOIN event_json j ON j.event_id = e.event_id
LEFT JOIN rejections rej ON rej.event_id = e.event_id
WHERE e.room_id = $1 AND NOT e.outlier "
    };
}

/// The newest `m.room.name` event of a room.
pub(super) const NEWEST_NAME: &str = concat!(
    event_content!(),
    "AND e.type = 'm.room.name'
ORDER BY e.topological_ordering DESC, e.stream_ordering DESC
LIMIT 1"
);

/// The first membership events of a room, oldest first, as many as the
/// Admin API path reads (`DIRECT_INVITE_WINDOW`).
pub(super) const FIRST_MEMBERSHIPS: &str = concat!(
    event_content!(),
    "AND e.type = 'm.room.member'
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
