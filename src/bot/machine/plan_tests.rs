//! The grace period's rules: a ✅ makes a plan and deletes only the rooms
//! nobody is in; the plan's rooms are deleted at the deadline and never
//! before, never after a withdrawal, one plan at a time.

use super::builders::*;
use super::*;

const GRACE: Ms = 7 * 24 * 3_600_000;

fn bot() -> Bot {
    Bot::with(Settings {
        grace_ms: Some(GRACE),
        ..settings()
    })
}

fn facts(deadline: Ms, offer: Option<OwnedEventId>) -> PlanFacts {
    PlanFacts {
        deadline,
        warn_until: deadline - GRACE / 2,
        rooms: 2,
        people: 2,
        warned: 2,
        confirmed_by: "@alice:example.com".into(),
        offer,
        owed: false,
    }
}

fn plan_job(effects: &[Effect]) -> Option<(JobId, &PlanStart)> {
    effects.iter().find_map(|e| match e {
        Effect::StartPlan { job, start } => Some((*job, start)),
        _ => None,
    })
}

/// The job of the deletion `effects` start.
fn deletion_job(effects: &[Effect]) -> JobId {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::StartDeletion { job, .. } => Some(*job),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no deletion in {effects:?}"))
}

fn plan_deletion(effects: &[Effect]) -> bool {
    effects.iter().any(|e| {
        matches!(
            e,
            Effect::StartDeletion {
                start: DeletionStart::Plan,
                ..
            }
        )
    })
}

fn withdraws(effects: &[Effect]) -> bool {
    effects.iter().any(|e| matches!(e, Effect::WithdrawPlan))
}

/// A confirmed offer whose plan was made, its job ended: the plan waits.
fn waiting(b: &mut Bot) -> (OwnedEventId, Ms) {
    let offer = b.offer("offer");
    let effects = b.react("alice", &offer, "✅");
    let (job, start) = plan_job(&effects).unwrap();
    let PlanStart::New { deadline, .. } = start else {
        panic!("{start:?}")
    };
    let deadline = *deadline;
    let end = PlanEnd::Made {
        plan: facts(deadline, Some(offer.clone())),
        now: 0,
        how: "by server notice",
        failed: Vec::new(),
    };
    b.on(Input::Planned { job, end });
    assert_eq!(b.m.job_name(), None);
    (offer, deadline)
}

#[test]
fn a_confirm_with_a_grace_period_makes_a_plan_and_deletes_only_the_empty_rooms() {
    let mut b = bot();
    let offer = b.offer("offer");
    let effects = b.react("alice", &offer, "✅");
    assert!(new_deletion(&effects).is_none(), "{effects:?}");
    let (job, start) = plan_job(&effects).unwrap();
    let PlanStart::New {
        confirmed,
        deadline,
        offer: on,
    } = start
    else {
        panic!("{start:?}")
    };
    assert_eq!(*deadline, b.now + GRACE);
    assert_eq!(on.as_ref(), Some(&offer));
    assert_eq!(confirmed.rooms.len(), 3);
    let deadline = *deadline;
    let end = PlanEnd::Made {
        plan: facts(deadline, Some(offer)),
        now: 1,
        how: "by server notice",
        failed: vec!["@carol:example.com: refused".into()],
    };
    let effects = b.on(Input::Planned { job, end });
    assert!(said(
        &effects,
        "Warned 2 people by server notice. 2 rooms are on the plan: each is deleted after"
    ));
    assert!(said(&effects, "1 room nobody is in: deleted now."));
    assert!(said(&effects, "Could not warn 1 person"));
    // The same job now deletes the room nobody is in.
    assert_eq!(b.m.job_name(), Some("deletion"));
    b.on(Input::DeletionEnded {
        job,
        end: DeletionEnd::Finished,
    });
    let status = b.on(command(&user("bob"), "!oldrooms status"));
    assert!(said(&status, "A plan waits: 2 rooms are deleted after"));
    assert_eq!(b.m.plan_summary(), Some((deadline, 2)));
    assert_eq!(b.m.next_deadline(), Some(deadline));
}

#[test]
fn the_plan_is_deleted_at_its_deadline_and_not_before() {
    let mut b = bot();
    let (_, deadline) = waiting(&mut b);
    b.now = deadline - 1;
    assert!(!plan_deletion(&b.on(Input::Tick)));
    b.now = deadline;
    let effects = b.on(Input::Tick);
    assert!(plan_deletion(&effects), "{effects:?}");
    assert!(said(&effects, "The plan's deadline passed"));
    let job = deletion_job(&effects);
    // Once its journal holds its rooms, the plan no longer waits.
    b.on(Input::Deletion {
        job,
        event: RunEvent::Opened(Counts::default()),
    });
    assert_eq!(b.m.plan_summary(), None);
    b.on(Input::DeletionEnded {
        job,
        end: DeletionEnd::Finished,
    });
    b.now += GRACE;
    assert!(!plan_deletion(&b.on(Input::Tick)));
}

#[test]
fn the_deadline_waits_for_a_running_job_then_comes_first() {
    let mut b = bot();
    let (_, deadline) = waiting(&mut b);
    let effects = b.on(command(&user("alice"), "!oldrooms scan"));
    let Some(Effect::StartScan { job, .. }) = effects.first() else {
        panic!("{effects:?}")
    };
    let job = *job;
    b.now = deadline + 5;
    assert_eq!(b.m.next_deadline(), None, "no tick while a job runs");
    assert!(!plan_deletion(&b.on(Input::Tick)));
    let effects = b.on(Input::ScanEnded {
        job,
        end: ScanEnd::Cancelled,
    });
    assert!(plan_deletion(&effects), "{effects:?}");
}

#[test]
fn while_a_plan_waits_no_offer_can_be_confirmed() {
    let mut b = bot();
    waiting(&mut b);
    let (_, id) = b.scan(2);
    let offer = event("second");
    b.on(Input::OfferPosted {
        offer: id,
        event_id: Some(offer.clone()),
    });
    let effects = b.react("bob", &offer, "✅");
    assert!(plan_job(&effects).is_none() && new_deletion(&effects).is_none());
    assert!(said(&effects, "a plan waits"), "{effects:?}");
    assert!(said(&effects, "The offer stands until"));
    // Withdrawn, the plan makes way: the same offer can be confirmed.
    assert!(withdraws(&b.on(command(&user("bob"), "!oldrooms cancel"))));
    b.on(Input::PlanWithdrawn(Ok(Some((2, 2)))));
    assert!(plan_job(&b.react("bob", &offer, "✅")).is_some());
}

/// The text of the offer a scan with one candidate makes.
fn offer_text(b: &mut Bot) -> String {
    b.on(command(&user("alice"), "!oldrooms scan"));
    let job = JobId(b.m.next_id);
    let ids = ["!x:example.com".to_owned()];
    let effects = b.on(Input::ScanEnded {
        job,
        end: ScanEnd::Done(scan_result(&ids)),
    });
    effects
        .iter()
        .find_map(|e| match e {
            Effect::PublishScan {
                offer: Some((_, text)),
                ..
            } => Some(text.plain.clone()),
            _ => None,
        })
        .unwrap()
}

#[test]
fn a_new_offer_says_that_a_plan_waits() {
    let mut b = bot();
    waiting(&mut b);
    let text = offer_text(&mut b);
    assert!(
        text.contains("A plan waits (2 rooms are deleted after"),
        "{text}"
    );
}

#[test]
fn an_offer_says_what_a_confirm_does_with_a_grace_period() {
    let text = offer_text(&mut bot());
    assert!(
        text.contains("With a grace period of 7 days: rooms nobody is in are deleted at once"),
        "{text}"
    );
}

#[test]
fn cancel_withdraws_the_plan_and_nothing_of_it_is_deleted() {
    let mut b = bot();
    let (_, deadline) = waiting(&mut b);
    let effects = b.on(command(&user("bob"), "!oldrooms cancel"));
    assert!(withdraws(&effects), "{effects:?}");
    // Not carried out while the withdrawal is being written, nor after.
    b.now = deadline;
    assert!(!plan_deletion(&b.on(Input::Tick)));
    let effects = b.on(Input::PlanWithdrawn(Ok(Some((2, 2)))));
    assert_eq!(
        says(&effects),
        [
            "Plan withdrawn: none of its 2 rooms will be deleted (2 people were warned; they are not told)."
        ]
    );
    assert!(!plan_deletion(&b.on(Input::Tick)));
    assert_eq!(b.m.next_deadline(), None);
}

#[test]
fn a_withdrawal_that_could_not_be_written_still_deletes_nothing() {
    let mut b = bot();
    let (_, deadline) = waiting(&mut b);
    b.on(command(&user("bob"), "!oldrooms cancel"));
    let effects = b.on(Input::PlanWithdrawn(Err("disk full".into())));
    assert!(said(
        &effects,
        "Could not record the plan's withdrawal (disk full)"
    ));
    b.now = deadline + 1;
    assert!(!plan_deletion(&b.on(Input::Tick)));
}

#[test]
fn a_cancel_reaction_on_the_plans_offer_withdraws_it() {
    let mut b = bot();
    let (offer, _) = waiting(&mut b);
    assert!(withdraws(&b.react("bob", &offer, "❌")));
    // Another offer's ❌ does not.
    let mut b = bot();
    waiting(&mut b);
    assert!(!withdraws(&b.react("bob", &event("other"), "❌")));
}

#[test]
fn a_cancel_while_the_plan_is_made_withdraws_it_once_made() {
    let mut b = bot();
    let offer = b.offer("offer");
    let effects = b.react("alice", &offer, "✅");
    let (job, _) = plan_job(&effects).unwrap();
    let effects = b.on(command(&user("bob"), "!oldrooms cancel"));
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::CancelJob(j) if *j == job))
    );
    let end = PlanEnd::Made {
        plan: facts(b.now + GRACE, Some(offer)),
        now: 0,
        how: "by server notice",
        failed: Vec::new(),
    };
    let effects = b.on(Input::Planned { job, end });
    assert!(withdraws(&effects), "{effects:?}");
    assert_eq!(b.m.job_name(), None);
    b.now += GRACE;
    assert!(!plan_deletion(&b.on(Input::Tick)));
}

#[test]
fn a_plan_found_at_start_resumes_after_the_interrupted_deletion() {
    let mut m = Machine::new(Settings {
        grace_ms: Some(GRACE),
        ..settings()
    });
    let now = 5 * GRACE;
    let found = m.handle(
        now,
        Input::PlanFound(PlanOnDisk::Waiting(facts(now - 1, None))),
    );
    assert!(said(&found, "A plan waits"));
    assert!(!plan_deletion(&found), "nothing before the start-up");
    let disk = OnDisk::Unfinished {
        confirmed_by: "@bob:example.com".into(),
        confirmed_at: 1,
        counts: Counts::default(),
    };
    let effects = m.handle(now, Input::Started(disk));
    assert!(!plan_deletion(&effects), "the journal's run comes first");
    let job = deletion_job(&effects);
    let effects = m.handle(
        now,
        Input::DeletionEnded {
            job,
            end: DeletionEnd::Finished,
        },
    );
    assert!(plan_deletion(&effects), "{effects:?}");
}

/// A machine that found at start, not yet handled, a plan ending at
/// `deadline` that still owes warnings.
fn found_owing(deadline: Ms) -> (Machine, PlanFacts) {
    let mut m = Machine::new(Settings {
        grace_ms: Some(GRACE),
        ..settings()
    });
    let owed = PlanFacts {
        owed: true,
        ..facts(deadline, None)
    };
    m.handle(0, Input::PlanFound(PlanOnDisk::Waiting(owed.clone())));
    (m, owed)
}

#[test]
fn owed_warnings_are_sent_at_start_while_they_still_count() {
    let deadline = 10 * GRACE;
    let (mut m, owed) = found_owing(deadline);
    let now = deadline - GRACE;
    let effects = m.handle(now, Input::Started(OnDisk::Nothing));
    let (job, start) = plan_job(&effects).unwrap();
    assert!(matches!(start, PlanStart::Warn));
    let end = PlanEnd::Warned {
        plan: owed,
        sent: 0,
        failed: vec!["@bob:example.com: refused".into()],
    };
    m.handle(now, Input::Planned { job, end });
    // Tried again an hour later, and not once they would come too late.
    assert_eq!(m.next_deadline(), Some(now + plan::RETRY));
    let late = deadline - GRACE / 2;
    assert!(plan_job(&m.handle(late, Input::Tick)).is_none());
    assert_eq!(m.next_deadline(), Some(deadline));
}

#[test]
fn a_plan_whose_deletion_could_not_start_is_tried_again_later() {
    let mut b = bot();
    let (_, deadline) = waiting(&mut b);
    b.now = deadline;
    let effects = b.on(Input::Tick);
    let job = deletion_job(&effects);
    let effects = b.on(Input::DeletionEnded {
        job,
        end: DeletionEnd::Refused("homeserver down".into()),
    });
    assert!(said(&effects, "Nothing was deleted: homeserver down."));
    assert!(said(&effects, "tried again at"));
    assert_eq!(b.m.next_deadline(), Some(deadline + plan::RETRY));
    assert!(!plan_deletion(&b.on(Input::Tick)));
    b.now = deadline + plan::RETRY;
    assert!(plan_deletion(&b.on(Input::Tick)));
}

#[test]
fn no_plan_work_starts_during_a_shutdown() {
    let mut b = bot();
    let (_, deadline) = waiting(&mut b);
    b.on(Input::Shutdown);
    b.now = deadline;
    let effects = b.on(Input::Tick);
    assert!(!plan_deletion(&effects), "{effects:?}");
}

/// Owed warnings at start, past the deadline, and a refused deletion: the
/// retry waits its hour (no loop of deletions in one step).
#[test]
fn a_refused_deletion_with_warnings_owed_waits_before_trying_again() {
    let deadline = 10 * GRACE;
    let (mut m, _) = found_owing(deadline);
    let now = deadline + 5;
    let effects = m.handle(now, Input::Started(OnDisk::Nothing));
    assert!(plan_deletion(&effects), "{effects:?}");
    assert!(
        plan_job(&effects).is_none(),
        "no warning after the deadline"
    );
    let job = JobId(m.next_id);
    let end = DeletionEnd::Refused("homeserver down".into());
    let effects = m.handle(now, Input::DeletionEnded { job, end });
    assert!(!plan_deletion(&effects), "{effects:?}");
    assert_eq!(m.next_deadline(), Some(now + plan::RETRY));
}

#[test]
fn a_cancel_of_the_deadlines_deletion_that_is_then_refused_withdraws_the_plan() {
    let mut b = bot();
    let (_, deadline) = waiting(&mut b);
    b.now = deadline;
    b.on(Input::Tick);
    let job = JobId(b.m.next_id);
    b.on(command(&user("bob"), "!oldrooms cancel"));
    let end = DeletionEnd::Refused("homeserver down".into());
    let effects = b.on(Input::DeletionEnded { job, end });
    assert!(withdraws(&effects), "{effects:?}");
    b.now += plan::RETRY;
    assert!(!plan_deletion(&b.on(Input::Tick)));
}

/// A confirmed offer whose plan was made with one room nobody is in: the
/// plan job, gone on as that room's deletion.
fn deleting_the_empty_room(b: &mut Bot) -> JobId {
    let offer = b.offer("offer");
    let effects = b.react("alice", &offer, "✅");
    let (job, _) = plan_job(&effects).unwrap();
    let end = PlanEnd::Made {
        plan: facts(b.now + GRACE, Some(offer)),
        now: 1,
        how: "by server notice",
        failed: Vec::new(),
    };
    b.on(Input::Planned { job, end });
    job
}

#[test]
fn cancel_while_the_empty_rooms_are_deleted_withdraws_the_plan_too() {
    let mut b = bot();
    let job = deleting_the_empty_room(&mut b);
    assert_eq!(b.m.job_name(), Some("deletion"));
    let effects = b.on(command(&user("bob"), "!oldrooms cancel"));
    assert!(withdraws(&effects), "{effects:?}");
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::CancelJob(j) if *j == job))
    );
}

/// A plan task that dies after it went on as a deletion: of the two
/// fallbacks the actor sends, the deletion's ends the job.
#[test]
fn a_plan_job_that_dies_as_a_deletion_still_ends() {
    let mut b = bot();
    let job = deleting_the_empty_room(&mut b);
    let why = "the plan's task stopped unexpectedly".to_owned();
    b.on(Input::Planned {
        job,
        end: PlanEnd::Failed(why.clone()),
    });
    assert_eq!(b.m.job_name(), Some("deletion"));
    let counts = Counts::default();
    b.on(Input::DeletionEnded {
        job,
        end: DeletionEnd::Stopped { why, counts },
    });
    assert_eq!(b.m.job_name(), None);
}

/// A plan file that cannot be read may hold any offer's rooms: nothing is
/// confirmed while it is there, with or without a grace period.
#[test]
fn an_unreadable_plan_refuses_every_confirm() {
    for grace_ms in [Some(GRACE), None] {
        let mut m = Machine::new(Settings {
            grace_ms,
            ..settings()
        });
        let found = m.handle(
            0,
            Input::PlanFound(PlanOnDisk::Unreadable("bad line".into())),
        );
        assert!(said(&found, "Cannot read the plan (bad line)"));
        m.handle(0, Input::Started(OnDisk::Nothing));
        let mut b = Bot { m, now: 1_000_000 };
        let offer = b.offer("offer");
        let effects = b.react("alice", &offer, "✅");
        assert!(plan_job(&effects).is_none() && new_deletion(&effects).is_none());
        assert!(
            said(&effects, "the plan on disk cannot be read (bad line)"),
            "{effects:?}"
        );
    }
}
