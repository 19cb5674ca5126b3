//! Injected faults: the scan retries what is worth retrying, keeps rooms it
//! is unsure of, and otherwise fails with one clear line and no CSV.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::common::{Csv, oldrooms};
use crate::{
    TOKEN, admin_server, fake_config, messages_at, non_admin_server, requests_to, room,
    scan_args as args,
};

const ROOMS: &str = "/_synapse/admin/v1/rooms";
const OLD: i64 = 1_600_000_000_000;

#[tokio::test]
async fn a_429_is_retried_after_the_time_synapse_asks() {
    let server = admin_server().await;
    Mock::given(method("GET"))
        .and(path(ROOMS))
        .respond_with(ResponseTemplate::new(429).set_body_json(
            json!({"errcode": "M_LIMIT_EXCEEDED", "error": "Too Many Requests", "retry_after_ms": 300}),
        ))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(ROOMS))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"rooms": [room("!old", "Old")], "offset": 0, "total_rooms": 1}),
            ),
        )
        .mount(&server)
        .await;
    messages_at(&server, OLD).await;
    let dir = tempfile::tempdir().unwrap();
    let config = fake_config(dir.path(), &server, "");
    let output = dir.path().join("results.csv");
    let mut verbose = vec!["-vv"];
    verbose.extend(args(&config, &output));
    let run = oldrooms(&verbose, &[]).await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_eq!(requests_to(&server, ROOMS).await, 2);
    assert!(run.stderr.contains("retrying"), "{}", run.stderr);
    assert!(run.stderr.contains("delay_ms=300"), "{}", run.stderr);
    assert!(!run.stderr.contains(TOKEN), "the token reached a log line");
    let csv = Csv::read(&output);
    assert_eq!(csv.rows.len(), 1);
    assert_eq!(csv.rows[0]["should_delete"], "yes");
}

#[tokio::test]
async fn persistent_500s_stop_after_bounded_retries_without_a_csv() {
    let server = admin_server().await;
    Mock::given(method("GET"))
        .and(path(ROOMS))
        .respond_with(
            ResponseTemplate::new(500).set_body_string("<html>Internal Server Error</html>"),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = fake_config(dir.path(), &server, "[scan]\nmax_retries = 2");
    let output = dir.path().join("results.csv");
    std::fs::write(&output, "previous results\n").unwrap();
    let run = oldrooms(&args(&config, &output), &[]).await;
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert_eq!(
        requests_to(&server, ROOMS).await,
        3,
        "one try and two retries"
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("500 Internal Server Error"),
        "{}",
        run.stderr
    );
    let kept = std::fs::read_to_string(&output).unwrap();
    assert_eq!(
        kept, "previous results\n",
        "a failed scan must not touch the output"
    );
}

#[tokio::test]
async fn a_garbage_answer_is_a_clear_error() {
    let server = admin_server().await;
    Mock::given(method("GET"))
        .and(path(ROOMS))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>welcome to nginx</html>"))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = fake_config(dir.path(), &server, "");
    let output = dir.path().join("results.csv");
    let run = oldrooms(&args(&config, &output), &[]).await;
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert!(run.stderr.contains("not Synapse's JSON"), "{}", run.stderr);
    assert!(run.stderr.contains("welcome to nginx"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(!output.exists());
}

#[tokio::test]
async fn pagination_reads_every_page_once_and_never_loops() {
    let server = admin_server().await;
    // Page 2 overlaps page 1 (a room was added while paging), and its
    // `next_batch` points backwards, as a broken server might answer.
    Mock::given(method("GET"))
        .and(path(ROOMS))
        .and(wiremock::matchers::query_param("from", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "rooms": [room("!a", "A"), room("!b", "B")], "offset": 0, "total_rooms": 3,
            "next_batch": 2})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(ROOMS))
        .and(wiremock::matchers::query_param("from", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "rooms": [room("!b", "B"), room("!c", "C")], "offset": 2, "total_rooms": 3,
            "next_batch": "0"})))
        .mount(&server)
        .await;
    messages_at(&server, OLD).await;
    let dir = tempfile::tempdir().unwrap();
    let config = fake_config(dir.path(), &server, "");
    let output = dir.path().join("results.csv");
    let run = oldrooms(&args(&config, &output), &[]).await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_eq!(requests_to(&server, ROOMS).await, 2);
    let ids: Vec<String> = Csv::read(&output)
        .rows
        .iter()
        .map(|r| r["room_id"].clone())
        .collect();
    assert_eq!(ids, ["!a", "!b", "!c"]);
}

#[tokio::test]
async fn a_room_that_cannot_be_read_is_kept_as_unknown() {
    let server = admin_server().await;
    Mock::given(method("GET"))
        .and(path(ROOMS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "rooms": [room("!slow", "Slow"), room("!broken", "Broken"), room("!fine", "Fine")],
            "offset": 0, "total_rooms": 3})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/_synapse/admin/v1/rooms/!broken/messages"))
        .respond_with(ResponseTemplate::new(502).set_body_string("bad gateway"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/_synapse/admin/v1/rooms/!slow/messages"))
        .respond_with(ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(3)))
        .mount(&server)
        .await;
    messages_at(&server, OLD).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = "[scan]\nmax_retries = 1\nrequest_timeout_secs = 1";
    let config = fake_config(dir.path(), &server, extra);
    let output = dir.path().join("results.csv");
    let run = oldrooms(&args(&config, &output), &[]).await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    let csv = Csv::read(&output);
    for id in ["!broken", "!slow"] {
        let row = csv.row(id);
        assert_eq!(row["should_delete"], "no", "{row:?}");
        assert!(
            row["reason"].starts_with("unknown: could not read last activity"),
            "{row:?}"
        );
        assert_eq!(row["last_activity"], "");
    }
    assert!(csv.row("!broken")["reason"].contains("502"));
    assert_eq!(csv.row("!fine")["should_delete"], "yes");
    assert!(run.stdout.contains("1 to delete"), "{}", run.stdout);
}

#[tokio::test]
async fn bad_token_and_non_admin_token_say_so() {
    let server = wiremock::MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/_matrix/client/v3/account/whoami"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"errcode": "M_UNKNOWN_TOKEN", "error": "Invalid access token passed."}),
        ))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = fake_config(dir.path(), &server, "");
    let output = dir.path().join("results.csv");
    let run = oldrooms(&args(&config, &output), &[]).await;
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert_eq!(
        run.stderr.trim(),
        "error: the homeserver refused the access token (M_UNKNOWN_TOKEN: Invalid access token passed.)"
    );

    let server = non_admin_server().await;
    let config = fake_config(dir.path(), &server, "");
    let run = oldrooms(&args(&config, &output), &[]).await;
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert!(
        run.stderr
            .contains("the access token is not a server admin's"),
        "{}",
        run.stderr
    );
    assert!(!output.exists());
}

#[tokio::test]
async fn a_login_answer_that_does_not_decode_never_shows_its_token() {
    const ISSUED: &str = "syt_issued_by_the_login_5678";
    let bodies = [
        // A field of the wrong type beside a real token.
        format!(
            r#"{{"access_token": "{ISSUED}", "user_id": "{}", "device_id": 7}}"#,
            crate::ADMIN
        ),
        // Cut short by a proxy.
        format!(
            r#"{{"user_id": "{}", "access_token": "{ISSUED}"#,
            crate::ADMIN
        ),
    ];
    for body in bodies {
        let server = wiremock::MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/_matrix/client/v3/login"))
            .respond_with(ResponseTemplate::new(200).set_body_string(body.clone()))
            .mount(&server)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let text = crate::common::config_text(
            &server.uri(),
            crate::ADMIN,
            "password = \"hunter2-not-shown\"",
            "",
        );
        let config = crate::common::write_config(dir.path(), &text);
        let output = dir.path().join("results.csv");
        for format in ["text", "json"] {
            let mut command = args(&config, &output);
            command.extend(["--log-format", format]);
            let run = oldrooms(&command, &[]).await;
            assert_eq!(run.code(), Some(1), "{run:?}");
            let all = format!("{}{}", run.stdout, run.stderr);
            assert!(all.contains("/_matrix/client/v3/login"), "{all}");
            assert!(all.contains("not quoted"), "{all}");
            assert!(
                !all.contains(ISSUED),
                "the token was shown for {body}:\n{all}"
            );
            assert!(!all.contains("hunter2"), "{all}");
        }
        assert!(!output.exists());
    }
}

#[tokio::test]
async fn an_unreachable_homeserver_is_one_line() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let text = crate::common::config_text(
        &format!("http://127.0.0.1:{port}"),
        crate::ADMIN,
        "access_token = \"x\"",
        "[scan]\nmax_retries = 1",
    );
    let config = crate::common::write_config(dir.path(), &text);
    let output = dir.path().join("results.csv");
    for command in [
        &args(&config, &output)[..],
        &["check", "--config", config.to_str().unwrap()],
    ] {
        let run = oldrooms(command, &[]).await;
        assert_eq!(run.code(), Some(1), "{run:?}");
        assert!(
            run.stderr
                .starts_with("error: cannot reach the homeserver at http://127.0.0.1:"),
            "{}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    }
    assert!(!output.exists());
}

#[tokio::test]
async fn scan_options_on_the_command_line_override_the_policy_for_that_run() {
    let server = admin_server().await;
    let mut space = room("!space", "A space");
    space["room_type"] = json!("m.space");
    Mock::given(method("GET"))
        .and(path(ROOMS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "rooms": [room("!quiet", "Quiet for 100 days"), space],
            "offset": 0, "total_rooms": 2})))
        .mount(&server)
        .await;
    let hundred_days_ago = oldrooms::timefmt::now_ms() - 100 * oldrooms::timefmt::MS_PER_DAY;
    messages_at(&server, hundred_days_ago).await;
    let dir = tempfile::tempdir().unwrap();
    let config = fake_config(dir.path(), &server, "");
    let output = dir.path().join("results.csv");

    let run = oldrooms(&args(&config, &output), &[]).await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    let csv = Csv::read(&output);
    assert!(
        csv.row("!quiet")["reason"].starts_with("active"),
        "{:?}",
        csv.row("!quiet")
    );
    assert_eq!(csv.row("!space")["reason"], "protected: space");

    let mut with = args(&config, &output).to_vec();
    with.extend(["--inactive-days", "30", "--include-spaces"]);
    let run = oldrooms(&with, &[]).await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    let csv = Csv::read(&output);
    assert_eq!(csv.row("!quiet")["should_delete"], "yes");
    assert!(
        csv.row("!quiet")["reason"].contains("(limit 30)"),
        "{:?}",
        csv.row("!quiet")
    );
    assert!(
        csv.row("!space")["reason"].starts_with("inactive"),
        "{:?}",
        csv.row("!space")
    );

    let mut bad = args(&config, &output).to_vec();
    bad.extend(["--inactive-days", "0"]);
    let run = oldrooms(&bad, &[]).await;
    assert_eq!(run.code(), Some(2), "{run:?}");
    assert!(run.stderr.contains("--inactive-days"), "{}", run.stderr);
}

/// The rooms are listed, but their timelines go to a Synapse worker that
/// does not serve the Admin API: the scan stops with the routing fix, no
/// CSV, rather than keeping every room as unknown.
#[tokio::test]
async fn an_admin_api_routed_to_a_worker_stops_the_scan_and_names_the_fix() {
    let server = admin_server().await;
    Mock::given(method("GET"))
        .and(path(ROOMS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "rooms": [room("!a", "A")], "offset": 0, "total_rooms": 1})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/_synapse/admin/v1/rooms/!a/messages"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(
                json!({"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}),
            ),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = fake_config(dir.path(), &server, "");
    let output = dir.path().join("results.csv");
    let run = oldrooms(&args(&config, &output), &[]).await;
    assert_ne!(run.code(), Some(0), "{run:?}");
    assert!(
        run.stderr
            .contains("route /_synapse/admin/ to the main process"),
        "{}",
        run.stderr
    );
    assert!(!output.exists(), "no results.csv");
}
