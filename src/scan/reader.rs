//! Where a scan reads what the listing did not say: Synapse's database when
//! one is open and sure of the answer, the Admin API otherwise.

use matrix_sdk::ruma::RoomId;
use tracing::warn;

use super::cache::Cache;
use crate::admin::{AdminClient, AdminError};
use crate::db::{Answer, Database, DbError};

pub(crate) struct Reader<'a> {
    pub(crate) api: &'a AdminClient,
    pub(crate) db: Option<&'a Database>,
    /// Last activities of the previous scan (API path only).
    pub(crate) cache: Option<&'a Cache>,
}

impl Reader<'_> {
    fn db(&self) -> Option<&Database> {
        self.db.filter(|db| db.usable())
    }

    pub(super) async fn name_from_history(
        &self,
        room_id: &RoomId,
    ) -> Result<Option<String>, AdminError> {
        if let Some(db) = self.db()
            && let Some(name) = sure(db, db.name_from_history(room_id).await)
        {
            return Ok(name);
        }
        self.api.name_from_history(room_id).await
    }

    pub(super) async fn alias_from_history(
        &self,
        room_id: &RoomId,
    ) -> Result<Option<String>, AdminError> {
        if let Some(db) = self.db()
            && let Some(alias) = sure(db, db.alias_from_history(room_id).await)
        {
            return Ok(alias);
        }
        self.api.alias_from_history(room_id).await
    }

    pub(super) async fn joined_members(&self, room_id: &RoomId) -> Result<Vec<String>, AdminError> {
        if let Some(db) = self.db()
            && let Some(members) = sure(db, db.joined_members(room_id).await.map(Answer::Sure))
        {
            return Ok(members);
        }
        self.api.joined_members(room_id).await
    }

    pub(super) async fn is_direct(&self, room_id: &RoomId) -> Result<bool, AdminError> {
        if let Some(db) = self.db()
            && let Some(direct) = sure(db, db.is_direct(room_id).await)
        {
            return Ok(direct);
        }
        self.api.is_direct(room_id).await
    }
}

/// The database's answer when it is sure. After a failure, logged once,
/// the rest of the scan asks the Admin API.
fn sure<T>(db: &Database, answer: Result<Answer<T>, DbError>) -> Option<T> {
    match answer {
        Ok(Answer::Sure(t)) => Some(t),
        Ok(Answer::Ask) => None,
        Err(e) => {
            if db.give_up() {
                warn!(error = %e, "a database read failed; the rest of the scan asks the Admin API");
            }
            None
        }
    }
}
