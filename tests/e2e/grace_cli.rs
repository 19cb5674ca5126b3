//! `oldrooms delete --grace` against a real Synapse: the people in the
//! rooms are warned once each (a server notice, or a direct chat where
//! notices are off), `--resume` before the deadline sends nothing again,
//! and after it only the rooms that stayed quiet are deleted.

use std::path::Path;
use std::time::Duration;

use matrix_sdk::ruma::OwnedUserId;
use serde_json::{Value, json};

use crate::common::{Csv, Run, oldrooms};
use crate::matrix::{Human, create_user, poll, wait_member_counts};
use crate::synapse::{Homeserver, Synapse, unique};
use crate::world::{Config, exists, own_synapse, scan};

use oldrooms::timefmt::{MS_PER_DAY as DAY, now_ms};

/// `oldrooms delete` with `args`, which must succeed.
async fn delete(config: &Path, args: &[&str]) -> Run {
    let mut all = vec!["delete", "--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    let run = oldrooms(&all, &[]).await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    run
}

/// Moves the plan's times (its confirmation, its deadline and when each
/// warning was sent) back by the grace period and a second, as time
/// passing would: the deadline is then a second ago.
fn deadline_passes(data: &Path) {
    move_plan(&data.join("cli-plan.jsonl"), now_ms() - 1000);
}

/// Moves the whole timeline of the plan at `path` (its confirmation, its
/// deadline and when each warning was sent) so that its deadline is
/// `deadline`, as time passing would.
pub(crate) fn move_plan(path: &Path, deadline: i64) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let shift = lines[0]["deadline"].as_i64().unwrap() - deadline;
    let back = |v: &mut Value| *v = json!(v.as_i64().unwrap() - shift);
    back(&mut lines[0]["deadline"]);
    back(&mut lines[0]["confirmed_at"]);
    for record in &mut lines[1..] {
        if let Some(at) = record.pointer_mut("/warning/warning/sent/at") {
            back(at);
        }
    }
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(path, text).unwrap();
}

/// Joins every room `human` is invited to by `from`, and returns the
/// bodies of `from`'s messages there once `count` have arrived.
pub(crate) async fn warnings(human: &Human, from: &OwnedUserId, count: usize) -> Vec<String> {
    let joined = poll(Duration::from_secs(60), || {
        let invited = human.client.invited_rooms();
        (!invited.is_empty()).then_some(invited)
    })
    .await
    .expect("an invitation");
    for room in joined {
        room.join().await.unwrap();
    }
    let bodies = poll(Duration::from_secs(60), || {
        let seen: Vec<String> = human.seen_from(from).into_iter().map(|s| s.body).collect();
        (seen.len() >= count).then_some(seen)
    })
    .await;
    bodies.unwrap_or_else(|| panic!("{count} warnings from {from}: {:?}", human.seen_from(from)))
}

/// The messages `sender` sent in the rooms `user` is joined to, as the
/// server has them (the Admin API).
pub(crate) async fn messages_from(hs: &Homeserver, user: &str, sender: &str) -> usize {
    let rooms = hs
        .admin_get(&["_synapse", "admin", "v1", "users", user, "joined_rooms"])
        .await;
    let mut n = 0;
    for room in rooms["joined_rooms"].as_array().unwrap() {
        let room = room.as_str().unwrap();
        let events = hs
            .admin_get(&["_synapse", "admin", "v1", "rooms", room, "messages"])
            .await;
        n += events["chunk"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "m.room.message" && e["sender"] == sender)
            .count();
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grace_period_warns_each_person_once_and_deletes_only_the_quiet_rooms() {
    let hs = Homeserver::on(Box::leak(Box::new(Synapse::start_with_server_notices())));
    let (alice, alice_pw) = create_user(&hs, &unique("alice"), false).await;
    let (bob, bob_pw) = create_user(&hs, &unique("bob"), false).await;
    let old = now_ms() - 400 * DAY;
    let encrypted = json!([{"type": "m.room.encryption", "state_key": "",
        "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]);
    let body = json!({"name": "grace: shared", "preset": "private_chat", "initial_state": encrypted,
            "invite": [bob.as_str()]});
    let shared = hs.create_room(alice.as_str(), body).await;
    hs.join(&shared, bob.as_str()).await;
    hs.message(&shared, alice.as_str(), "hello", Some(old))
        .await;
    let mut own = Vec::new();
    for (user, name) in [(&alice, "grace: alice's"), (&bob, "grace: bob's")] {
        let body = json!({"name": name, "preset": "private_chat"});
        let room = hs.create_room(user.as_str(), body).await;
        hs.message(&room, user.as_str(), "hello", Some(old)).await;
        own.push(room);
    }
    let (alices, bobs) = (own[0].clone(), own[1].clone());
    // Carol joins this one during the grace: nobody warned her.
    let body = json!({"name": "grace: joined later", "preset": "public_chat"});
    let joined = hs.create_room(alice.as_str(), body).await;
    hs.message(&joined, alice.as_str(), "hello", Some(old))
        .await;
    let body = json!({"name": "grace: empty", "preset": "private_chat"});
    let empty = hs.create_room(alice.as_str(), body).await;
    hs.message(&empty, alice.as_str(), "bye", Some(old)).await;
    hs.leave(&empty, alice.as_str()).await;
    // The listing reads member counts from statistics Synapse updates in the
    // background; a CI run once got a count the listing could not read
    // right after the rooms were made. Scan once they are what was made.
    let counts = [
        (shared.as_str(), 2, 2),
        (alices.as_str(), 1, 1),
        (bobs.as_str(), 1, 1),
        (joined.as_str(), 1, 1),
        (empty.as_str(), 0, 0),
    ];
    wait_member_counts(&hs, &counts).await;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = Config::admin(&hs)
        .await
        .bot(&format!("data_dir = \"{}\"", data.display()))
        .delete("poll_interval_ms = 200")
        .write(dir.path());
    let check = oldrooms(&["check", "--config", config.to_str().unwrap()], &[]).await;
    assert!(
        check.stdout.contains("warnings go out as server notices"),
        "{check:?}"
    );
    let results = dir.path().join("results.csv");
    scan(&config, &results).await;
    let first = dir.path().join("now.csv");
    let run = delete(
        &config,
        &[
            "--from",
            results.to_str().unwrap(),
            "--yes",
            "--grace",
            "1h",
            "--report",
            first.to_str().unwrap(),
        ],
    )
    .await;
    assert!(
        run.stdout.contains("Warned 2 people by server notice."),
        "{run:?}"
    );
    assert!(run.stdout.contains("4 rooms are on the plan"), "{run:?}");
    // Nobody to warn in the empty room: deleted now, as without a grace.
    let now = Csv::read(&first);
    assert_eq!(now.row(&empty)["outcome"], "deleted");
    assert!(!exists(&hs, &empty).await);
    for room in [&shared, &alices, &bobs] {
        assert!(
            exists(&hs, room).await,
            "{room} is deleted only at the deadline"
        );
    }

    // What each of them received: one notice, with their rooms only.
    let notices: OwnedUserId = format!("@notices:{}", hs.s.server_name).try_into().unwrap();
    let alice_client = Human::login(&hs, &alice, &alice_pw).await;
    let got = warnings(&alice_client, &notices, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let text = &got[0];
    assert!(text.starts_with("Some rooms you are in on "), "{text}");
    assert!(
        text.contains(&format!("- grace: shared ({shared})")),
        "{text}"
    );
    assert!(
        text.contains(&format!("- grace: alice's ({alices})")),
        "{text}"
    );
    assert!(!text.contains(&bobs), "{text}");
    assert!(
        text.contains("To keep a room, send any message in it before then."),
        "{text}"
    );
    println!("alice received:\n{text}");
    let bob_client = Human::login(&hs, &bob, &bob_pw).await;
    let got = warnings(&bob_client, &notices, 1).await;
    assert!(
        got[0].contains(&bobs) && got[0].contains(&shared),
        "{got:?}"
    );
    assert!(!got[0].contains(&alices), "{got:?}");

    // Bob keeps his room by writing in it; carol joins another and says
    // nothing. A resume before the deadline says when, and warns nobody
    // again.
    hs.message(&bobs, bob.as_str(), "still here", None).await;
    let carol = hs.new_user("carol").await;
    hs.join(&joined, &carol).await;
    let early = delete(&config, &["--resume"]).await;
    assert!(
        early
            .stdout
            .contains("Not yet: the plan's 4 rooms are deleted after"),
        "{early:?}"
    );
    for user in [&alice, &bob] {
        assert_eq!(
            messages_from(&hs, user.as_str(), notices.as_str()).await,
            1,
            "{user}"
        );
    }

    deadline_passes(&data);
    let last = dir.path().join("deadline.csv");
    delete(&config, &["--resume", "--report", last.to_str().unwrap()]).await;
    let report = Csv::read(&last);
    assert_eq!(report.row(&shared)["outcome"], "deleted");
    assert_eq!(report.row(&alices)["outcome"], "deleted");
    assert_eq!(report.row(&bobs)["outcome"], "skipped");
    let why = &report.row(&bobs)["detail"];
    assert!(
        why.contains("new activity") && why.contains(bob.as_str()),
        "{why}"
    );
    assert_eq!(report.row(&joined)["outcome"], "skipped");
    let why = &report.row(&joined)["detail"];
    assert_eq!(why, &format!("kept: not warned in time ({carol})"));
    for room in [&bobs, &joined] {
        assert!(exists(&hs, room).await, "{room}");
    }
    for room in [&shared, &alices] {
        assert!(!exists(&hs, room).await, "{room}");
    }
    let again = oldrooms(
        &["delete", "--config", config.to_str().unwrap(), "--resume"],
        &[],
    )
    .await;
    assert_ne!(again.code(), Some(0), "the plan is done: {again:?}");
    assert!(
        again
            .stderr
            .contains("no interrupted deletion or plan to resume"),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_server_notices_people_are_warned_in_a_direct_chat() {
    let hs = Homeserver::on(own_synapse());
    let (alice, alice_pw) = create_user(&hs, &unique("alice"), false).await;
    let old = now_ms() - 400 * DAY;
    let body = json!({"name": "grace: quiet", "preset": "private_chat"});
    let quiet = hs.create_room(alice.as_str(), body).await;
    hs.message(&quiet, alice.as_str(), "hello", Some(old)).await;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let warning = "Hello from the admins. Rooms to go after {deadline}: {rooms}";
    let config = Config::admin(&hs)
        .await
        .bot(&format!("data_dir = \"{}\"", data.display()))
        .delete(&format!(
            "poll_interval_ms = 200\ngrace = \"2d\"\nwarning_message = \"{warning}\""
        ))
        .write(dir.path());
    let check = oldrooms(&["check", "--config", config.to_str().unwrap()], &[]).await;
    assert!(
        check.stdout.contains("in direct chats from this account"),
        "{check:?}"
    );
    let results = dir.path().join("results.csv");
    scan(&config, &results).await;
    // The config's grace applies without --grace.
    let run = delete(&config, &["--from", results.to_str().unwrap(), "--yes"]).await;
    assert!(
        run.stdout.contains("Warned 1 person in a direct chat."),
        "{run:?}"
    );
    assert!(exists(&hs, &quiet).await);

    let admin: OwnedUserId = hs.s.admin_user.as_str().try_into().unwrap();
    let alice_client = Human::login(&hs, &alice, &alice_pw).await;
    let got = warnings(&alice_client, &admin, 1).await;
    assert!(
        got[0].starts_with("Hello from the admins. Rooms to go after "),
        "{got:?}"
    );
    assert!(
        got[0].ends_with(&format!("- grace: quiet ({quiet})")),
        "{got:?}"
    );
    let dm: Vec<_> = alice_client
        .client
        .joined_rooms()
        .into_iter()
        .filter(|r| r.room_id().as_str() != quiet)
        .collect();
    assert_eq!(dm.len(), 1, "one chat with the warning");
    // Her client marks it direct once it has seen her join (account data
    // that comes with a later sync).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !dm[0].is_direct().await.unwrap() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a direct chat for alice"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    deadline_passes(&data);
    let last = dir.path().join("deadline.csv");
    delete(&config, &["--resume", "--report", last.to_str().unwrap()]).await;
    assert_eq!(Csv::read(&last).row(&quiet)["outcome"], "deleted");
    assert!(!exists(&hs, &quiet).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawn_plan_deletes_nothing() {
    let hs = Homeserver::on(own_synapse());
    let alice = hs.new_user("alice").await;
    let old = now_ms() - 400 * DAY;
    let body = json!({"name": "grace: withdrawn", "preset": "private_chat"});
    let room = hs.create_room(&alice, body).await;
    hs.message(&room, &alice, "hello", Some(old)).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = Config::admin(&hs)
        .await
        .bot(&format!("data_dir = \"{}\"", data.display()))
        .write(dir.path());
    let results = dir.path().join("results.csv");
    scan(&config, &results).await;
    let from = results.to_str().unwrap();
    delete(&config, &["--from", from, "--yes", "--grace", "1h"]).await;

    let cancel = delete(&config, &["--cancel"]).await;
    assert!(
        cancel.stdout.starts_with(
            "Plan withdrawn: none of its 1 room will be deleted (1 person was warned; they are \
             not told)."
        ),
        "{cancel:?}"
    );
    let config_arg = config.to_str().unwrap();
    let resume = oldrooms(&["delete", "--config", config_arg, "--resume"], &[]).await;
    assert_eq!(resume.code(), Some(1), "{resume:?}");
    assert!(
        resume
            .stderr
            .contains("no interrupted deletion or plan to resume"),
        "{resume:?}"
    );
    let again = oldrooms(&["delete", "--config", config_arg, "--cancel"], &[]).await;
    assert!(again.stderr.contains("no plan to cancel"), "{again:?}");
    assert!(
        exists(&hs, &room).await,
        "nothing of a withdrawn plan is deleted"
    );
}
