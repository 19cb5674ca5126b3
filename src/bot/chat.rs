//! Sending to the admin room: notices without mentions, edits that may be
//! dropped, messages retried until they arrive, and files.

use std::future::Future;
use std::time::Duration;

use matrix_sdk::attachment::{AttachmentConfig, AttachmentInfo, BaseFileInfo, BaseImageInfo};
use matrix_sdk::config::RequestConfig;
use matrix_sdk::room::Room;
use matrix_sdk::ruma::OwnedEventId;
use matrix_sdk::ruma::UInt;
use matrix_sdk::ruma::events::Mentions;
use matrix_sdk::ruma::events::room::message::{
    ReplacementMetadata, RoomMessageEventContent, TextMessageEventContent,
};
use tokio::task::JoinHandle;
use tracing::info;

pub use super::text::Text;
use crate::chart::Png;

fn content(text: &Text) -> RoomMessageEventContent {
    // An empty `m.mentions`: a room name like "@room" never pings anyone.
    RoomMessageEventContent::notice_html(text.plain.clone(), text.html.clone())
        .add_mentions(Mentions::new())
}

/// What a message or file that must arrive is allowed: more retries than
/// the client's default (which syncs use), over about a minute.
fn patient() -> RequestConfig {
    RequestConfig::new()
        .timeout(Duration::from_secs(60))
        .retry_limit(8)
}

/// Sends a notice; the SDK retries after 429s as Synapse asks.
pub async fn send(room: &Room, text: &Text) -> matrix_sdk::Result<OwnedEventId> {
    let sent = room.send(content(text)).with_request_config(patient());
    Ok(sent.await?.response.event_id)
}

/// Replaces the text of an earlier message. One attempt only: a progress
/// edit refused (say, for the rate limit) is skipped, not retried.
pub async fn edit(room: &Room, event_id: &OwnedEventId, text: &Text) -> matrix_sdk::Result<()> {
    let content = content(text).make_replacement(ReplacementMetadata::new(event_id.clone(), None));
    room.send(content)
        .with_request_config(RequestConfig::new().disable_retry())
        .await?;
    Ok(())
}

/// Uploads a file as an attachment (`m.file`, with its size and type);
/// encrypted in an encrypted room.
pub async fn send_file(
    room: &Room,
    name: &str,
    mime: &mime::Mime,
    data: Vec<u8>,
) -> matrix_sdk::Result<()> {
    let size = UInt::new(data.len() as u64);
    let config = || AttachmentConfig::new().info(AttachmentInfo::File(BaseFileInfo { size }));
    send_attachment(room, name, mime, data, config).await
}

/// Posts a PNG as an image (`m.image`), with its size and `alt` as the
/// text clients show and read out in its place.
pub async fn send_image(room: &Room, name: &str, png: &Png, alt: &str) -> matrix_sdk::Result<()> {
    let config = || {
        let info = BaseImageInfo {
            width: Some(UInt::from(png.width)),
            height: Some(UInt::from(png.height)),
            size: UInt::new(png.bytes.len() as u64),
            ..BaseImageInfo::default()
        };
        AttachmentConfig::new()
            .info(AttachmentInfo::Image(info))
            .caption(Some(TextMessageEventContent::plain(alt)))
    };
    send_attachment(room, name, &mime::IMAGE_PNG, png.bytes.clone(), config).await
}

/// The SDK has no per-request retries for attachments: a failure is tried
/// again twice, over about ten seconds.
async fn send_attachment(
    room: &Room,
    name: &str,
    mime: &mime::Mime,
    data: Vec<u8>,
    config: impl Fn() -> AttachmentConfig,
) -> matrix_sdk::Result<()> {
    let mut pause = Duration::from_secs(2);
    let mut tries = 1;
    loop {
        let sent = room
            .send_attachment(name, mime, data.clone(), config())
            .await;
        match sent {
            Ok(_) => return Ok(()),
            Err(e) if tries >= 3 => return Err(e),
            Err(e) => tracing::warn!(error = %e, name, "could not upload a file; retrying"),
        }
        tokio::time::sleep(pause).await;
        pause *= 4;
        tries += 1;
    }
}

/// Runs `work` while keeping one progress message up to date: every
/// `interval`, when `describe()` has something new, the message is posted
/// (the first time) or edited. Sends never hold up the work, and a refused
/// edit is skipped.
pub async fn with_progress<T>(
    room: &Room,
    mut message: Option<OwnedEventId>,
    interval: Duration,
    describe: impl Fn() -> Option<String>,
    work: impl Future<Output = T>,
) -> (T, Option<OwnedEventId>) {
    tokio::pin!(work);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    ticker.tick().await;
    let mut sending: Option<JoinHandle<Option<OwnedEventId>>> = None;
    let mut shown = String::new();
    loop {
        tokio::select! {
            result = &mut work => {
                // A send in flight is waited for (a little), so that no
                // stale edit lands after the caller's final one.
                if let Some(task) = sending
                    && let Ok(Ok(id)) = tokio::time::timeout(Duration::from_secs(5), task).await
                    && message.is_none()
                {
                    message = id;
                }
                return (result, message);
            }
            _ = ticker.tick() => {
                if let Some(task) = sending.take_if(|t| t.is_finished())
                    && message.is_none()
                {
                    message = task.await.ok().flatten();
                }
                let Some(text) = describe().filter(|t| *t != shown) else { continue };
                if sending.is_some() {
                    continue;
                }
                shown.clone_from(&text);
                let (room, id) = (room.clone(), message.clone());
                sending = Some(tokio::spawn(async move {
                    let text = Text::plain(&text);
                    match id {
                        Some(id) => {
                            best_effort_edit(&room, &id, &text).await;
                            None
                        }
                        None => send(&room, &text).await.ok(),
                    }
                }));
            }
        }
    }
}

/// A progress edit: skipped when refused, never fatal.
pub async fn best_effort_edit(room: &Room, id: &OwnedEventId, text: &Text) {
    if let Err(e) = edit(room, id, text).await {
        info!(error = %e, "progress edit skipped");
    }
}

/// A message that must arrive: retried for a while after failures.
pub async fn post(room: &Room, text: &Text) -> Option<OwnedEventId> {
    let mut delay = Duration::from_secs(2);
    for attempt in 1..=5 {
        match send(room, text).await {
            Ok(id) => return Some(id),
            Err(e) => {
                tracing::warn!(attempt, error = %e, "could not post a message; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    None
}
