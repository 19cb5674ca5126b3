//! A picture of a scan: rooms by time since last activity, stacked by
//! verdict, with the `inactive_days` threshold drawn, and its text
//! alternative in numbers. The bot posts it as an image with the summary;
//! `oldrooms scan --chart FILE` writes it.

mod bins;
mod draw;

pub use bins::{BINS, Bins, LABELS, position};
pub use draw::{ChartError, HEIGHT, Png, WIDTH, render, thousands};

use crate::policy::ReasonKind;
use crate::scan::Row;
use crate::timefmt::rfc3339;

/// A drawn chart and what it shows, in words.
#[derive(Debug, Clone)]
pub struct Chart {
    pub png: Png,
    pub alt: String,
}

/// The chart of a finished scan of `server`, measured at `now_ms`.
pub fn of_scan(
    rows: &[Row],
    now_ms: i64,
    server: &str,
    inactive_days: u32,
) -> Result<Chart, ChartError> {
    let mut bins = Bins::default();
    for row in rows {
        bins.add(row.last_activity, now_ms, row.verdict.kind());
    }
    of_bins(&bins, now_ms, server, inactive_days)
}

pub fn of_bins(
    bins: &Bins,
    now_ms: i64,
    server: &str,
    inactive_days: u32,
) -> Result<Chart, ChartError> {
    let date: String = rfc3339(now_ms).chars().take(10).collect();
    let server = crate::plain::shorten(server, 60);
    let candidates = bins.of_kind(ReasonKind::Inactive) + bins.of_kind(ReasonKind::Abandoned);
    let title = format!(
        "{server}, {date}: {} {}, {} to delete",
        thousands(bins.total()),
        if bins.total() == 1 { "room" } else { "rooms" },
        thousands(candidates)
    );
    let label = format!(
        "inactive after {}",
        crate::plain::count(inactive_days, "day", "days")
    );
    let png = render(bins, &title, position(f64::from(inactive_days)), &label)?;
    Ok(Chart {
        png,
        alt: alt_text(bins, &server, &date, inactive_days),
    })
}

/// The counts the picture shows, the same as results.csv's.
pub fn alt_text(bins: &Bins, server: &str, date: &str, inactive_days: u32) -> String {
    let n = |kind| thousands(bins.of_kind(kind));
    let delete = bins.of_kind(ReasonKind::Inactive) + bins.of_kind(ReasonKind::Abandoned);
    let per_age: Vec<String> = (0..BINS)
        .map(|b| format!("{} {}", LABELS[b], thousands(bins.bar(b))))
        .collect();
    format!(
        "Chart of {server}'s rooms by time since last activity, {date}: {} {}; \
         {} to delete ({} inactive, {} abandoned), {} to keep ({} active, {} protected, \
         {} unknown); rooms are inactive after {}. By age: {}.",
        thousands(bins.total()),
        if bins.total() == 1 { "room" } else { "rooms" },
        thousands(delete),
        n(ReasonKind::Inactive),
        n(ReasonKind::Abandoned),
        thousands(bins.total() - delete),
        n(ReasonKind::Active),
        n(ReasonKind::Protected),
        n(ReasonKind::Unknown),
        crate::plain::count(inactive_days, "day", "days"),
        per_age.join(", ")
    )
}

#[cfg(test)]
mod tests;
