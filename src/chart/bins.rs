//! Rooms counted by time since last activity, in bins that read naturally
//! (a day, a week, a month… five years) and by kind of verdict. Pure: the
//! chart draws what this counts, and the tests compare it with the CSV.

use crate::policy::ReasonKind;
use crate::timefmt::MS_PER_DAY;

/// Upper edges of the dated bins, in days; the last dated bin is open.
const EDGES: [f64; 8] = [1.0, 7.0, 30.0, 91.0, 182.0, 365.0, 730.0, 1826.0];

pub const LABELS: [&str; BINS] = [
    "< 1 day",
    "1-7 days",
    "1-4 weeks",
    "1-3 months",
    "3-6 months",
    "6-12 months",
    "1-2 years",
    "2-5 years",
    "5+ years",
    "no date",
];
pub const BINS: usize = EDGES.len() + 2;
/// The column of rooms whose last activity is not known.
pub const UNDATED: usize = BINS - 1;

/// Stack order, bottom up: what goes first, then what stays.
pub const KINDS: [ReasonKind; 5] = [
    ReasonKind::Inactive,
    ReasonKind::Abandoned,
    ReasonKind::Active,
    ReasonKind::Protected,
    ReasonKind::Unknown,
];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bins {
    /// `counts[bin][kind]`, kinds in `KINDS` order.
    counts: [[u64; KINDS.len()]; BINS],
}

impl Bins {
    /// Counts one room, last active at `last_activity` (ms), seen at `now`.
    pub fn add(&mut self, last_activity: Option<i64>, now_ms: i64, kind: ReasonKind) {
        let bin = match last_activity {
            None => UNDATED,
            Some(at) => bin_of((now_ms - at) as f64 / MS_PER_DAY as f64),
        };
        let k = KINDS
            .iter()
            .position(|&x| x == kind)
            .unwrap_or(KINDS.len() - 1);
        self.counts[bin][k] += 1;
    }

    pub fn count(&self, bin: usize, kind: ReasonKind) -> u64 {
        let k = KINDS.iter().position(|&x| x == kind);
        k.map_or(0, |k| self.counts[bin][k])
    }

    pub fn bar(&self, bin: usize) -> u64 {
        self.counts[bin].iter().sum()
    }

    pub fn of_kind(&self, kind: ReasonKind) -> u64 {
        (0..BINS).map(|b| self.count(b, kind)).sum()
    }

    pub fn total(&self) -> u64 {
        (0..BINS).map(|b| self.bar(b)).sum()
    }
}

/// The dated bin of an age in days (a future date counts as today).
fn bin_of(days: f64) -> usize {
    EDGES
        .iter()
        .position(|&edge| days < edge)
        .unwrap_or(EDGES.len())
}

/// Where `days` falls on the chart's x axis, where dated bin `i` spans
/// `[i, i + 1)`: linear in the first bin, logarithmic in the others, so a
/// bin edge is an integer (365 days is exactly 6.0).
pub fn position(days: f64) -> f64 {
    let days = days.max(0.0);
    let i = bin_of(days);
    let lower = if i == 0 { 0.0 } else { EDGES[i - 1] };
    let upper = EDGES.get(i).copied().unwrap_or(lower * 2.0);
    let within = if i == 0 {
        days / upper
    } else {
        (days / lower).ln() / (upper / lower).ln()
    };
    (i as f64 + within.clamp(0.0, 1.0)).min(EDGES.len() as f64 + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn ago(days: f64) -> Option<i64> {
        Some(NOW - (days * MS_PER_DAY as f64) as i64)
    }

    #[test]
    fn ages_land_in_the_bin_their_label_says() {
        let cases = [
            (0.0, "< 1 day"),
            (0.99, "< 1 day"),
            (1.0, "1-7 days"),
            (6.9, "1-7 days"),
            (7.0, "1-4 weeks"),
            (45.0, "1-3 months"),
            (100.0, "3-6 months"),
            (200.0, "6-12 months"),
            (364.9, "6-12 months"),
            (365.0, "1-2 years"),
            (1000.0, "2-5 years"),
            (4000.0, "5+ years"),
            (-3.0, "< 1 day"),
        ];
        for (days, label) in cases {
            let mut bins = Bins::default();
            bins.add(ago(days), NOW, ReasonKind::Inactive);
            let bin = (0..BINS).find(|&b| bins.bar(b) == 1).unwrap();
            assert_eq!(LABELS[bin], label, "{days} days");
        }
        let mut bins = Bins::default();
        bins.add(None, NOW, ReasonKind::Unknown);
        assert_eq!(bins.count(UNDATED, ReasonKind::Unknown), 1);
    }

    #[test]
    fn counts_add_up_by_kind_and_in_total() {
        let mut bins = Bins::default();
        for (i, kind) in KINDS.iter().enumerate() {
            for _ in 0..=i {
                bins.add(ago(400.0), NOW, *kind);
            }
        }
        assert_eq!(bins.total(), 15);
        assert_eq!(bins.of_kind(ReasonKind::Protected), 4);
        assert_eq!(bins.bar(6), 15);
    }

    #[test]
    fn the_threshold_sits_between_bins_on_a_log_scale() {
        assert_eq!(position(0.0), 0.0);
        assert_eq!(position(0.5), 0.5);
        assert_eq!(position(365.0), 6.0);
        assert_eq!(position(30.0), 3.0);
        let mid = position((30.0f64 * 91.0).sqrt());
        assert!((mid - 3.5).abs() < 1e-9, "{mid}");
        let mut last = -1.0;
        for days in [0.1, 1.0, 3.0, 10.0, 90.0, 180.0, 500.0, 2000.0, 100_000.0] {
            let p = position(days);
            assert!(p > last && p <= 9.0, "{days}: {p}");
            last = p;
        }
    }
}
