//! `deletion-report.csv`: one row per confirmed room and what became of it.

use std::io::Write;

use super::journal::{Journal, Step};
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
