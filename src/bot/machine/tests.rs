//! Every rule of the confirmation, one test each, and each defect of the
//! shape before the state machine, replayed.

use std::time::Duration;

use super::builders::*;
use super::*;

#[test]
fn an_admins_confirm_on_the_offer_deletes_exactly_its_rooms_with_its_options() {
    let mut b = Bot::new();
    let offer = b.offer("offer");
    let effects = b.react("bob", &offer, "✅");
    let (job, confirmed) = new_deletion(&effects).unwrap();
    // The scan's three candidates, in the file the publishing wrote for
    // this offer (the property test follows the rooms themselves).
    let OfferRooms::Filed(filed) = confirmed.rooms else {
        panic!("{confirmed:?}")
    };
    assert_eq!(filed.rooms, 3);
    assert_eq!(confirmed.options, Some(options()));
    assert_eq!(confirmed.by, "@bob:example.com");
    // The reply comes once the journal is on disk.
    assert!(says(&effects).is_empty());
    let counts = Counts {
        total: 3,
        ..Counts::default()
    };
    let opened = b.on(Input::Deletion {
        job,
        event: RunEvent::Opened(counts),
    });
    assert_eq!(
        says(&opened),
        ["Confirmed by @bob:example.com: deleting 3 rooms."]
    );
}

#[test]
fn reactions_that_must_not_count() {
    let mut b = Bot::new();
    let offer = b.offer("offer");
    for (who, target, key) in [
        ("mallory", offer.clone(), "✅"),
        ("alice", offer.clone(), "👍"),
        ("alice", event("elsewhere"), "✅"),
    ] {
        let effects = b.react(who, &target, key);
        assert!(effects.is_empty(), "{who} {target} {key}: {effects:?}");
    }
    assert!(new_deletion(&b.react("alice", &offer, "✅")).is_some());
}

#[test]
fn a_second_confirm_is_answered_and_starts_nothing() {
    let mut b = Bot::new();
    let offer = b.offer("offer");
    assert!(new_deletion(&b.react("alice", &offer, "✅")).is_some());
    let again = b.react("bob", &offer, "✅");
    assert!(new_deletion(&again).is_none());
    assert!(
        said(&again, "already confirmed by @alice:example.com"),
        "{again:?}"
    );
}

#[test]
fn the_expiry_shown_is_the_one_enforced() {
    let mut b = Bot::new();
    let effects = b.on(command(&user("alice"), "!oldrooms scan"));
    let Some(Effect::StartScan { job, .. }) = effects.first() else {
        panic!()
    };
    let ended_at = b.now;
    let ids = vec!["!r:example.com".to_owned()];
    let end = ScanEnd::Done(scan_result(&ids));
    let effects = b.on(Input::ScanEnded { job: *job, end });
    let Some((filed, text)) = effects.iter().find_map(|e| match e {
        Effect::PublishScan { offer: Some(o), .. } => Some(o.clone()),
        _ => None,
    }) else {
        panic!()
    };
    let expires = ended_at + TIMEOUT;
    assert_eq!(filed.expires, expires, "the offer's file names its expiry");
    let id = filed.offer;
    assert!(
        text.plain.contains(&crate::timefmt::rfc3339(expires)),
        "{}",
        text.plain
    );
    // Posting takes a while; the expiry does not move.
    b.now += 5_000;
    b.on(Input::OfferPosted {
        offer: id,
        event_id: Some(event("offer")),
    });
    assert_eq!(b.m.next_deadline(), Some(expires));
    b.now = expires - 1;
    let status = says(&b.on(command(&user("alice"), "!oldrooms status")));
    assert!(status[0].contains("stands until"), "{status:?}");
    b.now = expires;
    let status = says(&b.on(command(&user("alice"), "!oldrooms status")));
    assert!(
        !status[0].contains("stands"),
        "an expired offer is not standing: {status:?}"
    );
    let late = b.react("alice", &event("offer"), "✅");
    assert!(new_deletion(&late).is_none());
    assert!(said(&late, "expired"), "{late:?}");
}

#[test]
fn a_tick_at_the_expiry_ends_the_offer() {
    let mut b = Bot::new();
    let offer = b.offer("offer");
    b.now = b.m.next_deadline().unwrap();
    let effects = b.on(Input::Tick);
    assert!(matches!(&effects[..], [Effect::EditOffer { event_id, .. }] if *event_id == offer));
    assert_eq!(b.m.next_deadline(), None);
    assert!(said(
        &b.react("alice", &offer, "✅"),
        "no longer valid (it expired)"
    ));
}

#[test]
fn a_newer_scan_replaces_the_offer() {
    let mut b = Bot::new();
    let old = b.offer("old");
    let new = b.offer("new");
    let effects = b.react("alice", &old, "✅");
    assert!(new_deletion(&effects).is_none());
    assert!(said(&effects, "a newer offer replaced it"), "{effects:?}");
    assert!(new_deletion(&b.react("alice", &new, "✅")).is_some());
}

#[test]
fn cancel_and_the_cancel_reaction_withdraw_the_offer() {
    let mut b = Bot::new();
    let offer = b.offer("one");
    assert!(said(
        &b.react("bob", &offer, "❌"),
        "Withdrawn by @bob:example.com"
    ));
    assert!(said(
        &b.react("alice", &offer, "✅"),
        "no longer valid (it was withdrawn)"
    ));
    let offer = b.offer("two");
    let effects = b.on(command(&user("alice"), "!oldrooms cancel"));
    assert!(said(&effects, "Offer withdrawn"));
    assert!(new_deletion(&b.react("alice", &offer, "✅")).is_none());
    let effects = b.on(command(&user("alice"), "!oldrooms cancel"));
    assert!(said(&effects, "Nothing to cancel"));
}

/// Defect: a confirm that arrived before the bot knew its offer's id used
/// the offer up and answered "busy".
#[test]
fn a_confirm_before_the_offer_is_known_waits_for_it() {
    let mut b = Bot::new();
    let (_, id) = b.scan(2);
    let early = b.react("alice", &event("offer"), "✅");
    assert!(early.is_empty(), "{early:?}");
    let effects = b.on(Input::OfferPosted {
        offer: id,
        event_id: Some(event("offer")),
    });
    assert!(new_deletion(&effects).is_some(), "{effects:?}");
    assert!(!said(&effects, "Busy"));
}

/// Defect: a cancel between the end of the scan and the offer was answered
/// "cancelling" and the offer was posted anyway.
#[test]
fn a_cancel_before_the_offer_is_posted_withdraws_it() {
    let mut b = Bot::new();
    let (_, id) = b.scan(2);
    let effects = b.on(command(&user("alice"), "!oldrooms cancel"));
    assert!(said(&effects, "Offer withdrawn"), "{effects:?}");
    let effects = b.on(Input::OfferPosted {
        offer: id,
        event_id: Some(event("offer")),
    });
    assert!(
        matches!(&effects[..], [Effect::EditOffer { .. }]),
        "{effects:?}"
    );
    let confirm = b.react("alice", &event("offer"), "✅");
    assert!(new_deletion(&confirm).is_none());
    assert!(said(&confirm, "no longer valid"));
}

/// Defect: a cancel reaction on the offer being carried out said "nothing
/// was deleted" while the deletion went on.
#[test]
fn a_cancel_reaction_on_the_running_deletion_cancels_it() {
    let mut b = Bot::new();
    let offer = b.offer("offer");
    let (job, _) = new_deletion(&b.react("alice", &offer, "✅")).unwrap();
    let effects = b.react("bob", &offer, "❌");
    assert!(
        matches!(&effects[..], [Effect::CancelJob(j)] if *j == job),
        "{effects:?}"
    );
    assert!(!said(&effects, "Nothing was deleted"));
    let ack = b.on(Input::Deletion {
        job,
        event: RunEvent::CancelRecorded,
    });
    assert!(said(&ack, "Cancelling: no new deletion starts"));
}

/// Defect: a cancel during a deletion was acknowledged before it was on
/// disk.
#[test]
fn a_deletion_cancel_is_acknowledged_once_recorded() {
    let mut b = Bot::new();
    let offer = b.offer("offer");
    let (job, _) = new_deletion(&b.react("alice", &offer, "✅")).unwrap();
    let effects = b.on(command(&user("bob"), "!oldrooms cancel"));
    assert!(
        matches!(&effects[..], [Effect::CancelJob(j)] if *j == job),
        "{effects:?}"
    );
    let again = b.on(command(&user("bob"), "!oldrooms cancel"));
    assert!(said(&again, "Already cancelling"));
}

/// Defect: a scan could take the job slot between the confirmation and the
/// start of the deletion.
#[test]
fn the_job_slot_is_taken_at_the_confirmation() {
    let mut b = Bot::new();
    let offer = b.offer("offer");
    assert!(new_deletion(&b.react("alice", &offer, "✅")).is_some());
    let effects = b.on(command(&user("bob"), "!oldrooms scan"));
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::StartScan { .. }))
    );
    assert!(said(&effects, "Busy: starting a deletion"), "{effects:?}");
}

/// Defect: a confirmation overwrote an unfinished journal; now the run
/// refuses to open and the machine says so.
#[test]
fn a_refused_journal_is_reported_and_frees_the_slot() {
    let mut b = Bot::new();
    let offer = b.offer("offer");
    let (job, _) = new_deletion(&b.react("alice", &offer, "✅")).unwrap();
    let effects = b.on(Input::DeletionEnded {
        job,
        end: DeletionEnd::Refused("an unfinished deletion is recorded".into()),
    });
    assert_eq!(
        says(&effects),
        ["Nothing was deleted: an unfinished deletion is recorded."]
    );
    let scan = b.on(command(&user("alice"), "!oldrooms scan"));
    assert!(matches!(scan.first(), Some(Effect::StartScan { .. })));
}

/// Defect: a permanent error finished the run; now it stops, the journal
/// resumes at start, and a cancel in between reaches the journal.
#[test]
fn a_stopped_run_resumes_at_start_unless_cancelled() {
    let mut b = Bot::new();
    let offer = b.offer("offer");
    let (job, _) = new_deletion(&b.react("alice", &offer, "✅")).unwrap();
    let end = DeletionEnd::Stopped {
        why: "the homeserver refused the access token".into(),
        counts: Counts::default(),
    };
    let effects = b.on(Input::DeletionEnded { job, end });
    assert!(
        said(&effects, "resumes when the bot starts again"),
        "{effects:?}"
    );
    let cancel = b.on(command(&user("alice"), "!oldrooms cancel"));
    assert!(matches!(&cancel[..], [Effect::CancelJournal]), "{cancel:?}");

    let mut m = Machine::new(settings());
    let disk = OnDisk::Unfinished {
        confirmed_by: "@alice:example.com".into(),
        confirmed_at: 5,
        counts: Counts::default(),
    };
    let effects = m.handle(10, Input::Started(disk));
    assert!(said(
        &effects,
        "Resuming the deletion confirmed by @alice:example.com"
    ));
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::StartDeletion {
            start: DeletionStart::Resume,
            ..
        }
    )));
    let effects = m.handle(10, Input::Started(OnDisk::Unreadable("bad".into())));
    assert!(said(&effects, "Nothing will be deleted from it"));
}

#[test]
fn a_scan_cancelled_as_it_ends_posts_nothing() {
    let mut b = Bot::new();
    let effects = b.on(command(&user("alice"), "!oldrooms scan"));
    let Some(Effect::StartScan { job, .. }) = effects.first() else {
        panic!()
    };
    let job = *job;
    let cancel = b.on(command(&user("alice"), "!oldrooms cancel"));
    assert!(matches!(cancel.first(), Some(Effect::CancelJob(j)) if *j == job));
    let ids = vec!["!r:example.com".to_owned()];
    let end = ScanEnd::Done(scan_result(&ids));
    let effects = b.on(Input::ScanEnded { job, end });
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::PublishScan { .. }))
    );
    assert!(said(&effects, "Scan cancelled"));
}

#[test]
fn shutdown_stops_jobs_then_exits() {
    let mut b = Bot::new();
    let offer = b.offer("offer");
    let (job, _) = new_deletion(&b.react("alice", &offer, "✅")).unwrap();
    let effects = b.on(Input::Shutdown);
    assert!(matches!(&effects[..], [Effect::StopJobs]), "{effects:?}");
    let effects = b.on(command(&user("alice"), "!oldrooms scan"));
    assert!(said(&effects, "shutting down"), "{effects:?}");
    let end = DeletionEnd::Stopped {
        why: "the bot is shutting down".into(),
        counts: Counts::default(),
    };
    let effects = b.on(Input::DeletionEnded { job, end });
    assert!(matches!(effects.last(), Some(Effect::Exit)), "{effects:?}");
}

#[test]
fn a_stranger_is_refused_once_an_hour() {
    let mut b = Bot::new();
    let stranger = user("mallory");
    assert!(said(
        &b.on(command(&stranger, "!oldrooms scan")),
        "Sorry, @mallory"
    ));
    b.now += 60_000;
    assert!(b.on(command(&stranger, "!oldrooms status")).is_empty());
    b.now += 3_600_000;
    assert!(said(&b.on(command(&stranger, "!oldrooms status")), "Sorry"));
}

#[test]
fn invites() {
    let mut b = Bot::new();
    let admin_room: OwnedRoomId = "!admin:example.com".try_into().unwrap();
    let other: OwnedRoomId = "!other:example.com".try_into().unwrap();
    let answer = |b: &mut Bot, room: &OwnedRoomId, who: &str| match b
        .on(Input::Invite {
            room: room.clone(),
            inviter: user(who),
        })
        .pop()
    {
        Some(Effect::AnswerInvite { answer, .. }) => answer,
        e => panic!("{e:?}"),
    };
    assert_eq!(answer(&mut b, &admin_room, "alice"), InviteAnswer::Join);
    assert_eq!(
        answer(&mut b, &admin_room, "mallory"),
        InviteAnswer::Decline
    );
    assert_eq!(answer(&mut b, &other, "alice"), InviteAnswer::Decline);
    let mut s = settings();
    s.shares_account = true;
    b.m = Machine::new(s);
    assert_eq!(answer(&mut b, &other, "alice"), InviteAnswer::Ignore);
}

#[test]
fn a_dry_run_rechecks_the_standing_offer_and_leaves_it_standing() {
    let mut b = Bot::new();
    let none = b.on(command(&user("alice"), "!oldrooms dry-run"));
    assert!(said(&none, "No offer to delete stands"), "{none:?}");
    let offer = b.offer("offer");
    let effects = b.on(command(&user("alice"), "!oldrooms dry-run"));
    let Some(Effect::StartDryRun { job, rooms }) = effects.first() else {
        panic!("{effects:?}")
    };
    let job = *job;
    assert_eq!(rooms.rooms.len(), 3);
    assert_eq!(rooms.options, Some(options()));
    assert_eq!(rooms.by, "dry run");
    // While it runs, a confirm is answered "busy" and does not use the offer.
    let busy = b.react("alice", &offer, "✅");
    assert!(new_deletion(&busy).is_none());
    assert!(said(&busy, "busy"), "{busy:?}");
    b.on(Input::DryRunEnded { job });
    assert!(new_deletion(&b.react("alice", &offer, "✅")).is_some());
}

mod scheduled {
    use super::*;
    use crate::schedule::Schedule;

    const EVERY: Ms = 3_600_000;

    /// A machine with an hourly schedule due at `next`, not yet started.
    fn unstarted(next: Ms) -> Machine {
        let schedule = Schedule {
            every: Duration::from_millis(EVERY as u64),
            at_minute: None,
        };
        Machine::new(Settings {
            schedule: Some(Scheduled {
                schedule,
                next,
                last: None,
                running: false,
                skipped_for: None,
            }),
            ..settings()
        })
    }

    fn scheduled_machine(next: Ms) -> Machine {
        let mut m = unstarted(next);
        m.handle(0, Input::Started(OnDisk::Nothing));
        m
    }

    fn started_scan(effects: &[Effect]) -> Option<JobId> {
        effects.iter().find_map(|e| match e {
            Effect::StartScan { job, .. } => Some(*job),
            _ => None,
        })
    }

    fn saved_running(effects: &[Effect]) -> Option<bool> {
        effects.iter().find_map(|e| match e {
            Effect::SaveSchedule { running, .. } => Some(*running),
            _ => None,
        })
    }

    fn saved(effects: &[Effect]) -> Option<Ms> {
        effects.iter().find_map(|e| match e {
            Effect::SaveSchedule { next, .. } => Some(*next),
            _ => None,
        })
    }

    fn offer_of(effects: &[Effect]) -> bool {
        effects
            .iter()
            .any(|e| matches!(e, Effect::PublishScan { offer: Some(_), .. }))
    }

    #[test]
    fn a_due_scan_starts_once_and_the_next_run_is_saved_first() {
        let mut m = scheduled_machine(10_000);
        assert_eq!(m.next_deadline(), Some(10_000));
        assert!(started_scan(&m.handle(9_999, Input::Tick)).is_none());
        let out = m.handle(10_000, Input::Tick);
        assert!(started_scan(&out).is_some());
        assert_eq!(saved(&out), Some(10_000 + EVERY));
        // A second tick at the same time starts nothing.
        assert!(started_scan(&m.handle(10_001, Input::Tick)).is_none());
        assert_eq!(m.next_scheduled(), Some(10_000 + EVERY));
    }

    #[test]
    fn missed_runs_become_one_run() {
        let mut m = scheduled_machine(10_000);
        let out = m.handle(10_000 + 5 * EVERY + 7, Input::Tick);
        assert!(started_scan(&out).is_some());
        assert_eq!(saved(&out), Some(10_000 + 6 * EVERY));
    }

    #[test]
    fn a_busy_bot_skips_the_run_and_says_so() {
        let mut m = scheduled_machine(10_000);
        let alice = user("alice");
        assert!(started_scan(&m.handle(5_000, command(&alice, "!oldrooms scan"))).is_some());
        let out = m.handle(10_000, Input::Tick);
        assert!(started_scan(&out).is_none());
        assert!(
            says(&out)[0].starts_with("The scheduled scan was skipped: busy"),
            "{:?}",
            says(&out)
        );
        assert_eq!(saved(&out), Some(10_000 + EVERY));
    }

    #[test]
    fn the_same_candidates_get_one_line_and_new_ones_a_new_offer() {
        let mut m = scheduled_machine(10_000);
        let ids = vec!["!a:example.com".to_owned(), "!b:example.com".to_owned()];
        let job = started_scan(&m.handle(10_000, Input::Tick)).unwrap();
        let end = ScanEnd::Done(scan_result(&ids));
        let out = m.handle(11_000, Input::ScanEnded { job, end });
        assert!(offer_of(&out), "the first scheduled scan is posted in full");
        let offer = m.offer.as_ref().unwrap().id;
        m.handle(
            11_500,
            Input::OfferPosted {
                offer,
                event_id: Some(event("first")),
            },
        );

        let job = started_scan(&m.handle(10_000 + EVERY, Input::Tick)).unwrap();
        let end = ScanEnd::Done(scan_result(&ids));
        let out = m.handle(11_000 + EVERY, Input::ScanEnded { job, end });
        assert!(!offer_of(&out));
        assert!(!out.iter().any(|e| matches!(e, Effect::PublishScan { .. })));
        assert!(
            says(&out)[0].starts_with("Scheduled scan: the same 2 rooms"),
            "{:?}",
            says(&out)
        );

        let more = vec![ids[0].clone(), "!c:example.com".to_owned()];
        let job = started_scan(&m.handle(10_000 + 2 * EVERY, Input::Tick)).unwrap();
        let end = ScanEnd::Done(scan_result(&more));
        let out = m.handle(11_000 + 2 * EVERY, Input::ScanEnded { job, end });
        assert!(
            offer_of(&out),
            "new candidates, the old offer expired: a new offer"
        );
    }

    #[test]
    fn no_scheduled_scan_while_shutting_down_and_status_shows_the_next() {
        let mut m = scheduled_machine(10_000);
        let status = says(&m.handle(1_000, command(&user("alice"), "!oldrooms status")));
        assert!(
            status[0].contains("Next scheduled scan: 1970-01-01T00:00:10Z (every 1 hour)"),
            "{status:?}"
        );
        m.handle(2_000, Input::Shutdown);
        assert_eq!(m.next_deadline(), None);
        assert!(started_scan(&m.handle(10_000, Input::Tick)).is_none());
    }

    #[test]
    fn nothing_is_scheduled_before_the_start_up_is_handled() {
        let mut m = unstarted(10);
        assert!(started_scan(&m.handle(20, Input::Tick)).is_none());
        m.handle(30, Input::Started(OnDisk::Nothing));
        assert!(started_scan(&m.handle(40, Input::Tick)).is_some());
    }

    #[test]
    fn a_scheduled_scan_never_replaces_a_standing_offer() {
        let mut m = scheduled_machine(10_000);
        let alice = user("alice");
        let ids = vec!["!a:example.com".to_owned()];
        let job = started_scan(&m.handle(1_000, command(&alice, "!oldrooms scan"))).unwrap();
        let end = ScanEnd::Done(scan_result(&ids));
        let out = m.handle(2_000, Input::ScanEnded { job, end });
        assert!(offer_of(&out));
        let posted = Input::OfferPosted {
            offer: m.offer.as_ref().unwrap().id,
            event_id: Some(event("offer")),
        };
        m.handle(2_500, posted);

        let job = started_scan(&m.handle(10_000, Input::Tick)).unwrap();
        let other = vec!["!b:example.com".to_owned()];
        let end = ScanEnd::Done(scan_result(&other));
        let out = m.handle(11_000, Input::ScanEnded { job, end });
        assert!(!offer_of(&out), "the standing offer is not replaced");
        assert!(
            out.iter()
                .any(|e| matches!(e, Effect::PublishScan { offer: None, .. }))
        );
        assert!(
            says(&out)[0].contains("an offer to delete already stands"),
            "{:?}",
            says(&out)
        );
        // The admin's ✅ on the standing offer still counts.
        let confirm = Input::Reaction {
            sender: alice,
            target: event("offer"),
            key: "✅".into(),
        };
        let out = m.handle(12_000, confirm);
        assert!(
            out.iter()
                .any(|e| matches!(e, Effect::StartDeletion { .. })),
            "{out:?}"
        );
    }

    #[test]
    fn a_skipped_run_is_said_once_per_job() {
        let mut m = scheduled_machine(10_000);
        let alice = user("alice");
        assert!(started_scan(&m.handle(5_000, command(&alice, "!oldrooms scan"))).is_some());
        assert_eq!(says(&m.handle(10_000, Input::Tick)).len(), 1);
        assert_eq!(says(&m.handle(10_000 + EVERY, Input::Tick)).len(), 0);
    }

    #[test]
    fn a_scan_stopped_by_a_shutdown_still_counts_as_running() {
        let mut m = scheduled_machine(10_000);
        let out = m.handle(10_000, Input::Tick);
        let job = started_scan(&out).unwrap();
        assert_eq!(saved_running(&out), Some(true));
        m.handle(10_500, Input::Shutdown);
        let out = m.handle(
            10_600,
            Input::ScanEnded {
                job,
                end: ScanEnd::Cancelled,
            },
        );
        assert_eq!(
            saved_running(&out),
            None,
            "left running: the next start runs it again"
        );

        let mut m = scheduled_machine(10_000);
        let job = started_scan(&m.handle(10_000, Input::Tick)).unwrap();
        let out = m.handle(
            10_600,
            Input::ScanEnded {
                job,
                end: ScanEnd::Failed(ScanFailure::Homeserver("boom".into())),
            },
        );
        assert_eq!(
            saved_running(&out),
            Some(false),
            "a failure was reported: not run again"
        );
    }
}
