//! matrix-sdk event handlers. They run inside the sync loop, so they only
//! filter what is not for the bot and forward the rest to the actor, which
//! decides.

use matrix_sdk::Client;
use matrix_sdk::event_handler::Ctx;
use matrix_sdk::room::Room;
use matrix_sdk::ruma::events::reaction::OriginalSyncReactionEvent;
use matrix_sdk::ruma::events::relation::Replacement;
use matrix_sdk::ruma::events::room::member::{MembershipState, StrippedRoomMemberEvent};
use matrix_sdk::ruma::events::room::message::{
    FileMessageEventContent, MessageType, OriginalSyncRoomMessageEvent, Relation,
};
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId};
use tracing::{info, warn};

use super::commands::parse_line;
use super::machine::{Input, Upload};
use super::world::Inbox;
use crate::config::reaction_key;

/// What the handlers need to filter and forward.
#[derive(Clone)]
pub struct Forward {
    pub inbox: Inbox,
    pub admin_room: OwnedRoomId,
    pub own_user: OwnedUserId,
    pub prefix: String,
}

pub async fn on_message(ev: OriginalSyncRoomMessageEvent, room: Room, Ctx(f): Ctx<Forward>) {
    if room.room_id() != f.admin_room {
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
    let text = match ev.content.msgtype {
        MessageType::Text(text) => text,
        MessageType::File(file) => {
            if let Some(upload) = csv_upload(file) {
                info!(sender = %ev.sender, name = %upload.name, "results.csv uploaded");
                f.inbox.send(Input::Upload {
                    sender: ev.sender,
                    upload,
                });
            }
            return;
        }
        _ => return,
    };
    let Some(parsed) = parse_line(&f.prefix, &text.body) else {
        return;
    };
    info!(sender = %ev.sender, ?parsed, "command");
    f.inbox.send(Input::Command {
        sender: ev.sender,
        parsed,
    });
}

/// A file that says it is a CSV, plain or gzip-compressed (by its name or
/// its type); other files posted in the admin room are none of the bot's
/// business.
fn csv_upload(file: FileMessageEventContent) -> Option<Upload> {
    let name = file.filename().to_owned();
    let info = file.info.as_deref();
    let mimetype = info.and_then(|i| i.mimetype.as_deref()).unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    let csv_name = lower.ends_with(".csv") || lower.ends_with(".csv.gz");
    let csv_type = matches!(
        mimetype,
        "text/csv" | "application/csv" | "text/comma-separated-values"
    );
    (csv_name || csv_type).then(|| Upload {
        name: name.chars().take(200).collect(),
        size: info.and_then(|i| i.size).map(u64::from),
        source: file.source,
    })
}

pub async fn on_reaction(ev: OriginalSyncReactionEvent, room: Room, Ctx(f): Ctx<Forward>) {
    if room.room_id() != f.admin_room || ev.unsigned.transaction_id.is_some() {
        return;
    }
    f.inbox.send(Input::Reaction {
        sender: ev.sender,
        target: ev.content.relates_to.event_id,
        key: reaction_key(&ev.content.relates_to.key),
    });
}

pub async fn on_invite(ev: StrippedRoomMemberEvent, room: Room, Ctx(f): Ctx<Forward>) {
    if ev.state_key != f.own_user || ev.content.membership != MembershipState::Invite {
        return;
    }
    f.inbox.send(Input::Invite {
        room: room.room_id().to_owned(),
        inviter: ev.sender,
    });
}

/// Invites that arrived while the bot was down.
pub async fn forward_pending_invites(f: &Forward, client: &Client) {
    for room in client.invited_rooms() {
        match room.invite_details().await {
            Ok(invite) => f.inbox.send(Input::Invite {
                room: room.room_id().to_owned(),
                inviter: invite.inviter_id,
            }),
            Err(e) => warn!(room_id = %room.room_id(), error = %e, "cannot read an invite"),
        }
    }
}

/// At start: joins the admin room if the bot is not in it yet and can.
pub async fn join_admin_room(admin_room: &OwnedRoomId, client: &Client) {
    // Invited: the invite rules decide. Joined: nothing to do.
    if let Some(room) = client.get_room(admin_room)
        && room.state() != matrix_sdk::RoomState::Left
    {
        return;
    }
    if let Err(e) = client.join_room_by_id(admin_room).await {
        warn!(%admin_room, error = %e, "not in the admin room yet: invite the bot from an admin's account");
    }
}
