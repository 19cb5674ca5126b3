//! Posting a finished scan: the progress message's last edit, the summary,
//! results.csv (a copy stays in `bot.data_dir`), then the offer, its rooms
//! first written to the offer's file, its message id sent back to the state
//! machine. An uploaded file's offer is posted alone.

use std::sync::Arc;

use matrix_sdk::room::Room;
use tracing::{info, warn};

use super::chat::{self, Text, best_effort_edit, post};
use super::machine::{Filed, Input, ScanResult};
use super::offer_file;
use super::world::{World, seed_reactions};
use crate::report::{write_csv, write_csv_atomic};

pub async fn scan(
    world: Arc<World>,
    result: Box<ScanResult>,
    summary: Text,
    status_line: String,
    offer: Option<(Filed, Text)>,
) {
    let Some(room) = world.room() else {
        warn!("not in the admin room: the scan's results were not posted");
        if let Some((filed, _)) = offer {
            world.inbox.send(Input::OfferPosted {
                offer: filed.offer,
                event_id: None,
            });
        }
        return;
    };
    if let Some(id) = &result.message {
        best_effort_edit(&room, id, &Text::plain(&status_line)).await;
    }
    post(&room, &summary).await;
    post_chart(&world, &room, &result).await;
    upload(&world, &room, &result).await;
    info!(rooms = result.outcome.rows.len(), "scan posted");
    let Some((filed, text)) = offer else {
        return;
    };
    // The rows go with the blocking task, and are freed as it ends.
    let path = world.offer_path();
    let written =
        tokio::task::spawn_blocking(move || offer_file::write(&path, filed, &result.outcome.rows))
            .await
            .map_err(anyhow::Error::from)
            .and_then(|written| written);
    match written {
        Ok(()) => post_offer(&world, &room, filed.offer, &text).await,
        Err(e) => {
            warn!(error = %format!("{e:#}"), "could not write the offer's rooms");
            let text = format!("Could not keep the offer's rooms on disk ({e:#}).");
            post(&room, &Text::plain(&text)).await;
            world.inbox.send(Input::OfferPosted {
                offer: filed.offer,
                event_id: None,
            });
        }
    }
}

/// The scan's chart, as an image after the summary. A chart that cannot
/// be drawn or sent is logged and said; the scan's results stand.
async fn post_chart(world: &World, room: &Room, result: &ScanResult) {
    let outcome = &result.outcome;
    let mut bins = crate::chart::Bins::default();
    for row in &outcome.rows {
        bins.add(row.last_activity, outcome.now_ms, row.verdict.kind());
    }
    let server = world.config.user_id.server_name().to_string();
    let (now, days) = (outcome.now_ms, result.options.inactive_days);
    let drawn =
        tokio::task::spawn_blocking(move || crate::chart::of_bins(&bins, now, &server, days))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
    let sent = match drawn {
        Ok(chart) => chat::send_image(room, "rooms-by-age.png", &chart.png, &chart.alt)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    if let Err(e) = sent {
        warn!(error = %e, "no chart");
        post(
            room,
            &Text::plain(&format!("Could not post the chart ({e}).")),
        )
        .await;
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
async fn upload(world: &World, room: &Room, result: &ScanResult) {
    let outcome = &result.outcome;
    // Written to the copy a row at a time, then read back only as far as
    // it is posted: a million rooms' file (over 100 MB) is never whole in
    // memory beside the scan's rows and the offer.
    let copy = world.config.bot.data_dir.join("results.csv");
    let source = match write_csv_atomic(&outcome.rows, outcome.now_ms, &copy) {
        Ok(()) => Csv::File(copy.clone()),
        Err(e) => {
            warn!(error = %format!("{e:#}"), "could not keep a copy of results.csv");
            let mut bytes = Vec::new();
            if let Err(e) = write_csv(&outcome.rows, outcome.now_ms, &mut bytes) {
                post(
                    room,
                    &Text::plain(&format!("Could not build results.csv: {e}")),
                )
                .await;
                return;
            }
            Csv::Memory(bytes)
        }
    };
    // What an edited copy's re-check will compare against.
    let record = world
        .config
        .bot
        .data_dir
        .join(crate::delete::record::BOT_FILE);
    let server = world.config.user_id.server_name();
    if let Err(e) = crate::delete::record::save(&outcome.rows, server, &record) {
        warn!(error = %format!("{e:#}"), "could not keep the scan's record");
    }
    let fitted = match fit(world, source).await {
        Ok(fitted) => fitted,
        Err(e) => {
            let text = format!(
                "Could not read back or compress results.csv ({e}). The full file is on the \
                 bot's host at {}. The offer stands.",
                copy.display()
            );
            post(room, &Text::plain(&text)).await;
            return;
        }
    };
    let (name, kind, file, note) = match fitted {
        Fit::Plain(bytes) => ("results.csv", mime::TEXT_CSV, bytes, None),
        Fit::Packed {
            packed,
            plain,
            limit,
        } => {
            let note = format!(
                "results.csv ({}) is over the homeserver's upload limit ({}): it is posted \
                 gzip-compressed as results.csv.gz ({}). Unpack it to edit it; an edited file \
                 can be posted back as .csv or .csv.gz.",
                size(plain),
                size(limit),
                size(packed.len() as u64)
            );
            let gzip: mime::Mime = "application/gzip"
                .parse()
                .unwrap_or(mime::APPLICATION_OCTET_STREAM);
            ("results.csv.gz", gzip, packed, Some(note))
        }
        Fit::None {
            plain,
            packed,
            limit,
        } => {
            let text = format!(
                "results.csv ({}, {} gzip-compressed) is over the homeserver's upload limit \
                 ({}): it is not posted. The full file is on the bot's host at {}. The offer \
                 stands.",
                size(plain),
                size(packed),
                size(limit),
                copy.display()
            );
            post(room, &Text::plain(&text)).await;
            return;
        }
    };
    if let Some(note) = note {
        post(room, &Text::plain(&note)).await;
    }
    if let Err(e) = chat::send_file(room, name, &kind, file).await {
        warn!(error = %e, "upload failed");
        let text = format!(
            "Could not upload {name} ({e}). A copy is on the bot's host at {}.",
            copy.display()
        );
        post(room, &Text::plain(&text)).await;
    }
}

/// results.csv: its copy on disk, or (when that could not be written)
/// in memory.
enum Csv {
    File(std::path::PathBuf),
    Memory(Vec<u8>),
}

impl Csv {
    fn len(&self) -> std::io::Result<u64> {
        match self {
            Self::File(path) => Ok(std::fs::metadata(path)?.len()),
            Self::Memory(bytes) => Ok(bytes.len() as u64),
        }
    }

    fn bytes(self) -> std::io::Result<Vec<u8>> {
        match self {
            Self::File(path) => std::fs::read(path),
            Self::Memory(bytes) => Ok(bytes),
        }
    }

    fn gzip(&self) -> std::io::Result<Vec<u8>> {
        match self {
            Self::File(path) => crate::gz::gzip_file(path),
            Self::Memory(bytes) => crate::gz::gzip(bytes),
        }
    }
}

/// How results.csv goes up under the homeserver's upload limit.
enum Fit {
    Plain(Vec<u8>),
    Packed {
        packed: Vec<u8>,
        plain: u64,
        limit: u64,
    },
    None {
        plain: u64,
        packed: u64,
        limit: u64,
    },
}

/// The plain file when it fits (or the limit cannot be read: the upload
/// then says why it failed), else the gzip-compressed one if that fits.
/// `Err` when the copy on disk cannot be read back or compressed.
async fn fit(world: &World, csv: Csv) -> std::io::Result<Fit> {
    let plain = csv.len()?;
    let limit = match world.client.load_or_fetch_max_upload_size().await {
        Ok(limit) => u64::from(limit),
        Err(e) => {
            warn!(error = %e, "cannot read the homeserver's upload limit");
            return Ok(Fit::Plain(csv.bytes()?));
        }
    };
    if plain <= limit {
        return Ok(Fit::Plain(csv.bytes()?));
    }
    let packed = tokio::task::spawn_blocking(move || csv.gzip())
        .await
        .map_err(std::io::Error::other)??;
    Ok(if packed.len() as u64 <= limit {
        Fit::Packed {
            packed,
            plain,
            limit,
        }
    } else {
        Fit::None {
            plain,
            packed: packed.len() as u64,
            limit,
        }
    })
}

/// "812 KB", "23.4 MB".
fn size(bytes: u64) -> String {
    if bytes < 1 << 20 {
        format!("{} KB", bytes.div_ceil(1 << 10))
    } else {
        format!("{:.1} MB", bytes as f64 / f64::from(1 << 20))
    }
}
