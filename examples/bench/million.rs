//! A million synthetic rooms written into a real Synapse's PostgreSQL
//! schema (the tables the database path reads, with Synapse's own columns
//! and indexes), scanned through `[database]`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use crate::real::{cpu_seconds, postgres_cpu_seconds};
use crate::synapse::Synapse;
use crate::{run_oldrooms, write_config};

/// One room in a hundred has no local member and its name only in its
/// history (a per-room read); the others are named, with one member.
const SYNTHESIZE: &str = r#"
CREATE TEMP TABLE syn AS
  SELECT g, '!synthetic' || lpad(g::text, 7, '0') AS room_id, (g % 100 = 0) AS abandoned,
         (EXTRACT(EPOCH FROM now()) * 1000)::bigint
           - ((g::bigint * 7919) % 1500) * 86400000 - (g::bigint * 104729) % 86400000 AS ts
  FROM generate_series(1, :rooms) g;
INSERT INTO rooms (room_id, is_public, creator, room_version, has_auth_chain_index)
  SELECT room_id, false, '@admin:oldrooms.test', '12', true FROM syn;
INSERT INTO room_stats_state (room_id, name)
  SELECT room_id, CASE WHEN abandoned THEN NULL ELSE 'synthetic room ' || g END FROM syn;
INSERT INTO room_stats_current (room_id, current_state_events, joined_members, invited_members,
    left_members, banned_members, local_users_in_room, completed_delta_stream_id)
  SELECT room_id, 3, CASE WHEN abandoned THEN 0 ELSE 1 END, 0, 0, 0,
         CASE WHEN abandoned THEN 0 ELSE 1 END, 0 FROM syn;
CREATE TEMP TABLE syn_events AS
  SELECT room_id, 1 AS depth, 'm.room.create' AS type, '' AS state_key, ts - 86400000 AS ts,
         100000000 + 3 * g AS so, json_build_object('creator', '@admin:oldrooms.test') AS content
  FROM syn
  UNION ALL
  SELECT room_id, 2, 'm.room.name', '', ts - 1000, 100000000 + 3 * g + 1,
         json_build_object('name', 'abandoned room ' || g)
  FROM syn WHERE abandoned
  UNION ALL
  SELECT room_id, 3, 'm.room.message', NULL, ts, 100000000 + 3 * g + 2,
         json_build_object('msgtype', 'm.text', 'body', 'hello')
  FROM syn;
INSERT INTO events (stream_ordering, topological_ordering, depth, event_id, type, room_id,
    processed, outlier, origin_server_ts, received_ts, sender, contains_url, instance_name,
    state_key)
  SELECT so, depth, depth, '$synthetic' || so, type, room_id, true, false, ts, ts,
         '@admin:oldrooms.test', false, 'master', state_key FROM syn_events;
INSERT INTO event_json (event_id, room_id, internal_metadata, json, format_version)
  SELECT '$synthetic' || so, room_id, '{}',
         json_build_object('type', type, 'room_id', room_id, 'sender', '@admin:oldrooms.test',
           'origin_server_ts', ts, 'depth', depth, 'content', content)::text, 3
  FROM syn_events;
ANALYZE rooms, room_stats_state, room_stats_current, events, event_json;
"#;

fn psql(dir: &Path, sql: &str) {
    let out = std::process::Command::new("psql")
        .args(["-h"])
        .arg(dir.join("pg"))
        .args([
            "-U",
            "synapse",
            "-d",
            "synapse",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
        ])
        .arg("-c")
        .arg(sql)
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A PostgreSQL Synapse holding `rooms` synthetic rooms, and the seconds
/// their SQL took.
pub fn fixture(rooms: u64) -> (&'static Synapse, f64) {
    let dir = tempfile::Builder::new()
        .prefix("oldrooms-million-")
        .tempdir()
        .unwrap()
        .keep();
    let env = [("OLDROOMS_SYNAPSE_DB", "postgres")];
    let s: &'static Synapse = Box::leak(Box::new(Synapse::launch(
        &dir,
        Some(std::process::id()),
        &env,
    )));
    println!("Writing {rooms} synthetic rooms into Synapse's PostgreSQL schema…");
    let started = Instant::now();
    // psql does not expand its variables inside -c; substitute here.
    psql(&s.dir, &SYNTHESIZE.replace(":rooms", &rooms.to_string()));
    (s, started.elapsed().as_secs_f64())
}

/// How many synthetic rooms: a million, or OLDROOMS_BENCH_PG_ROOMS to try
/// the harness.
pub fn rooms() -> u64 {
    std::env::var("OLDROOMS_BENCH_PG_ROOMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

pub async fn section() -> String {
    let rooms = rooms();
    let (s, written) = fixture(rooms);

    let work = tempfile::tempdir().unwrap();
    let config = write_config(
        work.path(),
        &s.url,
        &s.admin_user,
        &format!("password = \"{}\"", s.admin_password),
        &s.database_toml(),
    );
    let out = work.path().join("results.csv");
    let (synapse0, pg0) = (cpu_seconds(s.pid), postgres_cpu_seconds(&s.dir));
    let args = [
        "scan",
        "--config",
        config.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ];
    let (m, stdout) = run_oldrooms(&args, "");
    let synapse_cpu = cpu_seconds(s.pid) - synapse0;
    let pg_cpu = postgres_cpu_seconds(&s.dir) - pg0;
    assert!(stdout.contains("Read from Synapse's database"), "{stdout}");
    let rows = std::fs::read_to_string(&out).unwrap().lines().count() as u64 - 1;
    assert_eq!(rows, rooms, "every room has a row");
    s.stop();

    let mut md = String::new();
    writeln!(
        md,
        "## {rooms} synthetic rooms on PostgreSQL, through the database path\n"
    )
    .unwrap();
    writeln!(md, "Written by SQL into the tables of a real Synapse 1.163.2's schema (with its indexes) in {written:.0} s: per room an `m.room.create` and an `m.room.message` (last activity spread over 1,500 days); one room in a hundred abandoned, its name only in an `m.room.name` event. PostgreSQL CPU: its postmaster and every backend, from /proc.\n").unwrap();
    writeln!(md, "| rooms | wall s | oldrooms CPU s | oldrooms CPU µs/room | PostgreSQL CPU s | Synapse CPU s | peak RSS MB |").unwrap();
    writeln!(md, "|---|---|---|---|---|---|---|").unwrap();
    writeln!(
        md,
        "| {rooms} | {:.1} | {:.1} | {:.1} | {pg_cpu:.1} | {synapse_cpu:.2} | {:.0} |\n",
        m.wall_s,
        m.cpu_s,
        m.cpu_s * 1e6 / rooms as f64,
        m.peak_rss_mb
    )
    .unwrap();
    println!("{md}");
    md
}
