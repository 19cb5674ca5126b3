//! A plan from chat: the confirmed offer's rooms split by who is in them,
//! the plan written and its people warned, then the rooms nobody is in
//! deleted by the same job; later, the warnings still owed. (At the
//! deadline the plan is a deletion: `delete_job.rs`.)

use std::sync::Arc;

use matrix_sdk::ruma::OwnedEventId;

use super::delete_job::execute_start;
use super::machine::{Confirmed, DeletionEnd, Input, JobId, PlanEnd, PlanFacts, PlanStart};
use super::world::World;
use crate::delete::journal::Journal;
use crate::delete::{Control, Start};
use crate::plan::file;
use crate::plan::steps::{self, Confirm};
use crate::plan::warn::Channel;

pub async fn run(world: Arc<World>, job: JobId, start: PlanStart, control: Control) {
    let cancelled = || *control.cancel.borrow();
    let (confirmed, deadline, offer) = match start {
        PlanStart::Warn => {
            let end = warn_owed(&world, &cancelled).await.unwrap_or_else(|e| {
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
    let confirm = Confirm {
        by: &by,
        at,
        deadline,
        options: options.clone(),
        offer: offer.map(|e| e.to_string()),
    };
    let path = world.plan_path();
    let config = &world.config;
    let made = steps::make(
        &world.admin,
        config,
        &policy,
        rooms,
        confirm,
        &path,
        cancelled,
    )
    .await;
    let made = match made {
        Ok(made) => made,
        Err(e) => return (PlanEnd::Failed(format!("no plan was made ({e:#})")), None),
    };
    // After a cancel the rooms nobody is in stay too.
    let now =
        (!made.now.is_empty() && !cancelled()).then(|| Journal::new(&by, at, options, made.now));
    let count = now.as_ref().map_or(0, |j| j.rooms.len());
    let Some((plan, channel, sent)) = made.plan else {
        return (PlanEnd::Nobody { now: count }, now);
    };
    let failed = match sent {
        Ok(sent) => sent.failed,
        Err(e) => vec![format!("the warnings stopped: {e:#}")],
    };
    tracing::info!(failed = failed.len(), rooms = plan.rooms.len(), "plan made");
    let end = PlanEnd::Made {
        plan: PlanFacts::of(&plan),
        now: count,
        how: channel.how(),
        failed,
    };
    (end, now)
}

/// Sends the waiting plan's warnings still owed.
async fn warn_owed(
    world: &World,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> anyhow::Result<PlanEnd> {
    let path = world.plan_path();
    let _lock = file::lock(&path)?;
    let Some(mut plan) = file::read(&path)? else {
        anyhow::bail!("the plan is gone");
    };
    let (client, config) = (&world.admin, &world.config);
    let channel = Channel::of(client).await?;
    let sent = steps::warn(client, config, &mut plan, &path, channel, cancelled).await?;
    Ok(PlanEnd::Warned {
        plan: PlanFacts::of(&plan),
        sent: sent.sent,
        failed: sent.failed,
    })
}
