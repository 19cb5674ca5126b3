//! Where a scan reads what the listing did not say: Synapse's database when
//! one is open and sure of the answer, the Admin API otherwise.

use matrix_sdk::ruma::RoomId;
use tracing::warn;

use super::cache::Cache;
use crate::admin::{AdminClient, AdminError};
use crate::db::{Database, DbError};

pub(super) struct Reader<'a> {
    pub(super) api: &'a AdminClient,
    pub(super) db: Option<&'a Database>,
    /// Last activities of the previous scan (API path only).
    pub(super) cache: Option<&'a Cache>,
}

impl Reader<'_> {
    pub(super) async fn name_from_history(
        &self,
        room_id: &RoomId,
    ) -> Result<Option<String>, AdminError> {
        if let Some(db) = self.db
            && let Some(name) = sure(db.name_from_history(room_id).await, room_id)
        {
            return Ok(name);
        }
        self.api.name_from_history(room_id).await
    }

    pub(super) async fn joined_members(&self, room_id: &RoomId) -> Result<Vec<String>, AdminError> {
        if let Some(db) = self.db
            && let Some(members) = sure(db.joined_members(room_id).await.map(Some), room_id)
        {
            return Ok(members);
        }
        self.api.joined_members(room_id).await
    }

    pub(super) async fn is_direct(&self, room_id: &RoomId) -> Result<bool, AdminError> {
        if let Some(db) = self.db
            && let Some(direct) = sure(db.is_direct(room_id).await, room_id)
        {
            return Ok(direct);
        }
        self.api.is_direct(room_id).await
    }
}

/// The database's answer when it has one; a failure is logged, and the
/// Admin API asked instead.
fn sure<T>(answer: Result<Option<T>, DbError>, room_id: &RoomId) -> Option<T> {
    answer
        .inspect_err(|e| warn!(%room_id, error = %e, "database read failed; asking the Admin API"))
        .ok()
        .flatten()
}
