//! The read-only database path (issue 11): `oldrooms scan` with
//! `[database]` writes the Admin API path's results.csv byte for byte, on
//! Synapse's SQLite or (in the PostgreSQL pass) PostgreSQL database.

use serde_json::json;

use crate::common::Csv;
use crate::matrix::{wait_member_counts, wait_room_details};
use crate::synapse::{Homeserver, unique};
use crate::world::{Config, own_synapse, scan_with};

use oldrooms::timefmt::{MS_PER_DAY as DAY, now_ms};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_path_writes_the_api_paths_csv() {
    // Its own Synapse: rooms other tests make would differ between scans.
    let synapse = own_synapse();
    let hs = Homeserver::on(synapse);
    let names = [unique("alice"), unique("bob"), unique("bridgebot")];
    for name in &names {
        hs.register(name).await;
    }
    let [alice, bob, ghost] = names.map(|n| hs.user_id(&n));
    // Whole days back from one instant, so no day boundary falls between
    // the scans.
    let old = now_ms() - 400 * DAY;
    let named = |name: &str| json!({"name": name, "preset": "private_chat"});

    let active = hs.create_room(&alice, named("Active")).await;
    hs.message(&active, &alice, "hello", None).await;
    let inactive = hs.create_room(&alice, named("Old chat")).await;
    hs.message(&inactive, &alice, "long ago", Some(old)).await;

    // Everyone left: the name comes back from history.
    let abandoned = hs.create_room(&alice, named("Old friends")).await;
    hs.message(&abandoned, &alice, "bye", Some(old)).await;
    hs.leave(&abandoned, &alice).await;

    // A redacted name: its stored JSON still holds it, Synapse serves none.
    let redacted = hs.create_room(&alice, named("First name")).await;
    let renamed = json!({"name": "Secret plans"});
    let name_event = hs
        .state(&redacted, &alice, "m.room.name", "", renamed, Some(old))
        .await;
    hs.redact(&redacted, &alice, &name_event).await;
    hs.message(&redacted, &alice, "bye", Some(old)).await;
    hs.leave(&redacted, &alice).await;

    let direct = json!({"is_direct": true, "invite": [bob], "preset": "trusted_private_chat"});
    let dm = hs.create_room(&alice, direct).await;
    hs.message(&dm, &alice, "old news", Some(old)).await;

    let space = json!({"name": "Old space", "preset": "private_chat",
        "creation_content": {"type": "m.space"}});
    let space = hs.create_room(&alice, space).await;
    hs.message(&space, &alice, "old", Some(old)).await;
    let public = json!({"name": "Old public", "preset": "public_chat", "visibility": "public"});
    let public = hs.create_room(&alice, public).await;
    hs.message(&public, &alice, "old", Some(old)).await;
    let encrypted = json!({"name": "Old encrypted", "preset": "private_chat", "initial_state": [{
        "type": "m.room.encryption", "state_key": "",
        "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]});
    let encrypted = hs.create_room(&alice, encrypted).await;
    hs.message(&encrypted, &alice, "old", Some(old)).await;

    // Joins and leaves today do not count as activity.
    let invited = json!({"name": "Churn", "preset": "private_chat", "invite": [bob]});
    let churn = hs.create_room(&alice, invited).await;
    hs.message(&churn, &alice, "old", Some(old)).await;
    hs.join(&churn, &bob).await;
    hs.leave(&churn, &bob).await;

    // Old, but for a dummy event of the kind Synapse sends on its own to
    // merge forward extremities: nobody wrote it.
    let merged = hs.create_room(&alice, named("Merged")).await;
    hs.message(&merged, &alice, "old", Some(old)).await;
    hs.send(&merged, &alice, "org.matrix.dummy_event", json!({}), None)
        .await;

    // Busy, but only with a bridge bot that policy.ignore_members ignores.
    let haunted = hs.create_room(&ghost, named("Bridged")).await;
    hs.message(&haunted, &ghost, "still here", None).await;

    // The scans read member counts and names from statistics Synapse
    // updates in the background, in the order of the events: wait until
    // they are what the rooms above were made to be, so that every scan
    // below reads the same.
    wait_member_counts(
        &hs,
        &[
            (active.as_str(), 1, 1),
            (inactive.as_str(), 1, 1),
            (abandoned.as_str(), 0, 0),
            (redacted.as_str(), 0, 0),
            (dm.as_str(), 1, 1),
            (space.as_str(), 1, 1),
            (public.as_str(), 1, 1),
            (encrypted.as_str(), 1, 1),
            (churn.as_str(), 1, 1),
            (merged.as_str(), 1, 1),
            (haunted.as_str(), 1, 1),
        ],
    )
    .await;
    // The last state event above: once it is in, so is all before it.
    wait_room_details(&hs, &haunted, "the name Bridged", |d| {
        d["name"] == "Bridged"
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let api = Config::admin(&hs)
        .await
        .policy("keep_direct = true\nignore_members = [\"^@bridgebot\"]");
    let not_synapse = dir.path().join("not-synapse.db");
    std::fs::write(&not_synapse, "this is not a database\n").unwrap();
    let configs = [
        ("api", api.clone()),
        ("database", api.clone().toml(&synapse.database_toml())),
        (
            "elsewhere",
            api.set(
                "database",
                &format!("sqlite = \"{}\"", not_synapse.display()),
            ),
        ),
    ];
    let mut scans = Vec::new();
    for (name, config) in configs {
        std::fs::create_dir(dir.path().join(name)).unwrap();
        let config = config.write(&dir.path().join(name));
        let output = dir.path().join(format!("{name}.csv"));
        let (run, _) = scan_with(&config, &output, &[], &[]).await;
        scans.push((run.stdout, output));
    }
    let [(api_said, api), (db_said, db), (elsewhere_said, elsewhere)] = scans.try_into().unwrap();
    assert!(!api_said.contains("database"), "{api_said}");
    assert!(
        db_said.contains("Read from Synapse's database (read-only)."),
        "{db_said}"
    );
    assert!(
        elsewhere_said.contains("Synapse's database was not used (SQLite: "),
        "{elsewhere_said}"
    );

    let api_text = std::fs::read_to_string(&api).unwrap();
    assert_eq!(std::fs::read_to_string(&db).unwrap(), api_text);
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), api_text);

    // The rooms are what the paths must agree on, not trivially equal.
    let csv = Csv::read(&db);
    assert_eq!(csv.rows.len(), 11, "{api_text}");
    let reason = |room: &str| csv.row(room)["reason"].clone();
    assert!(reason(&active).starts_with("active"));
    assert!(reason(&inactive).starts_with("inactive"));
    assert_eq!(csv.row(&abandoned)["name"], "Old friends");
    assert!(reason(&abandoned).starts_with("abandoned"));
    assert_eq!(csv.row(&redacted)["name"], "");
    assert_eq!(reason(&dm), "protected: direct chat");
    assert!(reason(&churn).starts_with("inactive"));
    assert!(
        reason(&merged).starts_with("inactive"),
        "{}",
        reason(&merged)
    );
    assert!(
        reason(&haunted).contains("ignored by policy.ignore_members"),
        "{}",
        reason(&haunted)
    );
    assert_eq!(csv.row(&space)["room_type"], "m.space");
    assert_eq!(csv.row(&public)["public"], "yes");
    assert_eq!(csv.row(&encrypted)["encryption"], "m.megolm.v1.aes-sha2");
}
