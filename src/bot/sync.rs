//! The sync loop after start-up (the SDK's own loop ends at the first
//! failure its few retries do not mend). A homeserver that is down or restarting
//! does not stop the bot: failed syncs are retried with a growing pause, the
//! health report says why meanwhile, and the jobs ride the outage out on
//! their own. Only a token the homeserver no longer accepts ends it.

use std::time::Duration;

use matrix_sdk::Client;
use matrix_sdk::RoomState;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::RoomId;
use matrix_sdk::ruma::api::error::ErrorKind;
use tracing::{info, warn};

use super::health::Health;
use crate::timefmt::now_ms;

const FIRST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(15);
const LONG_POLL: Duration = Duration::from_secs(30);

/// Syncs until the account's session is gone; returns why.
pub async fn sync(client: &Client, admin_room: &RoomId, health: &Health) -> anyhow::Error {
    let long_poll = SyncSettings::default().timeout(LONG_POLL);
    let mut settings = long_poll.clone();
    let mut pause = FIRST_PAUSE;
    let mut failing = false;
    loop {
        match client.sync_once(settings.clone()).await {
            Ok(response) => {
                if failing {
                    info!("syncing again");
                    failing = false;
                }
                let joined = client
                    .get_room(admin_room)
                    .is_some_and(|r| r.state() == RoomState::Joined);
                health.synced(now_ms(), joined);
                pause = FIRST_PAUSE;
                settings = long_poll.clone().token(response.next_batch);
            }
            Err(e) if session_gone(&e) => return e.into(),
            Err(e) => {
                warn!(error = %e, retry_in_secs = pause.as_secs(), "sync failed; retrying");
                health.sync_failed(&e.to_string());
                failing = true;
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
                // A homeserver back from a restart answers a zero-timeout
                // sync at once, rather than after a quiet long poll.
                settings = settings.timeout(Duration::ZERO);
            }
        }
    }
}

/// Errors that no retry mends: the token was revoked or the account closed.
fn session_gone(e: &matrix_sdk::Error) -> bool {
    matches!(
        e.client_api_error_kind(),
        Some(ErrorKind::UnknownToken { .. } | ErrorKind::UserDeactivated)
    )
}
