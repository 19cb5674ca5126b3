//! Who is warned, and the warnings sent: each room's local people (not
//! `policy.ignore_members` ghosts, not our own account), then one message
//! per person, recorded before and after it is sent.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use tracing::warn;

use super::{Plan, Record, Via, Warning, file, warning_text};
use crate::admin::{AdminClient, AdminError};
use crate::policy::Policy;
use crate::timefmt::now_ms;

/// The direct chats our account opened for warnings, by person, in
/// `bot.data_dir`: a later warning to the same person goes to the same one.
pub const DIRECT_ROOMS: &str = "warning-rooms.json";

/// How the people are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    ServerNotices,
    Direct,
}

impl Channel {
    /// "by server notice", "in a direct chat".
    pub fn how(self) -> &'static str {
        match self {
            Self::ServerNotices => "by server notice",
            Self::Direct => "in a direct chat",
        }
    }

    /// Server notices where the homeserver has them, else direct chats.
    pub async fn of(client: &AdminClient) -> Result<Self, AdminError> {
        Ok(if client.server_notices_enabled().await? {
            Self::ServerNotices
        } else {
            Self::Direct
        })
    }
}

/// The local people in `room` to warn.
pub async fn people_in(
    client: &AdminClient,
    policy: &Policy,
    ours: &UserId,
    room: &RoomId,
) -> Result<Vec<OwnedUserId>, AdminError> {
    let members = client.joined_members(room).await?;
    Ok(members
        .iter()
        .filter_map(|m| OwnedUserId::try_from(m.as_str()).ok())
        .filter(|u| u.server_name() == policy.server_name && u != ours)
        .filter(|u| !policy.rules.ignore_members.matches_user(u.as_str()))
        .collect())
}

/// What the sending came to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sent {
    pub sent: usize,
    pub failed: Vec<String>,
}

/// How the warnings are worded and where the direct chats are kept.
pub struct Wording<'a> {
    pub template: &'a str,
    pub server: &'a str,
    pub data_dir: &'a Path,
}

/// Sends every warning of the plan at `path` not yet sent, recording each,
/// until `stop` says so (a withdrawn plan warns nobody more).
pub async fn send_all(
    client: &AdminClient,
    plan: &mut Plan,
    path: &Path,
    channel: Channel,
    wording: &Wording<'_>,
    stop: &(dyn Fn() -> bool + Sync),
) -> anyhow::Result<Sent> {
    let Wording {
        template,
        server,
        data_dir,
    } = *wording;
    let mut outcome = Sent::default();
    for i in plan.interrupted() {
        let user = &plan.people[i].user_id;
        outcome.failed.push(format!(
            "{user}: oldrooms stopped while warning them, so it is not known whether the \
        warning went out; it is not sent again"
        ));
        record(plan, path, i, Warning::Unknown)?;
    }
    for i in plan.to_warn() {
        if stop() {
            break;
        }
        record(plan, path, i, Warning::Sending)?;
        let text = warning_text(template, plan, i, server);
        let user = plan.people[i].user_id.clone();
        let txn = plan.txn(i);
        let sent = match channel {
            Channel::ServerNotices => client
                .send_server_notice(&txn, &user, &text)
                .await
                .map(|event_id| (Via::ServerNotice, event_id)),
            Channel::Direct => direct(client, data_dir, &user, &txn, &text)
                .await
                .map(|(room_id, event_id)| (Via::Direct { room_id }, event_id)),
        };
        let warning = match sent {
            Ok((via, event_id)) => {
                outcome.sent += 1;
                Warning::Sent {
                    via,
                    event_id,
                    at: now_ms(),
                }
            }
            Err(e) if e.is_fatal() => return Err(e.into()),
            Err(e) => {
                warn!(%user, error = %e, "a warning could not be sent");
                outcome.failed.push(format!("{user}: {e}"));
                if refused(&e) {
                    Warning::Failed {
                        error: e.to_string(),
                    }
                } else {
                    // A timeout or a 5xx may come after Synapse took it.
                    Warning::Unknown
                }
            }
        };
        record(plan, path, i, warning)?;
    }
    Ok(outcome)
}

fn record(plan: &mut Plan, path: &Path, person: usize, warning: Warning) -> anyhow::Result<()> {
    let record = Record::Warning { person, warning };
    file::append(path, &record)?;
    plan.apply(&record).map_err(anyhow::Error::msg)
}

/// Sends `text` into our direct chat with `user`, opening one if there is
/// none or ours is gone; the chat and the event.
async fn direct(
    client: &AdminClient,
    data_dir: &Path,
    user: &UserId,
    txn: &str,
    text: &str,
) -> Result<(OwnedRoomId, String), AdminError> {
    let path = data_dir.join(DIRECT_ROOMS);
    let mut rooms = load(&path);
    // Reused only while they are in it or invited to it: a chat they left
    // would take the warning and nobody would read it.
    if let Some(room) = rooms.get(user)
        && matches!(
            client.membership(room, user).await,
            Ok(Some(m)) if m == "join" || m == "invite"
        )
    {
        match client.send_text(room, txn, text).await {
            Ok(event_id) => return Ok((room.clone(), event_id)),
            // Only a definite refusal: after a timeout it may have gone out.
            Err(e) if refused(&e) => {
                warn!(%user, %room, error = %e, "the direct chat of an earlier warning refused it; opening another");
            }
            Err(e) => return Err(e),
        }
    }
    let room = client.create_direct_room(user).await?;
    rooms.insert(user.to_owned(), room.clone());
    if let Err(e) = save(&path, &rooms) {
        warn!(error = %format!("{e:#}"), "cannot keep the warnings' direct chats");
    }
    let event_id = client.send_text(&room, txn, text).await?;
    Ok((room, event_id))
}

/// A definite refusal (4xx): nothing was sent, so it may be tried again.
fn refused(e: &AdminError) -> bool {
    e.status().is_some_and(|s| s.is_client_error())
}

fn load(path: &Path) -> BTreeMap<OwnedUserId, OwnedRoomId> {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn save(path: &Path, rooms: &BTreeMap<OwnedUserId, OwnedRoomId>) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec_pretty(rooms)?;
    crate::atomic::write_bytes(path, &bytes).with_context(|| format!("{}", path.display()))
}
