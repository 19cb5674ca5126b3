//! Event handlers. They run inside the sync loop, so each does its cheap
//! checks and spawns the rest.

use std::time::{Duration, Instant};

use matrix_sdk::Client;
use matrix_sdk::event_handler::Ctx;
use matrix_sdk::room::Room;
use matrix_sdk::ruma::OwnedUserId;
use matrix_sdk::ruma::events::relation::Replacement;
use matrix_sdk::ruma::events::room::member::{MembershipState, StrippedRoomMemberEvent};
use matrix_sdk::ruma::events::room::message::{
    MessageType, OriginalSyncRoomMessageEvent, Relation,
};
use tracing::{info, warn};

use super::chat::{self, Text};
use super::commands::{BotCommand, Parsed, parse_line};
use super::{Bot, confirm, scan_job};

/// How long a refused user waits before being told again.
const REFUSAL_QUIET: Duration = Duration::from_secs(3600);

pub async fn on_message(ev: OriginalSyncRoomMessageEvent, room: Room, Ctx(bot): Ctx<Bot>) {
    if room.room_id() != bot.inner.admin_room {
        return;
    }
    // Our own events carry the transaction id we sent them with; an admin's
    // other device sharing our account sends without one.
    if ev.unsigned.transaction_id.is_some() {
        return;
    }
    if matches!(
        ev.content.relates_to,
        Some(Relation::Replacement(Replacement { .. }))
    ) {
        return;
    }
    let MessageType::Text(text) = &ev.content.msgtype else {
        return;
    };
    let Some(parsed) = parse_line(&bot.inner.config.bot.command_prefix, &text.body) else {
        return;
    };
    let sender = ev.sender.clone();
    tokio::spawn(async move {
        if bot.inner.admins.contains(&sender) {
            info!(%sender, ?parsed, "command");
            dispatch(&bot, &room, parsed).await;
        } else {
            refuse(&bot, &room, sender).await;
        }
    });
}

async fn dispatch(bot: &Bot, room: &Room, parsed: Parsed) {
    let reply = match parsed {
        Parsed::Help(text) | Parsed::Error(text) => Some(Text::code(&text)),
        Parsed::Command(BotCommand::Scan(args)) => {
            let busy = scan_job::start(bot, room, args);
            if busy.is_none() {
                // A new scan replaces the standing offer.
                confirm::withdraw(bot);
            }
            busy
        }
        Parsed::Command(BotCommand::Status) => Some(scan_job::status(bot)),
        Parsed::Command(BotCommand::Cancel) => Some(cancel(bot)),
    };
    if let Some(reply) = reply
        && let Err(e) = chat::send(room, &reply).await
    {
        warn!(error = %e, "could not reply");
    }
}

/// Stops the running job, or withdraws the standing offer.
fn cancel(bot: &Bot) -> Text {
    if let Some(job) = &bot.state().job {
        job.cancel();
        return Text::plain(if job.is_deletion() {
            "Cancelling: no new deletion starts; those in flight finish, then the report follows."
        } else {
            "Cancelling the scan…"
        });
    }
    if confirm::withdraw(bot) {
        Text::plain("Offer withdrawn: nothing will be deleted.")
    } else {
        Text::plain("Nothing to cancel: no scan or deletion is running, and no offer stands.")
    }
}

async fn refuse(bot: &Bot, room: &Room, sender: OwnedUserId) {
    {
        let mut state = bot.state();
        let now = Instant::now();
        if let Some(last) = state.refused.get(&sender)
            && now.duration_since(*last) < REFUSAL_QUIET
        {
            return;
        }
        state.refused.insert(sender.clone(), now);
    }
    info!(%sender, "refused a command from a user who is not in bot.admins");
    let text = Text::plain(&format!(
        "Sorry, {sender}: only the admins listed in the bot's configuration can give it commands."
    ));
    if let Err(e) = chat::send(room, &text).await {
        warn!(error = %e, "could not send a refusal");
    }
}

pub async fn on_invite(ev: StrippedRoomMemberEvent, room: Room, Ctx(bot): Ctx<Bot>) {
    if ev.state_key != bot.inner.own_user || ev.content.membership != MembershipState::Invite {
        return;
    }
    tokio::spawn(async move { answer_invite(&bot, &room, &ev.sender).await });
}

/// Invites that arrived while the bot was down.
pub async fn handle_pending_invites(bot: &Bot, client: &Client) {
    for room in client.invited_rooms() {
        match room.invite_details().await {
            Ok(invite) => answer_invite(bot, &room, &invite.inviter_id).await,
            Err(e) => warn!(room_id = %room.room_id(), error = %e, "cannot read an invite"),
        }
    }
}

/// Joins the admin room when an admin invites the bot there; declines any
/// other invite, unless the account is shared with a human admin, whose
/// invites are theirs to answer.
async fn answer_invite(bot: &Bot, room: &Room, inviter: &OwnedUserId) {
    let room_id = room.room_id();
    if room_id == bot.inner.admin_room && bot.inner.admins.contains(inviter) {
        info!(%room_id, %inviter, "joining the admin room");
        if let Err(e) = room.join().await {
            warn!(%room_id, error = %e, "could not join the admin room");
        }
    } else if bot.shares_account() {
        info!(%room_id, %inviter, "ignoring an invite (account shared with a human admin)");
    } else {
        info!(%room_id, %inviter, "declining an invite");
        if let Err(e) = room.leave().await {
            warn!(%room_id, error = %e, "could not decline an invite");
        }
    }
}

/// At start: joins the admin room if the bot is not in it yet and can.
pub async fn join_admin_room(bot: &Bot, client: &Client) {
    let room_id = &bot.inner.admin_room;
    // Invited: the invite rules above decide. Joined: nothing to do.
    if let Some(room) = client.get_room(room_id)
        && room.state() != matrix_sdk::RoomState::Left
    {
        return;
    }
    if let Err(e) = client.join_room_by_id(room_id).await {
        warn!(%room_id, error = %e, "not in the admin room yet: invite the bot from an admin's account");
    }
}
