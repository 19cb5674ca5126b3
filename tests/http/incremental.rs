//! `oldrooms scan --cache`: a room whose forward extremities are those
//! recorded is not read again, and the results are the same as a full
//! scan's.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::oldrooms;
use crate::{admin_server, fake_config, messages_at, requests_to, room, scan_args};

const MESSAGES: [&str; 2] = [
    "/_synapse/admin/v1/rooms/!a/messages",
    "/_synapse/admin/v1/rooms/!b/messages",
];

async fn extremities(server: &MockServer, room: &str, event: &str, priority: u8) {
    Mock::given(method("GET"))
        .and(path(format!(
            "/_synapse/admin/v1/rooms/{room}/forward_extremities"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "count": 1,
            "results": [{"event_id": event, "state_group": 1, "depth": 9, "received_ts": 1}]})))
        .with_priority(priority)
        .mount(server)
        .await;
}

async fn reads(server: &MockServer) -> [usize; 2] {
    [
        requests_to(server, MESSAGES[0]).await,
        requests_to(server, MESSAGES[1]).await,
    ]
}

#[tokio::test]
async fn unchanged_rooms_are_not_read_again_and_the_results_are_the_same() {
    let server = admin_server().await;
    Mock::given(method("GET"))
        .and(path("/_synapse/admin/v1/rooms"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "rooms": [room("!a", "A"), room("!b", "B")], "offset": 0, "total_rooms": 2})))
        .mount(&server)
        .await;
    messages_at(&server, 1_600_000_000_000).await;
    extremities(&server, "!a", "$a1", 5).await;
    extremities(&server, "!b", "$b1", 5).await;
    let dir = tempfile::tempdir().unwrap();
    let config = fake_config(dir.path(), &server, "");
    let cache = dir.path().join("cache.tsv");
    let scan = |name: &str| {
        let output = dir.path().join(name);
        let (config, cache) = (config.clone(), cache.clone());
        async move {
            let mut args = scan_args(&config, &output);
            args.extend(["--cache", cache.to_str().unwrap()]);
            let run = oldrooms(&args, &[]).await;
            assert_eq!(run.code(), Some(0), "{run:?}");
            std::fs::read(&output).unwrap()
        }
    };

    let first = scan("first.csv").await;
    assert_eq!(
        reads(&server).await,
        [1, 1],
        "no cache yet: every room read"
    );
    let second = scan("second.csv").await;
    assert_eq!(
        reads(&server).await,
        [1, 1],
        "nothing changed: nothing read"
    );
    assert_eq!(second, first);

    // A new event in !b: its extremities change, and only it is read.
    extremities(&server, "!b", "$b2", 1).await;
    let third = scan("third.csv").await;
    assert_eq!(reads(&server).await, [1, 2]);
    assert_eq!(third, first, "the same last activity, read again");
}
