//! A homeserver that goes away in the middle of a scan (every request, and
//! its `/versions` probe, answering a proxy's 503): the scan waits for it
//! and finishes with the room read, or, past `outage_patience_secs`, stops
//! with one clear line and no CSV.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{Csv, oldrooms};
use crate::{admin_server, fake_config, messages_at, requests_to, room, scan_args as args};

const ROOMS: &str = "/_synapse/admin/v1/rooms";
const VERSIONS: &str = "/_matrix/client/versions";
const OLD: i64 = 1_600_000_000_000;

/// Two rooms listed; `!a`'s messages and the probe answer 503 the given
/// number of times (`None`: always) before anything else.
async fn going_away(messages_503: Option<u64>, probe_503: Option<u64>) -> MockServer {
    let server = admin_server().await;
    Mock::given(method("GET"))
        .and(path(ROOMS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "rooms": [room("!a", "A"), room("!b", "B")], "offset": 0, "total_rooms": 2})))
        .mount(&server)
        .await;
    let unavailable = || ResponseTemplate::new(503).set_body_string("<html>503</html>");
    for (p, times) in [
        ("/_synapse/admin/v1/rooms/!a/messages", messages_503),
        (VERSIONS, probe_503),
    ] {
        let mock = Mock::given(method("GET"))
            .and(path(p))
            .respond_with(unavailable());
        let mock = match times {
            Some(0) => continue,
            Some(n) => mock.up_to_n_times(n),
            None => mock,
        };
        mock.with_priority(1).mount(&server).await;
    }
    Mock::given(method("GET"))
        .and(path(VERSIONS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"versions": ["v1.11"]})))
        .mount(&server)
        .await;
    messages_at(&server, OLD).await;
    server
}

#[tokio::test]
async fn a_homeserver_that_comes_back_is_waited_for() {
    // One retry, then the probe: down twice, then up; the room's request
    // then gets a fresh round, fails twice more, and is read at last.
    let server = going_away(Some(4), Some(2)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = fake_config(dir.path(), &server, "[scan]\nmax_retries = 1");
    let output = dir.path().join("results.csv");
    let mut verbose = vec!["-v"];
    verbose.extend(args(&config, &output));
    let run = oldrooms(&verbose, &[]).await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert!(
        run.stderr.contains("the homeserver is not answering"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("the homeserver answers again"),
        "{}",
        run.stderr
    );
    let csv = Csv::read(&output);
    for id in ["!a", "!b"] {
        let row = csv.row(id);
        assert_eq!(row["should_delete"], "yes", "{row:?}");
        assert!(row["reason"].starts_with("inactive"), "{row:?}");
    }
    assert_eq!(
        requests_to(&server, "/_synapse/admin/v1/rooms/!a/messages").await,
        5
    );
    assert!(requests_to(&server, VERSIONS).await >= 3);
}

#[tokio::test]
async fn a_homeserver_gone_for_longer_than_the_patience_stops_the_scan() {
    let server = going_away(None, None).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = "[scan]\nmax_retries = 1\noutage_patience_secs = 2";
    let config = fake_config(dir.path(), &server, extra);
    let output = dir.path().join("results.csv");
    let run = oldrooms(&args(&config, &output), &[]).await;
    assert_eq!(run.code(), Some(1), "{run:?}");
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: scan failed: the homeserver at http://127.0.0.1:")
            && last.ends_with(
                "stopped answering and was not back within 2 s (503 Service Unavailable)"
            ),
        "{}",
        run.stderr
    );
    assert!(!output.exists(), "a partial results.csv was written");
}

#[tokio::test]
async fn one_room_failing_on_a_homeserver_that_is_up_is_not_waited_for() {
    let server = going_away(None, Some(0)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = fake_config(dir.path(), &server, "[scan]\nmax_retries = 1");
    let output = dir.path().join("results.csv");
    let run = oldrooms(&args(&config, &output), &[]).await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert!(!run.stderr.contains("not answering"), "{}", run.stderr);
    let csv = Csv::read(&output);
    let row = csv.row("!a");
    assert_eq!(row["should_delete"], "no", "{row:?}");
    assert!(
        row["reason"].starts_with("unknown: could not read last activity"),
        "{row:?}"
    );
    assert!(row["reason"].contains("503"), "{row:?}");
    assert_eq!(csv.row("!b")["should_delete"], "yes");
}
