//! Posting a finished scan: the progress message's last edit, the summary,
//! results.csv (a copy stays in `bot.data_dir`), then the offer, whose id
//! goes back to the state machine. An uploaded file's offer is posted alone.

use std::sync::Arc;

use matrix_sdk::room::Room;
use tracing::{info, warn};

use super::chat::{self, Text, best_effort_edit, post};
use super::machine::{Input, ScanResult};
use super::world::{World, seed_reactions};
use crate::report::write_csv;
use crate::scan::ScanOutcome;

pub async fn scan(
    world: Arc<World>,
    result: Box<ScanResult>,
    summary: Text,
    status_line: String,
    offer: Option<(u64, Text)>,
) {
    let Some(room) = world.room() else {
        warn!("not in the admin room: the scan's results were not posted");
        if let Some((id, _)) = offer {
            world.inbox.send(Input::OfferPosted {
                offer: id,
                event_id: None,
            });
        }
        return;
    };
    if let Some(id) = &result.message {
        best_effort_edit(&room, id, &Text::plain(&status_line)).await;
    }
    post(&room, &summary).await;
    upload(&world, &room, &result.outcome).await;
    info!(rooms = result.outcome.rows.len(), "scan posted");
    drop(result);
    if let Some((id, text)) = offer {
        post_offer(&world, &room, id, &text).await;
    }
}

/// Posts an uploaded file's offer.
pub async fn offer(world: Arc<World>, id: u64, text: Text) {
    match world.room() {
        Some(room) => post_offer(&world, &room, id, &text).await,
        None => world.inbox.send(Input::OfferPosted {
            offer: id,
            event_id: None,
        }),
    }
}

/// Posts an offer, tells the state machine its id, and adds the reactions.
async fn post_offer(world: &World, room: &Room, id: u64, text: &Text) {
    let event_id = post(room, text).await;
    world.inbox.send(Input::OfferPosted {
        offer: id,
        event_id: event_id.clone(),
    });
    // One click for the admin. Not when the bot shares an admin's account:
    // Matrix keeps one reaction per key per user, so theirs would be ours.
    if let Some(event_id) = event_id
        && !world.shares_account
    {
        let d = &world.config.delete;
        seed_reactions(room, &event_id, [&d.confirm_reaction, &d.cancel_reaction]).await;
    }
}

/// Uploads results.csv, and keeps a copy in `bot.data_dir`.
async fn upload(world: &World, room: &Room, outcome: &ScanOutcome) {
    let mut bytes = Vec::new();
    if let Err(e) = write_csv(&outcome.rows, outcome.now_ms, &mut bytes) {
        post(
            room,
            &Text::plain(&format!("Could not build results.csv: {e}")),
        )
        .await;
        return;
    }
    let copy = world.config.bot.data_dir.join("results.csv");
    if let Err(e) = crate::atomic::write_bytes(&copy, &bytes) {
        warn!(error = %format!("{e:#}"), "could not keep a copy of results.csv");
    }
    if let Err(e) = chat::send_file(room, "results.csv", &mime::TEXT_CSV, bytes).await {
        warn!(error = %e, "upload failed");
        let text = format!(
            "Could not upload results.csv ({e}). A copy is on the bot's host at {}.",
            copy.display()
        );
        post(room, &Text::plain(&text)).await;
    }
}
