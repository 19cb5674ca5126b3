//! `oldrooms delete` when the homeserver turns against it mid-run: a token
//! logged out stops the run with its journal kept, and `--resume` finishes
//! it without deleting anything twice.

use serde_json::json;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{Csv, oldrooms};
use crate::{admin_server, fake_config, messages_at, requests_to, room};

pub(crate) const ROOMS: [&str; 3] = ["!aaa:fake.test", "!bbb:fake.test", "!ccc:fake.test"];

pub(crate) fn results_csv(dir: &std::path::Path) -> std::path::PathBuf {
    let mut text = oldrooms::report::HEADER.join(",");
    text.push('\n');
    for id in ROOMS {
        text.push_str(&format!(
            "{id},old,,,'@a:fake.test,1,1,no,,2020-01-01T00:00:00Z,2000,yes,inactive\n"
        ));
    }
    let path = dir.join("results.csv");
    std::fs::write(&path, text).unwrap();
    // What `oldrooms scan` recorded beside its journal: the newest event
    // `messages_at` answers, at the file's time.
    write_record(&dir.join("data"), "1\t0");
    path
}

/// The record `oldrooms scan` keeps beside its journal, for `ROOMS`: the
/// newest event `messages_at` answers, at the file's time, then `counts`
/// (local members, a tab, 1 if abandoned), of the fake server.
pub(crate) fn write_record(data: &std::path::Path, counts: &str) {
    std::fs::create_dir_all(data).unwrap();
    let mut record = "oldrooms scan record v2\tfake.test\n".to_owned();
    for id in ROOMS {
        record.push_str(&format!(
            "{id}\t1577836800000\t$e\t{counts}\t-\t+@a:fake.test\t+old\t-\n"
        ));
    }
    std::fs::write(data.join("cli-scan-record.tsv"), record).unwrap();
}

/// Room details and an old last activity for every room, deletions that
/// complete at once.
pub(crate) async fn rooms_and_statuses(server: &MockServer) {
    for id in ROOMS {
        Mock::given(method("GET"))
            .and(path(format!("/_synapse/admin/v1/rooms/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(room(id, "old")))
            .mount(server)
            .await;
    }
    messages_at(server, 1_577_836_800_000).await;
    // No deletion task of any room, until one is submitted.
    Mock::given(method("GET"))
        .and(path("/_synapse/admin/v1/scheduled_tasks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"scheduled_tasks": []})))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/_synapse/admin/v2/rooms/delete_status/.+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "complete"})))
        .mount(server)
        .await;
}

pub(crate) fn accept_delete(id: &str) -> Mock {
    Mock::given(method("DELETE"))
        .and(path(format!("/_synapse/admin/v2/rooms/{id}")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"delete_id": format!("d{id}")})),
        )
}

#[tokio::test]
async fn a_token_logged_out_mid_run_stops_it_and_resume_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = admin_server().await;
    rooms_and_statuses(&server).await;
    accept_delete(ROOMS[0]).mount(&server).await;
    Mock::given(method("DELETE"))
        .and(path_regex(r"^/_synapse/admin/v2/rooms/[^/]+$"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"errcode": "M_UNKNOWN_TOKEN", "error": "Invalid access token passed."}),
        ))
        .mount(&server)
        .await;
    let data = dir.path().join("data");
    let extra = format!(
        "[bot]\ndata_dir = \"{}\"\n[delete]\nconcurrency = 1\npoll_interval_ms = 10\n",
        data.display()
    );
    let config = fake_config(dir.path(), &server, &extra);
    let from = results_csv(dir.path());
    let report = dir.path().join("report.csv");
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "delete".to_owned(),
            "--config".to_owned(),
            config.display().to_string(),
            "--report".to_owned(),
            report.display().to_string(),
        ];
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };

    let mut first = args(&["--yes", "--from"]);
    first.push(from.display().to_string());
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    let run = oldrooms(&first, &[]).await;
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert!(
        run.stderr.contains("refused the access token"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--resume"), "{}", run.stderr);
    let journal = data.join("cli-deletion-journal.jsonl");
    assert!(journal.exists(), "the journal is kept for the resume");
    let csv = Csv::read(&report);
    assert_eq!(csv.row(ROOMS[0])["outcome"], "deleted");
    for id in &ROOMS[1..] {
        assert_eq!(
            csv.row(id)["outcome"],
            "skipped",
            "{id}: not failed, left for the resume"
        );
    }
    let deleted_first =
        requests_to(&server, &format!("/_synapse/admin/v2/rooms/{}", ROOMS[0])).await;
    assert_eq!(deleted_first, 1);

    // A new run from the file is refused while the journal is there.
    let mut again = args(&["--yes", "--from"]);
    again.push(from.display().to_string());
    let again: Vec<&str> = again.iter().map(String::as_str).collect();
    let refused = oldrooms(&again, &[]).await;
    assert_ne!(refused.code(), Some(0));
    assert!(refused.stderr.contains("--resume"), "{}", refused.stderr);

    // The token works again: the resume deletes the rest, once each.
    server.reset().await;
    remount_admin(&server).await;
    rooms_and_statuses(&server).await;
    for id in &ROOMS[1..] {
        accept_delete(id).mount(&server).await;
    }
    let resume = args(&["--resume"]);
    let resume: Vec<&str> = resume.iter().map(String::as_str).collect();
    let run = oldrooms(&resume, &[]).await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    // Progress in a pipe: plain lines, counting the rooms done before too.
    assert!(
        run.stderr.contains("deletion: 1 of 3 rooms"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("deletion: 3 of 3 rooms in "),
        "{}",
        run.stderr
    );
    let csv = Csv::read(&report);
    for id in ROOMS {
        assert_eq!(csv.row(id)["outcome"], "deleted", "{id}");
    }
    let again_first = requests_to(&server, &format!("/_synapse/admin/v2/rooms/{}", ROOMS[0])).await;
    assert_eq!(
        again_first, 0,
        "a room deleted before the stop is not deleted again"
    );
    assert!(!journal.exists(), "the finished journal is archived");
}

pub(crate) async fn remount_admin(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/_matrix/client/v3/account/whoami"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"user_id": crate::ADMIN})))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/_synapse/admin/v1/users/{}/admin",
            crate::ADMIN
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"admin": true})))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_dry_run_rechecks_every_room_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = admin_server().await;
    // !aaa unchanged, !bbb spoken in since the scan, !ccc gone.
    Mock::given(method("GET"))
        .and(path(format!("/_synapse/admin/v1/rooms/{}", ROOMS[2])))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"errcode": "M_NOT_FOUND", "error": "Room not found"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/_synapse/admin/v1/rooms/{}/messages",
            ROOMS[1]
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "chunk": [{"type": "m.room.message", "origin_server_ts": 1_700_000_000_000_i64,
                "content": {"body": "back"}, "event_id": "$n", "sender": "@a:fake.test"}],
            "start": "s", "end": "e"})))
        .mount(&server)
        .await;
    rooms_and_statuses(&server).await;
    let (run, report) = delete_from(dir.path(), &server, "", &["--dry-run"]).await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert!(
        run.stdout.contains(
            "Dry run: 1 would be deleted, 2 would be skipped, 0 could not be checked, of 3. Nothing was deleted."
        ),
        "{}",
        run.stdout
    );
    let csv = Csv::read(&report);
    assert_eq!(csv.row(ROOMS[0])["outcome"], "would-delete");
    assert_eq!(csv.row(ROOMS[1])["outcome"], "skipped");
    assert!(csv.row(ROOMS[1])["detail"].starts_with("new activity since the scan"));
    assert_eq!(csv.row(ROOMS[2])["outcome"], "skipped");
    assert!(csv.row(ROOMS[2])["detail"].starts_with("already gone"));
    let deletes = server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == "DELETE")
        .count();
    assert_eq!(deletes, 0, "a dry run deletes nothing");
    assert!(
        !dir.path()
            .join("data")
            .join("cli-deletion-journal.jsonl")
            .exists()
    );
}

/// Synapse cancels the deletion tasks it is running when it shuts down,
/// and does not resume them; one its shutdown interrupts can also end
/// failed with no reason. Either way the room is re-checked and submitted
/// again, and reported deleted once the new task completes.
#[tokio::test]
async fn a_task_cancelled_by_a_synapse_restart_is_submitted_again() {
    for (ended, times) in [
        (json!({"status": "cancelled"}), 1),
        (json!({"status": "failed"}), 1),
        (json!({"status": "failed", "error": ""}), 1),
    ] {
        let (csv, submitted) = delete_with_first_task_ending(ended.clone(), times).await;
        for id in ROOMS {
            assert_eq!(
                csv.row(id)["outcome"],
                "deleted",
                "{ended}: {:?}",
                csv.row(id)
            );
        }
        assert_eq!(submitted, 2, "{ended}: the room was submitted again, once");
    }
}

/// A task that keeps ending unfinished is not submitted forever; one that
/// failed with a reason is not submitted again.
#[tokio::test]
async fn tasks_that_keep_failing_are_reported_failed() {
    let (csv, submitted) = delete_with_first_task_ending(json!({"status": "failed"}), 10).await;
    let row = csv.row(ROOMS[0]);
    assert_eq!(row["outcome"], "failed", "{row:?}");
    assert_eq!(
        row["detail"],
        "Synapse ended its deletion task 4 times without finishing it"
    );
    assert_eq!(submitted, 4, "submitted once, then again three times");

    let ended = json!({"status": "failed", "error": "Purge already in progress"});
    let (csv, submitted) = delete_with_first_task_ending(ended, 10).await;
    let row = csv.row(ROOMS[0]);
    assert_eq!(row["outcome"], "failed", "{row:?}");
    assert_eq!(
        row["detail"],
        "Synapse's deletion task ended: Purge already in progress"
    );
    assert_eq!(submitted, 1);
}

/// Deletes `ROOMS` with `oldrooms delete --yes`; the first room's first
/// `times` tasks end with `ended`. Returns the report and how many times
/// the first room was submitted.
async fn delete_with_first_task_ending(ended: serde_json::Value, times: u64) -> (Csv, usize) {
    let dir = tempfile::tempdir().unwrap();
    let server = admin_server().await;
    rooms_and_statuses(&server).await;
    let first = ROOMS[0];
    Mock::given(method("DELETE"))
        .and(path(format!("/_synapse/admin/v2/rooms/{first}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"delete_id": "cut"})))
        .up_to_n_times(times)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/_synapse/admin/v2/rooms/delete_status/cut"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ended))
        .with_priority(1)
        .mount(&server)
        .await;
    for id in ROOMS {
        accept_delete(id).mount(&server).await;
    }
    let settings = "[delete]\nconcurrency = 1\npoll_interval_ms = 10\n";
    let (run, report) = delete_from(dir.path(), &server, settings, &["--yes"]).await;
    assert!(matches!(run.code(), Some(0 | 1)), "{run:?}");
    let submitted = requests_to(&server, &format!("/_synapse/admin/v2/rooms/{first}")).await;
    (Csv::read(&report), submitted)
}

/// Synapse workers behind a proxy that sends the Admin API to a worker: it
/// answers `404 M_UNRECOGNIZED`, which is not "no such room". The run stops
/// and names the routing fix; no room is taken for gone, none is deleted.
#[tokio::test]
async fn an_admin_api_routed_to_a_worker_stops_the_run_and_names_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let server = admin_server().await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/_synapse/admin/v1/rooms/[^/]+$"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(
                json!({"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}),
            ),
        )
        .mount(&server)
        .await;
    for id in ROOMS {
        accept_delete(id).mount(&server).await;
    }
    let (run, report) = delete_from(dir.path(), &server, "", &["--yes"]).await;
    assert_ne!(run.code(), Some(0), "{run:?}");
    assert!(
        run.stderr
            .contains("route /_synapse/admin/ to the main process"),
        "{}",
        run.stderr
    );
    for id in ROOMS {
        let sent = requests_to(&server, &format!("/_synapse/admin/v2/rooms/{id}")).await;
        assert_eq!(sent, 0, "{id} was deleted");
    }
    if report.exists() {
        let csv = Csv::read(&report);
        for id in ROOMS {
            assert!(
                !csv.row(id)["detail"].starts_with("already gone"),
                "{id} taken for gone: {:?}",
                csv.row(id)
            );
        }
    }
}

/// `oldrooms delete --from` the fixture's results.csv (`results_csv`)
/// against `server`, with `[bot] data_dir` in `dir` and `settings` after
/// it in the config, and `flags`; the run, and where its report is.
async fn delete_from(
    dir: &std::path::Path,
    server: &MockServer,
    settings: &str,
    flags: &[&str],
) -> (crate::common::Run, std::path::PathBuf) {
    let data = dir.join("data");
    let extra = format!("[bot]\ndata_dir = \"{}\"\n{settings}", data.display());
    let config = fake_config(dir, server, &extra);
    let from = results_csv(dir);
    let report = dir.join("report.csv");
    let mut args = vec!["delete", "--config", config.to_str().unwrap()];
    args.extend_from_slice(flags);
    args.extend([
        "--from",
        from.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    (oldrooms(&args, &[]).await, report)
}
