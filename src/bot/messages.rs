//! The bot's longer messages, built from data alone: the scan summary, the
//! offer to delete, the deletion's summary.

use super::text::{Text, escape_html, shorten};
use crate::delete::journal::{Journal, Outcome, Step};
use crate::policy::ReasonKind;
use crate::report::Summary;
use crate::scan::ScanOutcome;
use crate::timefmt::rfc3339;

/// The offer to delete, with the expiry that the state machine enforces.
pub struct OfferText<'a> {
    pub rooms: usize,
    pub summary: &'a Summary,
    pub confirm: &'a str,
    pub cancel: &'a str,
    pub prefix: &'a str,
    pub minutes: u64,
    pub expires_ms: i64,
}

pub fn offer(o: &OfferText<'_>) -> Text {
    let line = format!(
        "Delete these {} rooms ({} inactive, {} abandoned)? They are the should_delete=yes rows of \
         the results.csv above; each is re-checked just before it is deleted. React {} to delete \
         them, or {} (or {} cancel) to withdraw this offer. It stands for {} min, until {}.",
        o.rooms,
        o.summary.count(ReasonKind::Inactive),
        o.summary.count(ReasonKind::Abandoned),
        o.confirm,
        o.cancel,
        o.prefix,
        o.minutes,
        rfc3339(o.expires_ms),
    );
    let mut text = Text::default();
    text.line(&line, &format!("<b>{}</b>", escape_html(&line)));
    text
}

pub fn scan_summary(summary: &Summary, outcome: &ScanOutcome, prefix: &str) -> Text {
    let count = |k: ReasonKind| summary.count(k);
    let mut text = Text::default();
    let head = format!(
        "Scan finished: {} rooms in {:.1} s.",
        summary.scanned,
        summary.elapsed.as_secs_f64()
    );
    text.line(&head, &format!("<b>{}</b>", escape_html(&head)));
    let delete = format!(
        "To delete: {} ({} inactive, {} abandoned)",
        summary.candidates(),
        count(ReasonKind::Inactive),
        count(ReasonKind::Abandoned)
    );
    text.line(&delete, &escape_html(&delete));
    let keep = format!(
        "To keep: {} ({} active, {} protected, {} unknown)",
        summary.scanned - summary.candidates(),
        count(ReasonKind::Active),
        count(ReasonKind::Protected),
        count(ReasonKind::Unknown)
    );
    text.line(&keep, &escape_html(&keep));
    let oldest: Vec<_> = outcome
        .rows
        .iter()
        .filter(|r| r.verdict.should_delete())
        .take(5)
        .collect();
    if !oldest.is_empty() {
        text.line("Oldest candidates:", "<b>Oldest candidates:</b>");
        for row in oldest {
            let name = shorten(row.room.name.as_deref().unwrap_or("(no name)"), 60);
            let id = row.room.room_id.as_str();
            let reason = row.verdict.to_string();
            text.line(
                &format!("• {name} ({id}): {reason}"),
                &format!(
                    "• {} (<code>{}</code>): {}",
                    escape_html(&name),
                    escape_html(id),
                    escape_html(&reason)
                ),
            );
        }
    }
    let tail = format!(
        "results.csv lists every room with should_delete and the reason. Nothing has been deleted. \
         ({prefix} help lists the commands.)"
    );
    text.line(&tail, &escape_html(&tail));
    text
}

pub fn deletion_summary(journal: &Journal) -> Text {
    let head = format!("Deletion finished: {}.", journal.counts());
    let mut text = Text::default();
    text.line(&head, &format!("<b>{}</b>", escape_html(&head)));
    if journal.cancelled {
        let line = "Cancelled: rooms not yet started were left as they are.";
        text.line(line, line);
    }
    notable_rooms(journal, Outcome::Deleted, "deletion-report.csv", &mut text);
    text
}

/// What a dry run found; nothing was deleted.
pub fn dry_run_summary(journal: &Journal) -> Text {
    let c = journal.counts();
    let head = format!(
        "Dry run of the offer: {} would be deleted, {} would be skipped, {} could not be checked, \
         of {}. Nothing was deleted; the offer still stands.",
        c.would_delete, c.skipped, c.failed, c.total
    );
    let mut text = Text::default();
    text.line(&head, &format!("<b>{}</b>", escape_html(&head)));
    notable_rooms(
        journal,
        Outcome::WouldDelete,
        "dry-run-report.csv",
        &mut text,
    );
    text
}

/// Up to ten rooms whose outcome is not `expected` (or that carry a
/// detail), one line each.
fn notable_rooms(journal: &Journal, expected: Outcome, file: &str, text: &mut Text) {
    let notable: Vec<_> = journal
        .rooms
        .iter()
        .filter_map(|r| match &r.step {
            Step::Done { outcome, detail } if *outcome != expected || !detail.is_empty() => {
                Some((r, outcome, detail))
            }
            _ => None,
        })
        .collect();
    for (room, outcome, detail) in notable.iter().take(10) {
        let name = shorten(&room.name, 50);
        let plain = format!(
            "• {} {} ({}): {}",
            outcome.as_str(),
            name,
            room.room_id,
            detail
        );
        text.line(&plain, &escape_html(&plain));
    }
    if notable.len() > 10 {
        let more = format!("… and {} more in {file}", notable.len() - 10);
        text.line(&more, &escape_html(&more));
    }
}
