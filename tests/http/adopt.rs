//! Resuming a room left at "submitting" (a crash, a stop or a cancel while
//! its deletion request was in flight): only a deletion task that Synapse
//! created after that point is adopted, and one that Synapse holds back as
//! scheduled is found and waited for.

use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use oldrooms::delete::journal::{Entry, Journal, Record, Step, record_line};
use oldrooms::timefmt::{MS_PER_DAY, now_ms};

use crate::common::{Csv, oldrooms};
use crate::delete_faults::{ROOMS, accept_delete, rooms_and_statuses};
use crate::{admin_server, fake_config, requests_to};

/// A command-line journal in `data` whose first room is at "submitting"
/// since now, cancelled afterwards when `cancelled`.
fn journal_at_submitting(data: &std::path::Path, cancelled: bool) {
    let entry = Entry {
        room_id: ROOMS[0].try_into().unwrap(),
        name: "old".into(),
        last_activity: Some(1_577_836_800_000),
        last_event: Some("$e".into()),
        joined_local_members: 1,
        abandoned: false,
        step: Step::Pending,
        submitting_since: None,
    };
    let mut journal = Journal::new("command line", now_ms(), None, vec![entry]);
    let mut bytes = journal.header_line();
    bytes.extend(record_line(&journal.claim_submit(0, now_ms())));
    if cancelled {
        bytes.extend(record_line(&Record::Cancelled));
    }
    std::fs::create_dir_all(data).unwrap();
    std::fs::write(data.join("cli-deletion-journal.jsonl"), bytes).unwrap();
}

/// `oldrooms delete --resume`; the report.
async fn resume(server: &MockServer, dir: &std::path::Path) -> Csv {
    let data = dir.join("data");
    let extra = format!(
        "[bot]\ndata_dir = \"{}\"\n[delete]\npoll_interval_ms = 10\n",
        data.display()
    );
    let config = fake_config(dir, server, &extra);
    let report = dir.join("report.csv");
    let run = oldrooms(
        &[
            "delete",
            "--resume",
            "--config",
            config.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    Csv::read(&report)
}

/// The room's tasks as the Scheduled Tasks API lists them.
async fn tasks_of_first_room(server: &MockServer, tasks: serde_json::Value) {
    Mock::given(method("GET"))
        .and(path("/_synapse/admin/v1/scheduled_tasks"))
        .and(query_param("resource_id", ROOMS[0]))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"scheduled_tasks": tasks})))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_days_old_task_of_the_room_is_not_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let server = admin_server().await;
    // Synapse remembers a deletion of this room from three days ago.
    let old = json!({"id": "old", "action": "shutdown_and_purge_room", "status": "complete",
        "timestamp_ms": now_ms() - 3 * MS_PER_DAY, "resource_id": ROOMS[0],
        "result": {}, "error": null});
    tasks_of_first_room(&server, json!([old])).await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/_synapse/admin/v2/rooms/{}/delete_status",
            ROOMS[0]
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": [
            {"delete_id": "old", "status": "complete"}]})))
        .mount(&server)
        .await;
    rooms_and_statuses(&server).await;
    accept_delete(ROOMS[0]).mount(&server).await;
    journal_at_submitting(&dir.path().join("data"), false);

    let report = resume(&server, dir.path()).await;
    assert_eq!(report.row(ROOMS[0])["outcome"], "deleted");
    let submitted = requests_to(&server, &format!("/_synapse/admin/v2/rooms/{}", ROOMS[0])).await;
    assert_eq!(
        submitted, 1,
        "the room was re-checked and submitted, not reported by the old task"
    );
}

#[tokio::test]
async fn a_task_synapse_holds_back_is_waited_for_not_reported_left() {
    let dir = tempfile::tempdir().unwrap();
    let server = admin_server().await;
    // Our request reached Synapse before the cancel: its task waits behind
    // the five Synapse runs at once, hidden from the room's delete status.
    let queued = json!({"id": "queued", "action": "shutdown_and_purge_room",
        "status": "scheduled", "timestamp_ms": now_ms(), "resource_id": ROOMS[0],
        "result": null, "error": null});
    tasks_of_first_room(&server, json!([queued])).await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/_synapse/admin/v2/rooms/{}/delete_status",
            ROOMS[0]
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": []})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/_synapse/admin/v2/rooms/delete_status/queued"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "scheduled"})))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&server)
        .await;
    rooms_and_statuses(&server).await;
    accept_delete(ROOMS[0]).mount(&server).await;
    journal_at_submitting(&dir.path().join("data"), true);

    let report = resume(&server, dir.path()).await;
    let row = report.row(ROOMS[0]);
    assert_eq!(row["outcome"], "deleted", "{row:?}");
    let submitted = requests_to(&server, &format!("/_synapse/admin/v2/rooms/{}", ROOMS[0])).await;
    assert_eq!(submitted, 0, "nothing is sent after a cancel");
    let polled = requests_to(&server, "/_synapse/admin/v2/rooms/delete_status/queued").await;
    assert!(
        polled >= 4,
        "the queued task was not waited for ({polled} polls)"
    );
}
