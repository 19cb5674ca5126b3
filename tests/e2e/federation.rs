//! Rooms that live on two servers (issue 20): ours and a peer federating
//! with it on loopback. A local user who left a room and joined it again
//! finds the room's copy here with a gap above its old history, until
//! something reads it; the scan, on both paths, and the deletion's
//! re-check must see the messages the room's members see, not the stale
//! copy.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{Csv, oldrooms, oldrooms_with_input};
use crate::matrix::wait_member_counts;
use crate::synapse::{Homeserver, Synapse};
use crate::world::{Config, exists, federating_pair, federating_pair_of_its_own, scan};

use oldrooms::timefmt::{MS_PER_DAY as DAY, now_ms};

/// Alice on our server, Bob on the peer.
struct Pair {
    ours: Homeserver,
    peer: Homeserver,
    alice: String,
    bob: String,
    /// Whole days back from one instant, so no day boundary falls between
    /// the scans of a test.
    now: i64,
}

impl Pair {
    async fn new() -> Self {
        Self::on(federating_pair()).await
    }

    async fn on((ours, peer): (&'static Synapse, &'static Synapse)) -> Self {
        let (ours, peer) = (Homeserver::on(ours), Homeserver::on(peer));
        let alice = ours.new_user("alice").await;
        let bob = peer.new_user("bob").await;
        Self {
            ours,
            peer,
            alice,
            bob,
            now: now_ms(),
        }
    }

    fn ours(&self) -> &'static Synapse {
        self.ours.s
    }

    fn days_ago(&self, days: i64) -> Option<i64> {
        Some(self.now - days * DAY)
    }

    /// A public room Bob made on the peer, that Alice joined; both last
    /// wrote in it 600 days ago.
    async fn old_room(&self, name: &str) -> String {
        let body = json!({"name": name, "preset": "public_chat"});
        let room = self.peer.create_room(&self.bob, body).await;
        self.ours
            .join_via(&room, &self.alice, &self.peer.s.server_name)
            .await;
        let old = self.days_ago(600);
        self.peer.message(&room, &self.bob, "long ago", old).await;
        self.ours.message(&room, &self.alice, "long ago", old).await;
        room
    }

    /// Alice leaves; once the peer knows, our server hears nothing more
    /// of the room.
    async fn leave(&self, room: &str) {
        self.ours.leave(room, &self.alice).await;
        let (peer, alice) = (&self.peer, &self.alice);
        until("the peer to see Alice leave", || async move {
            !peer.members(room).await.contains(alice)
        })
        .await;
    }

    /// Bob writes while Alice is away, 3 days ago by his clock.
    async fn talk(&self, room: &str) {
        for n in 0..5 {
            let text = format!("while you were away {n}");
            self.peer
                .message(room, &self.bob, &text, self.days_ago(3))
                .await;
        }
    }

    async fn rejoin(&self, room: &str) {
        self.ours
            .join_via(room, &self.alice, &self.peer.s.server_name)
            .await;
    }

    /// The room statistics our scans read, once they count Alice and Bob.
    async fn settled(&self, rooms: &[&str]) {
        let counts: Vec<(&str, u64, u64)> = rooms.iter().map(|r| (*r, 2, 1)).collect();
        wait_member_counts(&self.ours, &counts).await;
    }
}

fn row_text(csv_text: &str, room: &str) -> String {
    csv_text
        .lines()
        .find(|line| line.starts_with(room))
        .unwrap_or_else(|| panic!("no row for {room} in\n{csv_text}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_joined_again_is_judged_by_what_its_members_wrote_since() {
    let pair = Pair::new().await;
    // Alice comes back to a room where Bob went on talking: the copy here
    // ends at the old messages, with a gap above them.
    let for_database = pair.old_room("Back again").await;
    pair.leave(&for_database).await;
    pair.talk(&for_database).await;
    pair.rejoin(&for_database).await;
    // Alice comes back to a room nobody wrote in since, and a room she never
    // left: with nobody of ours joining lately, the second is as old as it
    // looks. The first is not known to be: had the peer been unreachable,
    // Alice's join would be all that told of what was written since.
    let quiet = pair.old_room("Still quiet").await;
    let stayed = pair.old_room("Never left").await;
    pair.leave(&quiet).await;
    pair.rejoin(&quiet).await;
    pair.settled(&[&for_database, &quiet, &stayed]).await;
    let unsure = format!(
        "unknown: {} joined 0 days ago, after the newest activity our server holds; the \
         room's other servers may hold newer messages it could not fetch",
        pair.alice
    );

    let dir = tempfile::tempdir().unwrap();
    let api = Config::admin(&pair.ours).await;
    let database = api.clone().toml(&pair.ours().database_toml());
    let write = |name: &str, config: &Config| {
        let sub = dir.path().join(name);
        std::fs::create_dir(&sub).unwrap();
        config.write(&sub)
    };
    let (api, database) = (write("api", &api), write("database", &database));
    let out = |name: &str| dir.path().join(name);

    // The database path first, while the gap is there.
    let first = scan(&database, &out("database-1.csv")).await;
    let reason = |csv: &Csv, room: &str| csv.row(room)["reason"].clone();
    assert!(
        reason(&first, &for_database).starts_with("active"),
        "{:?}",
        first.row(&for_database)
    );
    assert_eq!(first.row(&for_database)["inactive_days"], "3");
    assert_eq!(reason(&first, &quiet), unsure);
    assert!(reason(&first, &stayed).starts_with("inactive"));

    // The same again, made after that scan: the Admin API path reads it
    // first.
    let for_api = pair.old_room("Back once more").await;
    pair.leave(&for_api).await;
    pair.talk(&for_api).await;
    pair.rejoin(&for_api).await;
    pair.settled(&[&for_api]).await;
    let by_api = scan(&api, &out("api.csv")).await;
    assert!(
        reason(&by_api, &for_api).starts_with("active"),
        "{:?}",
        by_api.row(&for_api)
    );
    assert_eq!(by_api.row(&for_api)["inactive_days"], "3");
    assert_eq!(reason(&by_api, &quiet), unsure);
    assert!(reason(&by_api, &stayed).starts_with("inactive"));

    // Both paths write the same rows for these rooms.
    scan(&database, &out("database-2.csv")).await;
    let api_text = std::fs::read_to_string(out("api.csv")).unwrap();
    let db_text = std::fs::read_to_string(out("database-2.csv")).unwrap();
    for room in [&for_database, &for_api, &quiet, &stayed] {
        assert_eq!(row_text(&db_text, room), row_text(&api_text, room));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recheck_sees_what_was_written_while_we_were_away() {
    let pair = Pair::new().await;
    let dry = pair.old_room("Dry run").await;
    let real = pair.old_room("Real run").await;
    let dead = pair.old_room("Dead").await;
    pair.settled(&[&dry, &real, &dead]).await;

    let dir = tempfile::tempdir().unwrap();
    let config = Config::admin(&pair.ours)
        .await
        .toml(&pair.ours().database_toml())
        .write(dir.path());
    let results = dir.path().join("results.csv");
    let csv = scan(&config, &results).await;
    for room in [&dry, &real, &dead] {
        assert_eq!(csv.row(room)["should_delete"], "yes", "{:?}", csv.row(room));
    }
    // After the scan, Alice leaves two rooms, Bob talks there, and she
    // comes back.
    for room in [&dry, &real] {
        pair.leave(room).await;
        pair.talk(room).await;
        pair.rejoin(room).await;
    }

    let only = |rooms: &[&String], name: &str| {
        let text = std::fs::read_to_string(&results).unwrap();
        let mut lines = text.lines();
        let mut kept = vec![lines.next().unwrap().to_owned()];
        kept.extend(
            lines
                .filter(|l| rooms.iter().any(|r| l.starts_with(r.as_str())))
                .map(str::to_owned),
        );
        let path = dir.path().join(name);
        std::fs::write(&path, kept.join("\n") + "\n").unwrap();
        path
    };
    let config = config.to_str().unwrap();
    let from = only(&[&dry], "dry.csv");
    let report = dir.path().join("dry-report.csv");
    let run = oldrooms(
        &[
            "delete",
            "--config",
            config,
            "--from",
            from.to_str().unwrap(),
            "--dry-run",
            "--report",
            report.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    let row = Csv::read(&report).row(&dry).clone();
    assert_eq!(row["outcome"], "skipped", "{row:?}");
    assert!(
        row["detail"].starts_with("new activity since the scan"),
        "{row:?}"
    );

    let from = only(&[&real, &dead], "real.csv");
    let report = dir.path().join("report.csv");
    let args = [
        "delete",
        "--config",
        config,
        "--from",
        from.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ];
    let run = oldrooms_with_input(&args, &[], "2\n").await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert!(
        run.stdout
            .contains("Deletion finished: 1 deleted, 1 skipped, 0 failed, of 2."),
        "{}",
        run.stdout
    );
    assert!(
        exists(&pair.ours, &real).await,
        "a room Bob wrote in was deleted"
    );
    assert!(!exists(&pair.ours, &dead).await);
    let row = Csv::read(&report).row(&real).clone();
    assert!(row["detail"].contains(&pair.bob), "{row:?}");
}

/// Waits until `hs` holds `sender`'s message `body` in `room`.
async fn wait_holds(hs: &Homeserver, room: &str, sender: &str, body: &str) {
    let what = format!("{body:?} to reach {}", hs.s.url);
    until(&what, || async move {
        let segs = ["_synapse", "admin", "v1", "rooms", room, "messages"];
        let page = hs
            .admin_get_with(&segs, &[("dir", "b"), ("limit", "50")])
            .await;
        let chunk = page["chunk"].as_array().cloned().unwrap_or_default();
        chunk
            .iter()
            .any(|e| e["sender"] == sender && e["content"]["body"] == body)
    })
    .await;
}

/// Waits until our server holds `user`'s join to `room`.
async fn wait_joined_here(hs: &Homeserver, room: &str, user: &str) {
    let what = format!("{user} to reach our server");
    until(&what, || async move {
        hs.members(room).await.iter().any(|m| m == user)
    })
    .await;
}

/// Asks `holds` again until it says yes; the deadline only guards a hang.
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut holds: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !holds().await {
        assert!(Instant::now() < deadline, "waited 120 s for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_while_we_were_down_is_found_below_the_joins_after_it() {
    let pair = Pair::on(federating_pair_of_its_own()).await;
    let room = pair.old_room("Busy while we slept").await;
    let quiet = pair.old_room("Quiet while we slept").await;
    pair.settled(&[&room, &quiet]).await;
    // Our server is down; Bob writes, then more people join than Synapse
    // fetches when an event arrives with unknown predecessors (10).
    pair.ours().stop();
    pair.peer
        .message(&room, &pair.bob, "are you there?", pair.days_ago(10))
        .await;
    let (mut carol, mut dave) = (String::new(), String::new());
    for _ in 0..15 {
        carol = pair.peer.new_user("carol").await;
        pair.peer.join(&room, &carol).await;
        dave = pair.peer.new_user("dave").await;
        pair.peer.join(&quiet, &dave).await;
    }
    // Back up; the peer, restarted, sends each room's newest event only.
    pair.ours().restart();
    pair.peer.s.restart();
    wait_joined_here(&pair.ours, &room, &carol).await;
    wait_joined_here(&pair.ours, &quiet, &dave).await;

    let dir = tempfile::tempdir().unwrap();
    let api = Config::admin(&pair.ours).await;
    let database = api.clone().toml(&pair.ours().database_toml());
    let (api_dir, db_dir) = (dir.path().join("api"), dir.path().join("db"));
    std::fs::create_dir(&api_dir).unwrap();
    std::fs::create_dir(&db_dir).unwrap();
    let (api, database) = (api.write(&api_dir), database.write(&db_dir));
    let db_csv = scan(&database, &dir.path().join("database.csv")).await;
    let row = db_csv.row(&room);
    assert!(row["reason"].starts_with("active"), "{row:?}");
    assert_eq!(row["inactive_days"], "10");
    assert!(
        db_csv.row(&quiet)["reason"].starts_with("inactive"),
        "{:?}",
        db_csv.row(&quiet)
    );
    scan(&api, &dir.path().join("api.csv")).await;
    let api_text = std::fs::read_to_string(dir.path().join("api.csv")).unwrap();
    let db_text = std::fs::read_to_string(dir.path().join("database.csv")).unwrap();
    for room in [&room, &quiet] {
        assert_eq!(row_text(&db_text, room), row_text(&api_text, room));
    }

    // Alice writes today while the peer is down, and Bob, whose server has
    // not heard of it, writes at the same depth, dating his message 600 days
    // back. His arrives here later, so it is served first.
    let tied = pair.old_room("Written at once").await;
    wait_holds(&pair.peer, &tied, &pair.alice, "long ago").await;
    // Each server down while the other writes, so neither message can name
    // the other as its predecessor; the peer, restarted last, sends Bob's.
    pair.peer.s.stop();
    pair.ours.message(&tied, &pair.alice, "today", None).await;
    pair.ours().stop();
    pair.peer.s.restart();
    let long_ago = pair.days_ago(600);
    pair.peer
        .message(&tied, &pair.bob, "at the same time", long_ago)
        .await;
    pair.ours().restart();
    pair.peer.s.restart();
    wait_holds(&pair.ours, &tied, &pair.bob, "at the same time").await;
    pair.settled(&[&tied]).await;
    for (config, out) in [(&database, "database-t.csv"), (&api, "api-t.csv")] {
        let csv = scan(config, &dir.path().join(out)).await;
        let row = csv.row(&tied);
        assert_eq!(
            row["reason"], "active: last activity 0 days ago",
            "{out}: {row:?}"
        );
    }

    // Alice bans Carol of the peer; the peer, not knowing, takes Carol's
    // next message, and our server soft-fails it: no member's client here
    // shows it, so it is not activity.
    let carol = pair.peer.new_user("carol").await;
    let body = json!({"name": "Banned here", "preset": "public_chat",
        "power_level_content_override": {"users": {&pair.alice: 100}}});
    let banned = pair.peer.create_room(&pair.bob, body).await;
    let peer_name = &pair.peer.s.server_name;
    pair.ours.join_via(&banned, &pair.alice, peer_name).await;
    pair.peer.join(&banned, &carol).await;
    pair.peer
        .message(&banned, &carol, "long ago", long_ago)
        .await;
    wait_holds(&pair.ours, &banned, &carol, "long ago").await;
    // Each server down while the other acts, so the peer cannot hear of the
    // ban before Carol writes; the peer, restarted last, sends her message.
    pair.peer.s.stop();
    pair.ours.ban(&banned, &pair.alice, &carol).await;
    pair.ours().stop();
    pair.peer.s.restart();
    pair.peer
        .message(&banned, &carol, "after the ban", None)
        .await;
    pair.ours().restart();
    pair.peer.s.restart();
    wait_holds(&pair.ours, &banned, &carol, "after the ban").await;
    pair.settled(&[&banned]).await;
    for (config, out) in [(&database, "database-s.csv"), (&api, "api-s.csv")] {
        let csv = scan(config, &dir.path().join(out)).await;
        let row = csv.row(&banned);
        assert_eq!(
            row["reason"], "inactive: no activity for 600 days (limit 365)",
            "{out}: {row:?}"
        );
    }

    // Alice comes back to a room Bob went on talking in, and the peer is
    // gone before anything here reads the room: what Bob wrote cannot be
    // fetched, and Alice's join is what tells of it.
    let unreachable = pair.old_room("Peer gone").await;
    pair.leave(&unreachable).await;
    pair.talk(&unreachable).await;
    pair.rejoin(&unreachable).await;
    pair.settled(&[&unreachable]).await;
    pair.peer.s.stop();
    let unsure = format!(
        "unknown: {} joined 0 days ago, after the newest activity our server holds; the \
         room's other servers may hold newer messages it could not fetch",
        pair.alice
    );
    for (config, out) in [(&database, "database-2.csv"), (&api, "api-2.csv")] {
        let csv = scan(config, &dir.path().join(out)).await;
        let row = csv.row(&unreachable);
        assert_eq!(row["reason"], unsure, "{out}: {row:?}");
        assert_eq!(row["should_delete"], "no");
    }
}
