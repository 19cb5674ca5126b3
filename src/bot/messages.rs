//! The bot's longer messages, built from data alone: the scan summary, the
//! offers to delete (a scan's, an uploaded file's), the deletion's summary.

use super::text::{Text, escape_html};
use crate::delete::choice::{Choice, Named, label};
use crate::delete::journal::{Journal, Outcome, Step};
use crate::plain::{count as counted, rooms, shorten};
use crate::policy::ReasonKind;
use crate::report::Summary;
use crate::scan::ScanOutcome;
use crate::timefmt::rfc3339;

/// How to answer an offer, with the expiry that the state machine enforces.
pub struct Answer<'a> {
    pub confirm: &'a str,
    pub cancel: &'a str,
    pub prefix: &'a str,
    pub minutes: u64,
    pub expires_ms: i64,
}

impl Answer<'_> {
    fn line(&self) -> String {
        format!(
            "React {} to delete them, or {} (or {} cancel) to withdraw this offer. It stands for \
             {} min, until {}.",
            self.confirm,
            self.cancel,
            self.prefix,
            self.minutes,
            rfc3339(self.expires_ms),
        )
    }
}

/// A scan's offer to delete its candidates.
pub struct OfferText<'a> {
    pub rooms: usize,
    pub summary: &'a Summary,
    pub answer: Answer<'a>,
}

pub fn offer(o: &OfferText<'_>) -> Text {
    let line = format!(
        "Delete {} ({} inactive, {} abandoned)? They are the should_delete=yes rows of the \
         results.csv above; each is re-checked just before it is deleted. {}",
        these_rooms(o.rooms),
        o.summary.count(ReasonKind::Inactive),
        o.summary.count(ReasonKind::Abandoned),
        o.answer.line(),
    );
    let mut text = Text::default();
    text.line(&line, &format!("<b>{}</b>", escape_html(&line)));
    text
}

/// The offer for an uploaded file's `yes` rows: how many, how the file
/// differs from the last scan, and what is refused whatever it says.
/// `answer` is `None` when nothing can be offered.
pub fn upload_offer(choice: &Choice, sender: &str, answer: Option<&Answer<'_>>) -> Text {
    let mut text = Text::default();
    let head = match answer {
        Some(_) => format!(
            "Delete {}? They are the should_delete=yes rows of the results.csv {sender} \
             uploaded; each is re-checked just before it is deleted, with the configured policy.",
            these_rooms(choice.offered.len())
        ),
        None => format!(
            "The results.csv {sender} uploaded marks no room that may be deleted: nothing is \
             offered, nothing was deleted."
        ),
    };
    text.line(&head, &format!("<b>{}</b>", escape_html(&head)));
    match &choice.changes {
        Some(c) => {
            let line = format!(
                "Against the bot's last scan: {} of its candidates marked no, {} left out of the \
                 file, {} it kept marked yes, {} it did not list.",
                c.turned_no,
                c.removed,
                rooms(c.turned_yes.count),
                rooms(c.unknown.count)
            );
            text.line(&line, &escape_html(&line));
            named(
                "Marked yes although the scan kept them:",
                &c.turned_yes,
                &mut text,
            );
            named("Not in the last scan:", &c.unknown, &mut text);
        }
        None => {
            let line = "There is no earlier scan on this bot to compare the file with.";
            text.line(line, line);
        }
    }
    if choice.differ.count > 0 {
        let line = format!(
            "{} last_activity, joined_local_members or reason cells differ from what the \
             scan recorded: each room is re-checked against the scan's record, not the file.",
            counted(choice.differ.count, "row's", "rows'")
        );
        text.line(&line, &escape_html(&line));
        named("Cells that differ:", &choice.differ, &mut text);
    }
    if choice.kept_count > 0 {
        let line = format!(
            "{} of them the re-check will keep under the configured policy:",
            choice.kept_count
        );
        text.line(&line, &escape_html(&line));
        for kept in &choice.kept {
            let plain = format!("• {kept}");
            text.line(&plain, &escape_html(&plain));
        }
        if choice.kept_count > choice.kept.len() {
            let more = format!("… and {} more", choice.kept_count - choice.kept.len());
            text.line(&more, &escape_html(&more));
        }
    }
    if choice.read_now > 0 {
        let line = format!(
            "{} not in the bot's last scan: their facts were read from the server now.",
            were(choice.read_now)
        );
        text.line(&line, &escape_html(&line));
    }
    if !choice.refused.is_empty() {
        let line = format!("Refused, never deleted ({}):", choice.refused.len());
        text.line(&line, &escape_html(&line));
        for (entry, why) in choice.refused.iter().take(10) {
            let plain = format!("• {}: {why}", shorten(&label(entry), 80));
            text.line(&plain, &escape_html(&plain));
        }
    }
    if let Some(answer) = answer {
        let line = answer.line();
        text.line(&line, &format!("<b>{}</b>", escape_html(&line)));
    }
    text
}

/// "this room", "these 3 rooms".
fn these_rooms(n: usize) -> String {
    if n == 1 {
        "this room".to_owned()
    } else {
        format!("these {n} rooms")
    }
}

/// "1 room was", "3 rooms were".
pub fn were(n: usize) -> String {
    format!("{} {}", rooms(n), if n == 1 { "was" } else { "were" })
}

fn named(title: &str, rooms: &Named, text: &mut Text) {
    if rooms.count == 0 {
        return;
    }
    text.line(title, &escape_html(title));
    for room in &rooms.first {
        let plain = format!("• {}", shorten(room, 80));
        text.line(&plain, &escape_html(&plain));
    }
    if rooms.count > rooms.first.len() {
        let more = format!("… and {} more", rooms.count - rooms.first.len());
        text.line(&more, &escape_html(&more));
    }
}

pub fn scan_summary(summary: &Summary, outcome: &ScanOutcome, prefix: &str) -> Text {
    let count = |k: ReasonKind| summary.count(k);
    let mut text = Text::default();
    let head = format!(
        "Scan finished: {} in {:.1} s.",
        rooms(summary.scanned),
        summary.elapsed.as_secs_f64()
    );
    text.line(&head, &format!("<b>{}</b>", escape_html(&head)));
    if let Some(route) = outcome.route.describe() {
        text.line(&route, &escape_html(&route));
    }
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
