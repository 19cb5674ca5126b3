//! Plans driven by random sequences of offers, confirms, cancels (command
//! and ❌), plan and deletion jobs' ends, withdrawals that fail, time,
//! ticks and restarts, against a model of the plan file. After every step:
//! - a plan's deletion starts only at or after its deadline, only for a
//!   plan on disk that was not withdrawn, and never after this process
//!   asked for its withdrawal;
//! - no ✅ deletes at once, and no new plan is made while one waits;
//! - one job at a time.

use matrix_sdk::ruma::OwnedEventId;
use proptest::prelude::*;

use super::builders::{command, event, scan_result, settings, user};
use super::*;

const GRACE: Ms = 6 * 3_600_000;

#[derive(Debug, Clone)]
enum Op {
    Offer,
    Confirm {
        pick: u8,
    },
    Cross {
        pick: u8,
    },
    Cancel,
    Status,
    /// The plan job made its plan (or failed), with rooms to delete now.
    PlanDone {
        now: u8,
        fail: bool,
    },
    WarnDone,
    /// The deletion job opens its journal (a plan's: archives the plan).
    Open,
    DeleteEnd {
        refuse: bool,
    },
    Withdrawn {
        fail: bool,
    },
    Wait {
        mins: u16,
    },
    Tick,
    /// A restart; `owed`: the plan on disk still owes warnings.
    Crash {
        owed: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Offer),
        4 => any::<u8>().prop_map(|pick| Op::Confirm { pick }),
        2 => any::<u8>().prop_map(|pick| Op::Cross { pick }),
        2 => Just(Op::Cancel),
        1 => Just(Op::Status),
        4 => (0u8..3, prop::bool::weighted(0.2)).prop_map(|(now, fail)| Op::PlanDone { now, fail }),
        1 => Just(Op::WarnDone),
        3 => Just(Op::Open),
        3 => prop::bool::weighted(0.3).prop_map(|refuse| Op::DeleteEnd { refuse }),
        2 => prop::bool::weighted(0.3).prop_map(|fail| Op::Withdrawn { fail }),
        4 => (0u16..600).prop_map(|mins| Op::Wait { mins }),
        3 => Just(Op::Tick),
        1 => any::<bool>().prop_map(|owed| Op::Crash { owed }),
    ]
}

/// The plan file.
#[derive(Debug, Clone)]
struct OnFile {
    deadline: Ms,
    offer: OwnedEventId,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Running {
    Scan,
    /// Making a plan: its deadline and the offer confirmed.
    Make(Ms, u32),
    Warn,
    /// A deletion; `true`: the plan's at its deadline. Opened or not.
    Delete(bool, bool),
}

struct Sim {
    m: Machine,
    now: Ms,
    job: Option<(JobId, Running)>,
    posted: Vec<OwnedEventId>,
    file: Option<OnFile>,
    /// This process asked for the plan's withdrawal.
    withdrawing: bool,
    /// Withdrawals asked for and not answered yet.
    asked: u32,
}

fn grace() -> Settings {
    Settings {
        grace_ms: Some(GRACE),
        ..settings()
    }
}

impl Sim {
    fn new() -> Self {
        let mut sim = Self {
            m: Machine::new(grace()),
            now: 1_000_000,
            job: None,
            posted: Vec::new(),
            file: None,
            withdrawing: false,
            asked: 0,
        };
        sim.feed(Input::Started(OnDisk::Nothing));
        sim
    }

    fn facts(&self) -> Option<PlanFacts> {
        self.file.as_ref().map(|f| PlanFacts {
            deadline: f.deadline,
            warn_until: f.deadline - GRACE / 2,
            rooms: 2,
            people: 1,
            warned: 1,
            confirmed_by: "@alice:example.com".into(),
            offer: Some(f.offer.clone()),
            owed: false,
        })
    }

    fn feed(&mut self, input: Input) {
        let effects = self.m.handle(self.now, input);
        for effect in effects {
            self.apply(effect);
        }
    }

    fn start(&mut self, job: JobId, running: Running) {
        assert!(self.job.is_none(), "two jobs at once: {running:?}");
        self.job = Some((job, running));
    }

    fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::StartScan { job, .. } => self.start(job, Running::Scan),
            Effect::StartPlan { job, start } => match start {
                PlanStart::New {
                    deadline, offer, ..
                } => {
                    assert!(self.file.is_none(), "a second plan while one waits");
                    let offer = offer.expect("the offer confirmed");
                    let n = self.posted.iter().position(|e| *e == offer).unwrap_or(0);
                    self.start(job, Running::Make(deadline, n as u32));
                }
                PlanStart::Warn => {
                    assert!(self.file.is_some(), "warnings of no plan");
                    self.start(job, Running::Warn);
                }
            },
            Effect::StartDeletion { job, start } => match start {
                DeletionStart::Plan => {
                    let file = self.file.as_ref().expect("the deletion of no plan");
                    assert!(
                        self.now >= file.deadline,
                        "a plan deleted before its deadline"
                    );
                    assert!(!self.withdrawing, "a plan deleted after its withdrawal");
                    self.start(job, Running::Delete(true, false));
                }
                DeletionStart::New(_) => panic!("a ✅ with a grace period deleted at once"),
                DeletionStart::Resume => panic!("no journal in this simulation"),
            },
            Effect::WithdrawPlan => {
                assert_eq!(self.asked, 0, "a second withdrawal while one is recorded");
                self.withdrawing = true;
                self.asked += 1;
            }
            Effect::PublishScan {
                offer: Some((filed, _)),
                ..
            } => {
                let e = event(&format!("offer{}", self.posted.len()));
                self.posted.push(e.clone());
                self.feed(Input::OfferPosted {
                    offer: filed.offer,
                    event_id: Some(e),
                });
            }
            Effect::SaveSchedule { .. }
            | Effect::StartDryRun { .. }
            | Effect::ReadUpload { .. }
            | Effect::PostOffer { .. } => panic!("not in this simulation: {effect:?}"),
            _ => {}
        }
    }

    /// A cancel while the deadline's deletion starts: if it is then
    /// refused, the plan is withdrawn, never tried again.
    fn cancel_deadline(&mut self) {
        if let Some((_, Running::Delete(true, false))) = self.job {
            self.withdrawing = true;
        }
    }

    fn react(&mut self, pick: u8, key: &str) {
        // A posted offer, or the one that made the plan.
        let target = match self.posted.len() {
            0 => event("other"),
            n => self.posted[usize::from(pick) % n].clone(),
        };
        let on_plan = self.file.as_ref().is_some_and(|f| f.offer == target);
        if key == "❌" && on_plan {
            self.cancel_deadline();
        }
        self.feed(Input::Reaction {
            sender: user("alice"),
            target,
            key: key.into(),
        });
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Offer => {
                self.feed(command(&user("bob"), "!oldrooms scan"));
                if let Some((job, Running::Scan)) = self.job {
                    self.job = None;
                    let ids = ["!a:example.com".into(), "!b:example.com".into()];
                    let end = ScanEnd::Done(scan_result(&ids));
                    self.feed(Input::ScanEnded { job, end });
                }
            }
            Op::Confirm { pick } => self.react(pick, "✅"),
            Op::Cross { pick } => self.react(pick, "❌"),
            Op::Cancel => {
                self.cancel_deadline();
                self.feed(command(&user("bob"), "!oldrooms cancel"));
            }
            Op::Status => self.feed(command(&user("alice"), "!oldrooms status")),
            Op::PlanDone { now, fail } => {
                let Some((job, Running::Make(deadline, n))) = self.job else {
                    return;
                };
                self.job = None;
                let end = if fail || self.file.is_some() {
                    PlanEnd::Failed("boom".into())
                } else {
                    self.file = Some(OnFile {
                        deadline,
                        offer: self.posted[n as usize].clone(),
                    });
                    PlanEnd::Made {
                        plan: self.facts().unwrap_or_else(|| unreachable!()),
                        now: usize::from(now),
                        how: "by server notice",
                        failed: Vec::new(),
                    }
                };
                let goes_on = matches!(end, PlanEnd::Made { now: 1.., .. });
                if goes_on {
                    self.job = Some((job, Running::Delete(false, false)));
                }
                self.feed(Input::Planned { job, end });
                assert_eq!(self.m.runs(job), goes_on, "the job goes on as a deletion");
            }
            Op::WarnDone => {
                let Some((job, Running::Warn)) = self.job else {
                    return;
                };
                self.job = None;
                let end = match self.facts() {
                    Some(plan) => PlanEnd::Warned {
                        plan,
                        sent: 0,
                        failed: Vec::new(),
                    },
                    None => PlanEnd::Failed("the plan is gone".into()),
                };
                self.feed(Input::Planned { job, end });
            }
            Op::Open => {
                let Some((job, Running::Delete(plan, false))) = self.job else {
                    return;
                };
                if plan {
                    // The journal holds its rooms: the plan is archived.
                    assert!(self.file.take().is_some(), "a plan's deletion of no plan");
                    self.withdrawing = false;
                }
                self.job = Some((job, Running::Delete(plan, true)));
                let event = RunEvent::Opened(crate::delete::Counts::default());
                self.feed(Input::Deletion { job, event });
            }
            Op::DeleteEnd { refuse } => {
                let Some((job, Running::Delete(plan, opened))) = self.job else {
                    return;
                };
                self.job = None;
                let end = if refuse && !opened {
                    DeletionEnd::Refused("homeserver down".into())
                } else {
                    if plan {
                        // Finished unopened: every room kept, the plan archived.
                        self.file = None;
                        self.withdrawing = false;
                    }
                    DeletionEnd::Finished
                };
                self.feed(Input::DeletionEnded { job, end });
            }
            Op::Withdrawn { fail } => {
                if self.asked == 0 {
                    return;
                }
                self.asked -= 1;
                let result = if fail {
                    Err("disk full".into())
                } else {
                    // Gone from disk: a later plan is another one.
                    self.withdrawing = false;
                    Ok(self.file.take().map(|_| (2, 1)))
                };
                self.feed(Input::PlanWithdrawn(result));
            }
            Op::Wait { mins } => self.now += i64::from(mins) * 60_000,
            Op::Tick => self.feed(Input::Tick),
            Op::Crash { owed } => {
                self.m = Machine::new(grace());
                self.job = None;
                self.withdrawing = false;
                self.asked = 0;
                let found = match self.facts() {
                    Some(facts) => PlanOnDisk::Waiting(PlanFacts { owed, ..facts }),
                    None => PlanOnDisk::Nothing,
                };
                self.feed(Input::PlanFound(found));
                self.feed(Input::Started(OnDisk::Nothing));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn no_interleaving_deletes_a_plan_early_or_withdrawn(ops in prop::collection::vec(op(), 1..80)) {
        let mut sim = Sim::new();
        for op in ops {
            sim.step(op);
        }
    }
}

/// The plan is carried out at its deadline once nothing else runs.
#[test]
fn a_made_plan_is_deleted_at_its_deadline() {
    let mut sim = Sim::new();
    for op in [
        Op::Offer,
        Op::Confirm { pick: 0 },
        Op::PlanDone {
            now: 0,
            fail: false,
        },
        Op::Wait { mins: 400 },
        Op::Tick,
    ] {
        sim.step(op);
    }
    assert_eq!(sim.job.map(|(_, r)| r), Some(Running::Delete(true, false)));
}
