//! Telling a local user something: a server notice (Admin API) where the
//! homeserver has them enabled, else a direct message from our account
//! (client API). Every send carries a transaction id, so a retry of the
//! same warning is taken once by Synapse.
//!
//! - Server Notices: <https://element-hq.github.io/synapse/latest/admin_api/server_notices.html>

use matrix_sdk::ruma::{OwnedRoomId, RoomId, UserId};
use serde::Deserialize;
use serde_json::json;
use tracing::instrument;

use super::{AdminClient, AdminError};

#[derive(Deserialize)]
struct Sent {
    event_id: String,
}

#[derive(Deserialize)]
struct Created {
    room_id: OwnedRoomId,
}

/// Synapse's words (1.163) for a server without server notices.
const NOT_ENABLED: &str = "not enabled";
/// Its words for a notice to a user of another server: checked after the
/// one above, so this answer means they are enabled.
const ONLY_LOCAL: &str = "local users";

impl AdminClient {
    /// Whether the homeserver sends server notices, found without sending
    /// one: a notice to a user of another server is refused either way,
    /// with words that say whether notices are enabled.
    #[instrument(skip(self), level = "debug")]
    pub async fn server_notices_enabled(&self) -> Result<bool, AdminError> {
        let body = json!({"user_id": "@oldrooms-probe:invalid.example", "content": {}});
        let segs = ["_synapse", "admin", "v1", "send_server_notice"];
        match self.post::<serde_json::Value>(&segs, &body).await {
            Err(AdminError::Api { message, .. }) if message.contains(NOT_ENABLED) => Ok(false),
            Err(AdminError::Api { message, .. }) if message.contains(ONLY_LOCAL) => Ok(true),
            Err(e) => Err(e),
            Ok(_) => Err(AdminError::Api {
                endpoint: "POST /_synapse/admin/v1/send_server_notice".to_owned(),
                status: reqwest::StatusCode::OK,
                errcode: String::new(),
                message: "accepted a notice to a user of another server".to_owned(),
            }),
        }
    }

    /// Sends `text` to `user` as a server notice; its event id.
    #[instrument(skip(self, text), level = "debug")]
    pub async fn send_server_notice(
        &self,
        txn: &str,
        user: &UserId,
        text: &str,
    ) -> Result<String, AdminError> {
        let body = json!({
            "user_id": user.as_str(),
            "content": {"msgtype": "m.text", "body": text},
        });
        let url = self.url(&["_synapse", "admin", "v1", "send_server_notice", txn]);
        let sent: Sent = self.send(reqwest::Method::PUT, url, Some(&body)).await?;
        Ok(sent.event_id)
    }

    /// Creates a direct chat with `user` (invited), from our account.
    #[instrument(skip(self), level = "debug")]
    pub async fn create_direct_room(&self, user: &UserId) -> Result<OwnedRoomId, AdminError> {
        let body = json!({
            "is_direct": true,
            "invite": [user.as_str()],
            "preset": "trusted_private_chat",
        });
        let created: Created = self
            .post(&["_matrix", "client", "v3", "createRoom"], &body)
            .await?;
        Ok(created.room_id)
    }

    /// `user`'s membership of `room` (`join`, `invite`, `leave`…), as our
    /// account, which is in the room, reads it; `None` when they have none.
    #[instrument(skip(self), level = "debug")]
    pub async fn membership(
        &self,
        room: &RoomId,
        user: &UserId,
    ) -> Result<Option<String>, AdminError> {
        #[derive(Deserialize)]
        struct Member {
            membership: String,
        }
        let segs = in_room(room, ["state", "m.room.member", user.as_str()]);
        match self.get::<Member>(&segs, &[]).await {
            Ok(m) => Ok(Some(m.membership)),
            Err(e) if e.status() == Some(reqwest::StatusCode::NOT_FOUND) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends `text` into `room` from our account; its event id.
    #[instrument(skip(self, text), level = "debug")]
    pub async fn send_text(
        &self,
        room: &RoomId,
        txn: &str,
        text: &str,
    ) -> Result<String, AdminError> {
        let body = json!({"msgtype": "m.text", "body": text});
        let url = self.url(&in_room(room, ["send", "m.room.message", txn]));
        let sent: Sent = self.send(reqwest::Method::PUT, url, Some(&body)).await?;
        Ok(sent.event_id)
    }
}

/// A client-API path under `room`.
fn in_room<'a>(room: &'a RoomId, rest: [&'a str; 3]) -> [&'a str; 8] {
    let [a, b, c] = rest;
    ["_matrix", "client", "v3", "rooms", room.as_str(), a, b, c]
}
