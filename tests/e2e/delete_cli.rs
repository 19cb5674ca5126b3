//! `oldrooms delete --from results.csv` against a real Synapse: the edited
//! CSV decides, every room is re-checked, the report says what happened.

use std::collections::HashMap;

use serde_json::json;

use crate::common::{Csv, oldrooms, oldrooms_with_input};
use crate::synapse::{Homeserver, unique};
use crate::world::{Config, deletions_of, exists, own_synapse, scan};

use oldrooms::timefmt::{MS_PER_DAY as DAY, now_ms};

/// Rewrites results.csv as an admin would: `yes` only for `keep_yes`.
fn edit_csv(path: &std::path::Path, keep_yes: &[&str], force_yes: &[&str]) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().clone();
    let col = header.iter().position(|h| h == "should_delete").unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let mut writer = csv::Writer::from_path(path).unwrap();
    writer.write_record(&header).unwrap();
    for row in rows {
        let id = &row[0];
        let mut fields: Vec<String> = row.iter().map(str::to_owned).collect();
        let yes = force_yes.contains(&id) || (keep_yes.contains(&id) && fields[col] == "yes");
        fields[col] = if yes { "yes" } else { "no" }.to_owned();
        writer.write_record(&fields).unwrap();
    }
    writer.flush().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_from_an_edited_csv() {
    // Its own Synapse: its purges would race the scans of tests on the
    // shared one (a room listed, then gone before it is read).
    let hs = Homeserver::on(own_synapse());
    let alice = hs.new_user("alice").await;
    let old = now_ms() - 400 * DAY;
    let mut rooms = HashMap::new();
    for name in [
        "old",
        "touched",
        "unconfirmed",
        "gone",
        "protected",
        "admin",
        "abandoned",
        "active",
    ] {
        let mut body = json!({"name": format!("cli delete: {name}"), "preset": "private_chat"});
        if name == "protected" || name == "admin" {
            body["room_alias_name"] = json!(unique(name));
        }
        let room = hs.create_room(&alice, body.clone()).await;
        let at = (name != "active").then_some(old);
        hs.message(&room, &alice, "hello", at).await;
        if name == "abandoned" {
            hs.leave(&room, &alice).await;
        }
        rooms.insert(name, (room, body));
    }
    let alias = |name: &str| {
        format!(
            "#{}:{}",
            rooms[name].1["room_alias_name"].as_str().unwrap(),
            hs.s.server_name
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let bot = format!(
        "admin_room = \"{}\"\ndata_dir = \"{}\"",
        alias("admin"),
        dir.path().join("data").display(),
    );
    let config_path = Config::admin(&hs)
        .await
        .bot(&bot)
        .policy(&format!("protected_rooms = [\"{}\"]", alias("protected")))
        .delete("poll_interval_ms = 200")
        .write(dir.path());
    let config = config_path.to_str().unwrap().to_owned();
    let results = dir.path().join("results.csv");
    let results_arg = results.to_str().unwrap().to_owned();
    scan(&config_path, &results).await;
    let id = |name: &str| rooms[name].0.clone();

    // The admin keeps "unconfirmed" and forces "protected" and "admin" to yes;
    // only this test's rooms are touched on the shared server.
    let ours = ["old", "touched", "gone", "abandoned"].map(id);
    let ours: Vec<&str> = ours.iter().map(String::as_str).collect();
    let forced = [id("protected"), id("admin")];
    let forced: Vec<&str> = forced.iter().map(String::as_str).collect();
    edit_csv(&results, &ours, &forced);
    // After the scan: a new message in one room, another room deleted by hand.
    hs.message(&id("touched"), &alice, "I'm back", None).await;
    let token = hs.admin_token().await;
    let url = hs.url(&["_synapse", "admin", "v1", "rooms", &id("gone")], &[]);
    let resp = reqwest::Client::new()
        .delete(url)
        .bearer_auth(token)
        .json(&json!({"purge": true}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());

    // A dry run re-checks the same rooms against the server and deletes none.
    let dry = dir.path().join("dry-run.csv");
    let dry_arg = dry.to_str().unwrap().to_owned();
    let run = oldrooms(
        &[
            "delete",
            "--config",
            &config,
            "--from",
            &results_arg,
            "--dry-run",
            "--report",
            &dry_arg,
        ],
        &[],
    )
    .await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert!(
        run.stdout.contains("Nothing was deleted."),
        "{}",
        run.stdout
    );
    let csv = Csv::read(&dry);
    assert_eq!(csv.rows.len(), 6);
    for name in ["old", "abandoned"] {
        assert_eq!(csv.row(&id(name))["outcome"], "would-delete", "{name}");
    }
    for (name, why) in [
        ("touched", "new activity since the scan"),
        ("gone", "already gone"),
        ("protected", "protected"),
        ("admin", "protected: admin room"),
    ] {
        let row = csv.row(&id(name));
        assert_eq!(row["outcome"], "skipped", "{name}");
        assert!(row["detail"].starts_with(why), "{name}: {row:?}");
    }
    for name in ["old", "abandoned", "protected", "admin", "touched"] {
        assert!(exists(&hs, &id(name)).await, "the dry run deleted {name}");
    }

    // The wrong number deletes nothing.
    let report = dir.path().join("deletion-report.csv");
    let report_arg = report.to_str().unwrap().to_owned();
    let args = [
        "delete",
        "--config",
        &config,
        "--from",
        &results_arg,
        "--report",
        &report_arg,
    ];
    let run = oldrooms_with_input(&args, &[], "5\n").await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert!(
        run.stdout.contains("6 rooms are marked should_delete=yes"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Nothing was deleted."),
        "{}",
        run.stdout
    );
    assert!(exists(&hs, &id("old")).await);

    let run = oldrooms_with_input(&args, &[], "6\n").await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    let report_text = std::fs::read_to_string(&report).unwrap_or_default();
    assert!(
        run.stdout
            .contains("Deletion finished: 2 deleted, 4 skipped, 0 failed, of 6."),
        "{}\n{report_text}",
        run.stdout
    );

    for (name, present) in [
        ("old", false),
        ("abandoned", false),
        ("gone", false),
        ("touched", true),
        ("unconfirmed", true),
        ("protected", true),
        ("admin", true),
        ("active", true),
    ] {
        assert_eq!(exists(&hs, &id(name)).await, present, "{name}");
    }
    assert_eq!(deletions_of(&hs, &id("old")).await, 1);
    assert_eq!(deletions_of(&hs, &id("abandoned")).await, 1);

    let report = Csv::read(&report);
    assert_eq!(report.header, ["room_id", "name", "outcome", "detail"]);
    assert_eq!(report.rows.len(), 6);
    let outcome = |name: &str| {
        let row = report.row(&id(name));
        (row["outcome"].clone(), row["detail"].clone())
    };
    assert_eq!(outcome("old").0, "deleted");
    assert_eq!(outcome("abandoned").0, "deleted");
    assert_eq!(report.row(&id("old"))["name"], "cli delete: old");
    let (o, d) = outcome("touched");
    assert_eq!(o, "skipped");
    assert!(d.starts_with("new activity since the scan"), "{d}");
    let (o, d) = outcome("gone");
    assert_eq!(
        (o.as_str(), d.starts_with("already gone")),
        ("skipped", true),
        "{d}"
    );
    assert_eq!(
        outcome("protected"),
        (
            "skipped".into(),
            "protected: listed in policy.protected_rooms".into()
        )
    );
    assert_eq!(
        outcome("admin"),
        ("skipped".into(), "protected: admin room".into())
    );
    assert!(
        report
            .rows
            .iter()
            .all(|r| r["room_id"] != id("unconfirmed"))
    );
}

#[tokio::test]
async fn a_file_that_is_not_a_results_csv_is_refused_before_anything() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("results.csv");
    std::fs::write(
        &file,
        format!("{}\n!a,A,,,,1,0,no,,,,perhaps,x\n", crate::common::HEADER),
    )
    .unwrap();
    let config = Config::new("http://127.0.0.1:9", "@a:b.c")
        .access_token("t")
        .write(dir.path());
    let run = oldrooms(
        &[
            "delete",
            "--config",
            config.to_str().unwrap(),
            "--from",
            file.to_str().unwrap(),
            "--yes",
        ],
        &[],
    )
    .await;
    assert_eq!(run.code(), Some(2), "{run:?}");
    assert!(
        run.stderr
            .contains("line 2: should_delete must be yes or no"),
        "{}",
        run.stderr
    );
}

/// GET on the Admin API with a query.
async fn admin_query(
    hs: &Homeserver,
    segments: &[&str],
    query: &[(&str, &str)],
) -> serde_json::Value {
    let token = hs.admin_token().await;
    let resp = reqwest::Client::new()
        .get(hs.url(segments, query))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "{segments:?}: {}",
        resp.status()
    );
    resp.json().await.unwrap()
}

/// `oldrooms delete --from results --yes --report report`, which must
/// succeed; the report.
async fn delete_yes(
    config: &std::path::Path,
    results: &std::path::Path,
    report: &std::path::Path,
) -> Csv {
    let run = oldrooms(
        &[
            "delete",
            "--config",
            config.to_str().unwrap(),
            "--from",
            results.to_str().unwrap(),
            "--yes",
            "--report",
            report.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    Csv::read(report)
}

/// How many rooms on the server are called `name`.
async fn rooms_named(hs: &Homeserver, name: &str) -> usize {
    let listed = admin_query(
        hs,
        &["_synapse", "admin", "v1", "rooms"],
        &[("limit", "500")],
    )
    .await;
    let rooms = listed["rooms"].as_array().unwrap();
    rooms.iter().filter(|r| r["name"] == name).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_room_takes_in_the_people_still_in_a_deleted_room() {
    const MESSAGE: &str =
        "This room was deleted after a year without messages. Ask @admin for help.";
    const NAME: &str = "About your old room";
    let hs = Homeserver::on(own_synapse());
    let alice = hs.new_user("alice").await;
    let bob = hs.new_user("bob").await;
    let old = now_ms() - 400 * DAY;
    let alias = unique("peopled");
    let body =
        json!({"name": "notice: peopled", "preset": "public_chat", "room_alias_name": alias});
    let peopled = hs.create_room(&alice, body).await;
    hs.join(&peopled, &bob).await;
    hs.message(&peopled, &alice, "hello", Some(old)).await;
    let body = json!({"name": "notice: abandoned", "preset": "private_chat"});
    let abandoned = hs.create_room(&alice, body).await;
    hs.message(&abandoned, &alice, "bye", Some(old)).await;
    hs.leave(&abandoned, &alice).await;
    // Only the account oldrooms runs as (which would make the notice room).
    let admin = hs.s.admin_user.as_str();
    let body = json!({"name": "notice: only oldrooms", "preset": "private_chat"});
    let ours = hs.create_room(admin, body).await;
    hs.message(&ours, admin, "a note to self", Some(old)).await;

    let dir = tempfile::tempdir().unwrap();
    let data = format!("data_dir = \"{}\"", dir.path().join("data").display());
    let notice = format!(
        "poll_interval_ms = 200\nnotice_message = \"{MESSAGE}\"\nnotice_room_name = \"{NAME}\""
    );
    let config = Config::admin(&hs)
        .await
        .bot(&data)
        .delete(&notice)
        .write(dir.path());
    let results = dir.path().join("results.csv");
    scan(&config, &results).await;
    edit_csv(&results, &[&peopled, &abandoned, &ours], &[]);
    let report = dir.path().join("report.csv");
    let csv = delete_yes(&config, &results, &report).await;
    for (room, what) in [(&abandoned, "nobody"), (&ours, "oldrooms alone")] {
        assert_eq!(csv.row(room)["outcome"], "deleted", "{what}");
        assert_eq!(csv.row(room)["detail"], "", "no notice room for {what}");
    }
    assert_eq!(csv.row(&peopled)["outcome"], "deleted");
    let detail = &csv.row(&peopled)["detail"];
    let prefix = "deleted; its joined local members moved to the notice room ";
    assert!(detail.starts_with(prefix), "{detail}");
    let (notice_room, removed) = detail[prefix.len()..].split_once(' ').unwrap();
    assert_eq!(removed, "(2 local users removed)");
    let notice_room = notice_room.to_owned();
    for room in [&peopled, &abandoned, &ours] {
        assert!(!exists(&hs, room).await, "{room} is still there");
    }

    // What alice and bob find: a room of that name, made by the account
    // oldrooms runs as, with the message, and the old room's alias.
    let details = hs
        .admin_get(&["_synapse", "admin", "v1", "rooms", &notice_room])
        .await;
    assert_eq!(details["name"], NAME);
    assert_eq!(details["creator"], hs.s.admin_user.as_str());
    let members = hs
        .admin_get(&["_synapse", "admin", "v1", "rooms", &notice_room, "members"])
        .await;
    let members: Vec<&str> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    for user in [&alice, &bob] {
        assert!(
            members.contains(&user.as_str()),
            "{user} not in {members:?}"
        );
    }
    let messages = admin_query(
        &hs,
        &["_synapse", "admin", "v1", "rooms", &notice_room, "messages"],
        &[("dir", "b"), ("limit", "50")],
    )
    .await;
    let said: Vec<&serde_json::Value> = messages["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .collect();
    assert_eq!(said.len(), 1, "{messages}");
    assert_eq!(said[0]["content"]["body"], MESSAGE);
    assert_eq!(said[0]["sender"], hs.s.admin_user.as_str());
    let full_alias = format!("#{alias}:{}", hs.s.server_name);
    let resolved = hs
        .admin_get(&["_matrix", "client", "v3", "directory", "room", &full_alias])
        .await;
    assert_eq!(resolved["room_id"], notice_room.as_str(), "the alias moved");

    // One notice room in all: none for the other two.
    assert_eq!(rooms_named(&hs, NAME).await, 1);

    // Deleting that notice room in turn makes no new one: its people would
    // be moved on at every deletion, for ever.
    scan(&config, &results).await;
    edit_csv(&results, &[], &[&notice_room]);
    let csv = delete_yes(&config, &results, &report).await;
    assert_eq!(csv.row(&notice_room)["outcome"], "deleted");
    assert_eq!(
        csv.row(&notice_room)["detail"],
        "",
        "a notice room for a notice room"
    );
    assert_eq!(rooms_named(&hs, NAME).await, 0);
}
