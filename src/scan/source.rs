//! Where a scan reads the rooms, chosen once from the config for the bot and
//! the command line alike, and the one entry that runs a scan from it: the
//! cache is loaded and saved here, off the async threads.

use std::path::{Path, PathBuf};

use matrix_sdk::ruma::UserId;

use super::cache::Cache;
use super::{Progress, ScanOutcome, scan, scan_incremental, scan_via_database};
use crate::admin::{AdminClient, AdminError};
use crate::config::{Config, ScanSettings};
use crate::policy::Policy;

/// Where a scan reads the rooms.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// The Admin API: a request per room.
    Api,
    /// The Admin API, reusing and then updating the cache at this path.
    ApiCached(&'a Path),
    /// Synapse's database, read-only; `admin` proves it is this
    /// homeserver's. Falls back to the Admin API, saying why.
    Database {
        source: &'a crate::db::Source,
        admin: &'a UserId,
    },
}

impl<'a> Source<'a> {
    /// The config's `[database]` when it has one (a cache is then not
    /// used), else the Admin API with `cache` if given.
    pub fn of(config: &'a Config, cache: Option<&'a Path>) -> Self {
        match (&config.database, cache) {
            (Some(source), _) => Self::Database {
                source,
                admin: &config.user_id,
            },
            (None, Some(path)) => Self::ApiCached(path),
            (None, None) => Self::Api,
        }
    }
}

/// What became of the scan cache.
#[derive(Debug)]
pub enum CacheKept {
    NotUsed,
    Saved(PathBuf),
    NotSaved { path: PathBuf, error: anyhow::Error },
}

/// Scans every room from `source`. The rows stand even when the cache could
/// not be saved; the caller says so.
pub async fn run(
    client: &AdminClient,
    source: &Source<'_>,
    policy: &Policy,
    settings: &ScanSettings,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<(ScanOutcome, CacheKept), AdminError> {
    match *source {
        Source::Api => Ok((
            scan(client, policy, settings, progress).await?,
            CacheKept::NotUsed,
        )),
        Source::Database { source, admin } => Ok((
            scan_via_database(client, source, admin, policy, settings, progress).await?,
            CacheKept::NotUsed,
        )),
        Source::ApiCached(path) => {
            let read = path.to_owned();
            let cache = tokio::task::spawn_blocking(move || Cache::load(&read))
                .await
                .unwrap_or_default();
            tracing::info!(rooms = cache.len(), path = %path.display(), "scan cache read");
            let (outcome, next) =
                scan_incremental(client, policy, settings, &cache, progress).await?;
            drop(cache);
            let write = path.to_owned();
            let saved = tokio::task::spawn_blocking(move || next.save(&write))
                .await
                .map_err(anyhow::Error::from)
                .and_then(|r| r);
            let kept = match saved {
                Ok(()) => CacheKept::Saved(path.to_owned()),
                Err(error) => CacheKept::NotSaved {
                    path: path.to_owned(),
                    error,
                },
            };
            Ok((outcome, kept))
        }
    }
}
