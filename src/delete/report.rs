//! `deletion-report.csv`: one row per confirmed room and what became of it.

use std::io::Write;

use super::journal::{CANCELLED, Journal, Outcome, Step};
use crate::report::safe_cell;

pub const HEADER: [&str; 4] = ["room_id", "name", "outcome", "detail"];

/// Writes the report; rooms not yet done are reported as `skipped`.
pub fn write_report<W: Write>(journal: &Journal, out: W) -> csv::Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(HEADER)?;
    for room in &journal.rooms {
        let (outcome, detail) = match &room.step {
            Step::Done { outcome, detail } => (outcome.as_str(), detail.as_str()),
            _ => ("skipped", "not processed"),
        };
        csv.write_record([
            room.room_id.as_str(),
            &safe_cell(&room.name),
            outcome,
            &safe_cell(detail),
        ])?;
    }
    csv.flush()?;
    Ok(())
}

/// Every (outcome, class) pair [`reason_class`] gives for a deletion.
pub const REASONS: [(&str, &str); 15] = [
    ("deleted", "none"),
    ("skipped", "cancelled"),
    ("skipped", "new_activity"),
    ("skipped", "protected"),
    ("skipped", "gone"),
    ("skipped", "people_back"),
    ("skipped", "untrusted"),
    ("skipped", "unreadable"),
    ("skipped", "incomplete"),
    ("failed", "recheck"),
    ("failed", "refused"),
    ("failed", "task_failed"),
    ("failed", "timeout"),
    ("failed", "status_unreadable"),
    ("failed", "other"),
];

/// The kind of reason a done room's detail gives, in a word: for metrics,
/// which need a small fixed set of labels. The journal keeps the detail as
/// text, so the class is read from the texts the engine and the re-check
/// write (each one is pinned by a test below).
pub fn reason_class(outcome: Outcome, detail: &str) -> &'static str {
    let starts = |p: &str| detail.starts_with(p);
    match outcome {
        Outcome::Deleted | Outcome::WouldDelete => "none",
        Outcome::Skipped if detail == CANCELLED => "cancelled",
        Outcome::Skipped if starts("new activity since the scan") => "new_activity",
        Outcome::Skipped if starts("protected: ") => "protected",
        Outcome::Skipped if starts("already gone") => "gone",
        Outcome::Skipped if detail.contains(" local member(s) in it now") => "people_back",
        Outcome::Skipped if starts("the homeserver's answer could not be trusted") => "untrusted",
        Outcome::Skipped
            if starts("the scan recorded no last activity")
                || starts("the room's timeline can no longer be read") =>
        {
            "unreadable"
        }
        Outcome::Skipped => "incomplete",
        Outcome::Failed if starts("re-check failed") => "recheck",
        Outcome::Failed if starts("Synapse refused the deletion") => "refused",
        Outcome::Failed
            if starts("Synapse's deletion task ended")
                || starts("Synapse ended its deletion task") =>
        {
            "task_failed"
        }
        Outcome::Failed if starts("not finished after") => "timeout",
        Outcome::Failed if starts("cannot read the deletion status") => "status_unreadable",
        Outcome::Failed => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delete::recheck::Skip;

    #[test]
    fn every_skip_has_its_own_class() {
        let newest = crate::room::Newest {
            event_id: "$e".into(),
            ts: 0,
        };
        for (skip, class) in [
            (Skip::Gone, "gone"),
            (Skip::NothingRecorded, "unreadable"),
            (Skip::Protected("protected: admin room".into()), "protected"),
            (
                Skip::Incomplete("the server did not say".into()),
                "incomplete",
            ),
            (Skip::Unreadable, "unreadable"),
            (
                Skip::NewEvent {
                    now: newest,
                    seen: "$d".into(),
                    by: None,
                },
                "new_activity",
            ),
            (Skip::NewerThan(0), "new_activity"),
            (Skip::PeopleBack(2), "people_back"),
            (Skip::Untrusted("bad json".into()), "untrusted"),
        ] {
            assert_eq!(
                reason_class(Outcome::Skipped, &skip.to_string()),
                class,
                "{skip}"
            );
        }
        assert_eq!(reason_class(Outcome::Skipped, CANCELLED), "cancelled");
        assert_eq!(
            reason_class(Outcome::Failed, "not finished after 600 s (Synapse may …)"),
            "timeout"
        );
        assert_eq!(reason_class(Outcome::Deleted, ""), "none");
        for (outcome, detail) in [
            (Outcome::Failed, "re-check failed: x"),
            (Outcome::Failed, "Synapse refused the deletion: x"),
            (Outcome::Failed, "Synapse's deletion task ended: x"),
            (Outcome::Failed, "cannot read the deletion status: x"),
            (Outcome::Failed, "anything"),
            (Outcome::Skipped, CANCELLED),
        ] {
            let pair = (outcome.as_str(), reason_class(outcome, detail));
            assert!(REASONS.contains(&pair), "{pair:?}");
        }
    }
}
