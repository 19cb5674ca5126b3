//! The read-only database path: a scan's listing and each room's last
//! activity read from Synapse's own tables, 10,000 rooms a query, instead
//! of one Admin API request per room. Nothing is written there. Whatever
//! the database cannot answer for sure is left to the Admin API.

mod conn;
mod queries;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use matrix_sdk::ruma::{OwnedRoomId, RoomId, UserId};

use crate::room::{ListedRoom, Newest, Rare, TimelineEvent};
use conn::{Cells, Conn};
use queries::col;

/// The schema versions the queries were written for and checked against
/// (Synapse's `SCHEMA_VERSION`; 94 is Synapse 1.163).
pub const KNOWN_SCHEMAS: std::ops::RangeInclusive<i64> = 94..=94;

/// Where Synapse's database is (`[database]` in the config).
#[derive(Clone)]
pub enum Source {
    Sqlite(PathBuf),
    /// May hold a password, so it is never printed whole.
    Postgres(Box<tokio_postgres::Config>),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "SQLite file {}", path.display()),
            Self::Postgres(config) => {
                write!(
                    f,
                    "PostgreSQL database {}",
                    config.get_dbname().unwrap_or("?")
                )?;
                if let Some(user) = config.get_user() {
                    write!(f, " as {user}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Source({self})")
    }
}

/// Why the database path could not answer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {}", postgres_cause(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error(
        "Synapse's database is at schema version {found}, and oldrooms' queries were written \
         for version {known_low} to {known_high}"
    )]
    UnknownSchema {
        found: i64,
        known_low: i64,
        known_high: i64,
    },
    #[error("{user} is not a user in this database: is it this homeserver's?")]
    Foreign { user: String },
    #[error("unexpected data: {0}")]
    Shape(String),
    #[error("database worker: {0}")]
    Worker(String),
}

/// tokio-postgres prints only the kind of an error; the server's message or
/// the I/O error says what went wrong (never the password: connection
/// strings are checked when the config is read).
fn postgres_cause(e: &tokio_postgres::Error) -> String {
    use std::error::Error as _;
    match (e.as_db_error(), e.source()) {
        (Some(db), _) => format!("{}: {}", db.severity(), db.message()),
        (None, Some(source)) => format!("{e}: {source}"),
        (None, None) => e.to_string(),
    }
}

/// An answer from the database, or `Ask` when only the Admin API can be
/// sure (the stored event may not be what Synapse serves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    Sure(T),
    Ask,
}

/// A room's newest non-membership event, as the Admin API would give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Last {
    At(Newest),
    /// The room has none.
    Nothing,
    /// Not known here (Synapse would not serve the newest one as stored):
    /// read it through the Admin API.
    Ask,
}

/// An open, checked connection to Synapse's database.
pub struct Database {
    conn: Conn,
    source: Source,
    /// Set after a failed read: the rest of the scan asks the Admin API.
    failed: AtomicBool,
    /// A `LIKE` pattern (escaped with `\`) that matches this server's user
    /// ids.
    local_users: String,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Database({})", self.source)
    }
}

impl Database {
    /// Connects, then checks that the schema is one the queries were
    /// written for and that `admin` is a user there (the right server).
    pub async fn open(source: &Source, admin: &UserId) -> Result<Self, DbError> {
        let conn = match source {
            Source::Sqlite(path) => Conn::sqlite(path).await?,
            Source::Postgres(config) => Conn::postgres(config).await?,
        };
        let server = admin.server_name().as_str();
        let escaped: String = server
            .chars()
            .flat_map(|c| match c {
                '\\' | '%' | '_' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let db = Self {
            conn,
            source: source.clone(),
            failed: AtomicBool::new(false),
            local_users: format!("%:{escaped}"),
        };
        let versions = db.conn.rows(queries::SCHEMA_VERSION, vec![], int0).await?;
        let found = versions.into_iter().flatten().max().unwrap_or(0);
        if !KNOWN_SCHEMAS.contains(&found) {
            return Err(DbError::UnknownSchema {
                found,
                known_low: *KNOWN_SCHEMAS.start(),
                known_high: *KNOWN_SCHEMAS.end(),
            });
        }
        let users = db
            .conn
            .rows(queries::USER_EXISTS, vec![admin.to_string()], int0)
            .await?;
        if users.into_iter().flatten().next().unwrap_or(0) == 0 {
            return Err(DbError::Foreign {
                user: admin.to_string(),
            });
        }
        Ok(db)
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    /// False once a read has failed (a dropped connection, say).
    pub fn usable(&self) -> bool {
        !self.failed.load(Ordering::Relaxed)
    }

    /// Marks the database failed; true the first time, to log it once.
    pub fn give_up(&self) -> bool {
        !self.failed.swap(true, Ordering::Relaxed)
    }

    /// Every room, with its last activity when the database is sure of it;
    /// `listed` is told the count after each batch.
    pub async fn rooms(
        &self,
        listed: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<(ListedRoom, Last)>, DbError> {
        let mut rooms: Vec<(ListedRoom, Last)> = Vec::new();
        loop {
            let after = rooms
                .last()
                .map_or(String::new(), |(r, _)| r.room_id.to_string());
            let args = vec![after, self.local_users.clone()];
            let batch = self.conn.rows(queries::ROOMS, args, db_room).await?;
            let full = batch.len() >= queries::BATCH;
            rooms.extend(batch);
            listed(rooms.len());
            if !full {
                return Ok(rooms);
            }
        }
    }

    /// The room's name from its newest `m.room.name` event.
    pub async fn name_from_history(
        &self,
        room_id: &RoomId,
    ) -> Result<Answer<Option<String>>, DbError> {
        let events = self.events(queries::NEWEST_NAME, room_id).await?;
        Ok(events.map(|events| {
            events
                .first()
                .and_then(|e| e.name().map(str::to_owned))
                .filter(|name| !name.is_empty())
        }))
    }

    /// The room's canonical alias from its history, as for the name.
    pub async fn alias_from_history(
        &self,
        room_id: &RoomId,
    ) -> Result<Answer<Option<String>>, DbError> {
        let events = self.events(queries::NEWEST_ALIAS, room_id).await?;
        Ok(events.map(|events| {
            events
                .first()
                .and_then(|e| e.alias().map(str::to_owned))
                .filter(|alias| !alias.is_empty())
        }))
    }

    /// Whether one of the room's first membership events is an invite that
    /// marks a direct chat.
    pub async fn is_direct(&self, room_id: &RoomId) -> Result<Answer<bool>, DbError> {
        let events = self.events(queries::FIRST_MEMBERSHIPS, room_id).await?;
        Ok(events.map(|events| events.iter().any(TimelineEvent::is_direct_invite)))
    }

    /// The users joined to the room now, local and remote.
    pub async fn joined_members(&self, room_id: &RoomId) -> Result<Vec<String>, DbError> {
        let members = self
            .conn
            .rows(queries::JOINED, vec![room_id.to_string()], text0)
            .await?;
        Ok(members.into_iter().flatten().collect())
    }

    /// The events a query selects, unless one of them may not be served as
    /// stored.
    async fn events(
        &self,
        sql: &'static str,
        room_id: &RoomId,
    ) -> Result<Answer<Vec<TimelineEvent>>, DbError> {
        let rows = self
            .conn
            .rows(sql, vec![room_id.to_string()], event_row)
            .await?;
        Ok(rows
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .map_or(Answer::Ask, Answer::Sure))
    }
}

impl<T> Answer<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Answer<U> {
        match self {
            Self::Sure(t) => Answer::Sure(f(t)),
            Self::Ask => Answer::Ask,
        }
    }
}

fn int0(row: &dyn Cells) -> Result<Option<i64>, DbError> {
    row.int(0)
}

fn text0(row: &dyn Cells) -> Result<Option<String>, DbError> {
    row.text(0)
}

/// An event's JSON as Synapse serves it, or `None` when unsure.
fn event_row(row: &dyn Cells) -> Result<Option<TimelineEvent>, DbError> {
    let (json, doubt) = (row.text(0)?, row.int(1)?);
    let Some(json) = json.filter(|_| doubt == Some(0)) else {
        return Ok(None);
    };
    Ok(serde_json::from_str(&json).ok())
}

fn db_room(row: &dyn Cells) -> Result<(ListedRoom, Last), DbError> {
    let text = |i| row.text(i).map(|t| t.map(String::into_boxed_str));
    // The Admin API path fails on a negative count; so does this one.
    // A count Synapse has not filled in marks the room incomplete, as the
    // Admin API path does with the null it then answers.
    let count = |i| -> Result<Option<u64>, DbError> {
        row.int(i)?
            .map(|n| u64::try_from(n).map_err(|_| DbError::Shape(format!("member count {n}"))))
            .transpose()
    };
    let id = row.text(col::ROOM_ID)?.unwrap_or_default();
    let room_id = OwnedRoomId::try_from(id.as_str())
        .map_err(|e| DbError::Shape(format!("room id {id:?}: {e}")))?;
    let (joined, local) = (count(col::JOINED)?, count(col::LOCAL)?);
    let mut room = ListedRoom {
        room_id,
        name: text(col::NAME)?,
        creator: text(col::CREATOR)?,
        joined_members: joined.unwrap_or(0),
        joined_local_members: local.unwrap_or(0),
        public: row.int(col::PUBLIC)? == Some(1),
        rare: Rare::boxed(
            text(col::ALIAS)?,
            text(col::ROOM_TYPE)?,
            text(col::ENCRYPTION)?,
        ),
    };
    if local.is_none() {
        room.mark_missing("joined_local_members");
    } else if joined.is_none() {
        room.mark_missing("joined_members");
    }
    let last = match (
        row.int(col::LAST_STATE)?,
        row.int(col::TS)?,
        text(col::LAST_ID)?,
    ) {
        (Some(0), _, _) => Last::Nothing,
        (Some(1), Some(ts), Some(event_id)) => Last::At(Newest { ts, event_id }),
        _ => Last::Ask,
    };
    Ok((room, last))
}

#[cfg(test)]
mod tests;
