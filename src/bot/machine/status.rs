//! What `status` says, and how a job describes itself in a busy answer.

use super::{Job, JobId, JobKind, Machine, Ms};
use crate::bot::text::{Text, escape_html};
use crate::plain::ago;
use crate::scan::Progress;

impl Machine {
    /// The running job in one word or two, for the health report.
    pub fn job_name(&self) -> Option<&'static str> {
        self.job.as_ref().map(|job| match job.kind {
            JobKind::Scan { .. } => "scan",
            JobKind::Delete { .. } => "deletion",
            JobKind::DryRun => "dry run",
            JobKind::Upload { .. } => "upload",
            JobKind::Plan { .. } => "plan",
        })
    }

    /// Whether job `id` is still running.
    pub fn runs(&self, id: JobId) -> bool {
        self.job.as_ref().is_some_and(|j| j.id == id)
    }

    /// For a running scan: whether the schedule started it, and whether
    /// it was cancelled.
    pub fn scan_flags(&self, id: JobId) -> Option<(bool, bool)> {
        match &self.job {
            Some(Job {
                id: job,
                kind:
                    JobKind::Scan {
                        scheduled,
                        cancelled,
                        ..
                    },
                ..
            }) if *job == id => Some((*scheduled, *cancelled)),
            _ => None,
        }
    }

    /// How many rooms the standing offer holds: posted and not expired.
    pub fn offered(&self, now: Ms) -> usize {
        match &self.offer {
            Some(offer) if offer.event_id.is_some() && now < offer.expires => offer.rooms.len(),
            _ => 0,
        }
    }

    pub(super) fn status(&self, now: Ms) -> Text {
        let mut text = match &self.job {
            Some(job) => Text::plain(&format!("Busy: {}.", describe(job, now))),
            None => Text::plain("Idle: no scan or deletion is running."),
        };
        if let Some(offer) = &self.offer {
            let line = match &offer.event_id {
                Some(_) if now < offer.expires => format!(
                    "An offer to delete {} stands until {}.",
                    crate::plain::rooms(offer.rooms.len()),
                    crate::timefmt::rfc3339(offer.expires)
                ),
                Some(_) => "The offer to delete has expired.".to_owned(),
                None => format!(
                    "An offer to delete {} is being posted.",
                    crate::plain::rooms(offer.rooms.len())
                ),
            };
            text.line(&line, &escape_html(&line));
        }
        self.plan_status(&mut text);
        let last = match &self.last_scan {
            Some((summary, at)) => format!(
                "Last scan, {} ago: {summary}",
                ago(std::time::Duration::from_millis(
                    u64::try_from(now - at).unwrap_or(0)
                ))
            ),
            None => "No scan has finished since the bot started.".to_owned(),
        };
        text.line(&last, &escape_html(&last));
        if let Some(line) = self.schedule_line() {
            text.line(&line, &escape_html(&line));
        }
        text
    }
}

/// "scanning (checked 120 of 400 rooms, 12 s elapsed)" and the like.
pub(super) fn describe(job: &Job, now: Ms) -> String {
    let elapsed = ago(std::time::Duration::from_millis(
        u64::try_from(now - job.started).unwrap_or(0),
    ));
    match &job.kind {
        JobKind::Scan { progress, .. } => {
            format!("scanning ({}, {elapsed} elapsed)", scan_progress(*progress))
        }
        JobKind::Delete {
            counts: Some(c), ..
        } => format!("deleting ({c}, {elapsed} elapsed)"),
        JobKind::Delete { counts: None, .. } => format!("starting a deletion ({elapsed} elapsed)"),
        JobKind::DryRun => {
            format!("re-checking the offer's rooms for a dry run ({elapsed} elapsed)")
        }
        JobKind::Upload { .. } => format!("reading an uploaded results.csv ({elapsed} elapsed)"),
        JobKind::Plan { by: Some(_), .. } => {
            format!("warning the people of the confirmed rooms ({elapsed} elapsed)")
        }
        JobKind::Plan { by: None, .. } => {
            format!("sending the plan's owed warnings ({elapsed} elapsed)")
        }
    }
}

pub fn scan_progress(progress: Option<Progress>) -> String {
    match progress {
        None => "starting".to_owned(),
        Some(Progress::Listing { listed }) => format!("listed {}", crate::plain::rooms(listed)),
        Some(Progress::Checking { checked, total }) => {
            format!("checked {checked} of {}", crate::plain::rooms(total))
        }
    }
}
