//! Deleting from chat, each test on a Synapse of its own (the offer covers
//! every candidate on the server): what counts as a confirmation, what the
//! deletion re-checks, and a crash in the middle.

use std::time::Duration;

use serde_json::json;

use crate::matrix::{Human, create_user, poll, wait_joined};
use crate::world::{World, deletions_of, exists};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_admins_confirmation_on_the_newest_offer_deletes() {
    // Each offer here must stand through what follows it (reactions, a
    // status, a dry run), however slow the machine: a long timeout. Expiry
    // has its own test below.
    let w = World::for_deletion()
        .admin("admin2")
        .delete("confirm_timeout_secs = 3600")
        .start()
        .await;
    let (admin2, admin2_password) = create_user(&w.hs, "admin2", false).await;
    let (member, member_password) = create_user(&w.hs, "member", false).await;
    for user in [&member, &admin2] {
        w.human.room(&w.room).invite_user_by_id(user).await.unwrap();
    }
    let member = Human::login(&w.hs, &member, &member_password).await;
    let admin2 = Human::login(&w.hs, &admin2, &admin2_password).await;
    for h in [&member, &admin2] {
        let r = poll(Duration::from_secs(30), || h.client.get_room(&w.room))
            .await
            .unwrap();
        r.join().await.unwrap();
    }

    let old1 = w.old_room("old one", None).await;
    let old2 = w.old_room("old two", None).await;
    let touched = w.old_room("old, then touched", None).await;
    let kept = w.old_room("protected", Some("keep")).await;
    let active = w.hs.create_room(&w.alice, json!({"name": "active"})).await;
    w.hs.message(&active, &w.alice, "now", None).await;

    let bot = w.start_bot();
    wait_joined(&w.hs, &w.room, &w.bot_user, &bot).await;
    w.human.wait_sees_joined(&w.room, &w.bot_user).await;

    // Offer A: nothing but an admin's confirm on the newest offer counts.
    let offer_a = w.scan_and_offer().await;
    assert!(
        offer_a
            .body
            .starts_with("Delete these 3 rooms (3 inactive, 0 abandoned)"),
        "{}",
        offer_a.body
    );
    member.react(&w.room, &offer_a.event_id, "✅").await;
    w.human.react(&w.room, &offer_a.event_id, "👍").await;
    let summary = w
        .bot_messages()
        .into_iter()
        .find(|m| m.body.starts_with("Scan finished:") && m.replaces.is_none())
        .unwrap();
    w.human.react(&w.room, &summary.event_id, "✅").await;
    let status = w.status().await;
    assert!(
        status.body.contains("An offer to delete 3 rooms stands"),
        "{}",
        status.body
    );
    // Offer B replaces A: confirming A now does nothing.
    w.scan_and_offer().await;
    w.human
        .react(&w.room, &offer_a.event_id, "✅\u{FE0F}")
        .await;
    w.human
        .wait_for(&w.bot_user, "no longer valid", |m| {
            m.body.contains("no longer valid")
        })
        .await;
    for room in [&old1, &old2, &touched, &kept, &active] {
        assert!(
            exists(&w.hs, room).await,
            "deleted without a valid confirmation"
        );
    }

    // Offer C replaces B: a new message in one candidate after the scan;
    // then two admins confirm at once.
    let offer_c = w.scan_and_offer().await;
    w.hs.message(&touched, &w.alice, "I'm back", None).await;
    // A dry run first: the same re-checks, nothing deleted, the offer stands.
    w.human.say(&w.room, "!oldrooms dry-run").await;
    let dry = w
        .human
        .wait_for(&w.bot_user, "the dry run", |m| {
            m.body.starts_with("Dry run of the offer:")
        })
        .await;
    assert!(
        dry.body
            .contains("2 would be deleted, 1 would be skipped, 0 could not be checked, of 3"),
        "{}",
        dry.body
    );
    assert!(
        dry.body.contains("new activity since the scan"),
        "{}",
        dry.body
    );
    w.human
        .wait_for(&w.bot_user, "dry-run-report.csv", |m| {
            m.file.is_some() && m.body == "dry-run-report.csv"
        })
        .await;
    for room in [&old1, &old2, &touched] {
        assert!(exists(&w.hs, room).await, "the dry run deleted {room}");
    }
    w.human.react(&w.room, &offer_c.event_id, "✅").await;
    admin2.react(&w.room, &offer_c.event_id, "✅").await;
    w.human
        .wait_for(&w.bot_user, "confirmed", |m| {
            m.body.starts_with("Confirmed by")
        })
        .await;
    let (finished, report) = w.deletion_result().await;
    assert!(
        finished
            .body
            .starts_with("Deletion finished: 2 deleted, 1 skipped, 0 failed, of 3."),
        "{}",
        finished.body
    );
    assert_eq!(report.header, ["room_id", "name", "outcome", "detail"]);
    assert_eq!(report.rows.len(), 3);
    assert_eq!(report.row(&old1)["outcome"], "deleted");
    assert_eq!(report.row(&old2)["outcome"], "deleted");
    assert_eq!(report.row(&touched)["outcome"], "skipped");
    assert!(report.row(&touched)["detail"].starts_with("new activity since the scan"));
    let confirmations = w
        .bot_messages()
        .iter()
        .filter(|m| m.body.starts_with("Confirmed by"))
        .count();
    assert_eq!(confirmations, 1, "a second confirmation started something");

    for (room, present) in [
        (&old1, false),
        (&old2, false),
        (&touched, true),
        (&kept, true),
        (&active, true),
    ] {
        assert_eq!(exists(&w.hs, room).await, present, "{room}");
    }
    assert!(
        exists(&w.hs, w.room.as_str()).await,
        "the admin room is never deleted"
    );
    assert_eq!(deletions_of(&w.hs, &old1).await, 1);
    assert_eq!(deletions_of(&w.hs, &old2).await, 1);
    bot.stop().await;
}

/// An offer expires (a short timeout, and nothing has to happen within it):
/// the bot marks it, and a late confirm deletes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_offer_deletes_nothing() {
    let w = World::for_deletion()
        .delete("confirm_timeout_secs = 2")
        .start()
        .await;
    let old1 = w.old_room("old one", None).await;
    let old2 = w.old_room("old two", None).await;
    let kept = w.old_room("protected", Some("keep")).await;
    let active = w.hs.create_room(&w.alice, json!({"name": "active"})).await;
    w.hs.message(&active, &w.alice, "now", None).await;

    let bot = w.start_bot();
    wait_joined(&w.hs, &w.room, &w.bot_user, &bot).await;
    w.human.wait_sees_joined(&w.room, &w.bot_user).await;
    let offer = w.scan_and_offer().await;
    // The bot marks the offer once it has expired...
    w.human
        .wait_for(&w.bot_user, "the offer marked expired", |m| {
            m.replaces.as_ref() == Some(&offer.event_id)
                && m.body.contains("This offer expired: nothing was deleted.")
        })
        .await;
    // ...and answers a confirm that comes after that with a refusal.
    let before = w.bot_messages().len();
    w.human.react(&w.room, &offer.event_id, "✅").await;
    let refused = poll(Duration::from_secs(60), || {
        w.bot_messages()[before..]
            .iter()
            .any(|m| {
                m.body
                    .contains("that offer is no longer valid (it expired). Nothing was deleted.")
            })
            .then_some(())
    })
    .await;
    assert!(
        refused.is_some(),
        "no refusal of the late confirm; seen: {:#?}\nbot log:\n{}",
        w.bot_messages(),
        bot.log_text()
    );
    for room in [&old1, &old2, &kept, &active] {
        assert!(
            exists(&w.hs, room).await,
            "deleted without a valid confirmation"
        );
    }
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_bot_finishes_the_deletion_after_a_restart() {
    let w = World::for_deletion()
        .delete("concurrency = 2")
        .start()
        .await;
    let kept = w.old_room("protected", Some("keep")).await;
    let mut rooms = Vec::new();
    let bodies: Vec<String> = (0..30).map(|i| format!("doomed {i}")).collect();
    for chunk in bodies.chunks(6) {
        let made = futures_util::future::join_all(chunk.iter().map(|n| w.old_room(n, None))).await;
        rooms.extend(made);
    }
    let bot = w.start_bot();
    wait_joined(&w.hs, &w.room, &w.bot_user, &bot).await;
    w.human.wait_sees_joined(&w.room, &w.bot_user).await;
    let offer = w.scan_and_offer().await;
    w.human.react(&w.room, &offer.event_id, "✅").await;

    // Kill it once a few rooms are done and most are not.
    let journal_path = w.wait_done(&bot, 3).await;
    bot.kill().await;
    let text = std::fs::read_to_string(&journal_path).unwrap();
    let done_at_kill = text.matches("\"done\"").count();
    assert!(
        done_at_kill < 30,
        "the deletion finished before the kill; make it longer"
    );
    let bot = w.resume_deletes_each_once(&rooms).await;
    assert!(exists(&w.hs, w.room.as_str()).await);
    assert!(exists(&w.hs, &kept).await);
    assert!(!journal_path.exists(), "the finished journal is archived");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_during_a_deletion_leaves_the_rest_and_reports_it() {
    let w = World::for_deletion()
        .delete("concurrency = 1")
        .start()
        .await;
    w.old_room("protected", Some("keep")).await;
    let names: Vec<String> = (0..20).map(|i| format!("maybe {i}")).collect();
    let mut rooms = Vec::new();
    for chunk in names.chunks(5) {
        rooms.extend(
            futures_util::future::join_all(chunk.iter().map(|n| w.old_room(n, None))).await,
        );
    }
    let bot = w.start_bot();
    wait_joined(&w.hs, &w.room, &w.bot_user, &bot).await;
    w.human.wait_sees_joined(&w.room, &w.bot_user).await;
    let offer = w.scan_and_offer().await;
    w.human.react(&w.room, &offer.event_id, "✅").await;
    w.human
        .wait_for(&w.bot_user, "confirmed", |m| {
            m.body.starts_with("Confirmed by")
        })
        .await;
    w.human.say(&w.room, "!oldrooms cancel").await;
    w.human
        .wait_for(&w.bot_user, "cancelling", |m| {
            m.body.starts_with("Cancelling: no new deletion")
        })
        .await;
    // The cancel is on disk once acknowledged: a restart now resumes the
    // run only to finish what was submitted, and deletes nothing more.
    bot.stop().await;
    let bot = w.start_bot();
    let (finished, report) = w.deletion_result().await;
    assert!(
        finished
            .body
            .contains("Cancelled: rooms not yet started were left"),
        "{}",
        finished.body
    );
    assert_eq!(report.rows.len(), 20);
    let mut left = 0;
    for room in &rooms {
        let row = report.row(room);
        match row["outcome"].as_str() {
            "deleted" => assert!(!exists(&w.hs, room).await),
            "skipped" => {
                assert!(
                    row["detail"].starts_with("cancelled before deletion"),
                    "{row:?}"
                );
                assert!(
                    exists(&w.hs, room).await,
                    "a room reported as left was deleted"
                );
                left += 1;
            }
            other => panic!("{other}: {row:?}"),
        }
    }
    assert!(left > 0, "the cancel came too late to leave any room");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_journal_is_reported_and_nothing_is_deleted() {
    let w = World::for_deletion().start().await;
    w.old_room("protected", Some("keep")).await;
    let old = w.old_room("old", None).await;
    let data = w.data();
    std::fs::create_dir_all(&data).unwrap();
    let journal = format!("{{\"version\": 1, \"rooms\": [{{\"room_id\": \"{old}\", \"step\": ");
    std::fs::write(data.join("deletion-journal.jsonl"), journal).unwrap();
    let bot = w.start_bot();
    let said = w
        .human
        .wait_for(&w.bot_user, "the journal error", |m| {
            m.body.contains("cannot be read")
        })
        .await;
    assert!(
        said.body.contains("Nothing will be deleted from it"),
        "{}",
        said.body
    );
    w.status().await;
    assert!(exists(&w.hs, &old).await);
    assert!(
        !w.bot_messages()
            .iter()
            .any(|m| m.body.starts_with("Deleting"))
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_deletion_exits_cleanly_and_the_run_resumes() {
    let w = World::for_deletion()
        .delete("concurrency = 2")
        .start()
        .await;
    w.old_room("protected", Some("keep")).await;
    let mut rooms = Vec::new();
    let names: Vec<String> = (0..20).map(|i| format!("stopped {i}")).collect();
    for chunk in names.chunks(5) {
        rooms.extend(
            futures_util::future::join_all(chunk.iter().map(|n| w.old_room(n, None))).await,
        );
    }
    let bot = w.start_bot();
    wait_joined(&w.hs, &w.room, &w.bot_user, &bot).await;
    w.human.wait_sees_joined(&w.room, &w.bot_user).await;
    let offer = w.scan_and_offer().await;
    w.human.react(&w.room, &offer.event_id, "✅").await;
    let journal_path = w.wait_done(&bot, 2).await;
    // SIGTERM: a clean exit (asserted by stop), the journal kept unfinished.
    bot.stop().await;
    let text = std::fs::read_to_string(&journal_path).unwrap();
    assert!(
        text.matches("\"done\"").count() < 20,
        "the deletion finished before the stop; make it longer"
    );
    let bot = w.resume_deletes_each_once(&rooms).await;
    bot.stop().await;
}
