//! Deleting rooms with the Delete Room API v2, which answers at once with a
//! `delete_id` and runs the purge in Synapse's task scheduler.
//!
//! - Delete Room API v2: <https://element-hq.github.io/synapse/latest/admin_api/rooms.html#version-2-new-version>
//! - Status of deleting rooms: <https://element-hq.github.io/synapse/latest/admin_api/rooms.html#status-of-deleting-rooms>

use matrix_sdk::ruma::{OwnedUserId, RoomId};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::instrument;

use super::{AdminClient, AdminError};

#[derive(Deserialize)]
struct Submitted {
    delete_id: String,
}

/// Where a deletion task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteState {
    Scheduled,
    Active,
    Complete,
    Failed,
    /// Also seen on cancelled tasks; and any status we do not know.
    #[serde(other)]
    Cancelled,
}

/// The status of one deletion task.
#[derive(Debug, Clone, Deserialize)]
pub struct DeleteStatus {
    pub status: DeleteState,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub shutdown_room: Option<ShutdownRoom>,
    #[serde(default)]
    pub delete_id: Option<String>,
}

/// What shutting the room down did.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ShutdownRoom {
    #[serde(default)]
    pub kicked_users: Vec<String>,
    #[serde(default)]
    pub failed_to_kick_users: Vec<String>,
    /// The notice room the local members were moved to, if one was asked.
    #[serde(default)]
    pub new_room_id: Option<String>,
}

/// A room Synapse makes when it deletes one, with a message, into which it
/// moves the local members (and the local aliases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRoom {
    /// A local user who makes the room and sends the message.
    pub creator: OwnedUserId,
    pub room_name: String,
    pub message: String,
}

/// A deletion task as the Scheduled Tasks API lists it, whatever its state
/// (the room's delete status leaves out a task that is only scheduled).
#[derive(Debug, Clone, Deserialize)]
pub struct DeleteTask {
    /// The task's id, which is the deletion's `delete_id`.
    pub id: String,
    pub status: DeleteState,
    /// When Synapse last updated the task (its clock, ms): at or after the
    /// moment it was created.
    pub timestamp_ms: i64,
}

#[derive(Deserialize)]
struct Tasks {
    scheduled_tasks: Vec<DeleteTask>,
}

/// Synapse's name for the task that the Delete Room API v2 schedules.
const DELETE_ACTION: &str = "shutdown_and_purge_room";

impl AdminClient {
    /// Every deletion task Synapse remembers for a room (a week), scheduled
    /// ones included, from the Scheduled Tasks API.
    /// <https://element-hq.github.io/synapse/latest/admin_api/scheduled_tasks.html>
    #[instrument(skip(self), level = "debug")]
    pub async fn room_delete_tasks(&self, room_id: &RoomId) -> Result<Vec<DeleteTask>, AdminError> {
        let tasks: Tasks = self
            .get(
                &["_synapse", "admin", "v1", "scheduled_tasks"],
                &[
                    ("resource_id", room_id.as_str()),
                    ("action_name", DELETE_ACTION),
                ],
            )
            .await?;
        Ok(tasks.scheduled_tasks)
    }

    /// Starts deleting a room: members kicked, history purged; with
    /// `notice`, the local members are moved into a new room with its
    /// message (`new_room_user_id`). Returns the task's `delete_id`.
    #[instrument(skip(self, notice), level = "debug")]
    pub async fn start_delete(
        &self,
        room_id: &RoomId,
        block: bool,
        notice: Option<&NoticeRoom>,
    ) -> Result<String, AdminError> {
        let mut body = json!({"purge": true, "block": block});
        if let Some(n) = notice {
            body["new_room_user_id"] = json!(n.creator);
            body["room_name"] = json!(n.room_name);
            body["message"] = json!(n.message);
        }
        let url = self.url(&["_synapse", "admin", "v2", "rooms", room_id.as_str()]);
        let answer: Submitted = self.send(reqwest::Method::DELETE, url, Some(&body)).await?;
        Ok(answer.delete_id)
    }

    #[instrument(skip(self), level = "debug")]
    pub async fn delete_status(&self, delete_id: &str) -> Result<DeleteStatus, AdminError> {
        let segs = [
            "_synapse",
            "admin",
            "v2",
            "rooms",
            "delete_status",
            delete_id,
        ];
        self.get(&segs, &[]).await
    }
}
