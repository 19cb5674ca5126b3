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
CREATE TABLE rooms(room_id TEXT PRIMARY KEY, is_public BOOL, creator TEXT);
CREATE TABLE room_stats_state(room_id TEXT, name TEXT, canonical_alias TEXT,
  encryption TEXT, room_type TEXT);
CREATE TABLE room_stats_current(room_id TEXT, joined_members INT, local_users_in_room INT);
CREATE TABLE events(stream_ordering INTEGER PRIMARY KEY, topological_ordering BIGINT,
  event_id TEXT, type TEXT, room_id TEXT, outlier BOOL, origin_server_ts BIGINT);
CREATE TABLE event_json(event_id TEXT, room_id TEXT, json TEXT);
CREATE TABLE rejections(event_id TEXT, reason TEXT);
CREATE TABLE redactions(event_id TEXT, redacts TEXT);
CREATE TABLE current_state_events(event_id TEXT, room_id TEXT, type TEXT,
  state_key TEXT, membership TEXT);
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
            .execute("INSERT INTO rooms VALUES (?1, 0, '@a:example.org')", [id])
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
        let insert = "INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)";
        self.conn
            .execute(insert, (self.next, depth, &id, kind, room, ts))
            .unwrap();
        let body = json!({"type": kind, "origin_server_ts": ts, "content": content});
        let json = "INSERT INTO event_json VALUES (?1, ?2, ?3)";
        self.conn
            .execute(json, (&id, room, body.to_string()))
            .unwrap();
        id
    }

    fn exec(&self, sql: &str, id: &str) {
        self.conn.execute(sql, [id]).unwrap();
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
    f.event("!deep", 5, "m.room.message", 500, text.clone());
    f.event("!deep", 4, "m.room.message", 900, text.clone());
    // Memberships do not count; outliers are not in the timeline.
    f.room("!members", None);
    f.event("!members", 1, "m.room.create", 100, json!({}));
    f.event(
        "!members",
        2,
        "m.room.member",
        800,
        json!({"membership": "join"}),
    );
    let outlier = f.event("!members", 3, "m.room.topic", 850, json!({"topic": "x"}));
    f.exec(
        "UPDATE events SET outlier = 1 WHERE event_id = ?1",
        &outlier,
    );
    // Synapse would not serve a rejected event (the chunk would be empty):
    // that room is left to the Admin API.
    f.room("!rejected", None);
    f.event("!rejected", 1, "m.room.create", 100, json!({}));
    let bad = f.event("!rejected", 2, "m.room.message", 700, text.clone());
    f.exec("INSERT INTO rejections VALUES (?1, 'auth')", &bad);
    // No event's JSON: also left to the API.
    f.room("!lost", None);
    let lost = f.event("!lost", 1, "m.room.create", 100, json!({}));
    f.exec("DELETE FROM event_json WHERE event_id = ?1", &lost);
    f.room("!empty", None);

    let db = f.open().await.unwrap();
    let mut rooms = db.rooms().await.unwrap();
    rooms.sort_by(|a, b| a.0.room_id.cmp(&b.0.room_id));
    let got: Vec<(&str, Option<&str>, Last)> = rooms
        .iter()
        .map(|(r, last)| (r.room_id.as_str(), r.name.as_deref(), *last))
        .collect();
    assert_eq!(
        got,
        [
            ("!deep", Some("Deep"), Last::At(500)),
            ("!empty", None, Last::Nothing),
            ("!lost", None, Last::Ask),
            ("!members", None, Last::At(100)),
            ("!rejected", None, Last::Ask),
        ]
    );
}

#[tokio::test]
async fn reads_names_and_direct_invites_unless_redacted() {
    let mut f = Fixture::new(94);
    f.room("!a", None);
    f.event("!a", 1, "m.room.name", 100, json!({"name": "Old name"}));
    f.event("!a", 2, "m.room.name", 200, json!({"name": "New name"}));
    f.room("!b", None);
    let named = f.event("!b", 1, "m.room.name", 100, json!({"name": "Redacted"}));
    f.exec("INSERT INTO redactions VALUES ('$r', ?1)", &named);
    f.room("!c", None);
    f.event("!c", 1, "m.room.name", 100, json!({"name": ""}));
    // A direct invite within the first ten memberships, and one past them.
    let invite = json!({"membership": "invite", "is_direct": true});
    let join = json!({"membership": "join"});
    f.event("!a", 3, "m.room.member", 300, join.clone());
    f.event("!a", 4, "m.room.member", 300, invite.clone());
    for depth in 2..12 {
        f.event("!c", depth, "m.room.member", 300, join.clone());
    }
    f.event("!c", 12, "m.room.member", 300, invite);

    let db = f.open().await.unwrap();
    let name = |id| db.name_from_history(room(id));
    assert_eq!(name("!a").await.unwrap(), Some(Some("New name".to_owned())));
    assert_eq!(name("!b").await.unwrap(), None, "redacted: ask the API");
    assert_eq!(
        name("!c").await.unwrap(),
        Some(None),
        "an empty name is none"
    );
    assert_eq!(db.is_direct(room("!a")).await.unwrap(), Some(true));
    assert_eq!(db.is_direct(room("!c")).await.unwrap(), Some(false));
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
