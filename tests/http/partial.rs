//! Partial answers (a proxy or a misrouted worker answering `200` with part
//! of Synapse's JSON) never read as "delete": the scan keeps such a room as
//! unknown, the re-check skips it, each naming what was missing.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::common::{Csv, oldrooms};
use crate::delete_faults::{ROOMS, accept_delete, rooms_and_statuses, write_record};
use crate::{admin_server, fake_config, messages_at, requests_to, room, scan_args};

const OLD: i64 = 1_600_000_000_000;

#[tokio::test]
async fn a_room_listed_without_its_member_count_is_kept_as_unknown() {
    let server = admin_server().await;
    let mut partial = room("!partial", "Partial");
    partial
        .as_object_mut()
        .unwrap()
        .remove("joined_local_members");
    let mut null_public = room("!nullpub", "Null public");
    null_public["public"] = serde_json::Value::Null;
    Mock::given(method("GET"))
        .and(path("/_synapse/admin/v1/rooms"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "rooms": [partial, null_public, room("!whole", "Whole")],
            "offset": 0, "total_rooms": 3})))
        .mount(&server)
        .await;
    messages_at(&server, OLD).await;
    let dir = tempfile::tempdir().unwrap();
    let config = fake_config(dir.path(), &server, "");
    let output = dir.path().join("results.csv");
    let run = oldrooms(&scan_args(&config, &output), &[]).await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    let csv = Csv::read(&output);
    let row = csv.row("!partial");
    assert_eq!(row["should_delete"], "no", "{row:?}");
    assert_eq!(
        row["reason"],
        "unknown: the homeserver's answer did not give the room's joined_local_members"
    );
    assert_eq!(
        csv.row("!nullpub")["reason"],
        "unknown: the homeserver's answer did not give the room's public"
    );
    assert_eq!(csv.row("!whole")["should_delete"], "yes");
}

#[tokio::test]
async fn a_member_list_answered_with_nothing_skips_the_room() {
    let dir = tempfile::tempdir().unwrap();
    let server = admin_server().await;
    // The room now has a person in it, but a proxy answers the member list
    // with `{}` and the room's details without its counts.
    let (empty_list, no_counts) = (ROOMS[0], ROOMS[1]);
    Mock::given(method("GET"))
        .and(path(format!(
            "/_synapse/admin/v1/rooms/{empty_list}/members"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;
    let mut details = room(no_counts, "old");
    details
        .as_object_mut()
        .unwrap()
        .remove("joined_local_members");
    Mock::given(method("GET"))
        .and(path(format!("/_synapse/admin/v1/rooms/{no_counts}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(details))
        .mount(&server)
        .await;
    rooms_and_statuses(&server).await;
    for id in ROOMS {
        accept_delete(id).mount(&server).await;
    }
    for id in [no_counts, ROOMS[2]] {
        Mock::given(method("GET"))
            .and(path(format!("/_synapse/admin/v1/rooms/{id}/members")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "members": ["@bob:remote.test"], "total": 1})))
            .mount(&server)
            .await;
    }
    let data = dir.path().join("data");
    let extra = format!(
        "[bot]\ndata_dir = \"{}\"\n[delete]\npoll_interval_ms = 10\n",
        data.display()
    );
    let config = fake_config(dir.path(), &server, &extra);
    // The scan found every room abandoned.
    let mut text = oldrooms::report::HEADER.join(",");
    text.push('\n');
    for id in ROOMS {
        text.push_str(&format!(
            "{id},old,,,'@a:fake.test,0,0,no,,2020-01-01T00:00:00Z,2000,yes,abandoned: no members left\n"
        ));
    }
    let from = dir.path().join("results.csv");
    std::fs::write(&from, text).unwrap();
    write_record(&data, "0\t1");
    let report = dir.path().join("report.csv");
    let run = oldrooms(
        &[
            "delete",
            "--config",
            config.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            "--yes",
            "--from",
            from.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    let csv = Csv::read(&report);
    let row = csv.row(empty_list);
    assert_eq!(row["outcome"], "skipped", "{row:?}");
    assert!(row["detail"].contains("missing field `members`"), "{row:?}");
    let row = csv.row(no_counts);
    assert_eq!(row["outcome"], "skipped", "{row:?}");
    assert_eq!(
        row["detail"],
        "the homeserver's answer did not give the room's joined_local_members"
    );
    assert_eq!(csv.row(ROOMS[2])["outcome"], "deleted");
    for id in [empty_list, no_counts] {
        let deletes = requests_to(&server, &format!("/_synapse/admin/v2/rooms/{id}")).await;
        assert_eq!(deletes, 0, "{id} was deleted");
    }
}
