//! One read-only connection to Synapse's database, SQLite or PostgreSQL,
//! behind one query call that maps rows as they arrive.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::TryStreamExt as _;
use tokio_postgres::types::Type;

use super::DbError;

/// A connection. SQLite work runs off the async threads.
pub(super) enum Conn {
    Sqlite(Arc<Mutex<rusqlite::Connection>>),
    Postgres(Box<Postgres>),
}

pub(super) struct Postgres {
    client: tokio_postgres::Client,
    /// Statements are prepared once: per-room queries repeat.
    prepared: tokio::sync::Mutex<HashMap<&'static str, tokio_postgres::Statement>>,
}

/// One result row, whichever the database.
pub(super) trait Cells {
    fn int(&self, i: usize) -> Result<Option<i64>, DbError>;
    fn text(&self, i: usize) -> Result<Option<String>, DbError>;
}

/// Turns a row into a value; errors mean the schema is not what we expect.
pub(super) type MapRow<T> = fn(&dyn Cells) -> Result<T, DbError>;

impl Conn {
    /// Opens the file read-only: the connection cannot write, whatever the
    /// file's permissions allow.
    pub(super) async fn sqlite(path: &Path) -> Result<Self, DbError> {
        use rusqlite::OpenFlags;
        let path = path.to_owned();
        let conn = blocking(move || {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = rusqlite::Connection::open_with_flags(&path, flags)?;
            // Synapse writes while we read; wait for its locks a while.
            conn.busy_timeout(Duration::from_secs(10))?;
            conn.pragma_update(None, "query_only", true)?;
            Ok(conn)
        })
        .await?;
        Ok(Self::Sqlite(Arc::new(Mutex::new(conn))))
    }

    /// Connects without TLS (a Unix socket or loopback; see the README), and
    /// makes every transaction read-only: by a startup option, which holds
    /// behind a pooler too, and for the session.
    pub(super) async fn postgres(config: &tokio_postgres::Config) -> Result<Self, DbError> {
        let mut config = config.clone();
        let options = match config.get_options() {
            Some(given) => format!("{given} -c default_transaction_read_only=on"),
            None => "-c default_transaction_read_only=on".to_owned(),
        };
        config.options(options);
        let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "the database connection ended");
            }
        });
        client
            .batch_execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            .await?;
        Ok(Self::Postgres(Box::new(Postgres {
            client,
            prepared: tokio::sync::Mutex::default(),
        })))
    }

    /// Runs `sql` (placeholders `$1`, `$2`… in both dialects) with text
    /// arguments, mapping each row as it arrives.
    pub(super) async fn rows<T: Send + 'static>(
        &self,
        sql: &'static str,
        args: Vec<String>,
        map: MapRow<T>,
    ) -> Result<Vec<T>, DbError> {
        match self {
            Self::Sqlite(conn) => {
                let conn = Arc::clone(conn);
                blocking(move || {
                    let conn = conn.lock().unwrap_or_else(|e| e.into_inner());
                    let mut statement = conn.prepare_cached(sql)?;
                    let mut rows = statement.query(rusqlite::params_from_iter(args.iter()))?;
                    let mut out = Vec::new();
                    while let Some(row) = rows.next()? {
                        out.push(map(row)?);
                    }
                    Ok(out)
                })
                .await
            }
            Self::Postgres(pg) => {
                let Postgres { client, prepared } = &**pg;
                let statement = {
                    let mut prepared = prepared.lock().await;
                    match prepared.get(sql) {
                        Some(s) => s.clone(),
                        None => {
                            let s = client.prepare(sql).await?;
                            prepared.insert(sql, s.clone());
                            s
                        }
                    }
                };
                let rows = client.query_raw(&statement, args.iter()).await?;
                let mut rows = std::pin::pin!(rows);
                let mut out = Vec::new();
                while let Some(row) = rows.try_next().await? {
                    out.push(map(&row)?);
                }
                Ok(out)
            }
        }
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, DbError> + Send + 'static,
) -> Result<T, DbError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| DbError::Worker(e.to_string()))?
}

impl Cells for rusqlite::Row<'_> {
    fn int(&self, i: usize) -> Result<Option<i64>, DbError> {
        Ok(self.get(i)?)
    }

    fn text(&self, i: usize) -> Result<Option<String>, DbError> {
        Ok(self.get(i)?)
    }
}

impl Cells for tokio_postgres::Row {
    fn int(&self, i: usize) -> Result<Option<i64>, DbError> {
        let column = self
            .columns()
            .get(i)
            .ok_or_else(|| DbError::Shape(format!("no column {i}")))?;
        Ok(match *column.type_() {
            Type::INT8 => self.try_get::<_, Option<i64>>(i)?,
            Type::INT4 => self.try_get::<_, Option<i32>>(i)?.map(i64::from),
            Type::INT2 => self.try_get::<_, Option<i16>>(i)?.map(i64::from),
            Type::BOOL => self.try_get::<_, Option<bool>>(i)?.map(i64::from),
            ref other => {
                return Err(DbError::Shape(format!(
                    "column {} is {other}, not a number",
                    column.name()
                )));
            }
        })
    }

    fn text(&self, i: usize) -> Result<Option<String>, DbError> {
        Ok(self.try_get(i)?)
    }
}
