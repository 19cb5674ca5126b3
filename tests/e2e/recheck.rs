//! The re-check before each deletion believes only what it read from the
//! server: not an edited file's cells, not a sender's clock, and it applies
//! the exclusions to a left room's name recovered from history, as the scan
//! does. `oldrooms scan`, an edited results.csv, `oldrooms delete --from`.

use serde_json::json;

use crate::common::{Csv, config_text, oldrooms, write_config};
use crate::synapse::{Homeserver, Synapse, unique};
use crate::world::exists;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recheck_believes_the_server_not_the_file_nor_a_senders_clock() {
    // Its own Synapse: the deletion must not race other tests' scans of
    // the shared one.
    let synapse: &'static Synapse = Box::leak(Box::new(Synapse::start()));
    let hs = Homeserver::on(synapse);
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
    let extra = format!(
        "[bot]\ndata_dir = \"{}\"\n[policy]\nexclude = [\"^Archive\", \"^#archived-\"]\n\
         ignore_members = [\"^@ghost\"]\n[delete]\npoll_interval_ms = 200\n",
        dir.path().join("data").display(),
    );
    let secret = format!("access_token = \"{}\"", hs.admin_token().await);
    let config = write_config(
        dir.path(),
        &config_text(&hs.s.url, &hs.s.admin_user, &secret, &extra),
    );
    let config = config.to_str().unwrap().to_owned();
    let results = dir.path().join("results.csv");
    let results_arg = results.to_str().unwrap().to_owned();
    let run = oldrooms(
        &["scan", "--config", &config, "--output", &results_arg],
        &[],
    )
    .await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    let csv = Csv::read(&results);
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
    let report_arg = report.to_str().unwrap().to_owned();
    let run = oldrooms(
        &[
            "delete",
            "--config",
            &config,
            "--from",
            &results_arg,
            "--report",
            &report_arg,
            "--yes",
        ],
        &[],
    )
    .await;
    assert_eq!(run.code(), Some(0), "{run:?}");
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
    let synapse: &'static Synapse = Box::leak(Box::new(Synapse::start()));
    let hs = Homeserver::on(synapse);
    let alice = unique("alice");
    hs.register(&alice).await;
    let alice = hs.user_id(&alice);
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
    let extra = format!(
        "[bot]\ndata_dir = \"{}\"\n[policy]\nprotected_rooms = [\"{alias}\"]\n\
         [delete]\npoll_interval_ms = 200\n",
        dir.path().join("data").display(),
    );
    let secret = format!("access_token = \"{}\"", hs.admin_token().await);
    let config = write_config(
        dir.path(),
        &config_text(&hs.s.url, &hs.s.admin_user, &secret, &extra),
    );
    let config = config.to_str().unwrap().to_owned();
    let results = dir.path().join("results.csv");
    let results_arg = results.to_str().unwrap().to_owned();
    let scan = || async {
        let run = oldrooms(
            &["scan", "--config", &config, "--output", &results_arg],
            &[],
        )
        .await;
        assert_eq!(run.code(), Some(0), "{run:?}");
        (Csv::read(&results), run)
    };
    const LISTED: &str = "protected: listed in policy.protected_rooms";
    let (csv, _) = scan().await;
    assert_eq!(csv.row(&kept)["reason"], LISTED);
    assert_eq!(csv.row(&other)["should_delete"], "yes");

    // A room moderator points the alias at another room.
    hs.move_alias(&alias, &alice, Some(&other)).await;
    let (csv, run) = scan().await;
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
    let (csv, run) = scan().await;
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
    let report_arg = report.to_str().unwrap().to_owned();
    let run = oldrooms(
        &[
            "delete",
            "--config",
            &config,
            "--from",
            &results_arg,
            "--report",
            &report_arg,
            "--yes",
        ],
        &[],
    )
    .await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    let report = Csv::read(&report);
    for room in [&kept, &other] {
        assert_eq!(report.row(room)["outcome"], "skipped", "{room}");
        assert!(exists(&hs, room).await, "{room} was deleted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deletion_rechecks_with_the_options_the_scan_ran_with() {
    let synapse: &'static Synapse = Box::leak(Box::new(Synapse::start()));
    let hs = Homeserver::on(synapse);
    let alice = unique("alice");
    hs.register(&alice).await;
    let alice = hs.user_id(&alice);
    let old = now_ms() - 400 * DAY;
    let public = json!({"name": "options: public", "preset": "public_chat",
        "visibility": "public"});
    let public = hs.create_room(&alice, public).await;
    hs.message(&public, &alice, "long ago", Some(old)).await;

    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[bot]\ndata_dir = \"{}\"\n[delete]\npoll_interval_ms = 200\n",
        dir.path().join("data").display(),
    );
    let secret = format!("access_token = \"{}\"", hs.admin_token().await);
    let config = write_config(
        dir.path(),
        &config_text(&hs.s.url, &hs.s.admin_user, &secret, &extra),
    );
    let config = config.to_str().unwrap().to_owned();
    let results = dir.path().join("results.csv");
    let results_arg = results.to_str().unwrap().to_owned();
    let scan = [
        "scan",
        "--config",
        &config,
        "--output",
        &results_arg,
        "--include-public",
    ];
    let run = oldrooms(&scan, &[]).await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_eq!(Csv::read(&results).row(&public)["should_delete"], "yes");
    edit(&results, &[&public], &[]);

    let report = dir.path().join("deletion-report.csv");
    let report_arg = report.to_str().unwrap().to_owned();
    let delete = |extra: &'static [&'static str]| {
        let mut args = vec![
            "delete",
            "--config",
            &config,
            "--from",
            &results_arg,
            "--report",
            &report_arg,
        ];
        args.extend_from_slice(extra);
        args
    };
    // Options that leave the public room out: the prompt names it, and what
    // would include it, before anyone confirms.
    let run = oldrooms(&delete(&["--inactive-days", "30"]), &[]).await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert!(
        run.stdout.contains(&format!(
            "1 of these rooms will be kept by the re-check under the rules that apply:\n  \
             options: public ({public}): protected: published in the room directory \
             (--include-public would include it)"
        )),
        "{}",
        run.stdout
    );
    assert!(exists(&hs, &public).await);
    // Without options, the rules of the scan that made the file apply.
    let run = oldrooms(&delete(&["--yes"]), &[]).await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert!(
        run.stdout
            .contains("Each room is re-checked with the rules of the last `oldrooms scan`."),
        "{}",
        run.stdout
    );
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
