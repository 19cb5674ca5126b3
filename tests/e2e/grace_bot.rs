//! A grace period in chat, each test on a Synapse of its own: a ✅ deletes
//! at once only the room nobody is in, warns each person once about their
//! rooms, and at the deadline deletes what stayed quiet, across a restart
//! of the bot; `!oldrooms cancel` during the grace deletes nothing.

use std::path::Path;
use std::time::Duration;

use matrix_sdk::ruma::OwnedUserId;
use serde_json::json;

use crate::grace_cli::{messages_from, move_plan, warnings};
use crate::matrix::{BotProcess, Human, Seen, create_user, poll, wait_joined};
use crate::outage::{free_port, wait_health};
use crate::world::{World, download, exists};
use oldrooms::timefmt::{MS_PER_DAY as DAY, now_ms};

/// Starts the bot and waits until it is in the admin room and answers
/// commands (what is sent before is backlog, which it does not answer).
async fn start(w: &World) -> BotProcess {
    let log = w.dir.path().join("bot.log");
    let ready = || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.matches("listening for commands").count()
    };
    let before = ready();
    let bot = w.start_bot();
    wait_joined(&w.hs, &w.room, &w.bot_user, &bot).await;
    w.human.wait_sees_joined(&w.room, &w.bot_user).await;
    let listening = poll(Duration::from_secs(120), || {
        (ready() > before).then_some(())
    })
    .await;
    assert!(
        listening.is_some(),
        "the bot never listened; log:\n{}",
        bot.log_text()
    );
    bot
}

/// The human's ✅ on `offer`, and the bot's answer that `matches`.
async fn confirm(w: &World, offer: &Seen, what: &str, matches: impl Fn(&Seen) -> bool) -> Seen {
    let before = w.bot_messages().len();
    w.human.react(&w.room, &offer.event_id, "✅").await;
    w.next_reply(before, what, matches).await
}

/// The next deletion summary after `before` bot messages, and its report.
async fn deletion_after(w: &World, before: usize, name: &str) -> (Seen, crate::common::Csv) {
    let summary = w
        .next_reply(before, "a deletion summary", |m| {
            m.body.starts_with("Deletion finished:") && m.replaces.is_none()
        })
        .await;
    let report = w
        .next_reply(before, "deletion-report.csv", |m| {
            m.file.is_some() && m.body == "deletion-report.csv"
        })
        .await;
    let csv = download(&w.human, &report, &w.dir.path().join(name)).await;
    (summary, csv)
}

/// A room of `user`'s, quiet for 400 days, with `invite` joined too.
async fn quiet_room(w: &World, user: &OwnedUserId, name: &str, others: &[&OwnedUserId]) -> String {
    let invite: Vec<&str> = others.iter().map(|u| u.as_str()).collect();
    let encrypted = json!([{"type": "m.room.encryption", "state_key": "",
        "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]);
    let body = json!({"name": name, "preset": "private_chat", "invite": invite,
        "initial_state": encrypted});
    let room = w.hs.create_room(user.as_str(), body).await;
    for other in others {
        w.hs.join(&room, other.as_str()).await;
    }
    let old = now_ms() - 400 * DAY;
    w.hs.message(&room, user.as_str(), "hello", Some(old)).await;
    room
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grace_period_warns_once_and_deletes_the_quiet_rooms_across_a_restart() {
    let port = free_port();
    let w = World::for_deletion()
        .server_notices()
        .bot(&format!("health_listen = \"127.0.0.1:{port}\""))
        .delete("grace = \"1h\"\nconfirm_timeout_secs = 3600")
        .start()
        .await;
    let protected = w.old_room("protected", Some("keep")).await;
    let (ann, ann_pw) = create_user(&w.hs, "ann", false).await;
    let (ben, ben_pw) = create_user(&w.hs, "ben", false).await;
    let shared = quiet_room(&w, &ann, "plan: shared", &[&ben]).await;
    let anns = quiet_room(&w, &ann, "plan: ann's", &[]).await;
    let bens = quiet_room(&w, &ben, "plan: ben's", &[]).await;
    let empty = quiet_room(&w, &ann, "plan: empty", &[]).await;
    w.hs.leave(&empty, ann.as_str()).await;

    let bot = start(&w).await;
    let offer = w.scan_and_offer().await;
    assert!(
        offer.body.contains("With a grace period of 1 hour"),
        "{}",
        offer.body
    );
    let before = w.bot_messages().len();
    let made = confirm(&w, &offer, "the plan", |m| m.body.starts_with("Warned")).await;
    assert!(
        made.body.starts_with(
            "Warned 2 people by server notice. 3 rooms are on the plan: each is deleted after"
        ),
        "{}",
        made.body
    );
    assert!(
        made.body.contains("1 room nobody is in: deleted now."),
        "{}",
        made.body
    );
    // Only the empty room goes now.
    let (summary, report) = deletion_after(&w, before, "now.csv").await;
    assert!(
        summary.body.starts_with("Deletion finished: 1 deleted"),
        "{}",
        summary.body
    );
    assert_eq!(report.rows.len(), 1);
    assert_eq!(report.row(&empty)["outcome"], "deleted");
    assert!(!exists(&w.hs, &empty).await);
    for room in [&shared, &anns, &bens] {
        assert!(exists(&w.hs, room).await, "{room} went before its deadline");
    }

    // Each person: one notice, with their own rooms.
    let notices: OwnedUserId = format!("@notices:{}", w.hs.s.server_name)
        .try_into()
        .unwrap();
    let ann_client = Human::login(&w.hs, &ann, &ann_pw).await;
    let got = warnings(&ann_client, &notices, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains(&shared) && got[0].contains(&anns),
        "{got:?}"
    );
    assert!(!got[0].contains(&bens), "{got:?}");
    let ben_client = Human::login(&w.hs, &ben, &ben_pw).await;
    let got = warnings(&ben_client, &notices, 1).await;
    assert!(
        got[0].contains(&shared) && got[0].contains(&bens),
        "{got:?}"
    );
    assert!(!got[0].contains(&anns), "{got:?}");

    // The plan is shown, and no other offer can be confirmed meanwhile.
    let status = w.status().await;
    assert!(
        status
            .body
            .contains("A plan waits: 3 rooms are deleted after"),
        "{}",
        status.body
    );
    let health = wait_health(port, 200, &bot, |b| b["plan"]["rooms"] == 3).await;
    assert!(health["plan"]["deadline"].is_string(), "{health}");
    let second = w.scan_and_offer().await;
    assert!(second.body.contains("A plan waits"), "{}", second.body);
    let refused = confirm(&w, &second, "the refusal", |m| {
        m.body.contains("a plan waits")
    })
    .await;
    assert!(
        refused
            .body
            .contains("so nothing was deleted: one plan at a time"),
        "{}",
        refused.body
    );

    // Ben keeps his room by writing in it. The bot stops in the middle of
    // the grace; time passes while it is down, to a deadline just ahead.
    w.hs.message(&bens, ben.as_str(), "still here", None).await;
    bot.stop().await;
    move_plan(&w.data().join("plan.jsonl"), now_ms() + 10_000);
    let before = w.bot_messages().len();
    let bot = start(&w).await;
    w.next_reply(before, "the plan found at start", |m| {
        m.body.starts_with("A plan waits: 3 rooms")
    })
    .await;
    w.next_reply(before, "the deadline", |m| {
        m.body.starts_with("The plan's deadline passed")
    })
    .await;
    let (summary, report) = deletion_after(&w, before, "deadline.csv").await;
    assert!(
        summary
            .body
            .starts_with("Deletion finished: 2 deleted, 1 skipped, 0 failed, of 3."),
        "{}\nlog:\n{}",
        summary.body,
        bot.log_text()
    );
    assert_eq!(report.row(&shared)["outcome"], "deleted");
    assert_eq!(report.row(&anns)["outcome"], "deleted");
    assert_eq!(report.row(&bens)["outcome"], "skipped");
    let why = &report.row(&bens)["detail"];
    assert!(why.contains(ben.as_str()), "{why}");
    for room in [&bens, &protected] {
        assert!(exists(&w.hs, room).await, "{room}");
    }
    for room in [&shared, &anns] {
        assert!(!exists(&w.hs, room).await, "{room}");
    }
    // The restart warned nobody again.
    for user in [&ann, &ben] {
        let n = messages_from(&w.hs, user.as_str(), notices.as_str()).await;
        assert_eq!(n, 1, "{user}");
    }
    wait_health(port, 200, &bot, |b| b["plan"].is_null()).await;
    assert!(!w.data().join("plan.jsonl").exists());
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_during_the_grace_deletes_nothing() {
    let w = World::for_deletion()
        .delete("grace = \"1h\"\nconfirm_timeout_secs = 3600")
        .start()
        .await;
    w.old_room("protected", Some("keep")).await;
    let (ann, ann_pw) = create_user(&w.hs, "ann", false).await;
    let kept = quiet_room(&w, &ann, "plan: withdrawn", &[]).await;

    let bot = start(&w).await;
    let offer = w.scan_and_offer().await;
    let made = confirm(&w, &offer, "the plan", |m| m.body.starts_with("Warned")).await;
    assert!(
        made.body
            .starts_with("Warned 1 person in a direct chat. 1 room is on the plan"),
        "{}",
        made.body
    );
    // Without server notices: a direct chat from the bot.
    let ann_client = Human::login(&w.hs, &ann, &ann_pw).await;
    let got = warnings(&ann_client, &w.bot_user, 1).await;
    assert!(got[0].contains(&kept), "{got:?}");

    let before = w.bot_messages().len();
    w.human.say(&w.room, "!oldrooms cancel").await;
    let withdrawn = w
        .next_reply(before, "the withdrawal", |m| {
            m.body.starts_with("Plan withdrawn")
        })
        .await;
    assert_eq!(
        withdrawn.body,
        "Plan withdrawn: none of its 1 room will be deleted (1 person was warned; they are not told)."
    );
    let status = w.status().await;
    assert!(!status.body.contains("A plan waits"), "{}", status.body);
    assert!(!plan_left(&w.data()));
    // A restart finds no plan: nothing is deleted, ever.
    bot.stop().await;
    let before = w.bot_messages().len();
    let bot = start(&w).await;
    let status = w.status().await;
    assert!(!status.body.contains("A plan waits"), "{}", status.body);
    assert!(
        !w.bot_messages()[before..]
            .iter()
            .any(|m| m.body.starts_with("The plan's deadline")),
        "{:#?}",
        w.bot_messages()
    );
    assert!(
        exists(&w.hs, &kept).await,
        "a withdrawn plan's room was deleted"
    );
    let archived = std::fs::read_dir(w.data())
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("plan.jsonl."));
    assert!(archived, "the withdrawn plan is kept aside");
    bot.stop().await;
}

fn plan_left(data: &Path) -> bool {
    data.join("plan.jsonl").exists()
}
