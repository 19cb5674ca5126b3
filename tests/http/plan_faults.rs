//! A command-line plan at its deadline when the homeserver cannot say who
//! is in one of its rooms: that room is kept, saying why, and the others
//! are deleted (before, one such answer refused the whole plan, every time).

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{Csv, oldrooms};
use crate::delete_faults::{ROOMS, accept_delete, rooms_and_statuses};
use crate::{admin_server, fake_config, requests_to};
use oldrooms::delete::journal::{Entry, Step};
use oldrooms::plan::{Plan, Record, Via, Warning, file};
use oldrooms::timefmt::now_ms;

/// A plan of `ROOMS[0]` and `ROOMS[1]`, one person in each, both warned in
/// time, whose deadline passed a second ago.
fn plan_due(data: &std::path::Path) {
    let deadline = now_ms() - 1000;
    let confirmed_at = deadline - 3_600_000;
    let rooms: Vec<Entry> = ROOMS[..2]
        .iter()
        .map(|id| Entry {
            room_id: (*id).try_into().unwrap(),
            name: "old".into(),
            last_activity: Some(1_577_836_800_000),
            last_event: Some("$e".into()),
            joined_local_members: 1,
            abandoned: false,
            step: Step::Pending,
            submitting_since: None,
        })
        .collect();
    let people = [
        vec!["@p0:fake.test".try_into().unwrap()],
        vec!["@p1:fake.test".try_into().unwrap()],
    ];
    let plan = Plan::new(
        "t".into(),
        "command line",
        confirmed_at,
        deadline,
        None,
        rooms,
        &people,
    );
    std::fs::create_dir_all(data).unwrap();
    let path = data.join("cli-plan.jsonl");
    drop(file::create(&path, &plan).unwrap());
    for person in 0..2 {
        let warning = Warning::Sent {
            via: Via::ServerNotice,
            event_id: format!("$w{person}"),
            at: confirmed_at + 1000,
        };
        file::append(&path, &Record::Warning { person, warning }).unwrap();
    }
}

async fn members(server: &MockServer, id: &str, answer: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(format!("/_synapse/admin/v1/rooms/{id}/members")))
        .respond_with(answer)
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_room_whose_members_cannot_be_read_is_kept_and_the_rest_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let server = admin_server().await;
    rooms_and_statuses(&server).await;
    accept_delete(ROOMS[0]).mount(&server).await;
    accept_delete(ROOMS[1]).mount(&server).await;
    let ok = json!({"members": ["@p0:fake.test"], "total": 1});
    members(
        &server,
        ROOMS[0],
        ResponseTemplate::new(200).set_body_json(ok),
    )
    .await;
    // Deleted by hand during the grace period, say.
    let gone = json!({"errcode": "M_NOT_FOUND", "error": "Room not found"});
    members(
        &server,
        ROOMS[1],
        ResponseTemplate::new(404).set_body_json(gone),
    )
    .await;
    let data = dir.path().join("data");
    plan_due(&data);
    let extra = format!(
        "[bot]\ndata_dir = \"{}\"\n[delete]\nconcurrency = 1\npoll_interval_ms = 10\n",
        data.display()
    );
    let config = fake_config(dir.path(), &server, &extra);
    let report = dir.path().join("report.csv");
    let run = oldrooms(
        &[
            "delete",
            "--config",
            config.to_str().unwrap(),
            "--resume",
            "--report",
            report.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    let csv = Csv::read(&report);
    assert_eq!(csv.row(ROOMS[0])["outcome"], "deleted");
    assert_eq!(csv.row(ROOMS[1])["outcome"], "skipped");
    let why = &csv.row(ROOMS[1])["detail"];
    assert!(
        why.starts_with("kept: could not read who is in it"),
        "{why}"
    );
    let path = format!("/_synapse/admin/v2/rooms/{}", ROOMS[1]);
    assert_eq!(requests_to(&server, &path).await, 0, "never submitted");
    assert!(
        !data.join("cli-plan.jsonl").exists(),
        "the plan is archived"
    );
}
