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
