//! Running it in production: `--log-format json` writes one JSON object per
//! line on stderr and never the token, which here is read from a file named
//! in the config; on a server that delegates authentication to MAS, a 403
//! says how to get a token that may use the Admin API; a token for another
//! device than the bot's is refused.

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{self, Csv, oldrooms};
use crate::{ADMIN, TOKEN, fake_config, messages_at, non_admin_server, room, scan_args};

/// A fake homeserver that answers only requests carrying `TOKEN`.
async fn server_for_the_token() -> MockServer {
    let server = MockServer::start().await;
    let bearer = format!("Bearer {TOKEN}");
    Mock::given(method("GET"))
        .and(path("/_matrix/client/v3/account/whoami"))
        .and(header("authorization", bearer.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"user_id": ADMIN})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/_synapse/admin/v1/users/{ADMIN}/admin")))
        .and(header("authorization", bearer.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"admin": true})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/_synapse/admin/v1/rooms"))
        .and(header("authorization", bearer.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "rooms": [room("!a", "A room")], "offset": 0, "total_rooms": 1})))
        .mount(&server)
        .await;
    server
}

/// Every line of `stderr` as a JSON object; none holds the token.
fn json_lines(stderr: &str) -> Vec<Value> {
    assert!(!stderr.contains(TOKEN), "the token reached a log line");
    stderr
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .inspect(|v| assert!(v["level"].is_string() && v["timestamp"].is_string(), "{v}"))
        .collect()
}

#[tokio::test]
async fn json_logs_hold_no_secret_and_the_token_comes_from_a_file() {
    let server = server_for_the_token().await;
    messages_at(&server, 1_600_000_000_000).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
    let text = common::config_text(&server.uri(), ADMIN, "access_token_file = \"token\"", "");
    let config = common::write_config(dir.path(), &text);
    let output = dir.path().join("results.csv");
    let (config_arg, output_arg) = (config.display().to_string(), output.display().to_string());
    let argv = [
        "-vv",
        "--log-format",
        "json",
        "scan",
        "--config",
        &config_arg,
        "--output",
        &output_arg,
    ];
    let run = oldrooms(&argv, &[]).await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_eq!(Csv::read(&output).row("!a")["should_delete"], "yes");
    let lines = json_lines(&run.stderr);
    assert!(
        lines.len() >= 3,
        "debug logs of a scan, as JSON: {}",
        run.stderr
    );

    // A failure is a JSON line too, with the error as a field.
    std::fs::write(dir.path().join("token"), "syt_someone_else\n").unwrap();
    let run = oldrooms(&argv, &[]).await;
    assert_eq!(run.code(), Some(1), "{run:?}");
    let lines = json_lines(&run.stderr);
    let last = lines.last().unwrap();
    assert_eq!(last["level"], "ERROR", "{last}");
    assert_eq!(last["message"], "oldrooms stopped", "{last}");
    assert!(
        !last["error"].as_str().unwrap().contains("syt_someone_else"),
        "{last}"
    );
}

#[tokio::test]
async fn a_403_on_a_mas_server_says_how_to_get_an_admin_token() {
    let server = non_admin_server().await;
    Mock::given(method("GET"))
        .and(path("/_matrix/client/v1/auth_metadata"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": "https://auth.fake.test/",
            "authorization_endpoint": "https://auth.fake.test/authorize"})))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = fake_config(dir.path(), &server, "");
    let output = dir.path().join("results.csv");
    let run = oldrooms(&scan_args(&config, &output), &[]).await;
    assert_eq!(run.code(), Some(1), "{run:?}");
    let err = run.stderr.trim();
    assert!(
        err.starts_with("error: the access token is not a server admin's"),
        "{err}"
    );
    for part in [
        "delegates authentication to https://auth.fake.test/",
        "urn:synapse:admin:*",
        "`mas-cli manage issue-compatibility-token admin --yes-i-want-to-grant-synapse-admin-privileges`",
    ] {
        assert!(err.contains(part), "{part} not in {err}");
    }
    assert!(!err.contains(TOKEN));
    assert!(!output.exists());
}

/// A compatibility token names its device; the bot's crypto store belongs
/// to one. A token for another device than `auth.device_id` or the store's
/// is refused at start, with what to do, and the store is left as it was.
#[tokio::test]
async fn a_token_for_another_device_is_refused_before_the_store_is_used() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/_matrix/client/v3/account/whoami"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"user_id": ADMIN, "device_id": "NEWDEVICE"})),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bot = format!(
        "[bot]\nadmin_room = \"!admins:fake.test\"\nadmins = [\"{ADMIN}\"]\ndata_dir = \"{}\"",
        data.display()
    );
    let run_bot = |config: std::path::PathBuf| async move {
        oldrooms(&["run", "--config", config.to_str().unwrap()], &[]).await
    };

    let secret = format!("access_token = \"{TOKEN}\"\ndevice_id = \"OLDROOMSBOT\"");
    let text = common::config_text(&server.uri(), ADMIN, &secret, &bot);
    let run = run_bot(common::write_config(dir.path(), &text)).await;
    assert_eq!(run.code(), Some(2), "{run:?}");
    assert!(
        run.stderr.contains(
            "auth.device_id: the access token belongs to device NEWDEVICE, not OLDROOMSBOT"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("--device-id OLDROOMSBOT"),
        "{}",
        run.stderr
    );

    std::fs::write(data.join("device_id"), "OLDROOMSBOT").unwrap();
    let run = run_bot(fake_config(dir.path(), &server, &bot)).await;
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert!(
        run.stderr
            .contains("belongs to device OLDROOMSBOT, but the access token to device NEWDEVICE"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(TOKEN));
    let stored = std::fs::read_to_string(data.join("device_id")).unwrap();
    assert_eq!(stored, "OLDROOMSBOT");
}
