//! Feeding the metrics from what the actor sees: a scan's end, the machine's
//! state after each input, a finished deletion's rooms.

use super::machine::{Machine, ScanEnd};
use crate::delete::journal::{Journal, Step};
use crate::delete::report::reason_class;
use crate::metrics::{self, FinishedScan, Metrics, Trigger};
use crate::policy::ReasonKind;
use crate::report::Summary;

/// A scan ends: counted by trigger and end; a finished one's verdicts and
/// duration kept. Read before the machine takes the input.
pub fn scan_ended(metrics: &Metrics, machine: &Machine, job: super::machine::JobId, end: &ScanEnd) {
    let Some((scheduled, cancelled)) = machine.scan_flags(job) else {
        return;
    };
    let trigger = if scheduled {
        Trigger::Schedule
    } else {
        Trigger::Chat
    };
    let (how, finished) = match end {
        ScanEnd::Done(result) if !cancelled => {
            let summary = Summary::new(&result.outcome.rows, result.outcome.elapsed);
            let rooms = KINDS.map(|k| (k.as_str(), summary.count(k))).to_vec();
            let seconds = result.outcome.elapsed.as_secs_f64();
            (
                metrics::ScanEnd::Finished,
                Some(FinishedScan { rooms, seconds }),
            )
        }
        ScanEnd::Done(_) | ScanEnd::Cancelled => (metrics::ScanEnd::Cancelled, None),
        ScanEnd::Failed(_) => (metrics::ScanEnd::Failed, None),
    };
    metrics.scan_ended(trigger, how, finished.as_ref());
}

/// Every verdict and deletion reason at 0 before the first is counted.
pub fn prepare(metrics: &Metrics) {
    metrics.prepare_verdicts(&KINDS.map(ReasonKind::as_str));
    metrics.prepare_deletion_reasons(&crate::delete::report::REASONS);
}

const KINDS: [ReasonKind; 5] = [
    ReasonKind::Inactive,
    ReasonKind::Abandoned,
    ReasonKind::Active,
    ReasonKind::Protected,
    ReasonKind::Unknown,
];

/// What the machine holds after an input.
pub fn machine_state(metrics: &Metrics, machine: &Machine, now: i64) {
    metrics.set_offer_candidates(machine.offered(now));
    metrics.set_deletion_in_progress(machine.job_name() == Some("deletion"));
}

/// Each room of a finished run, by outcome and reason class.
pub fn deletion_finished(metrics: &Metrics, journal: &Journal) {
    for room in &journal.rooms {
        if let Step::Done { outcome, detail } = &room.step {
            metrics.deletion_room(outcome.as_str(), reason_class(*outcome, detail));
        }
    }
}
