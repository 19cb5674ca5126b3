//! The bot's decisions as one pure state machine: inputs in (a command, a
//! reaction, a job's progress or end, a tick, start-up with what is on
//! disk), effects out (say this, start that job, cancel it). Time is an
//! input. One task owns it and applies inputs in order (`actor.rs`); no
//! I/O happens here, so every rule is tested in unit and property tests.

#[cfg(test)]
pub(crate) mod builders;
mod confirm;
mod io;
mod plan;
#[cfg(test)]
mod plan_props;
#[cfg(test)]
mod plan_tests;
#[cfg(test)]
mod props;
mod schedule;
mod status;
#[cfg(test)]
mod tests;
mod upload;

use std::collections::HashMap;

use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};

use super::commands::{BotCommand, Parsed, ScanArgs};
use super::text::Text;
use crate::delete::journal::Counts;
use crate::delete::{OpenError, RunEvent};
use crate::plain::ago;
use crate::policy::Rules;
use crate::report::Summary;
use crate::scan::Progress;
pub use io::{
    Confirmed, DeletionEnd, DeletionStart, Effect, Filed, Input, InviteAnswer, JobId, OfferRooms,
    OnDisk, PlanEnd, PlanFacts, PlanOnDisk, PlanStart, ScanEnd, ScanFailure, ScanResult, Settings,
    Upload,
};
pub use schedule::{Fingerprint, Scheduled};
use status::describe;
pub use status::scan_progress;

/// Milliseconds since the epoch: the machine's only clock.
pub type Ms = i64;

/// How long a refused user waits before being told again.
const REFUSAL_QUIET: Ms = 3_600_000;

struct Job {
    id: JobId,
    started: Ms,
    kind: JobKind,
}

enum JobKind {
    Scan {
        progress: Option<Progress>,
        cancelled: bool,
        /// Started by the schedule, not by an admin.
        scheduled: bool,
    },
    Delete {
        counts: Option<Counts>,
        cancelling: bool,
        /// Who confirmed it, for the reply once the journal is written;
        /// `None` for a resumed run.
        confirmed_by: Option<OwnedUserId>,
        /// The waiting plan's rooms, at its deadline.
        plan: bool,
    },
    /// Making a plan (`by`: who confirmed it) or sending its owed warnings.
    Plan {
        cancelling: bool,
        by: Option<OwnedUserId>,
    },
    /// Re-checking the standing offer's rooms; deletes nothing.
    DryRun,
    /// Reading an uploaded results.csv; a cancel drops what it finds.
    Upload { cancelled: bool },
}

/// The live offer: being posted (no event id yet) or standing.
struct Offer {
    id: u64,
    event_id: Option<OwnedEventId>,
    rooms: OfferRooms,
    /// The scan's options; `None` for an uploaded file, which is re-checked
    /// with the config's policy, as `oldrooms delete --from` is.
    options: Option<Rules>,
    expires: Ms,
    /// Reactions that arrived before the offer's id was known to us.
    early: Vec<(OwnedUserId, OwnedEventId, String)>,
}

/// Why an offer no longer stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Spent {
    Withdrawn,
    Expired,
    Replaced,
    Used { by: OwnedUserId, job: JobId },
}

/// The bot's state; see the module doc.
pub struct Machine {
    s: Settings,
    job: Option<Job>,
    offer: Option<Offer>,
    /// Offers that no longer stand, by message.
    spent: HashMap<OwnedEventId, Spent>,
    /// Offers that stopped standing before their message was posted.
    spent_unposted: HashMap<u64, Spent>,
    last_scan: Option<(Summary, Ms)>,
    refused: HashMap<OwnedUserId, Ms>,
    next_id: u64,
    shutting_down: bool,
    /// An unfinished journal is on disk with no job running it (a run that
    /// stopped on a permanent error): it resumes at the next start.
    stopped_run: bool,
    schedule: Option<Scheduled>,
    /// `Input::Started` has been handled: start-up work comes first.
    ready: bool,
    /// The plan that waits for its deadline.
    plan: Option<plan::Waiting>,
    /// The plan file found at start could not be read (why): no offer is
    /// confirmed while it is there.
    unreadable_plan: Option<String>,
}

impl Machine {
    pub fn new(s: Settings) -> Self {
        Self {
            schedule: s.schedule.clone(),
            ready: false,
            s,
            job: None,
            offer: None,
            spent: HashMap::new(),
            spent_unposted: HashMap::new(),
            last_scan: None,
            refused: HashMap::new(),
            next_id: 0,
            shutting_down: false,
            stopped_run: false,
            plan: None,
            unreadable_plan: None,
        }
    }

    /// When the machine wants an `Input::Tick`: the offer's expiry, the
    /// next scheduled scan, the plan's next step.
    pub fn next_deadline(&self) -> Option<Ms> {
        let expiry = self
            .offer
            .as_ref()
            .filter(|o| o.event_id.is_some())
            .map(|o| o.expires);
        let scheduled = self.next_scheduled().filter(|_| !self.shutting_down);
        expiry
            .into_iter()
            .chain(scheduled)
            .chain(self.plan_deadline())
            .min()
    }

    /// Applies one input at time `now`.
    pub fn handle(&mut self, now: Ms, input: Input) -> Vec<Effect> {
        let mut out = Vec::new();
        match input {
            Input::Started(disk) => self.started(disk, now, &mut out),
            Input::Command { sender, parsed } => self.command(now, sender, parsed, &mut out),
            Input::Reaction {
                sender,
                target,
                key,
            } => self.reaction(now, sender, target, &key, &mut out),
            Input::Invite { room, inviter } => out.push(self.invite(room, &inviter)),
            Input::Upload { sender, upload } => self.upload(now, sender, upload, &mut out),
            Input::UploadRead {
                job,
                sender,
                result,
            } => self.upload_read(now, job, &sender, result, &mut out),
            Input::ScanProgress { job, progress } => {
                if let Some(JobKind::Scan { progress: p, .. }) = self.job_mut(job) {
                    *p = Some(progress);
                }
            }
            Input::ScanEnded { job, end } => self.scan_ended(now, job, end, &mut out),
            Input::OfferPosted { offer, event_id } => {
                self.offer_posted(now, offer, event_id, &mut out)
            }
            Input::Deletion { job, event } => self.deletion_event(job, event, &mut out),
            Input::DeletionEnded { job, end } => self.deletion_ended(now, job, end, &mut out),
            Input::PlanFound(disk) => self.plan_found(disk, &mut out),
            Input::Planned { job, end } => self.planned(now, job, end, &mut out),
            Input::PlanWithdrawn(result) => self.plan_withdrawn(result, &mut out),
            Input::DryRunEnded { job } => {
                if self.job_mut(job).is_some() {
                    self.job = None;
                }
            }
            Input::JournalCancelled(result) => out.push(say(&match result {
                Ok(()) => "Cancelled: the interrupted deletion will not delete any more rooms. \
                    At the next start it only finishes its report."
                    .to_owned(),
                Err(e) => {
                    // Still unfinished on disk: a later cancel tries again.
                    self.stopped_run = true;
                    format!(
                        "Could not record the cancel ({e}): the interrupted deletion \
                         resumes at the next start unless a cancel gets through."
                    )
                }
            })),
            Input::Tick => self.tick(now, &mut out),
            Input::Shutdown => self.shutdown(&mut out),
        }
        self.plan_work(now, &mut out);
        if self.shutting_down && self.job.is_none() {
            out.push(Effect::Exit);
        }
        out
    }

    fn job_mut(&mut self, id: JobId) -> Option<&mut JobKind> {
        self.job
            .as_mut()
            .filter(|j| j.id == id)
            .map(|j| &mut j.kind)
    }

    fn new_job(&mut self, now: Ms, kind: JobKind) -> JobId {
        let id = JobId(self.fresh_id());
        self.job = Some(Job {
            id,
            started: now,
            kind,
        });
        id
    }

    fn started(&mut self, disk: OnDisk, now: Ms, out: &mut Vec<Effect>) {
        self.ready = true;
        match disk {
            OnDisk::Nothing => {}
            OnDisk::Unfinished {
                confirmed_by,
                confirmed_at,
                counts,
            } => {
                out.push(say(&format!(
                    "Resuming the deletion confirmed by {confirmed_by} at {} ({counts}).",
                    crate::timefmt::rfc3339(confirmed_at)
                )));
                let kind = JobKind::Delete {
                    counts: Some(counts),
                    cancelling: false,
                    confirmed_by: None,
                    plan: false,
                };
                let job = self.new_job(now, kind);
                out.push(Effect::StartDeletion {
                    job,
                    start: DeletionStart::Resume,
                });
            }
            OnDisk::Unreadable(why) => out.push(say(&format!(
                "Cannot resume: {why}. Nothing will be deleted from it."
            ))),
        }
    }

    fn command(&mut self, now: Ms, sender: OwnedUserId, parsed: Parsed, out: &mut Vec<Effect>) {
        if !self.s.admins.contains(&sender) {
            self.refuse(now, &sender, out);
            return;
        }
        match parsed {
            Parsed::Help(text) | Parsed::Error(text) => out.push(Effect::Say(Text::code(&text))),
            Parsed::Command(BotCommand::Scan(args)) => self.scan(now, args, out),
            Parsed::Command(BotCommand::Status) => out.push(Effect::Say(self.status(now))),
            Parsed::Command(BotCommand::Cancel) => self.cancel(out),
            Parsed::Command(BotCommand::DryRun) => self.dry_run(now, out),
        }
    }

    fn refuse(&mut self, now: Ms, sender: &OwnedUserId, out: &mut Vec<Effect>) {
        if let Some(last) = self.refused.get(sender)
            && now - last < REFUSAL_QUIET
        {
            return;
        }
        self.refused.insert(sender.clone(), now);
        out.push(say(&format!(
            "Sorry, {sender}: only the admins listed in the bot's configuration can give it commands."
        )));
    }

    fn scan(&mut self, now: Ms, args: ScanArgs, out: &mut Vec<Effect>) {
        if self.shutting_down {
            out.push(say("The bot is shutting down: no new scan starts."));
            return;
        }
        if let Some(job) = &self.job {
            out.push(say(&format!(
                "Busy: {}. Send `{prefix} status` to follow it or `{prefix} cancel` to stop it.",
                describe(job, now),
                prefix = self.s.prefix,
            )));
            return;
        }
        // A new scan replaces the standing offer.
        self.end_offer(Spent::Replaced, out);
        let kind = JobKind::Scan {
            progress: None,
            cancelled: false,
            scheduled: false,
        };
        let job = self.new_job(now, kind);
        out.push(Effect::StartScan { job, args });
    }

    /// `dry-run`: re-checks the standing offer's rooms; the offer stands.
    fn dry_run(&mut self, now: Ms, out: &mut Vec<Effect>) {
        if self.shutting_down {
            out.push(say("The bot is shutting down: no dry run starts."));
            return;
        }
        if let Some(job) = &self.job {
            out.push(say(&format!("Busy: {}.", describe(job, now))));
            return;
        }
        let rooms = match &self.offer {
            Some(o) if o.event_id.is_some() && now < o.expires => Confirmed {
                by: "dry run".to_owned(),
                at: now,
                options: o.options.clone(),
                rooms: o.rooms.clone(),
            },
            Some(o) if o.event_id.is_none() => {
                out.push(say(
                    "The offer is still being posted: try again in a moment.",
                ));
                return;
            }
            _ => {
                out.push(say(&format!(
                    "No offer to delete stands: run `{} scan` first.",
                    self.s.prefix
                )));
                return;
            }
        };
        let job = self.new_job(now, JobKind::DryRun);
        out.push(Effect::StartDryRun { job, rooms });
    }

    /// `cancel`: stops the running job, or withdraws the offer.
    fn cancel(&mut self, out: &mut Vec<Effect>) {
        if let Some(job) = &mut self.job {
            let id = job.id;
            match &mut job.kind {
                JobKind::Scan { cancelled, .. } => {
                    *cancelled = true;
                    out.push(Effect::CancelJob(id));
                    out.push(say("Cancelling the scan…"));
                }
                JobKind::DryRun => {
                    out.push(Effect::CancelJob(id));
                    out.push(say("Cancelling the dry run…"));
                }
                JobKind::Upload { cancelled } => {
                    *cancelled = true;
                    out.push(Effect::CancelJob(id));
                    out.push(say(
                        "Cancelled: the uploaded file will not be offered. Nothing was deleted.",
                    ));
                }
                JobKind::Delete { cancelling, .. } if *cancelling => {
                    out.push(say(
                        "Already cancelling: the report follows when the rooms in flight are done.",
                    ));
                }
                JobKind::Delete {
                    cancelling,
                    confirmed_by,
                    plan,
                    ..
                } => {
                    // Answered once the cancel is in the journal.
                    *cancelling = true;
                    out.push(Effect::CancelJob(id));
                    // While a plan waits, a confirmed deletion can only be
                    // the one of its own empty rooms: both are withdrawn.
                    let (same_confirm, deadline) = (confirmed_by.is_some(), *plan);
                    if same_confirm && !deadline {
                        self.withdraw_plan(out);
                    } else if self.plan.is_some() && !deadline {
                        out.push(say(&format!(
                            "The plan still waits: send `{} cancel` again once this deletion \
                             stops to withdraw it.",
                            self.s.prefix
                        )));
                    }
                }
                JobKind::Plan { cancelling, .. } => {
                    *cancelling = true;
                    out.push(Effect::CancelJob(id));
                    out.push(say(
                        "Cancelling: the plan is withdrawn once the warnings being sent are \
                         out. Nothing will be deleted.",
                    ));
                }
            }
            return;
        }
        let stopped_run = std::mem::take(&mut self.stopped_run);
        if stopped_run {
            out.push(Effect::CancelJournal);
        }
        // The plan first: an offer that waits for it may then be confirmed.
        if self.plan.is_some() {
            self.withdraw_plan(out);
            if self.offer.is_some() {
                out.push(say(&format!(
                    "Withdrawing the plan. The newest offer still stands: confirm it, or send \
                     `{} cancel` again to withdraw it too.",
                    self.s.prefix
                )));
            }
            return;
        }
        if self.end_offer(Spent::Withdrawn, out) {
            out.push(say("Offer withdrawn: nothing will be deleted."));
        } else if !stopped_run {
            out.push(say(
                "Nothing to cancel: no scan or deletion is running, and no offer or plan stands.",
            ));
        }
    }

    fn invite(&self, room: OwnedRoomId, inviter: &OwnedUserId) -> Effect {
        let answer = if room == self.s.admin_room && self.s.admins.contains(inviter) {
            InviteAnswer::Join
        } else if self.s.shares_account {
            InviteAnswer::Ignore
        } else {
            InviteAnswer::Decline
        };
        Effect::AnswerInvite { room, answer }
    }

    fn scan_ended(&mut self, now: Ms, id: JobId, end: ScanEnd, out: &mut Vec<Effect>) {
        let Some(JobKind::Scan {
            cancelled,
            scheduled,
            ..
        }) = self.job_mut(id)
        else {
            return;
        };
        let (cancelled, scheduled) = (*cancelled, *scheduled);
        self.job = None;
        if scheduled {
            self.scheduled_ended(out);
        }
        let result = match end {
            ScanEnd::Done(result) if !cancelled => result,
            ScanEnd::Done(_) | ScanEnd::Cancelled => {
                out.push(say("Scan cancelled. No results were written."));
                return;
            }
            ScanEnd::Failed(error) => {
                out.push(say(&format!(
                    "The scan failed: {error}. Nothing was written; nothing was deleted."
                )));
                return;
            }
        };
        let outcome = &result.outcome;
        let summary = Summary::new(&outcome.rows, outcome.elapsed);
        let status_line = format!(
            "Scan finished: {} in {}.",
            crate::plain::rooms(summary.scanned),
            ago(outcome.elapsed)
        );
        let posting = if scheduled {
            self.scheduled_result(&result, out)
        } else {
            schedule::Posting::Full { offer: true }
        };
        let with_offer = match posting {
            schedule::Posting::Quiet => {
                if let Some(event_id) = result.message.clone() {
                    let text = Text::plain(&status_line);
                    out.push(Effect::EditOffer { event_id, text });
                }
                self.last_scan = Some((summary, now));
                return;
            }
            schedule::Posting::Full { offer } => offer,
        };
        // The summary follows: the progress message only says it is done,
        // rather than becoming a copy of the summary's first line.
        let status_line = format!(
            "Scanning all rooms… done in {}; the results follow.",
            ago(outcome.elapsed)
        );
        let text = super::messages::scan_summary(&summary, outcome, &self.s.prefix);
        let offer = if with_offer {
            self.new_offer(now, &result, &summary)
        } else {
            None
        };
        self.last_scan = Some((summary, now));
        out.push(Effect::PublishScan {
            result,
            summary: text,
            status_line,
            offer,
        });
    }

    fn deletion_event(&mut self, id: JobId, event: RunEvent, out: &mut Vec<Effect>) {
        let Some(JobKind::Delete {
            counts,
            confirmed_by,
            plan,
            ..
        }) = self.job_mut(id)
        else {
            return;
        };
        match event {
            RunEvent::Opened(c) => {
                *counts = Some(c);
                if *plan {
                    self.plan_opened();
                    return;
                }
                if let Some(by) = confirmed_by {
                    out.push(say(&format!(
                        "Confirmed by {by}: deleting {}.",
                        crate::plain::rooms(c.total)
                    )));
                }
            }
            RunEvent::Progress(c) => *counts = Some(c),
            RunEvent::CancelRecorded => out.push(say(
                "Cancelling: no new deletion starts; those in flight finish, then the report follows.",
            )),
        }
    }

    fn deletion_ended(&mut self, now: Ms, id: JobId, end: DeletionEnd, out: &mut Vec<Effect>) {
        let Some(JobKind::Delete {
            cancelling, plan, ..
        }) = self.job_mut(id)
        else {
            return;
        };
        let (cancelling, plan) = (*cancelling, *plan);
        self.job = None;
        match end {
            // The plan's rooms are all done (or it had none left to delete).
            DeletionEnd::Finished if plan => self.plan_opened(),
            DeletionEnd::Finished => {}
            // A cancel the run could not write yet is written now, so the
            // resume at the next start submits nothing.
            DeletionEnd::Stopped { why, counts } if cancelling => {
                out.push(say(&format!("Deletion stopped: {why}{}.", shown(counts))));
                out.push(Effect::CancelJournal);
            }
            DeletionEnd::Stopped { why, counts } => {
                self.stopped_run = true;
                out.push(say(&format!(
                    "Deletion stopped: {why}{}. Rooms not yet handled were left as they \
                     are; the journal is kept and the deletion resumes when the bot starts again \
                     ({} cancel to stop it for good).",
                    shown(counts),
                    self.s.prefix
                )));
            }
            DeletionEnd::Refused(why) => {
                out.push(say(&format!("Nothing was deleted: {why}.")));
                if plan {
                    self.plan_refused(now, cancelling, out);
                }
            }
        }
    }

    fn tick(&mut self, now: Ms, out: &mut Vec<Effect>) {
        self.refused.retain(|_, at| now - *at < REFUSAL_QUIET);
        if self
            .offer
            .as_ref()
            .is_some_and(|o| o.event_id.is_some() && o.expires <= now)
        {
            self.end_offer(Spent::Expired, out);
        }
        // The plan's deadline comes before a scheduled scan.
        self.plan_work(now, out);
        self.scheduled_tick(now, out);
    }

    fn shutdown(&mut self, out: &mut Vec<Effect>) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        match &mut self.job {
            Some(Job {
                id,
                kind: JobKind::Scan { cancelled, .. },
                ..
            }) => {
                // A scan that ends anyway is dropped: nothing is posted.
                *cancelled = true;
                out.push(Effect::CancelJob(*id));
            }
            Some(Job {
                id,
                kind: JobKind::DryRun,
                ..
            }) => out.push(Effect::CancelJob(*id)),
            Some(Job {
                id,
                kind: JobKind::Upload { cancelled },
                ..
            }) => {
                *cancelled = true;
                out.push(Effect::CancelJob(*id));
            }
            Some(_) => out.push(Effect::StopJobs),
            None => {}
        }
    }
}

/// " (2 deleted, … of 9)", or nothing when the run never opened.
fn shown(counts: Counts) -> String {
    if counts.total == 0 {
        String::new()
    } else {
        format!(" ({counts})")
    }
}

fn say(text: &str) -> Effect {
    Effect::Say(Text::plain(text))
}

impl From<&OpenError> for DeletionEnd {
    fn from(e: &OpenError) -> Self {
        DeletionEnd::Refused(e.to_string())
    }
}
