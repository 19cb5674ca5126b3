//! The re-check before each deletion believes only what it read from the
//! server: not an edited file's cells, not a sender's clock, and it applies
//! the exclusions to a left room's name recovered from history, as the scan
//! does. `oldrooms scan`, an edited results.csv, `oldrooms delete --from`.

use std::path::Path;

use serde_json::json;

use crate::common::{Csv, Run, oldrooms};
use crate::synapse::{Homeserver, unique};
use crate::world::{Config, exists, own_synapse, scan, scan_with};

use oldrooms::timefmt::{MS_PER_DAY as DAY, now_ms};

/// Rewrites results.csv: `yes` for `chosen` only, and the given cells of
/// some rows changed as a spreadsheet (or a careless edit) would.
fn edit(path: &std::path::Path, chosen: &[&str], cells: &[(&str, &str, &str)]) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let mut writer = csv::Writer::from_path(path).unwrap();
    writer.write_record(&header).unwrap();
    for row in rows {
        let mut fields: Vec<String> = row.iter().map(str::to_owned).collect();
        let id = fields[0].clone();
        let yes = chosen.contains(&id.as_str());
        fields[col("should_delete")] = if yes { "yes" } else { "no" }.to_owned();
        for (room, name, value) in cells {
            if *room == id {
                fields[col(name)] = (*value).to_owned();
            }
        }
        writer.write_record(&fields).unwrap();
    }
    writer.flush().unwrap();
}

/// `oldrooms delete --config CONFIG --from FILE --report REPORT` and `more`.
async fn delete(config: &Path, from: &Path, report: &Path, more: &[&str]) -> Run {
    let mut args = vec![
        "delete",
        "--config",
        config.to_str().unwrap(),
        "--from",
        from.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ];
    args.extend_from_slice(more);
    let run = oldrooms(&args, &[]).await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    run
}

/// The admin's config for the command line on `hs`, data in `dir/data`.
async fn cli_config(hs: &Homeserver, dir: &Path, policy: &str) -> std::path::PathBuf {
    let data = format!("data_dir = \"{}\"", dir.join("data").display());
    Config::admin(hs)
        .await
        .bot(&data)
        .policy(policy)
        .delete("poll_interval_ms = 200")
        .write(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recheck_believes_the_server_not_the_file_nor_a_senders_clock() {
    // Its own Synapse: the deletion must not race other tests' scans of
    // the shared one.
    let hs = Homeserver::on(own_synapse());
    let names = [unique("alice"), unique("ghost")];
    for name in &names {
        hs.register(name).await;
    }
    let [alice, ghost] = names.map(|n| hs.user_id(&n));
    let old = now_ms() - 400 * DAY;
    let named = |name: &str| json!({"name": name, "preset": "private_chat"});

    let plain = hs.create_room(&alice, named("recheck: plain")).await;
    hs.message(&plain, &alice, "long ago", Some(old)).await;
    let future = hs.create_room(&alice, named("recheck: future cell")).await;
    hs.message(&future, &alice, "long ago", Some(old)).await;
    let backdated = hs.create_room(&alice, named("recheck: backdated")).await;
    hs.message(&backdated, &alice, "long ago", Some(old)).await;
    // Only a bridge's ghost in it: abandoned, whatever its activity.
    let haunted = json!({"name": "recheck: haunted", "preset": "private_chat",
        "invite": [alice]});
    let haunted = hs.create_room(&ghost, haunted).await;
    hs.message(&haunted, &ghost, "still here", None).await;
    // Everyone left: the name that the exclusion matches is only in history.
    let archive = hs.create_room(&alice, named("Archive 2019")).await;
    hs.message(&archive, &alice, "bye", Some(old)).await;
    hs.leave(&archive, &alice).await;
    // The same with an alias and no name.
    let aliased = json!({"preset": "private_chat", "room_alias_name": unique("archived-")});
    let aliased = hs.create_room(&alice, aliased).await;
    hs.message(&aliased, &alice, "bye", Some(old)).await;
    hs.leave(&aliased, &alice).await;

    let dir = tempfile::tempdir().unwrap();
    let policy = "exclude = [\"^Archive\", \"^#archived-\"]\nignore_members = [\"^@ghost\"]";
    let config = cli_config(&hs, dir.path(), policy).await;
    let results = dir.path().join("results.csv");
    let csv = scan(&config, &results).await;
    assert!(
        csv.row(&haunted)["reason"].starts_with("abandoned"),
        "{:?}",
        csv.row(&haunted)
    );
    assert_eq!(
        csv.row(&archive)["reason"],
        "protected: matches the exclude pattern ^Archive"
    );
    assert_eq!(
        csv.row(&aliased)["reason"],
        "protected: matches the exclude pattern ^#archived-"
    );

    // The admin chooses five rooms; a spreadsheet moved one date into the
    // future, and an edit turned the ghost room's reason and count.
    let chosen = [&plain, &future, &backdated, &haunted, &archive, &aliased].map(String::as_str);
    edit(
        &results,
        &chosen,
        &[
            (&future, "last_activity", "2099-01-01T00:00:00Z"),
            (&haunted, "reason", "inactive: edited"),
            (&haunted, "joined_local_members", "1"),
        ],
    );
    // After the scan: a message today; one stamped long before the scan's
    // newest (a remote server or a bridge chooses that time); a person
    // joins the ghost's room.
    hs.message(&future, &alice, "I'm back", None).await;
    hs.message(&backdated, &alice, "from a bridge", Some(old - 100 * DAY))
        .await;
    hs.join(&haunted, &alice).await;

    let report = dir.path().join("deletion-report.csv");
    let run = delete(&config, &results, &report, &["--yes"]).await;
    assert!(
        run.stdout.contains(
            "2 rows' last_activity, joined_local_members or reason cells differ from what the \
             scan recorded"
        ),
        "{}",
        run.stdout
    );
    let report = Csv::read(&report);
    let outcome = |room: &str| {
        let row = report.row(room);
        (row["outcome"].clone(), row["detail"].clone())
    };
    assert_eq!(outcome(&plain), ("deleted".into(), String::new()));
    for room in [&future, &backdated] {
        let (o, d) = outcome(room);
        assert_eq!(o, "skipped", "{room}: {d}");
        assert!(d.starts_with("new activity since the scan"), "{room}: {d}");
    }
    let (o, d) = outcome(&haunted);
    assert_eq!(o, "skipped", "{d}");
    assert!(d.starts_with("1 local member(s) in it now"), "{d}");
    assert_eq!(
        outcome(&archive),
        (
            "skipped".into(),
            "protected: matches the exclude pattern ^Archive".into()
        )
    );
    assert_eq!(
        outcome(&aliased),
        (
            "skipped".into(),
            "protected: matches the exclude pattern ^#archived-".into()
        )
    );
    assert!(!exists(&hs, &plain).await, "plain was not deleted");
    for room in [&future, &backdated, &haunted, &archive, &aliased] {
        assert!(exists(&hs, room).await, "{room} was deleted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protected_room_stays_protected_when_its_alias_moves_or_vanishes() {
    let hs = Homeserver::on(own_synapse());
    let alice = hs.new_user("alice").await;
    let old = now_ms() - 400 * DAY;
    let local = unique("keep");
    let alias = format!("#{local}:{}", hs.s.server_name);
    let body = json!({"name": "pinned: protected", "preset": "private_chat",
        "room_alias_name": local});
    let kept = hs.create_room(&alice, body).await;
    hs.message(&kept, &alice, "long ago", Some(old)).await;
    let other = hs
        .create_room(&alice, json!({"name": "pinned: other"}))
        .await;
    hs.message(&other, &alice, "long ago", Some(old)).await;

    let dir = tempfile::tempdir().unwrap();
    let policy = format!("protected_rooms = [\"{alias}\"]");
    let config = cli_config(&hs, dir.path(), &policy).await;
    let results = dir.path().join("results.csv");
    let scan = || scan_with(&config, &results, &[], &[]);
    const LISTED: &str = "protected: listed in policy.protected_rooms";
    let (_, csv) = scan().await;
    assert_eq!(csv.row(&kept)["reason"], LISTED);
    assert_eq!(csv.row(&other)["should_delete"], "yes");

    // A room moderator points the alias at another room.
    hs.move_alias(&alias, &alice, Some(&other)).await;
    let (run, csv) = scan().await;
    assert_eq!(csv.row(&kept)["reason"], LISTED, "the pinned room");
    assert_eq!(csv.row(&other)["reason"], LISTED, "the alias's new room");
    assert!(
        run.stderr
            .contains(&format!("now points to {other}, no longer to {kept}")),
        "{}",
        run.stderr
    );
    // Then deletes it: the scan does not fail, both stay protected.
    hs.move_alias(&alias, &alice, None).await;
    let (run, csv) = scan().await;
    assert_eq!(csv.row(&kept)["reason"], LISTED);
    assert_eq!(csv.row(&other)["reason"], LISTED);
    assert!(
        run.stderr.contains("no longer resolves to a room"),
        "{}",
        run.stderr
    );

    // A file that chooses both deletes neither.
    edit(&results, &[&kept, &other], &[]);
    let report = dir.path().join("deletion-report.csv");
    delete(&config, &results, &report, &["--yes"]).await;
    let report = Csv::read(&report);
    for room in [&kept, &other] {
        assert_eq!(report.row(room)["outcome"], "skipped", "{room}");
        assert!(exists(&hs, room).await, "{room} was deleted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deletion_rechecks_with_the_options_the_scan_ran_with() {
    let hs = Homeserver::on(own_synapse());
    let alice = hs.new_user("alice").await;
    let old = now_ms() - 400 * DAY;
    let public = json!({"name": "options: public", "preset": "public_chat",
        "visibility": "public"});
    let public = hs.create_room(&alice, public).await;
    hs.message(&public, &alice, "long ago", Some(old)).await;

    let dir = tempfile::tempdir().unwrap();
    let config = cli_config(&hs, dir.path(), "").await;
    let results = dir.path().join("results.csv");
    let (_, csv) = scan_with(&config, &results, &["--include-public"], &[]).await;
    assert_eq!(csv.row(&public)["should_delete"], "yes");
    edit(&results, &[&public], &[]);

    let report = dir.path().join("deletion-report.csv");
    // Without the scan's option the re-check applies the config's rules:
    // the prompt names the public room, and what would include it, before
    // anyone confirms (nothing typed: nothing deleted).
    let run = delete(&config, &results, &report, &[]).await;
    assert!(
        run.stdout.contains(&format!(
            "1 of these rooms will be kept by the re-check under the rules that apply:\n  \
             options: public ({public}): protected: published in the room directory \
             (--include-public or policy.include_public would include it)"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Nothing was deleted."),
        "{}",
        run.stdout
    );
    assert!(exists(&hs, &public).await);
    // With it, the re-check applies what the scan applied.
    let run = delete(&config, &results, &report, &["--include-public", "--yes"]).await;
    assert!(!run.stdout.contains("will be kept"), "{}", run.stdout);
    let report = Csv::read(&report);
    assert_eq!(
        report.row(&public)["outcome"],
        "deleted",
        "{:?}",
        report.row(&public)
    );
    assert!(
        !exists(&hs, &public).await,
        "the public room is still there"
    );
}
