//! A homeserver that goes away in the middle of a scan (every request, and
//! its `server_version` probe, answering a proxy's 503): the scan waits for it
//! and finishes with the room read, or, past `outage_patience_secs`, stops
//! with one clear line and no CSV.

use serde_json::json;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{Csv, oldrooms};
use crate::{admin_server, fake_config, messages_at, requests_to, room, scan_args as args};

const ROOMS: &str = "/_synapse/admin/v1/rooms";
const PROBE: &str = "/_synapse/admin/v1/server_version";
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
        (PROBE, probe_503),
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
        .and(path(PROBE))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"server_version": "1.163.2"})),
        )
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
    assert!(requests_to(&server, PROBE).await >= 3);
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

/// The homeserver goes away as a deletion is sent, and the admin cancels
/// (Ctrl-C) while the request waits for it: when it comes back, nothing is
/// deleted, not even the room whose request was waiting.
#[tokio::test]
async fn a_cancel_while_waiting_for_the_homeserver_sends_no_deletion() {
    use crate::delete_faults::{ROOMS, accept_delete, results_csv, rooms_and_statuses};
    let dir = tempfile::tempdir().unwrap();
    let server = admin_server().await;
    // The homeserver as it is once back, and would accept anything...
    rooms_and_statuses(&server).await;
    for id in ROOMS {
        accept_delete(id).mount(&server).await;
    }
    // ...hidden while `down` is set. Lifting the flag brings it back in
    // one step: a reset and remount would answer 404 in between.
    let down = Down::new();
    let unavailable = || ResponseTemplate::new(503).set_body_string("<html>503</html>");
    for (verb, p) in [
        ("DELETE", r"^/_synapse/admin/v2/rooms/[^/]+$"),
        ("GET", "^/_synapse/admin/v1/scheduled_tasks$"),
        ("GET", "^/_synapse/admin/v1/server_version$"),
    ] {
        Mock::given(method(verb))
            .and(path_regex(p))
            .and(down.clone())
            .respond_with(unavailable())
            .with_priority(1)
            .mount(&server)
            .await;
    }
    let data = dir.path().join("data");
    let extra = format!(
        "[bot]\ndata_dir = \"{}\"\n[delete]\nconcurrency = 1\npoll_interval_ms = 10\n\
         [scan]\nmax_retries = 0\noutage_patience_secs = 120\n",
        data.display()
    );
    let config = fake_config(dir.path(), &server, &extra);
    let from = results_csv(dir.path());
    let report = dir.path().join("report.csv");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_oldrooms"))
        .args(["delete", "--yes", "--config"])
        .arg(&config)
        .arg("--report")
        .arg(&report)
        .arg("--from")
        .arg(&from)
        .env_remove("OLDROOMS_ACCESS_TOKEN")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let waiting = poll(|| async {
        let deletes = requests_to(&server, &format!("/_synapse/admin/v2/rooms/{}", ROOMS[0])).await;
        (deletes >= 1 && requests_to(&server, PROBE).await >= 1).then_some(())
    })
    .await;
    assert!(
        waiting.is_some(),
        "the deletion never waited for the homeserver"
    );
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let journal = data.join("cli-deletion-journal.jsonl");
    let recorded = poll(|| async {
        let text = std::fs::read_to_string(&journal).unwrap_or_default();
        text.lines()
            .any(|l| l.trim() == "\"cancelled\"")
            .then_some(())
    })
    .await;
    assert!(recorded.is_some(), "the cancel never reached the journal");

    let sent_while_down = deletions(&server).await;
    down.lift();
    let status = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait())
        .await
        .expect("the run did not end after the cancel")
        .unwrap();
    assert_eq!(
        deletions(&server).await,
        sent_while_down,
        "a deletion was sent after the cancel"
    );
    let csv = Csv::read(&report);
    for id in ROOMS {
        assert_eq!(csv.row(id)["outcome"], "skipped", "{id} ({status})");
    }
}

/// A matcher that holds while the homeserver is down.
#[derive(Clone)]
struct Down(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Down {
    fn new() -> Self {
        Self(std::sync::Arc::new(std::sync::atomic::AtomicBool::new(
            true,
        )))
    }

    fn lift(&self) {
        self.0.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl wiremock::Match for Down {
    fn matches(&self, _: &wiremock::Request) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// DELETE requests received so far, answered or not.
async fn deletions(server: &MockServer) -> usize {
    let all = server.received_requests().await.unwrap_or_default();
    all.iter().filter(|r| r.method.as_str() == "DELETE").count()
}

/// Polls `check` every 100 ms for up to 30 s.
async fn poll<F, Fut>(check: F) -> Option<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<()>>,
{
    for _ in 0..300 {
        if check().await.is_some() {
            return Some(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    None
}
