//! The scenario of issue 2: one room for every verdict, scanned by
//! `oldrooms scan` as an admin would run it, checked row by row.

use serde_json::json;

use crate::common::HEADER;
use crate::synapse::{Homeserver, unique};
use crate::world::{Config, scan_with};

use oldrooms::timefmt::{MS_PER_DAY as DAY, now_ms};

fn rfc3339(ms: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

struct Expect {
    room: String,
    what: &'static str,
    delete: bool,
    reason: &'static str,
    /// Backdated activity we know to the millisecond.
    at: Option<i64>,
    days: Option<i64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_gives_every_verdict() {
    let hs = Homeserver::new();
    let alice_lp = unique("alice");
    let bob_lp = unique("bob");
    hs.register(&alice_lp).await;
    hs.register(&bob_lp).await;
    let alice = hs.user_id(&alice_lp);
    let bob = hs.user_id(&bob_lp);
    let now = now_ms();
    let old = now - 400 * DAY;
    let mut expect = Vec::new();
    let mut add = |room: String, what, delete, reason, at: Option<i64>| {
        let days = at.map(|t| (now - t) / DAY);
        expect.push(Expect {
            room,
            what,
            delete,
            reason,
            at,
            days,
        });
    };
    let private = |name: &str| json!({"name": name, "preset": "private_chat"});

    let room = hs.create_room(&alice, private("Active chat")).await;
    hs.message(&room, &alice, "hello", None).await;
    add(room, "active", false, "active", None);

    let room = hs.create_room(&alice, private("Old chat")).await;
    hs.message(&room, &alice, "long ago", Some(old)).await;
    add(room, "inactive", true, "inactive", Some(old));

    let below = now - 364 * DAY;
    let room = hs.create_room(&alice, private("Almost old")).await;
    hs.message(&room, &alice, "364 days ago", Some(below)).await;
    add(room, "below the day line", false, "active", Some(below));

    // Everyone left: Synapse drops the name, which must come back from history.
    let room = hs
        .create_room(&alice, private("Abandoned Ünïcödé ✨"))
        .await;
    hs.message(&room, &alice, "bye", Some(old)).await;
    hs.leave(&room, &alice).await;
    add(room, "abandoned", true, "abandoned", Some(old));

    let space = json!({"name": "Old space", "preset": "private_chat",
        "creation_content": {"type": "m.space"}});
    let room = hs.create_room(&alice, space).await;
    hs.message(&room, &alice, "old", Some(old)).await;
    add(room, "space", false, "protected: space", Some(old));

    let public = json!({"name": "Old public", "preset": "public_chat", "visibility": "public"});
    let room = hs.create_room(&alice, public).await;
    hs.message(&room, &alice, "old", Some(old)).await;
    add(
        room,
        "public",
        false,
        "protected: published in the room directory",
        Some(old),
    );

    let keep_alias = unique("keepme");
    let body =
        json!({"name": "Kept by alias", "preset": "private_chat", "room_alias_name": keep_alias});
    let room = hs.create_room(&alice, body).await;
    hs.message(&room, &alice, "old", Some(old)).await;
    add(
        room,
        "protected by alias",
        false,
        "protected: listed in policy.protected_rooms",
        Some(old),
    );

    let admin_alias = unique("admins");
    let body =
        json!({"name": "Admin room", "preset": "private_chat", "room_alias_name": admin_alias});
    let room = hs.create_room(&alice, body).await;
    hs.message(&room, &alice, "old", Some(old)).await;
    add(
        room,
        "admin room",
        false,
        "protected: admin room",
        Some(old),
    );

    // Joins and leaves today do not make an old room active.
    let churn = json!({"name": "Churn", "preset": "private_chat", "invite": [bob]});
    let room = hs.create_room(&alice, churn).await;
    hs.message(&room, &alice, "old", Some(old)).await;
    hs.join(&room, &bob).await;
    hs.leave(&room, &bob).await;
    let member = json!({"membership": "join", "displayname": "Alice, renamed"});
    hs.state(&room, &alice, "m.room.member", &alice, member, None)
        .await;
    add(room, "membership churn", true, "inactive", Some(old));

    let encrypted = |name: &str| {
        json!({"name": name, "preset": "private_chat", "initial_state": [{
            "type": "m.room.encryption", "state_key": "",
            "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]})
    };
    let ciphertext = json!({"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEnAcV2",
        "sender_key": "abc", "session_id": "def", "device_id": "DEV"});
    let room = hs.create_room(&alice, encrypted("Old encrypted")).await;
    hs.send(
        &room,
        &alice,
        "m.room.encrypted",
        ciphertext.clone(),
        Some(old),
    )
    .await;
    add(room, "old encrypted", true, "inactive", Some(old));
    let room = hs.create_room(&alice, encrypted("Busy encrypted")).await;
    hs.send(
        &room,
        &alice,
        "m.room.encrypted",
        ciphertext.clone(),
        Some(old),
    )
    .await;
    hs.send(&room, &alice, "m.room.encrypted", ciphertext, None)
        .await;
    add(room, "recent encrypted", false, "active", None);

    // Excluded by the config's pattern, and by the command's option.
    let room = hs.create_room(&alice, private("Team ARCHIVE")).await;
    hs.message(&room, &alice, "long ago", Some(old)).await;
    add(
        room,
        "excluded by policy.exclude",
        false,
        "protected: matches the exclude pattern (?i)archive",
        Some(old),
    );
    let room = hs.create_room(&alice, private("Kept by option")).await;
    hs.message(&room, &alice, "long ago", Some(old)).await;
    add(
        room,
        "excluded by --exclude",
        false,
        "protected: matches the exclude pattern ^Kept by",
        Some(old),
    );

    let hostile = [
        "=HYPERLINK(\"http://evil.example\",\"click\")",
        "+1+2",
        "-cmd|' /C calc'!A0",
        "@SUM(1,2)",
        "comma, \"quotes\"\nand a newline",
        "\u{202E}gnp.exe \u{1F600} 日本語",
    ];
    let mut hostile_rooms = Vec::new();
    for name in hostile {
        let room = hs.create_room(&alice, private(name)).await;
        hs.message(&room, &alice, "hi", Some(old)).await;
        hostile_rooms.push((room.clone(), name));
        add(room, "hostile name", true, "inactive", Some(old));
    }

    let dir = tempfile::tempdir().unwrap();
    let sn = &hs.s.server_name;
    let config = Config::admin(&hs)
        .await
        .bot(&format!("admin_room = \"#{admin_alias}:{sn}\""))
        .policy(&format!(
            "protected_rooms = [\"#{keep_alias}:{sn}\"]\nexclude = [\"(?i)archive\"]"
        ))
        .write(dir.path());
    let output = dir.path().join("results.csv");
    let (run, csv) = scan_with(&config, &output, &["--exclude", "^Kept by"], &[]).await;
    assert!(run.stdout.contains("Scanned "), "{}", run.stdout);
    assert!(
        !run.stderr.contains(&hs.admin_token().await),
        "token in stderr"
    );

    let text = std::fs::read_to_string(&output).unwrap();
    assert!(text.starts_with(&format!("{HEADER}\n")), "{text}");
    assert!(!text.contains(&hs.admin_token().await), "token in the CSV");
    for e in &expect {
        let row = csv.row(&e.room);
        let what = e.what;
        assert_eq!(
            row["should_delete"],
            if e.delete { "yes" } else { "no" },
            "{what}: {row:?}"
        );
        assert!(row["reason"].starts_with(e.reason), "{what}: {row:?}");
        if let Some(at) = e.at {
            assert_eq!(row["last_activity"], rfc3339(at), "{what}");
            assert_eq!(row["inactive_days"], e.days.unwrap().to_string(), "{what}");
        } else {
            assert_eq!(row["inactive_days"], "0", "{what}: {row:?}");
        }
    }

    let abandoned = csv.row(&expect[3].room);
    assert_eq!(
        abandoned["name"], "Abandoned Ünïcödé ✨",
        "name recovered from history"
    );
    assert_eq!(
        (
            abandoned["joined_local_members"].as_str(),
            abandoned["joined_members"].as_str()
        ),
        ("0", "0")
    );
    let space = csv.row(&expect[4].room);
    assert_eq!(space["room_type"], "m.space");
    assert_eq!(csv.row(&expect[5].room)["public"], "yes");
    assert_eq!(
        csv.row(&expect[9].room)["encryption"],
        "m.megolm.v1.aes-sha2"
    );
    assert_eq!(csv.row(&expect[0].room)["creator"], format!("'{alice}"));
    for (room, name) in hostile_rooms {
        let cell = &csv.row(&room)["name"];
        if name.starts_with(['=', '+', '-', '@']) {
            assert_eq!(*cell, format!("'{name}"));
        } else {
            assert_eq!(cell, name);
        }
    }
    // Room v12 ids carry no server name, and are written as Synapse gives them.
    assert!(
        expect.iter().all(|e| !e.room.contains(':')),
        "expected v12 room ids"
    );

    // Candidates first, oldest activity first.
    let flags: Vec<bool> = csv
        .rows
        .iter()
        .map(|r| r["should_delete"] == "yes")
        .collect();
    assert!(flags.windows(2).all(|w| w[0] >= w[1]), "candidates first");
    let candidate_times: Vec<&str> = csv
        .rows
        .iter()
        .filter(|r| r["should_delete"] == "yes")
        .map(|r| r["last_activity"].as_str())
        .collect();
    assert!(
        candidate_times.windows(2).all(|w| w[0] <= w[1]),
        "oldest first: {candidate_times:?}"
    );
}
