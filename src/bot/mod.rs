//! The Matrix bot: logs in with matrix-sdk, lives in the admin room, and
//! turns what happens there into inputs of one state machine (`machine`),
//! whose effects the actor carries out. Data flows one way: handlers ->
//! actor -> machine -> effects -> jobs -> actor.

mod actor;
mod chat;
mod commands;
mod delete_job;
mod dry_run_job;
mod handlers;
mod health;
mod http;
mod login;
pub mod machine;
mod messages;
mod observe;
mod offer_file;
mod plan_job;
mod publish;
mod scan_job;
mod schedule_file;
mod sync;
mod text;
mod trust;

pub use login::STORE_DIR;
pub use trust::RECOVERY_KEY_FILE;
mod upload_job;
mod world;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use matrix_sdk::Client;
use matrix_sdk::config::SyncSettings;
use tokio::sync::watch;
use tracing::info;

use crate::admin::AdminClient;
use crate::config::{Config, reaction_key};
use crate::delete::journal_file;
use crate::metrics::Metrics;
use crate::session::{resolve_policy_told, verify_admin};

/// Runs the bot until `shutdown` completes (even during start-up) or the
/// homeserver no longer accepts its session. A homeserver that is down only
/// pauses it. On shutdown the bot takes no new work, stops its jobs at a
/// journaled step, and returns.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let sources = Arc::new(http::Sources {
        health: Arc::default(),
        metrics: Arc::default(),
    });
    // Bound before the login, so a supervisor sees 503 while the bot starts.
    let _listener = match config.bot.health_listen {
        Some(addr) => Some(listen(addr, &sources).await?),
        None => None,
    };
    observe::prepare(&sources.metrics);
    let (stop, _) = watch::channel(false);
    let serving = serve(config, &stop, &sources);
    tokio::pin!(serving);
    tokio::select! {
        result = &mut serving => return result,
        () = shutdown => {
            info!("shutting down");
            stop.send_replace(true);
        }
    }
    // Start-up ends at once; a running bot finishes its jobs' steps first.
    serving.await
}

/// Serves `/healthz` and `/metrics` on `addr` until the returned guard is
/// dropped.
async fn listen(addr: SocketAddr, sources: &Arc<http::Sources>) -> anyhow::Result<AbortOnDrop> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("bot.health_listen: cannot listen on {addr}"))?;
    info!(%addr, "health check at /healthz, metrics at /metrics");
    Ok(AbortOnDrop(tokio::spawn(http::serve(
        listener,
        sources.clone(),
    ))))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn serve(
    config: Config,
    stop: &watch::Sender<bool>,
    sources: &http::Sources,
) -> anyhow::Result<()> {
    let mut early = stop.subscribe();
    let (client, ready) = tokio::select! {
        ready = start(config, sources.metrics.clone()) => ready?,
        _ = early.wait_for(|s| *s) => return Ok(()),
    };
    let admin_room = ready.world.admin_room.clone();
    let health = &sources.health;
    let actor = ready.run(stop.subscribe(), health);
    tokio::pin!(actor);
    let gone = tokio::select! {
        gone = sync::sync(&client, &admin_room, health, &sources.metrics) => gone,
        () = &mut actor => return Ok(()),
    };
    // The session is gone for good: jobs still stop at a journaled step.
    stop.send_replace(true);
    actor.await;
    Err(gone.context("the homeserver ended the bot's session"))
}

/// The bot, logged in and caught up, its handlers registered.
struct Ready {
    machine: machine::Machine,
    inputs: tokio::sync::mpsc::UnboundedReceiver<machine::Input>,
    world: std::sync::Arc<world::World>,
}

impl Ready {
    async fn run(self, stopping: watch::Receiver<bool>, health: &health::Health) {
        actor::run(self.machine, self.inputs, self.world, stopping, health).await;
    }
}

async fn start(config: Config, metrics: Arc<Metrics>) -> anyhow::Result<(Client, Ready)> {
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
    let admin = AdminClient::new(config.homeserver.clone(), token, config.scan.http)?
        .with_metrics(metrics.clone());
    verify_admin(&admin, &config).await?;
    // Every alias is resolved and pinned at start; the admin room is the
    // room its alias first named.
    let (policy, news) = resolve_policy_told(&admin, &config).await?;
    let Some(admin_room) = policy.admin_room else {
        return Err(config
            .invalid("bot.admin_room", format!("{admin_room} names no room"))
            .into());
    };
    let own_user = config.user_id.clone();
    let shares_account = config.bot.admins.contains(&own_user);
    if config.bot.lift_own_ratelimit {
        admin
            .lift_ratelimit(&own_user)
            .await
            .context("bot.lift_own_ratelimit: could not lift the rate limit")?;
    }
    trust::ensure(&client, &admin, &config, shares_account).await;
    catch_up(&client).await?;

    let settings = machine::Settings {
        admins: config.bot.admins.iter().cloned().collect(),
        admin_room: admin_room.clone(),
        prefix: config.bot.command_prefix.clone(),
        confirm_key: reaction_key(&config.delete.confirm_reaction),
        cancel_key: reaction_key(&config.delete.cancel_reaction),
        confirm_shown: config.delete.confirm_reaction.clone(),
        cancel_shown: config.delete.cancel_reaction.clone(),
        confirm_timeout_ms: i64::try_from(config.delete.confirm_timeout.as_millis())
            .unwrap_or(i64::MAX / 2),
        shares_account,
        schedule: config
            .schedule
            .map(|s| schedule_file::load(&config.bot.data_dir, s, crate::timefmt::now_ms())),
        grace_ms: config
            .delete
            .grace
            .filter(|g| !g.is_zero())
            .map(|g| i64::try_from(g.as_millis()).unwrap_or(i64::MAX / 2)),
    };
    let (inbox, inputs) = world::channel();
    let forward = handlers::Forward {
        inbox: inbox.clone(),
        admin_room: admin_room.clone(),
        own_user,
        prefix: config.bot.command_prefix.clone(),
    };
    let journal_path = config.bot.data_dir.join(world::JOURNAL_FILE);
    // Read once: a large run's journal is tens of megabytes.
    let journal = journal_file::read(&journal_path);
    let unfinished = journal.as_ref().ok().and_then(Option::as_ref);
    let plan = plan_on_disk(&config.bot.data_dir.join(world::PLAN_FILE), unfinished);
    let journal = on_disk(journal);
    let shares = settings.shares_account;
    let world = world::world(
        client.clone(),
        admin,
        config,
        admin_room.clone(),
        inbox.clone(),
        shares,
        metrics,
    );
    handlers::forward_pending_invites(&forward, &client).await;
    handlers::join_admin_room(&admin_room, &client).await;
    world.tell(&news).await;
    // The plan first: start-up work is decided once both are known.
    inbox.send(machine::Input::PlanFound(plan));
    inbox.send(machine::Input::Started(journal));
    client.add_event_handler_context(forward);
    client.add_event_handler(handlers::on_message);
    client.add_event_handler(handlers::on_invite);
    client.add_event_handler(handlers::on_reaction);
    info!(%admin_room, "listening for commands");
    let ready = Ready {
        machine: machine::Machine::new(settings),
        inputs,
        world,
    };
    Ok((client, ready))
}

/// Syncs until the bot has seen everything up to now, with no handler
/// registered: commands sent while it was down are not answered.
///
/// Synapse caches a sync response for a while under its request (since
/// token, timeout, filter...). The long poll of a bot stopped before it
/// stored that response's token would be answered again from that cache,
/// stale, and the backlog would then reach the handlers. A zero timeout is
/// another cache key, and syncing until nothing new comes closes the case
/// of an earlier start that stopped during its own catch-up.
async fn catch_up(client: &Client) -> anyhow::Result<()> {
    let mut settings = SyncSettings::default().timeout(Duration::ZERO);
    for _ in 0..5 {
        let response = client
            .sync_once(settings)
            .await
            .context("first sync with the homeserver failed")?;
        let quiet = response
            .rooms
            .joined
            .values()
            .all(|r| r.timeline.events.is_empty());
        if quiet {
            break;
        }
        settings = SyncSettings::default()
            .timeout(Duration::ZERO)
            .token(response.next_batch);
    }
    Ok(())
}

/// What the journal on disk says, for the state machine.
fn on_disk(
    read: Result<Option<crate::delete::journal::Journal>, crate::delete::OpenError>,
) -> machine::OnDisk {
    match read {
        Ok(None) => machine::OnDisk::Nothing,
        Ok(Some(j)) => machine::OnDisk::Unfinished {
            confirmed_by: j.confirmed_by.clone(),
            confirmed_at: j.confirmed_at,
            counts: j.counts(),
        },
        Err(e) => machine::OnDisk::Unreadable(e.to_string()),
    }
}

/// What the bot's plan file says, for the state machine (a plan withdrawn,
/// or already in `journal`, is archived: see `steps::pending`).
fn plan_on_disk(
    path: &std::path::Path,
    journal: Option<&crate::delete::journal::Journal>,
) -> machine::PlanOnDisk {
    match crate::plan::steps::pending(path, journal) {
        Ok(None) => machine::PlanOnDisk::Nothing,
        Ok(Some(plan)) => machine::PlanOnDisk::Waiting(machine::PlanFacts::of(&plan)),
        Err(e) => machine::PlanOnDisk::Unreadable(format!("{e:#}")),
    }
}
