//! What the bot's jobs share: the clients, the config, the inbox back to
//! the actor, and an outbox that sends the machine's replies in order.

use std::sync::Arc;

use matrix_sdk::Client;
use matrix_sdk::room::Room;
use matrix_sdk::ruma::OwnedEventId;
use matrix_sdk::ruma::events::reaction::ReactionEventContent;
use matrix_sdk::ruma::events::relation::Annotation;
use tokio::sync::mpsc;
use tracing::warn;

use super::chat::{self, Text, best_effort_edit, post};
use super::machine::Input;
use crate::admin::AdminClient;
use crate::config::Config;
use crate::metrics::Metrics;

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
    /// What the bot did, for `/metrics`.
    pub metrics: Arc<Metrics>,
    pub(super) outbox: mpsc::UnboundedSender<Outgoing>,
}

impl World {
    /// The admin room, once the bot is in it.
    pub fn room(&self) -> Option<Room> {
        self.client.get_room(&self.admin_room)
    }

    /// The policy with every alias resolved through the pins; a protected
    /// alias that moved or vanished since is told in the admin room, once.
    pub async fn policy(&self) -> anyhow::Result<crate::policy::Policy> {
        let (policy, news) = crate::session::resolve_policy_told(&self.admin, &self.config).await?;
        self.tell(&news).await;
        Ok(policy)
    }

    /// Says each line in the admin room (and in the log, should the bot not
    /// be in the room).
    pub async fn tell(&self, lines: &[String]) {
        for line in lines {
            warn!(notice = %line, "a protected room's alias changed");
            if let Some(room) = self.room() {
                say_now(&room, line).await;
            }
        }
    }

    pub fn journal_path(&self) -> std::path::PathBuf {
        self.config.bot.data_dir.join(JOURNAL_FILE)
    }

    pub fn plan_path(&self) -> std::path::PathBuf {
        self.config.bot.data_dir.join(PLAN_FILE)
    }

    /// The standing scan offer's rooms.
    pub fn offer_path(&self) -> std::path::PathBuf {
        self.config.bot.data_dir.join(super::offer_file::FILE)
    }
}

/// The bot's plan, apart from the command line's.
pub const PLAN_FILE: &str = "plan.jsonl";

/// The bot's journal, apart from the command line's.
pub const JOURNAL_FILE: &str = "deletion-journal.jsonl";

pub(super) enum Outgoing {
    Say(Text),
    Edit(OwnedEventId, Text),
    /// Answered once everything queued before it is sent.
    Flush(tokio::sync::oneshot::Sender<()>),
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
    metrics: Arc<Metrics>,
) -> Arc<World> {
    let (outbox, mut queue) = mpsc::unbounded_channel();
    let world = Arc::new(World {
        client,
        admin,
        config,
        admin_room,
        inbox,
        shares_account,
        metrics,
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
                Outgoing::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    });
    world
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
