//! The offer to delete and the reactions that answer it. Only a confirm
//! reaction from an admin, on the newest offer, before it expires, and only
//! the first one, starts a deletion.

use std::time::Instant;

use matrix_sdk::event_handler::Ctx;
use matrix_sdk::room::Room;
use matrix_sdk::ruma::events::reaction::{OriginalSyncReactionEvent, ReactionEventContent};
use matrix_sdk::ruma::events::relation::Annotation;
use matrix_sdk::ruma::{OwnedEventId, OwnedUserId};
use tracing::{info, warn};

use super::Bot;
use super::chat::{self, Text, escape_html};
use super::delete_job;
use super::job::post;
use crate::config::reaction_key;
use crate::delete::{Entry, Journal, Step};
use crate::policy::ReasonKind;
use crate::report::Summary;
use crate::scan::ScanOutcome;
use crate::timefmt::{now_ms, rfc3339};

/// The standing offer: exactly the rooms it covers.
pub struct Offer {
    event_id: OwnedEventId,
    rooms: Vec<Entry>,
    expires: Instant,
    expires_at_ms: i64,
}

pub fn describe_offer(offer: &Offer) -> String {
    format!(
        "An offer to delete {} rooms stands until {}.",
        offer.rooms.len(),
        rfc3339(offer.expires_at_ms)
    )
}

/// Withdraws the standing offer, if any; reactions to it then answer that
/// it is no longer valid. Returns whether there was one.
pub fn withdraw(bot: &Bot) -> bool {
    let mut state = bot.state();
    match state.offer.take() {
        Some(old) => {
            state.old_offers.insert(old.event_id);
            true
        }
        None => false,
    }
}

/// After a scan: offers to delete its candidates.
pub async fn offer(bot: &Bot, room: &Room, outcome: &ScanOutcome, summary: &Summary) {
    withdraw(bot);
    let rooms: Vec<Entry> = outcome
        .rows
        .iter()
        .filter(|r| r.verdict.should_delete())
        .map(|r| Entry {
            room_id: r.room.room_id.clone(),
            name: r.room.name.as_deref().unwrap_or_default().to_owned(),
            last_activity: r.last_activity,
            joined_local_members: r.room.joined_local_members,
            step: Step::Pending,
        })
        .collect();
    if rooms.is_empty() {
        return;
    }
    let config = &bot.inner.config;
    let timeout = config.delete.confirm_timeout;
    let expires_at_ms = now_ms() + i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX / 2);
    let line = format!(
        "Delete these {} rooms ({} inactive, {} abandoned)? They are the should_delete=yes rows of \
         the results.csv above; each is re-checked just before it is deleted. React {} to delete \
         them, or {} (or {} cancel) to withdraw this offer. It stands for {} min, until {}.",
        rooms.len(),
        summary.count(ReasonKind::Inactive),
        summary.count(ReasonKind::Abandoned),
        config.delete.confirm_reaction,
        config.delete.cancel_reaction,
        config.bot.command_prefix,
        timeout.as_secs().div_ceil(60),
        rfc3339(expires_at_ms),
    );
    let mut text = Text::default();
    text.line(&line, &format!("<b>{}</b>", escape_html(&line)));
    let Some(event_id) = post(room, &text).await else {
        warn!("could not post the offer to delete");
        return;
    };
    bot.state().offer = Some(Offer {
        event_id: event_id.clone(),
        rooms,
        expires: Instant::now() + timeout,
        expires_at_ms,
    });
    // One click for the admin. Not when the bot shares an admin's account:
    // Matrix keeps one reaction per key per user, so theirs would be ours.
    if !bot.shares_account() {
        for key in [
            &config.delete.confirm_reaction,
            &config.delete.cancel_reaction,
        ] {
            let content = ReactionEventContent::new(Annotation::new(event_id.clone(), key.clone()));
            if let Err(e) = room.send(content).await {
                warn!(error = %e, "could not add a reaction to the offer");
            }
        }
    }
}

pub async fn on_reaction(ev: OriginalSyncReactionEvent, room: Room, Ctx(bot): Ctx<Bot>) {
    if room.room_id() != bot.inner.admin_room || ev.unsigned.transaction_id.is_some() {
        return;
    }
    if !bot.inner.admins.contains(&ev.sender) {
        return;
    }
    let key = reaction_key(&ev.content.relates_to.key);
    let target = ev.content.relates_to.event_id.clone();
    let sender = ev.sender.clone();
    tokio::spawn(async move {
        if let Some(reply) = answer(&bot, &room, sender, &target, &key)
            && let Err(e) = chat::send(&room, &reply).await
        {
            warn!(error = %e, "could not answer a reaction");
        }
    });
}

/// What a reaction does; the reply, if any.
fn answer(
    bot: &Bot,
    room: &Room,
    sender: OwnedUserId,
    target: &OwnedEventId,
    key: &str,
) -> Option<Text> {
    let config = &bot.inner.config.delete;
    let confirm = key == reaction_key(&config.confirm_reaction);
    let cancel = key == reaction_key(&config.cancel_reaction);
    if !confirm && !cancel {
        return None;
    }
    let mut state = bot.state();
    let current = state.offer.as_ref().is_some_and(|o| &o.event_id == target);
    if !current {
        return state.old_offers.contains(target).then(|| {
            Text::plain(&format!(
                "{sender}: that offer is no longer valid (used, withdrawn, expired or replaced by a newer scan). Nothing was deleted."
            ))
        });
    }
    let offer = state.offer.take()?;
    state.old_offers.insert(offer.event_id.clone());
    drop(state);
    if cancel {
        info!(%sender, "offer withdrawn by reaction");
        return Some(Text::plain(&format!(
            "Withdrawn by {sender}: nothing will be deleted."
        )));
    }
    if offer.expires <= Instant::now() {
        return Some(Text::plain(&format!(
            "{sender}: that offer expired at {}. Nothing was deleted; run a new scan.",
            rfc3339(offer.expires_at_ms)
        )));
    }
    info!(%sender, rooms = offer.rooms.len(), "deletion confirmed");
    let count = offer.rooms.len();
    let journal = Journal::new(sender.as_str(), now_ms(), offer.rooms);
    Some(match delete_job::start(bot, room, journal) {
        Ok(()) => Text::plain(&format!("Confirmed by {sender}: deleting {count} rooms.")),
        Err(busy) => busy,
    })
}
