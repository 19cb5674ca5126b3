//! HTTP-level tests against a local fake Admin API (wiremock), for what a
//! real Synapse cannot produce on demand: 429s, 5xx, timeouts, garbage,
//! broken pagination. Each runs `oldrooms` as an admin would.

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod adopt;
mod config_errors;
mod costs;
mod delete_faults;
mod faults;
mod incremental;
mod outage;
mod partial;
mod plan_faults;
mod production;
mod progress;
mod timeline;

use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const TOKEN: &str = "syt_fake_secret_token_1234";
pub const ADMIN: &str = "@admin:fake.test";

/// The token is `ADMIN`'s, as whoami says.
async fn whoami_is_admin(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/_matrix/client/v3/account/whoami"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"user_id": ADMIN})))
        .mount(server)
        .await;
}

/// A fake homeserver where the token is a server admin's. Mount room pages
/// and messages on top.
pub async fn admin_server() -> MockServer {
    let server = MockServer::start().await;
    whoami_is_admin(&server).await;
    Mock::given(method("GET"))
        .and(path(format!("/_synapse/admin/v1/users/{ADMIN}/admin")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"admin": true})))
        .mount(&server)
        .await;
    server
}

/// A fake homeserver where the token is valid but not an admin's: every
/// Admin API request answers 403.
pub async fn non_admin_server() -> MockServer {
    let server = MockServer::start().await;
    whoami_is_admin(&server).await;
    Mock::given(method("GET"))
        .and(path_regex("^/_synapse/admin/"))
        .respond_with(ResponseTemplate::new(403).set_body_json(
            json!({"errcode": "M_FORBIDDEN", "error": "You are not a server admin"}),
        ))
        .mount(&server)
        .await;
    server
}

/// `oldrooms scan --config CONFIG --output OUTPUT`.
pub fn scan_args<'a>(config: &'a std::path::Path, output: &'a std::path::Path) -> Vec<&'a str> {
    vec![
        "scan",
        "--config",
        config.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]
}

pub fn room(id: &str, name: &str) -> Value {
    json!({"room_id": id, "name": name, "canonical_alias": null, "joined_members": 1,
        "joined_local_members": 1, "version": "12", "creator": "@a:fake.test",
        "encryption": null, "federatable": true, "public": false, "join_rules": "invite",
        "guest_access": null, "history_visibility": "shared", "state_events": 5,
        "room_type": null})
}

/// Every room's newest event is at `ts`.
pub async fn messages_at(server: &MockServer, ts: i64) {
    Mock::given(method("GET"))
        .and(path_regex(r"^/_synapse/admin/v1/rooms/[^/]+/messages$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "chunk": [{"type": "m.room.message", "origin_server_ts": ts,
                "content": {"body": "x"}, "event_id": "$e", "sender": "@a:fake.test"}],
            "start": "s", "end": "e"})))
        .mount(server)
        .await;
}

/// A config for the fake server; `extra` is appended.
pub fn fake_config(dir: &std::path::Path, server: &MockServer, extra: &str) -> std::path::PathBuf {
    let secret = format!("access_token = \"{TOKEN}\"");
    common::write_config(
        dir,
        &common::config_text(&server.uri(), ADMIN, &secret, extra),
    )
}

pub async fn requests_to(server: &MockServer, p: &str) -> usize {
    let all = server.received_requests().await.unwrap_or_default();
    all.iter().filter(|r| r.url.path() == p).count()
}
