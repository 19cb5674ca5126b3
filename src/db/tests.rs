//! The queries on a small SQLite file shaped like Synapse's tables, for the
//! cases a real Synapse cannot be made to produce on demand (a rejected
//! event, an outlier, an unknown schema).

#![allow(clippy::unwrap_used)]

use matrix_sdk::ruma::{RoomId, user_id};
use serde_json::json;

use super::*;

const SCHEMA: &str = "
CREATE TABLE schema_version(lock TEXT, version INTEGER, upgraded BOOL);
CREATE TABLE users(name TEXT, password_hash TEXT);
CREATE TABLE rooms(room_id TEXT PRIMARY KEY, is_public BOOL, creator TEXT, room_version TEXT);
CREATE TABLE room_stats_state(room_id TEXT, name TEXT, canonical_alias TEXT,
  encryption TEXT, room_type TEXT);
CREATE TABLE room_stats_current(room_id TEXT, joined_members INT, local_users_in_room INT);
CREATE TABLE events(stream_ordering INTEGER PRIMARY KEY, topological_ordering BIGINT,
  event_id TEXT, type TEXT, room_id TEXT, outlier BOOL, origin_server_ts BIGINT, sender TEXT);
CREATE TABLE event_json(event_id TEXT, room_id TEXT, internal_metadata TEXT DEFAULT '{}',
  json TEXT);
CREATE TABLE rejections(event_id TEXT, reason TEXT);
CREATE TABLE redactions(event_id TEXT, redacts TEXT);
CREATE TABLE room_ban_redactions(room_id TEXT, user_id TEXT, redacting_event_id TEXT,
  redact_end_ordering BIGINT);
CREATE TABLE event_backward_extremities(event_id TEXT, room_id TEXT);
CREATE TABLE event_edges(event_id TEXT, prev_event_id TEXT);
CREATE TABLE room_memberships(event_id TEXT, user_id TEXT, room_id TEXT, membership TEXT);
CREATE TABLE current_state_events(event_id TEXT, room_id TEXT, type TEXT,
  state_key TEXT, membership TEXT);
-- Synapse's indexes that the queries rely on.
CREATE UNIQUE INDEX room_stats_state_room ON room_stats_state(room_id);
CREATE INDEX events_order_room ON events(room_id, topological_ordering, stream_ordering);
CREATE UNIQUE INDEX events_id ON events(event_id);
CREATE UNIQUE INDEX event_json_id ON event_json(event_id);
CREATE UNIQUE INDEX rejections_id ON rejections(event_id);
INSERT INTO users VALUES ('@admin:example.org', 'hash');
";

struct Fixture {
    _dir: tempfile::TempDir,
    conn: rusqlite::Connection,
    source: Source,
    next: i64,
}

impl Fixture {
    fn new(version: i64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("homeserver.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn.execute("INSERT INTO schema_version VALUES ('X', ?1, 1)", [version])
            .unwrap();
        Self {
            _dir: dir,
            conn,
            source: Source::Sqlite(path),
            next: 1,
        }
    }

    fn room(&self, id: &str, name: Option<&str>) {
        self.conn
            .execute(
                "INSERT INTO rooms VALUES (?1, 0, '@a:example.org', '12')",
                [id],
            )
            .unwrap();
        let state = "INSERT INTO room_stats_state VALUES (?1, ?2, NULL, NULL, NULL)";
        self.conn.execute(state, (id, name)).unwrap();
        let current = "INSERT INTO room_stats_current VALUES (?1, 1, 1)";
        self.conn.execute(current, [id]).unwrap();
    }

    /// Adds an event at `depth`; returns its id.
    fn event(
        &mut self,
        room: &str,
        depth: i64,
        kind: &str,
        ts: i64,
        content: serde_json::Value,
    ) -> String {
        let id = format!("$e{}", self.next);
        self.next += 1;
        let insert = "INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, '@a:example.org')";
        self.conn
            .execute(insert, (self.next, depth, &id, kind, room, ts))
            .unwrap();
        let body = json!({"type": kind, "origin_server_ts": ts, "content": content});
        let json = "INSERT INTO event_json (event_id, room_id, json) VALUES (?1, ?2, ?3)";
        self.conn
            .execute(json, (&id, room, body.to_string()))
            .unwrap();
        id
    }

    fn exec(&self, sql: &str, id: &str) {
        self.conn.execute(sql, [id]).unwrap();
    }

    /// `event` names a previous event this copy of `room` does not hold.
    fn gap_below(&self, room: &str, event: &str) {
        let missing = format!("$missing-{event}");
        let edge = "INSERT INTO event_edges VALUES (?1, ?2)";
        self.conn.execute(edge, (event, &missing)).unwrap();
        let extremity = "INSERT INTO event_backward_extremities VALUES (?1, ?2)";
        self.conn.execute(extremity, (&missing, room)).unwrap();
    }

    async fn open(&self) -> Result<Database, DbError> {
        Database::open(&self.source, user_id!("@admin:example.org")).await
    }
}

fn room(id: &str) -> &RoomId {
    <&RoomId>::try_from(id).unwrap()
}

#[tokio::test]
async fn refuses_a_schema_the_queries_were_not_written_for() {
    let fixture = Fixture::new(95);
    let e = fixture.open().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "Synapse's database is at schema version 95, and oldrooms' queries were written for \
         version 94 to 94"
    );
}

#[tokio::test]
async fn refuses_the_database_of_another_server() {
    let fixture = Fixture::new(94);
    let other = Database::open(&fixture.source, user_id!("@admin:elsewhere.org")).await;
    let e = other.unwrap_err().to_string();
    assert_eq!(
        e,
        "@admin:elsewhere.org is not a user in this database: is it this homeserver's?"
    );
}

#[tokio::test]
async fn picks_the_event_the_messages_api_would_serve() {
    let mut f = Fixture::new(94);
    let text = json!({"body": "hi"});
    // Newest by depth wins over a later stream position.
    f.room("!deep", Some("Deep"));
    let deepest = f.event("!deep", 5, "m.room.message", 500, text.clone());
    f.event("!deep", 4, "m.room.message", 900, text.clone());
    // Of two at the same depth, the one served first (the later to arrive)
    // does not hide a later date of the other.
    f.room("!tie", None);
    f.event("!tie", 5, "m.room.message", 800, text.clone());
    let tied = f.event("!tie", 5, "m.room.message", 100, text.clone());
    // Memberships do not count; outliers are not in the timeline.
    f.room("!members", None);
    let create = f.event("!members", 1, "m.room.create", 100, json!({}));
    f.event(
        "!members",
        2,
        "m.room.member",
        800,
        json!({"membership": "join"}),
    );
    // Nor does a dummy event Synapse sent to merge forward extremities.
    f.event("!members", 4, "org.matrix.dummy_event", 900, json!({}));
    let outlier = f.event("!members", 3, "m.room.topic", 850, json!({"topic": "x"}));
    f.exec(
        "UPDATE events SET outlier = 1 WHERE event_id = ?1",
        &outlier,
    );
    // Nor is a soft-failed event, which no member's client shows.
    f.room("!soft", None);
    let shown = f.event("!soft", 1, "m.room.message", 100, text.clone());
    let hidden = f.event("!soft", 2, "m.room.message", 800, text.clone());
    f.exec(
        "UPDATE event_json SET internal_metadata = '{\"soft_failed\":true}' WHERE event_id = ?1",
        &hidden,
    );
    // Synapse serves no rejected event: the one before it is the answer.
    f.room("!rejected", None);
    let before = f.event("!rejected", 1, "m.room.create", 100, json!({}));
    let bad = f.event("!rejected", 2, "m.room.message", 700, text.clone());
    f.exec("INSERT INTO rejections VALUES (?1, 'auth')", &bad);
    // A local member who left and came back: the join names events of the
    // room this copy lacks, above its last message. Left to the Admin API,
    // which reads through the gap.
    f.room("!rejoined", None);
    f.event("!rejoined", 3, "m.room.message", 100, text.clone());
    let join = json!({"membership": "join"});
    let back = f.event("!rejoined", 9, "m.room.member", 900, join.clone());
    f.gap_below("!rejoined", &back);
    // The gap where our server first joined, below the last message, hides
    // nothing newer.
    f.room("!joined", None);
    let first = f.event("!joined", 7, "m.room.member", 100, join);
    f.gap_below("!joined", &first);
    let since = f.event("!joined", 8, "m.room.message", 200, text.clone());
    // One of ours joined, after the last message, a room people of another
    // server are in: the Admin API judges whether what they wrote since
    // could be fetched. In a room of ours alone, a join is no activity.
    for room in ["!visited", "!ours-only"] {
        f.room(room, None);
        f.event(room, 3, "m.room.message", 100, text.clone());
        let join = f.event(room, 5, "m.room.member", 900, json!({"membership": "join"}));
        let member = "INSERT INTO room_memberships VALUES (?1, '@b:example.org', ?2, 'join')";
        f.conn.execute(member, (&join, room)).unwrap();
    }
    let local_message = |room| {
        let sql = "SELECT event_id FROM events WHERE room_id = ?1 AND type = 'm.room.message'";
        f.conn
            .query_row(sql, [room], |r| r.get::<_, String>(0))
            .unwrap()
    };
    let ours_only = local_message("!ours-only");
    f.exec(
        "UPDATE room_stats_current SET joined_members = 2 WHERE room_id = ?1",
        "!visited",
    );
    // No event's JSON: also left to the API.
    f.room("!lost", None);
    let lost = f.event("!lost", 1, "m.room.create", 100, json!({}));
    f.exec("DELETE FROM event_json WHERE event_id = ?1", &lost);
    f.room("!empty", None);
    // Synapse would fetch older history from other servers first.
    f.room("!gap", None);
    f.exec(
        "INSERT INTO event_backward_extremities VALUES ('$prev', ?1)",
        "!gap",
    );
    // Synapse serves no event of a room version it does not know.
    f.room("!future", None);
    f.event("!future", 1, "m.room.create", 100, json!({}));
    f.exec(
        "UPDATE rooms SET room_version = '99' WHERE room_id = ?1",
        "!future",
    );

    let at = |ts, id: &str| {
        Last::At(crate::room::Newest {
            ts,
            event_id: id.into(),
        })
    };
    let db = f.open().await.unwrap();
    let mut rooms = db.rooms(&|_| {}).await.unwrap();
    rooms.sort_by(|a, b| a.0.room_id.cmp(&b.0.room_id));
    let got: Vec<(&str, Option<&str>, Last)> = rooms
        .iter()
        .map(|(r, last)| (r.room_id.as_str(), r.name.as_deref(), last.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("!deep", Some("Deep"), at(500, &deepest)),
            ("!empty", None, Last::Nothing),
            ("!future", None, Last::Ask),
            ("!gap", None, Last::Ask),
            ("!joined", None, at(200, &since)),
            ("!lost", None, Last::Ask),
            ("!members", None, at(100, &create)),
            ("!ours-only", None, at(100, &ours_only)),
            ("!rejected", None, at(100, &before)),
            ("!rejoined", None, Last::Ask),
            ("!soft", None, at(100, &shown)),
            ("!tie", None, at(800, &tied)),
            ("!visited", None, Last::Ask),
        ]
    );
}

#[tokio::test]
async fn reads_names_and_direct_invites_unless_redacted() {
    let mut f = Fixture::new(94);
    f.room("!a", None);
    f.event("!a", 1, "m.room.name", 100, json!({"name": "Old name"}));
    f.event("!a", 2, "m.room.name", 200, json!({"name": "New name"}));
    f.room("!f", None);
    let alias = json!({"alias": "#old:example.org"});
    f.event("!f", 1, "m.room.canonical_alias", 100, alias);
    let alias = json!({"alias": "#new:example.org"});
    f.event("!f", 2, "m.room.canonical_alias", 200, alias);
    f.room("!b", None);
    let named = f.event("!b", 1, "m.room.name", 100, json!({"name": "Redacted"}));
    f.exec("INSERT INTO redactions VALUES ('$r', ?1)", &named);
    f.room("!c", None);
    f.event("!c", 1, "m.room.name", 100, json!({"name": ""}));
    // Its sender was banned with their events redacted (MSC4293).
    f.room("!d", None);
    f.event("!d", 1, "m.room.name", 100, json!({"name": "Banned"}));
    f.exec(
        "INSERT INTO room_ban_redactions VALUES (?1, '@a:example.org', '$ban', NULL)",
        "!d",
    );
    // A direct invite within the first ten memberships, and one past them.
    let invite = json!({"membership": "invite", "is_direct": true});
    let join = json!({"membership": "join"});
    f.event("!a", 3, "m.room.member", 300, join.clone());
    f.event("!a", 4, "m.room.member", 300, invite.clone());
    for depth in 2..12 {
        f.event("!c", depth, "m.room.member", 300, join.clone());
    }
    f.event("!c", 12, "m.room.member", 300, invite.clone());
    // History fetched from other servers has negative stream positions;
    // paging forward from the start, Synapse does not see it.
    f.room("!e", None);
    let backfilled = f.event("!e", 1, "m.room.member", 300, invite);
    f.exec(
        "UPDATE events SET stream_ordering = -5 WHERE event_id = ?1",
        &backfilled,
    );

    let db = f.open().await.unwrap();
    let name = |id| db.name_from_history(room(id));
    let sure = |name: &str| Answer::Sure(Some(name.to_owned()));
    assert_eq!(name("!a").await.unwrap(), sure("New name"));
    assert_eq!(name("!b").await.unwrap(), Answer::Ask, "redacted");
    assert_eq!(name("!c").await.unwrap(), Answer::Sure(None), "empty");
    assert_eq!(
        name("!d").await.unwrap(),
        Answer::Ask,
        "redacted with a ban"
    );
    // Aliases come back the same way.
    assert_eq!(
        db.alias_from_history(room("!a")).await.unwrap(),
        Answer::Sure(None)
    );
    assert_eq!(
        db.alias_from_history(room("!f")).await.unwrap(),
        sure("#new:example.org")
    );
    let direct = |id| db.is_direct(room(id));
    assert_eq!(direct("!a").await.unwrap(), Answer::Sure(true));
    assert_eq!(direct("!c").await.unwrap(), Answer::Sure(false));
    assert_eq!(direct("!e").await.unwrap(), Answer::Sure(false));
}

#[tokio::test]
async fn lists_joined_members_only() {
    let f = Fixture::new(94);
    f.room("!a", None);
    let member =
        "INSERT INTO current_state_events VALUES ('$x' || ?1, '!a', 'm.room.member', ?1, ?2)";
    for (user, membership) in [
        ("@in:x", "join"),
        ("@out:x", "leave"),
        ("@maybe:x", "invite"),
    ] {
        f.conn.execute(member, (user, membership)).unwrap();
    }
    let db = f.open().await.unwrap();
    assert_eq!(db.joined_members(room("!a")).await.unwrap(), ["@in:x"]);
}

#[tokio::test]
async fn reads_in_batches() {
    let mut f = Fixture::new(94);
    let total = queries::BATCH * 2 + 1;
    f.conn.execute_batch("BEGIN").unwrap();
    for i in 0..total {
        let id = format!("!r{i:06}");
        f.room(&id, None);
        f.event(&id, 1, "m.room.create", i as i64, json!({}));
    }
    f.conn.execute_batch("COMMIT").unwrap();
    let db = f.open().await.unwrap();
    let counts = std::sync::Mutex::new(Vec::new());
    let rooms = db.rooms(&|n| counts.lock().unwrap().push(n)).await.unwrap();
    assert_eq!(rooms.len(), total);
    assert_eq!(*counts.lock().unwrap(), [10_000, 20_000, 20_001]);
    assert!(rooms.windows(2).all(|w| w[0].0.room_id < w[1].0.room_id));
}

#[test]
fn the_sql_reads_as_many_as_the_code_expects() {
    let batch = format!("LIMIT {})", queries::BATCH);
    assert!(queries::ROOMS.contains(&batch));
    let window = format!("LIMIT {}", crate::admin::DIRECT_INVITE_WINDOW);
    assert!(queries::FIRST_MEMBERSHIPS.ends_with(&window));
}
