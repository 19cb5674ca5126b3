//! A plan from chat: the confirmed offer's rooms split by who is in them,
//! the plan written and its people warned, then the rooms nobody is in
//! deleted by the same job; later, the warnings still owed; at the
//! deadline, the plan's deletion.

use std::sync::Arc;

use matrix_sdk::ruma::OwnedEventId;

use super::delete_job::{archive, execute_start, report};
use super::machine::{Confirmed, DeletionEnd, Input, JobId, PlanEnd, PlanFacts, PlanStart};
use super::world::World;
use crate::delete::journal::Journal;
use crate::delete::{Control, Start};
use crate::plan::steps::{self, Due};
use crate::plan::warn::Channel;
use crate::plan::{Plan, file};

pub async fn run(world: Arc<World>, job: JobId, start: PlanStart, control: Control) {
    let (confirmed, deadline, offer) = match start {
        PlanStart::Warn => {
            let end = warn_owed(&world).await.unwrap_or_else(|e| {
                PlanEnd::Failed(format!("the plan's warnings stopped ({e:#})"))
            });
            world.inbox.send(Input::Planned { job, end });
            return;
        }
        PlanStart::New {
            confirmed,
            deadline,
            offer,
        } => (*confirmed, deadline, offer),
    };
    let cancelled = || *control.cancel.borrow();
    let (end, now) = make(&world, confirmed, deadline, offer, &cancelled).await;
    world.inbox.send(Input::Planned { job, end });
    // The machine makes this job the deletion of the rooms nobody is in.
    let Some(now) = now else {
        return;
    };
    let end = match world.room() {
        Some(room) => {
            let start = Start::New(Box::new(now));
            execute_start(&world, &room, job, start, control, None).await
        }
        None => DeletionEnd::Refused("the bot is not in the admin room".to_owned()),
    };
    world.inbox.send(Input::DeletionEnded { job, end });
}

/// Makes the plan; with the rooms nobody is in, to delete next (`None`
/// when there are none, or a cancel came).
async fn make(
    world: &World,
    confirmed: Confirmed,
    deadline: i64,
    offer: Option<OwnedEventId>,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> (PlanEnd, Option<Journal>) {
    let (by, at, options) = (
        confirmed.by.clone(),
        confirmed.at,
        confirmed.options.clone(),
    );
    let rooms = match super::offer_file::journal(&world.offer_path(), confirmed).await {
        Ok(journal) => journal.rooms,
        Err(e) => return (PlanEnd::Failed(e), None),
    };
    let policy = match world.policy().await {
        Ok(p) => p.for_run(options.clone()),
        Err(e) => {
            return (
                PlanEnd::Failed(format!("cannot read the policy ({e:#})")),
                None,
            );
        }
    };
    let config = &world.config;
    let ours = &config.user_id;
    let concurrency = config.scan.concurrency;
    let split = match steps::split(&world.admin, &policy, ours, rooms, concurrency).await {
        Ok(split) => split,
        Err(e) => {
            let why = format!("cannot read who is in the rooms ({e:#})");
            return (PlanEnd::Failed(why), None);
        }
    };
    let now = split.now.len();
    let now_journal =
        (now > 0 && !cancelled()).then(|| Journal::new(&by, at, options.clone(), split.now));
    if split.later.is_empty() {
        let now = now_journal.as_ref().map_or(0, |j| j.rooms.len());
        return (PlanEnd::Nobody { now }, now_journal);
    }
    let channel = match Channel::of(&world.admin).await {
        Ok(channel) => channel,
        Err(e) => {
            let why = format!("cannot tell how to warn people ({e})");
            return (PlanEnd::Failed(why), None);
        }
    };
    let mut plan = Plan::new(
        format!("{at:x}"),
        &by,
        at,
        deadline,
        options,
        split.later,
        &split.people_of,
    );
    plan.offer = offer.map(|e| e.to_string());
    let path = world.plan_path();
    let _held = match file::create(&path, &plan) {
        Ok(held) => held,
        Err(e) => {
            let why = format!("cannot write the plan ({e:#})");
            return (PlanEnd::Failed(why), None);
        }
    };
    let (sent, failed) = match steps::warn(&world.admin, config, &mut plan, &path, channel).await {
        Ok(sent) => (sent.sent, sent.failed),
        Err(e) => (0, vec![format!("the warnings stopped: {e:#}")]),
    };
    tracing::info!(
        sent,
        failed = failed.len(),
        rooms = plan.rooms.len(),
        "plan made"
    );
    // A cancel that came while warning: the machine withdraws the plan,
    // and the rooms nobody is in stay too.
    let now_journal = now_journal.filter(|_| !cancelled());
    let end = PlanEnd::Made {
        plan: PlanFacts::of(&plan),
        now: now_journal.as_ref().map_or(0, |j| j.rooms.len()),
        how: how(channel),
        failed,
    };
    (end, now_journal)
}

/// Sends the waiting plan's warnings still owed.
async fn warn_owed(world: &World) -> anyhow::Result<PlanEnd> {
    let path = world.plan_path();
    let _lock = file::lock(&path)?;
    let Some(mut plan) = file::read(&path)? else {
        anyhow::bail!("the plan is gone");
    };
    let channel = Channel::of(&world.admin).await?;
    let sent = steps::warn(&world.admin, &world.config, &mut plan, &path, channel).await?;
    Ok(PlanEnd::Warned {
        plan: PlanFacts::of(&plan),
        sent: sent.sent,
        failed: sent.failed,
    })
}

fn how(channel: Channel) -> &'static str {
    match channel {
        Channel::ServerNotices => "by server notice",
        Channel::Direct => "in a direct chat",
    }
}

/// The plan's deletion at its deadline: its rooms whose people were all
/// warned in time go through the journaled deletion.
pub(super) async fn due(
    world: &World,
    room: &matrix_sdk::room::Room,
    job: JobId,
    control: Control,
) -> DeletionEnd {
    let path = world.plan_path();
    let options = match file::read(&path) {
        Ok(Some(plan)) => plan.options,
        Ok(None) => {
            let text = "The plan is gone from the data_dir: nothing of it is deleted.";
            super::chat::post(room, &super::chat::Text::plain(text)).await;
            return DeletionEnd::Finished;
        }
        Err(e) => return DeletionEnd::Refused(format!("{e:#}")),
    };
    let policy = match world.policy().await {
        Ok(p) => p.for_run(options),
        Err(e) => return DeletionEnd::Refused(format!("cannot read the policy ({e:#})")),
    };
    let config = &world.config;
    let (ours, concurrency) = (&config.user_id, config.scan.concurrency);
    match steps::due(&world.admin, &policy, ours, &path, concurrency).await {
        Err(e) => DeletionEnd::Refused(format!("cannot start the plan's deletion ({e:#})")),
        Ok(Due::Withdrawn) => {
            let text = "The plan was withdrawn: nothing of it is deleted.";
            super::chat::post(room, &super::chat::Text::plain(text)).await;
            DeletionEnd::Finished
        }
        Ok(Due::Delete {
            journal,
            kept,
            plan,
        }) if journal.rooms.is_empty() => {
            archive(Some(plan));
            report(room, &steps::with_kept(&journal, kept)).await;
            DeletionEnd::Finished
        }
        Ok(Due::Delete {
            journal,
            kept,
            plan,
        }) => {
            let start = Start::New(journal);
            execute_start(world, room, job, start, control, Some((plan, kept))).await
        }
    }
}
