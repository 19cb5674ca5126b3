//! The one task that owns the state machine: it applies inputs in the order
//! they arrive, wakes the machine at its deadline, and carries out its
//! effects. Jobs and sends run as their own tasks and report back here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use matrix_sdk::Client;
use matrix_sdk::room::Room;
use matrix_sdk::ruma::OwnedEventId;
use matrix_sdk::ruma::events::reaction::ReactionEventContent;
use matrix_sdk::ruma::events::relation::Annotation;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use super::chat::{self, Text, best_effort_edit, post};
use super::machine::{Effect, Input, InviteAnswer, JobId, Machine};
use super::{delete_job, publish, scan_job};
use crate::admin::AdminClient;
use crate::config::Config;
use crate::timefmt::now_ms;

/// How long a shutdown waits for jobs to reach a journaled step.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Where handlers and jobs send their news. Cheap to clone.
#[derive(Clone)]
pub struct Inbox(mpsc::UnboundedSender<Input>);

impl Inbox {
    pub fn send(&self, input: Input) {
        // Closed only when the actor has ended: then nobody is listening.
        let _ = self.0.send(input);
    }
}

/// What jobs need from the bot.
pub struct World {
    pub client: Client,
    pub admin: AdminClient,
    pub config: Config,
    pub admin_room: matrix_sdk::ruma::OwnedRoomId,
    pub inbox: Inbox,
    pub shares_account: bool,
    outbox: mpsc::UnboundedSender<Outgoing>,
}

impl World {
    /// The admin room, once the bot is in it.
    pub fn room(&self) -> Option<Room> {
        self.client.get_room(&self.admin_room)
    }

    pub fn journal_path(&self) -> std::path::PathBuf {
        self.config.bot.data_dir.join(JOURNAL_FILE)
    }
}

/// The bot's journal, apart from the command line's.
pub const JOURNAL_FILE: &str = "deletion-journal.jsonl";

enum Outgoing {
    Say(Text),
    Edit(OwnedEventId, Text),
}

/// A job's two signals.
struct Signals {
    cancel: watch::Sender<bool>,
    stop: watch::Sender<bool>,
}

pub fn channel() -> (Inbox, mpsc::UnboundedReceiver<Input>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Inbox(tx), rx)
}

/// Builds the world the jobs share, with its ordered outbox.
pub fn world(
    client: Client,
    admin: AdminClient,
    config: Config,
    admin_room: matrix_sdk::ruma::OwnedRoomId,
    inbox: Inbox,
    shares_account: bool,
) -> Arc<World> {
    let (outbox, mut queue) = mpsc::unbounded_channel();
    let world = Arc::new(World {
        client,
        admin,
        config,
        admin_room,
        inbox,
        shares_account,
        outbox,
    });
    let sender = world.clone();
    // One sender, so replies arrive in the order the machine gave them.
    tokio::spawn(async move {
        while let Some(out) = queue.recv().await {
            let Some(room) = sender.room() else {
                warn!("not in the admin room: a message was not sent");
                continue;
            };
            match out {
                Outgoing::Say(text) => {
                    post(&room, &text).await;
                }
                Outgoing::Edit(id, text) => best_effort_edit(&room, &id, &text).await,
            }
        }
    });
    world
}

/// Applies inputs until the machine says it is done; `shutdown` turning
/// true is an input too.
pub async fn run(
    mut machine: Machine,
    mut inputs: mpsc::UnboundedReceiver<Input>,
    world: Arc<World>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut jobs: HashMap<JobId, Signals> = HashMap::new();
    let mut grace: Option<tokio::time::Instant> = None;
    loop {
        let deadline = machine.next_deadline().map(instant_of);
        let input = tokio::select! {
            input = inputs.recv() => match input {
                Some(input) => input,
                None => return,
            },
            () = sleep_until(deadline) => Input::Tick,
            _ = shutdown.wait_for(|s| *s), if grace.is_none() => {
                grace = Some(tokio::time::Instant::now() + SHUTDOWN_GRACE);
                info!("shutting down: no new work; waiting for jobs to reach a journaled step");
                Input::Shutdown
            }
            () = sleep_until(grace), if grace.is_some() => {
                warn!("jobs did not stop in time; exiting (the journal keeps what was done)");
                return;
            }
        };
        let ended = match &input {
            Input::ScanEnded { job, .. } | Input::DeletionEnded { job, .. } => Some(*job),
            _ => None,
        };
        for effect in machine.handle(now_ms(), input) {
            if !apply(effect, &world, &mut jobs) {
                return;
            }
        }
        if let Some(job) = ended {
            jobs.remove(&job);
        }
    }
}

fn instant_of(ms: i64) -> tokio::time::Instant {
    let wait = u64::try_from(ms.saturating_sub(now_ms())).unwrap_or(0);
    tokio::time::Instant::now() + Duration::from_millis(wait)
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Carries out one effect; `false` when the actor should end.
fn apply(effect: Effect, world: &Arc<World>, jobs: &mut HashMap<JobId, Signals>) -> bool {
    let signals = |jobs: &mut HashMap<JobId, Signals>, job: JobId| {
        let (cancel, cancel_rx) = watch::channel(false);
        let (stop, stop_rx) = watch::channel(false);
        jobs.insert(job, Signals { cancel, stop });
        (cancel_rx, stop_rx)
    };
    match effect {
        Effect::Say(text) => {
            let _ = world.outbox.send(Outgoing::Say(text));
        }
        Effect::EditOffer { event_id, text } => {
            let _ = world.outbox.send(Outgoing::Edit(event_id, text));
        }
        Effect::StartScan { job, args } => {
            let (cancel, _) = signals(jobs, job);
            tokio::spawn(scan_job::run(world.clone(), job, args, cancel));
        }
        Effect::PublishScan {
            result,
            summary,
            status_line,
            offer,
        } => {
            tokio::spawn(publish::scan(
                world.clone(),
                result,
                summary,
                status_line,
                offer,
            ));
        }
        Effect::StartDeletion { job, start } => {
            let (cancel, stop) = signals(jobs, job);
            let control = crate::delete::Control { cancel, stop };
            tokio::spawn(delete_job::run(world.clone(), job, start, control));
        }
        Effect::CancelJob(job) => {
            if let Some(s) = jobs.get(&job) {
                s.cancel.send_replace(true);
            }
        }
        Effect::StopJobs => {
            for s in jobs.values() {
                s.stop.send_replace(true);
            }
        }
        Effect::CancelJournal => {
            let world = world.clone();
            tokio::spawn(async move {
                let result = cancel_journal(&world.journal_path()).await;
                world.inbox.send(Input::JournalCancelled(result));
            });
        }
        Effect::AnswerInvite { room, answer } => {
            let world = world.clone();
            tokio::spawn(async move { answer_invite(&world, room, answer).await });
        }
        Effect::Exit => return false,
    }
    true
}

async fn answer_invite(
    world: &World,
    room_id: matrix_sdk::ruma::OwnedRoomId,
    answer: InviteAnswer,
) {
    let Some(room) = world.client.get_room(&room_id) else {
        return;
    };
    let result = match answer {
        InviteAnswer::Ignore => {
            info!(%room_id, "ignoring an invite (account shared with a human admin)");
            return;
        }
        InviteAnswer::Join => room.join().await.map(|()| "joined the admin room"),
        InviteAnswer::Decline => room.leave().await.map(|()| "declined an invite"),
    };
    match result {
        Ok(done) => info!(%room_id, "{done}"),
        Err(e) => warn!(%room_id, error = %e, ?answer, "could not answer an invite"),
    }
}

/// Writes a cancel into the journal of a run that is not running.
async fn cancel_journal(path: &std::path::Path) -> Result<(), String> {
    let file = match crate::delete::JournalFile::resume(path) {
        Ok(Some(file)) => file,
        Ok(None) => return Err("the journal is gone".to_owned()),
        Err(e) => return Err(e.to_string()),
    };
    file.record(|j| (j.cancel(), ()))
        .await
        .map_err(|e| format!("{e:#}"))
}

/// Adds the confirm and cancel reactions under the offer, for one click.
pub async fn seed_reactions(room: &Room, event_id: &OwnedEventId, keys: [&String; 2]) {
    for key in keys {
        let content = ReactionEventContent::new(Annotation::new(event_id.clone(), key.clone()));
        if let Err(e) = room.send(content).await {
            warn!(error = %e, "could not add a reaction to the offer");
        }
    }
}

/// Sends one message now, outside the outbox (jobs' own messages).
pub async fn say_now(room: &Room, text: &str) -> Option<OwnedEventId> {
    match chat::send(room, &Text::plain(text)).await {
        Ok(id) => Some(id),
        Err(e) => {
            warn!(error = %e, "could not send a message");
            None
        }
    }
}
