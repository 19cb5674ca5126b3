//! The sync loop after start-up (the SDK's own loop ends at the first
//! failure its few retries do not mend). A homeserver that is down or restarting
//! does not stop the bot: failed syncs are retried with a growing pause, the
//! health report says why meanwhile, and the jobs ride the outage out on
//! their own. Only a token the homeserver no longer accepts ends it.

use std::time::Duration;

use futures_util::StreamExt as _;
use matrix_sdk::Client;
use matrix_sdk::RoomState;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::RoomId;
use matrix_sdk::ruma::api::error::ErrorKind;
use tracing::{info, warn};

use super::health::Health;
use crate::metrics::Metrics;
use crate::timefmt::now_ms;

const FIRST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(15);
const LONG_POLL: Duration = Duration::from_secs(30);

/// Syncs until the account's session is gone; returns why.
pub async fn sync(
    client: &Client,
    admin_room: &RoomId,
    health: &Health,
    metrics: &Metrics,
) -> anyhow::Error {
    let mut pause = FIRST_PAUSE;
    let mut failing = false;
    loop {
        // The SDK's loop (it spaces syncs that return at once); a new one
        // after each failure, whose first sync does not wait: a homeserver
        // back from a restart answers it at once.
        let settings = SyncSettings::default()
            .timeout(LONG_POLL)
            .ignore_timeout_on_first_sync(failing);
        let mut syncs = std::pin::pin!(client.sync_stream(settings).await);
        while let Some(result) = syncs.next().await {
            let Err(e) = result else {
                if failing {
                    info!("syncing again");
                    failing = false;
                }
                let joined = client
                    .get_room(admin_room)
                    .is_some_and(|r| r.state() == RoomState::Joined);
                health.synced(now_ms(), joined);
                pause = FIRST_PAUSE;
                continue;
            };
            if session_gone(&e) {
                return e.into();
            }
            warn!(error = %e, retry_in_secs = pause.as_secs(), "sync failed; retrying");
            health.sync_failed(&e.to_string());
            metrics.sync_failed();
            failing = true;
            break;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// Errors that no retry mends: the token was revoked or the account closed.
fn session_gone(e: &matrix_sdk::Error) -> bool {
    matches!(
        e.client_api_error_kind(),
        Some(ErrorKind::UnknownToken { .. } | ErrorKind::UserDeactivated)
    )
}
