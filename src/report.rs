//! `results.csv` and the scan summary. Room names are anyone's free text:
//! the csv crate quotes them, and `safe_cell` keeps spreadsheets from
//! running them as formulas.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::policy::ReasonKind;
use crate::scan::Row;
use crate::timefmt::{rfc3339, whole_days};

/// The first columns of `results.csv`, a contract with users' scripts.
pub const HEADER: [&str; 13] = [
    "room_id",
    "name",
    "canonical_alias",
    "room_type",
    "creator",
    "joined_members",
    "joined_local_members",
    "public",
    "encryption",
    "last_activity",
    "inactive_days",
    "should_delete",
    "reason",
];

/// A cell that a spreadsheet would read as a formula gets a leading `'`, the
/// prefix spreadsheets themselves use for "this is text". Fullwidth forms are
/// included because some spreadsheets normalize them.
pub fn safe_cell(text: &str) -> Cow<'_, str> {
    const FORMULA_STARTS: &[char] = &[
        '=', '+', '-', '@', '\t', '\r', '\u{FF1D}', '\u{FF0B}', '\u{FF0D}', '\u{FF20}',
    ];
    if text.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Writes the header and one row per room; `inactive_days` counts to
/// `now_ms`, the instant the scan measured against.
pub fn write_csv<W: Write>(rows: &[Row], now_ms: i64, out: W) -> csv::Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(HEADER)?;
    for row in rows {
        let r = &row.room;
        // Borrowed where the cell needs no change: no allocation per cell.
        fn text(v: Option<&str>) -> Cow<'_, str> {
            safe_cell(v.unwrap_or(""))
        }
        let owned = |s: String| Cow::Owned(s);
        let verdict = row.verdict.to_string();
        csv.write_record(
            [
                Cow::Borrowed(r.room_id.as_str()),
                text(r.name.as_deref()),
                text(r.canonical_alias()),
                text(r.room_type()),
                text(r.creator.as_deref()),
                owned(r.joined_members.to_string()),
                owned(r.joined_local_members.to_string()),
                Cow::Borrowed(yes_no(r.public)),
                text(r.encryption()),
                owned(row.last_activity.map(rfc3339).unwrap_or_default()),
                owned(
                    row.last_activity
                        .map(|ts| whole_days(ts, now_ms).to_string())
                        .unwrap_or_default(),
                ),
                Cow::Borrowed(yes_no(row.verdict.should_delete())),
                safe_cell(&verdict),
            ]
            .iter()
            .map(|cell| cell.as_bytes()),
        )?;
    }
    csv.flush()?;
    Ok(())
}

/// Writes the CSV to `path` whole or not at all (see [`crate::atomic`]), so
/// a failed write never leaves a partial file there.
pub fn write_csv_atomic(rows: &[Row], now_ms: i64, path: &Path) -> anyhow::Result<()> {
    crate::atomic::write_with(path, |file| {
        Ok(write_csv(rows, now_ms, std::io::BufWriter::new(file))?)
    })
}

/// Counts by reason, for the command line and the chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub scanned: usize,
    pub by_kind: BTreeMap<ReasonKind, usize>,
    pub elapsed: Duration,
}

impl Summary {
    pub fn new(rows: &[Row], elapsed: Duration) -> Self {
        let mut by_kind = BTreeMap::new();
        for row in rows {
            *by_kind.entry(row.verdict.kind()).or_default() += 1;
        }
        Self {
            scanned: rows.len(),
            by_kind,
            elapsed,
        }
    }

    pub fn count(&self, kind: ReasonKind) -> usize {
        self.by_kind.get(&kind).copied().unwrap_or(0)
    }

    pub fn candidates(&self) -> usize {
        self.count(ReasonKind::Inactive) + self.count(ReasonKind::Abandoned)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |kinds: &[ReasonKind]| {
            kinds
                .iter()
                .map(|&k| format!("{} {}", self.count(k), k.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(
            f,
            "Scanned {} in {:.1} s: {} to delete ({}), {} to keep ({}).",
            crate::plain::rooms(self.scanned),
            self.elapsed.as_secs_f64(),
            self.candidates(),
            list(&[ReasonKind::Inactive, ReasonKind::Abandoned]),
            self.scanned - self.candidates(),
            list(&[
                ReasonKind::Active,
                ReasonKind::Protected,
                ReasonKind::Unknown
            ]),
        )
    }
}

#[cfg(test)]
mod tests;
