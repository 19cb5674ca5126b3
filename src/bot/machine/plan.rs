//! A grace period in chat. With `delete.grace`, a ✅ starts a plan job: the
//! confirmed rooms' local people are warned and the rooms wait on a plan
//! until its deadline, while rooms nobody is in are deleted at once. One
//! plan at a time: while it waits no offer can be confirmed. It is deleted
//! at its deadline when no other job runs, and `cancel` (or ❌ on its
//! offer) withdraws it.

use matrix_sdk::ruma::{OwnedEventId, OwnedUserId};

use super::{
    Confirmed, DeletionStart, Effect, JobId, JobKind, Machine, Ms, PlanEnd, PlanFacts, PlanOnDisk,
    PlanStart, Spent, say,
};
use crate::bot::text::{Text, escape_html};
use crate::timefmt::rfc3339;

/// How long before a plan whose deletion could not start, or whose
/// warnings could not all be sent, is tried again.
pub(super) const RETRY: Ms = 3_600_000;

/// The plan that waits.
pub(super) struct Waiting {
    pub facts: PlanFacts,
    /// Not before then: a deletion that was refused, or warnings tried.
    pub retry_at: Option<Ms>,
    pub warn_at: Option<Ms>,
    /// A withdrawal was asked for: never carried out while this bot runs.
    pub withdrawal: Withdrawal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Withdrawal {
    None,
    /// Being recorded: asked once, so a second cannot reach a later plan.
    Asked,
    /// Could not be recorded: a new cancel tries again.
    Failed,
}

impl Waiting {
    fn new(facts: PlanFacts) -> Self {
        Self {
            facts,
            retry_at: None,
            // Owed warnings go out as soon as nothing else runs.
            warn_at: Some(Ms::MIN),
            withdrawal: Withdrawal::None,
        }
    }

    /// When it next has work: its deadline (or the retry after it), or
    /// its owed warnings while they would still count.
    fn next(&self) -> Option<Ms> {
        if self.withdrawal != Withdrawal::None {
            return None;
        }
        let delete = self.facts.deadline.max(self.retry_at.unwrap_or(Ms::MIN));
        let warn = self
            .warn_at
            .filter(|&at| self.facts.owed && at < self.facts.warn_until);
        Some(warn.map_or(delete, |w| w.min(delete)))
    }
}

impl Machine {
    /// The plan on disk at start: it waits again.
    pub(super) fn plan_found(&mut self, disk: PlanOnDisk, out: &mut Vec<Effect>) {
        match disk {
            PlanOnDisk::Nothing => {}
            PlanOnDisk::Waiting(facts) => {
                out.push(say(&format!("A plan waits: {}.", plan_words(&facts))));
                self.plan = Some(Waiting::new(facts));
            }
            PlanOnDisk::Unreadable(why) => {
                out.push(say(&format!(
                    "Cannot read the plan ({why}): none of its rooms will be deleted, and no offer \
                     can be confirmed until the file is moved away and the bot restarted."
                )));
                // Its rooms may be in any offer: none may go before it is
                // understood.
                self.unreadable_plan = Some(why);
            }
        }
    }

    /// A ✅ with a grace period: the plan job starts.
    pub(super) fn start_plan(
        &mut self,
        now: Ms,
        grace: Ms,
        confirmed: Confirmed,
        sender: OwnedUserId,
        target: OwnedEventId,
        out: &mut Vec<Effect>,
    ) {
        let count = confirmed.rooms.len();
        let kind = JobKind::Plan {
            cancelling: false,
            by: Some(sender.clone()),
        };
        let job = self.new_job(now, kind);
        self.spent.insert(
            target.clone(),
            Spent::Used {
                by: sender.clone(),
                job,
            },
        );
        tracing::info!(rooms = count, "plan confirmed");
        out.push(say(&format!(
            "Confirmed by {sender}: {} with a grace period. Rooms nobody is in are deleted now; \
             the local people of the others are warned, and those rooms are deleted after {} \
             unless someone writes in them.",
            crate::plain::rooms(count),
            rfc3339(now.saturating_add(grace))
        )));
        out.push(Effect::StartPlan {
            job,
            start: PlanStart::New {
                confirmed: Box::new(confirmed),
                deadline: now.saturating_add(grace),
                offer: Some(target),
            },
        });
    }

    /// A confirm refused because a plan waits: the offer stands.
    pub(super) fn refuse_for_plan(&self, sender: &OwnedUserId, expires: Ms) -> Option<Effect> {
        if let Some(why) = &self.unreadable_plan {
            return Some(say(&format!(
                "{sender}: the plan on disk cannot be read ({why}), so nothing was deleted: its \
                 rooms could be among these. Move the file away and restart the bot."
            )));
        }
        let plan = self.plan.as_ref()?;
        Some(say(&format!(
            "{sender}: a plan waits ({}), so nothing was deleted: one plan at a time. The offer \
             stands until {}; confirm it once the plan ends, or withdraw the plan with `{} cancel`.",
            plan_words(&plan.facts),
            rfc3339(expires),
            self.s.prefix
        )))
    }

    pub(super) fn planned(&mut self, now: Ms, id: JobId, end: PlanEnd, out: &mut Vec<Effect>) {
        let Some(JobKind::Plan { cancelling, by }) = self.job_mut(id) else {
            return;
        };
        let (cancelling, by) = (*cancelling, by.clone());
        let mut now_rooms = 0;
        match end {
            PlanEnd::Made {
                plan,
                now: n,
                how,
                failed,
            } => {
                now_rooms = n;
                let mut line = format!(
                    "Warned {} {how}. {} on the plan: each is deleted after {} unless someone \
                     writes in it.",
                    crate::plain::count(plan.warned, "person", "people"),
                    crate::plain::count(plan.rooms, "room is", "rooms are"),
                    rfc3339(plan.deadline)
                );
                if n > 0 {
                    line.push_str(&format!(
                        " {} nobody is in: deleted now.",
                        crate::plain::count(n, "room", "rooms")
                    ));
                }
                out.push(say(&line));
                failures(&failed, out);
                let mut waiting = Waiting::new(plan);
                waiting.warn_at = Some(now.saturating_add(RETRY));
                self.plan = Some(waiting);
            }
            PlanEnd::Nobody { now: n } => {
                now_rooms = n;
                out.push(say(if n > 0 {
                    "No local person is in these rooms: nobody to warn, no plan; they are deleted now."
                } else {
                    "No local person is in these rooms, and nothing was deleted: cancelled."
                }));
            }
            PlanEnd::Warned { plan, sent, failed } => {
                if sent > 0 {
                    out.push(say(&format!(
                        "Warned {} more for the plan.",
                        crate::plain::count(sent, "person", "people")
                    )));
                }
                failures(&failed, out);
                if let Some(waiting) = &mut self.plan {
                    waiting.facts = plan;
                    waiting.warn_at = Some(now.saturating_add(RETRY));
                }
            }
            PlanEnd::Failed(why) => out.push(say(&format!("Nothing was deleted: {why}."))),
        }
        // A cancel that came while the job ran withdraws the plan now.
        if cancelling {
            self.withdraw_plan(out);
        }
        match self.job.as_mut() {
            // The same job goes on to delete the rooms nobody is in.
            Some(job) if now_rooms > 0 => {
                job.kind = JobKind::Delete {
                    counts: None,
                    cancelling,
                    confirmed_by: by,
                    plan: false,
                };
            }
            _ => self.job = None,
        }
    }

    /// ❌ on the offer that made the waiting plan: withdraws it. A job of
    /// the plan's own that runs is cancelled instead (a plan job withdraws
    /// the plan when it ends; its deadline's deletion is stopped), and the
    /// deletion of the same confirm's empty rooms is stopped too.
    pub(super) fn cross_plan(&mut self, target: &OwnedEventId, out: &mut Vec<Effect>) {
        let same_confirm = matches!(
            (self.spent.get(target), &self.job),
            (Some(Spent::Used { job, .. }), Some(running)) if *job == running.id
        );
        match self.job.as_ref().map(|j| &j.kind) {
            Some(JobKind::Delete { plan: true, .. } | JobKind::Plan { .. }) => self.cancel(out),
            Some(JobKind::Delete { .. }) if same_confirm => {
                self.cancel(out);
                self.withdraw_plan(out);
            }
            _ => {
                self.withdraw_plan(out);
            }
        }
    }

    /// Withdraws the waiting plan, if any; whether there was one.
    pub(super) fn withdraw_plan(&mut self, out: &mut Vec<Effect>) -> bool {
        let Some(plan) = &mut self.plan else {
            return false;
        };
        if plan.withdrawal != Withdrawal::Asked {
            plan.withdrawal = Withdrawal::Asked;
            out.push(Effect::WithdrawPlan);
        }
        true
    }

    pub(super) fn plan_withdrawn(
        &mut self,
        result: Result<Option<(usize, usize)>, String>,
        out: &mut Vec<Effect>,
    ) {
        match result {
            Ok(Some((rooms, warned))) => {
                self.plan = None;
                out.push(say(&format!(
                    "Plan withdrawn: none of its {} will be deleted ({} warned; they are not told).",
                    crate::plain::rooms(rooms),
                    crate::plain::count(warned, "person was", "people were"),
                )));
            }
            Ok(None) => {
                self.plan = None;
                out.push(say("The plan was already gone: nothing of it is deleted."));
            }
            // Not carried out while the bot runs all the same.
            Err(e) => {
                if let Some(plan) = &mut self.plan {
                    plan.withdrawal = Withdrawal::Failed;
                }
                out.push(say(&format!(
                    "Could not record the plan's withdrawal ({e}): it is not carried out while the \
                 bot runs, but it waits on disk for the next start unless `{} cancel` gets \
                 through.",
                    self.s.prefix
                )));
            }
        }
    }

    /// The plan's work when nothing else runs: its deletion at the
    /// deadline, or the warnings still owed.
    pub(super) fn plan_work(&mut self, now: Ms, out: &mut Vec<Effect>) {
        if !self.ready || self.shutting_down || self.job.is_some() {
            return;
        }
        let Some(plan) = &mut self.plan else {
            return;
        };
        if now >= plan.facts.warn_until {
            // Too late to count: those rooms are kept at the deadline.
            plan.facts.owed = false;
        }
        if plan.next().is_none_or(|at| at > now) {
            return;
        }
        if now >= plan.facts.deadline {
            let rooms = plan.facts.rooms;
            let kind = JobKind::Delete {
                counts: None,
                cancelling: false,
                confirmed_by: None,
                plan: true,
            };
            out.push(say(&format!(
                "The plan's deadline passed: its {} are re-checked, and each is deleted unless \
                 someone wrote in it or one of its people was not warned in time.",
                crate::plain::rooms(rooms)
            )));
            let job = self.new_job(now, kind);
            let start = DeletionStart::Plan;
            out.push(Effect::StartDeletion { job, start });
        } else {
            plan.warn_at = Some(now.saturating_add(RETRY));
            let kind = JobKind::Plan {
                cancelling: false,
                by: None,
            };
            let job = self.new_job(now, kind);
            let start = PlanStart::Warn;
            out.push(Effect::StartPlan { job, start });
        }
    }

    /// When the plan wants a tick: only while nothing runs.
    pub(super) fn plan_deadline(&self) -> Option<Ms> {
        if self.job.is_some() || self.shutting_down || !self.ready {
            return None;
        }
        self.plan.as_ref().and_then(Waiting::next)
    }

    /// A deletion of the plan's rooms opened its journal: the plan is
    /// archived, so it no longer waits.
    pub(super) fn plan_opened(&mut self) {
        self.plan = None;
    }

    /// The plan's deletion ended without opening a journal.
    pub(super) fn plan_refused(&mut self, now: Ms, cancelled: bool, out: &mut Vec<Effect>) {
        // A cancel that came while it started withdraws the plan.
        if cancelled {
            self.withdraw_plan(out);
            return;
        }
        if let Some(plan) = &mut self.plan {
            let at = now.saturating_add(RETRY);
            plan.retry_at = Some(at);
            out.push(say(&format!(
                "The plan waits: its deletion is tried again at {}.",
                rfc3339(at)
            )));
        }
    }

    /// The `status` line of the waiting plan.
    pub(super) fn plan_status(&self, text: &mut Text) {
        if let Some(plan) = &self.plan {
            let line = match plan.withdrawal {
                Withdrawal::None => format!("A plan waits: {}.", plan_words(&plan.facts)),
                Withdrawal::Asked => "The plan is being withdrawn.".to_owned(),
                Withdrawal::Failed => format!(
                    "The plan's withdrawal could not be recorded: it is not carried out while the \
                     bot runs; `{} cancel` tries again.",
                    self.s.prefix
                ),
            };
            text.line(&line, &escape_html(&line));
        }
    }

    /// The waiting plan's deadline and rooms, for `/healthz`.
    pub fn plan_summary(&self) -> Option<(Ms, usize)> {
        self.plan
            .as_ref()
            .map(|p| (p.facts.deadline, p.facts.rooms))
    }

    /// What an offer says besides its rooms: that a plan waits, or what a
    /// ✅ does with a grace period.
    pub(super) fn offer_notes(&self, text: &mut Text) {
        let line = if let Some(plan) = &self.plan {
            format!(
                "A plan waits ({}): this offer can be confirmed once it ends, or after `{} \
                 cancel` withdraws it.",
                plan_words(&plan.facts),
                self.s.prefix
            )
        } else if let Some(grace) = self.s.grace_ms {
            format!(
                "With a grace period of {}: rooms nobody is in are deleted at once; the local \
                 people of the others are warned, and those rooms are deleted after that time \
                 unless someone writes in them.",
                span(grace)
            )
        } else {
            return;
        };
        text.line(&line, &escape_html(&line));
    }
}

/// "3 rooms are deleted after … unless someone writes in them (2 of 2
/// people warned)".
fn plan_words(p: &PlanFacts) -> String {
    format!(
        "{} deleted after {} unless someone writes in them ({} of {} warned)",
        crate::plain::count(p.rooms, "room is", "rooms are"),
        rfc3339(p.deadline),
        p.warned,
        crate::plain::count(p.people, "person", "people")
    )
}

fn failures(failed: &[String], out: &mut Vec<Effect>) {
    if failed.is_empty() {
        return;
    }
    let mut text = Text::plain(&format!(
        "Could not warn {} (their rooms are kept unless a later try reaches them in time):",
        crate::plain::count(failed.len(), "person", "people")
    ));
    for line in failed.iter().take(10) {
        text.line(line, &escape_html(line));
    }
    out.push(Effect::Say(text));
}

/// "7 days", "12 hours", or as `plain::ago` says it.
fn span(ms: Ms) -> String {
    const HOUR: Ms = 3_600_000;
    match ms {
        ms if ms > 0 && ms % (24 * HOUR) == 0 => {
            crate::plain::count(ms / (24 * HOUR), "day", "days")
        }
        ms if ms > 0 && ms % HOUR == 0 => crate::plain::count(ms / HOUR, "hour", "hours"),
        ms => crate::plain::ago(std::time::Duration::from_millis(
            u64::try_from(ms).unwrap_or(0),
        )),
    }
}
