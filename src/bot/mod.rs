//! The Matrix bot: logs in with matrix-sdk, lives in the admin room, answers
//! commands from `bot.admins`, and runs scans in the background.

mod chat;
mod commands;
mod confirm;
mod delete_job;
mod handlers;
mod job;
mod login;
mod scan_job;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use anyhow::Context as _;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use tracing::info;

use crate::admin::AdminClient;
use crate::config::Config;
use crate::session::{resolve_room, verify_admin};

pub use chat::shorten;

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct Bot {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    admin: AdminClient,
    own_user: OwnedUserId,
    admin_room: OwnedRoomId,
    admins: HashSet<OwnedUserId>,
    state: Mutex<State>,
}

/// What changes while the bot runs.
#[derive(Default)]
struct State {
    job: Option<job::Job>,
    last_scan: Option<scan_job::LastScan>,
    /// The standing offer to delete, from the newest scan.
    offer: Option<confirm::Offer>,
    /// Offers that were used, withdrawn or replaced: reactions to them are
    /// answered, and change nothing.
    old_offers: HashSet<OwnedEventId>,
    /// When each non-admin was last told no, so spam gets one answer.
    refused: HashMap<OwnedUserId, Instant>,
    next_job_id: u64,
}

impl Bot {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not stop the bot from answering.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True when the bot shares its account with a human admin: then it must
    /// not decline invites meant for that human.
    fn shares_account(&self) -> bool {
        self.inner.admins.contains(&self.inner.own_user)
    }
}

/// Runs the bot until `shutdown` completes (even during start-up) or the
/// sync fails for good. Work in progress is dropped with the runtime.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    tokio::select! {
        result = serve(config) => result,
        () = shutdown => {
            info!("shutting down");
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let Some(admin_room) = config.bot.admin_room.clone() else {
        return Err(config
            .invalid("bot.admin_room", "the bot needs an admin room")
            .into());
    };
    if config.bot.admins.is_empty() {
        return Err(config
            .invalid("bot.admins", "list at least one admin")
            .into());
    }
    let login::LoggedIn { client, token } = login::login(&config).await?;
    let admin = AdminClient::new(config.homeserver.clone(), token, config.scan.http)?;
    verify_admin(&admin, &config).await?;
    let admin_room = resolve_room(&admin, &config, "bot.admin_room", &admin_room).await?;
    let own_user = config.user_id.clone();
    if config.bot.lift_own_ratelimit {
        admin
            .lift_ratelimit(&own_user)
            .await
            .context("bot.lift_own_ratelimit: could not lift the rate limit")?;
    }
    let bot = Bot {
        inner: Arc::new(Inner {
            admins: config.bot.admins.iter().cloned().collect(),
            config,
            admin,
            own_user,
            admin_room,
            state: Mutex::new(State::default()),
        }),
    };

    // The first sync only catches up: commands sent while the bot was down
    // are not answered, because no handler is registered yet.
    let first = client
        .sync_once(SyncSettings::default())
        .await
        .context("first sync with the homeserver failed")?;
    handlers::handle_pending_invites(&bot, &client).await;
    handlers::join_admin_room(&bot, &client).await;
    client.add_event_handler_context(bot.clone());
    client.add_event_handler(handlers::on_message);
    client.add_event_handler(handlers::on_invite);
    client.add_event_handler(confirm::on_reaction);
    delete_job::resume(&bot, &client).await;
    info!(admin_room = %bot.inner.admin_room, "listening for commands");

    let settings = SyncSettings::default().token(first.next_batch);
    client
        .sync(settings)
        .await
        .context("sync with the homeserver stopped")
}
