//! What the optional reads cost: member lists only for active rooms with few
//! local members (`--ignore-member`), direct-chat checks only for rooms to
//! delete (`--keep-direct`), counted on a fake server.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::common::{Csv, oldrooms};
use crate::{admin_server, fake_config, messages_at, room, scan_args};

const ROOMS: &str = "/_synapse/admin/v1/rooms";

#[tokio::test]
async fn member_lists_and_dm_checks_are_read_only_where_they_can_change_the_verdict() {
    let server = admin_server().await;
    let with_local = |id: &str, local: u64| {
        let mut r = room(id, id);
        r["joined_local_members"] = json!(local);
        r["joined_members"] = json!(local + 1);
        r
    };
    let rooms = [
        with_local("!ghosts", 2),
        with_local("!person", 1),
        // More local members than policy.max_ghosts: never read.
        with_local("!crowd", 50),
        with_local("!empty", 0),
    ];
    Mock::given(method("GET"))
        .and(path(ROOMS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "rooms": rooms, "offset": 0, "total_rooms": 4})))
        .mount(&server)
        .await;
    for (id, members) in [
        (
            "!ghosts",
            json!([
                "@_bridge_1:fake.test",
                "@_bridge_2:fake.test",
                "@bob:remote.test"
            ]),
        ),
        ("!person", json!(["@alice:fake.test", "@bob:remote.test"])),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("{ROOMS}/{id}/members")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "members": members, "total": 3})))
            .expect(1)
            .mount(&server)
            .await;
    }
    let yesterday = oldrooms::timefmt::now_ms() - oldrooms::timefmt::MS_PER_DAY;
    messages_at(&server, yesterday).await;
    let dir = tempfile::tempdir().unwrap();
    let config = fake_config(dir.path(), &server, "");
    let output = dir.path().join("results.csv");
    let mut args = scan_args(&config, &output);
    args.extend(["--ignore-member", "^@_bridge_", "--keep-direct"]);
    let run = oldrooms(&args, &[]).await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    let csv = Csv::read(&output);
    assert_eq!(
        csv.row("!ghosts")["reason"],
        "abandoned: no local members but 2 ignored by policy.ignore_members (1 remote)"
    );
    assert!(csv.row("!person")["reason"].starts_with("active"));
    assert!(csv.row("!crowd")["reason"].starts_with("active"));
    assert_eq!(
        csv.row("!empty")["reason"],
        "abandoned: no local members (1 remote)"
    );

    let requests = server.received_requests().await.unwrap_or_default();
    let members: Vec<_> = requests
        .iter()
        .filter(|r| r.url.path().ends_with("/members"))
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(members.len(), 2, "{members:?}");
    // One forward read of the first memberships per room to delete.
    let dm_checks: Vec<_> = requests
        .iter()
        .filter(|r| r.url.path().ends_with("/messages"))
        .filter(|r| r.url.query().is_some_and(|q| q.contains("dir=f")))
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(dm_checks.len(), 2, "{dm_checks:?}");
    assert!(
        dm_checks
            .iter()
            .all(|p| p.contains("!ghosts") || p.contains("!empty"))
    );
}
