//! The bot in its admin room, driven by a human admin's matrix-sdk client.

use std::time::Duration;

use crate::common::Csv;
use crate::matrix::{BotProcess, Human, create_user, poll, wait_joined};
use crate::synapse::{Homeserver, unique};
use crate::world::{Config, World, WorldBuilder, download};

use oldrooms::timefmt::{MS_PER_DAY as DAY, now_ms};

/// How these tests' bot scans (all but the one whose scan must be slow).
const FOUR_AT_A_TIME: &str = "concurrency = 4";

/// An old and an active room of alice's.
struct Rooms {
    old: String,
    active: String,
}

/// Starts the world `world` describes, and gives alice an old and an
/// active room in it.
async fn setup(world: WorldBuilder) -> (World, Rooms) {
    let s = world.start().await;
    let old = now_ms() - 500 * DAY;
    let body = serde_json::json!({"name": "Bot test: old", "preset": "private_chat"});
    let old_room = s.hs.create_room(&s.alice, body).await;
    s.hs.message(&old_room, &s.alice, "old", Some(old)).await;
    let body = serde_json::json!({"name": "Bot test: active", "preset": "private_chat"});
    let active_room = s.hs.create_room(&s.alice, body).await;
    s.hs.message(&active_room, &s.alice, "now", None).await;
    let rooms = Rooms {
        old: old_room,
        active: active_room,
    };
    (s, rooms)
}

/// `!oldrooms scan` from the human: progress, summary, and a results.csv
/// attachment whose rows match the rooms.
async fn scan_from_chat(encrypted: bool) {
    let mut world = World::builder().scan(FOUR_AT_A_TIME);
    if encrypted {
        world = world.encrypted();
    }
    let (s, rooms) = setup(world).await;
    let bot = s.start_bot();
    wait_joined(&s.hs, &s.room, &s.bot_user, &bot).await;
    s.human.wait_sees_joined(&s.room, &s.bot_user).await;
    s.human.say(&s.room, "!oldrooms scan").await;

    let progress = s
        .human
        .wait_for(&s.bot_user, "the progress message", |m| {
            m.body.starts_with("Scanning all rooms")
        })
        .await;
    let summary = s
        .human
        .wait_for(&s.bot_user, "the summary", |m| {
            m.body.starts_with("Scan finished:") && m.replaces.is_none()
        })
        .await;
    assert!(summary.body.contains("To delete:"), "{}", summary.body);
    assert!(
        summary.body.contains("Nothing has been deleted"),
        "{}",
        summary.body
    );
    let file = s
        .human
        .wait_for(&s.bot_user, "results.csv", |m| m.file.is_some())
        .await;
    let content = file.file.clone().unwrap();
    assert_eq!(content.filename(), "results.csv");
    let csv = download(&s.human, &file, &s.dir.path().join("downloaded.csv")).await;
    assert_eq!(csv.row(&rooms.old)["should_delete"], "yes");
    assert!(csv.row(&rooms.old)["reason"].starts_with("inactive"));
    assert_eq!(csv.row(&rooms.active)["should_delete"], "no");
    assert_eq!(csv.row(s.room.as_str())["reason"], "protected: admin room");
    check_chart(&s, &csv).await;
    // The next scan's cache: a header and one line per room read.
    let cache = std::fs::read_to_string(s.dir.path().join("data/scan-cache.tsv")).unwrap();
    assert_eq!(cache.lines().count(), 1 + csv.rows.len(), "{cache}");
    assert!(
        cache
            .lines()
            .any(|l| l.starts_with(&format!("{}\t", rooms.old))),
        "{cache}"
    );

    // The progress message was edited to its final state, which is not a
    // copy of the summary's first line.
    let edits: Vec<_> = s
        .bot_messages()
        .into_iter()
        .filter(|m| m.replaces.as_ref() == Some(&progress.event_id))
        .collect();
    assert!(
        edits
            .iter()
            // An edit's body carries the "* " fallback.
            .any(|m| m.body.contains("Scanning all rooms… done in ")
                && m.body.ends_with("; the results follow.")),
        "{edits:#?}"
    );
    assert!(
        edits.iter().all(|m| !m.body.contains("Scan finished")),
        "{edits:#?}"
    );
    for m in s.bot_messages() {
        assert_eq!(m.encrypted, encrypted, "{m:?}");
        assert!(
            !m.body.starts_with("!oldrooms"),
            "the bot must not send commands: {m:?}"
        );
    }
    bot.stop().await;
}

/// The chart came as an image (decrypted here in an encrypted room) that
/// decodes to the size it states, and its text has the CSV's counts.
async fn check_chart(s: &World, csv: &Csv) {
    let chart = s
        .human
        .wait_for(&s.bot_user, "the chart", |m| m.image.is_some())
        .await;
    let image = chart.image.clone().unwrap();
    assert_eq!(image.filename(), "rooms-by-age.png");
    let info = image.info.clone().unwrap();
    let bytes = s
        .human
        .client
        .media()
        .get_file(&image, false)
        .await
        .unwrap()
        .unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let header = decoder.read_info().unwrap().info().clone();
    assert_eq!(Some(header.width.into()), info.width);
    assert_eq!(Some(header.height.into()), info.height);
    assert_eq!((header.width, header.height), (1200, 675));
    let count = |kind: &str| {
        csv.rows
            .iter()
            .filter(|r| r["reason"].starts_with(kind))
            .count()
    };
    let delete = count("inactive") + count("abandoned");
    let expected = format!(
        ": {} rooms; {delete} to delete ({} inactive, {} abandoned), {} to keep ({} active, \
         {} protected, {} unknown);",
        csv.rows.len(),
        count("inactive"),
        count("abandoned"),
        csv.rows.len() - delete,
        count("active"),
        count("protected"),
        count("unknown"),
    );
    assert!(
        chart.body.contains(&expected),
        "{expected}\nnot in: {}",
        chart.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_from_chat_in_an_unencrypted_room() {
    scan_from_chat(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_from_chat_in_an_encrypted_room() {
    scan_from_chat(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_admin_is_refused_once_and_nothing_runs() {
    let (s, _) = setup(World::builder().scan(FOUR_AT_A_TIME)).await;
    let (other, other_password) = create_user(&s.hs, &unique("member"), false).await;
    // The human invites a non-admin member into the admin room.
    s.human
        .room(&s.room)
        .invite_user_by_id(&other)
        .await
        .unwrap();
    let member = Human::login(&s.hs, &other, &other_password).await;
    let joined = poll(Duration::from_secs(30), || member.client.get_room(&s.room))
        .await
        .unwrap();
    joined.join().await.unwrap();

    let bot = s.start_bot();
    wait_joined(&s.hs, &s.room, &s.bot_user, &bot).await;
    s.human.wait_sees_joined(&s.room, &s.bot_user).await;
    for _ in 0..3 {
        member.say(&s.room, "!oldrooms scan").await;
    }
    s.human
        .wait_for(&s.bot_user, "a refusal", |m| {
            m.body.contains("only the admins")
        })
        .await;
    // Proof the bot has processed everything sent before: an admin's status.
    s.human.say(&s.room, "!oldrooms status").await;
    s.human
        .wait_for(&s.bot_user, "status", |m| m.body.starts_with("Idle"))
        .await;
    let messages = s.bot_messages();
    assert_eq!(
        messages
            .iter()
            .filter(|m| m.body.contains("only the admins"))
            .count(),
        1,
        "{messages:#?}"
    );
    assert!(
        !messages.iter().any(|m| m.body.contains("Scanning")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.body.contains("No scan has finished")),
        "{messages:#?}"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_from_a_non_admin_is_declined() {
    let (s, _) = setup(World::builder().scan(FOUR_AT_A_TIME)).await;
    let (other, _) = create_user(&s.hs, &unique("stranger"), false).await;
    let body = serde_json::json!({"name": "Not for bots", "preset": "private_chat", "invite": [s.bot_user]});
    let elsewhere = s.hs.create_room(other.as_str(), body).await;
    let bot = s.start_bot();
    wait_joined(&s.hs, &s.room, &s.bot_user, &bot).await;
    s.human.wait_sees_joined(&s.room, &s.bot_user).await;
    // The bot logs the line once the server has taken its leave: wait for
    // it, then the server must have the bot's membership as `leave`.
    let declined = poll(Duration::from_secs(60), || {
        bot.log_text().contains("declined an invite").then_some(())
    })
    .await;
    bot.assert_running();
    assert!(declined.is_some(), "bot log:\n{}", bot.log_text());
    let segs = [
        "_synapse",
        "admin",
        "v1",
        "rooms",
        elsewhere.as_str(),
        "state",
    ];
    let room_state = s.hs.admin_get(&segs).await;
    let membership = room_state["state"].as_array().and_then(|events| {
        events
            .iter()
            .find(|e| e["type"] == "m.room.member" && e["state_key"] == s.bot_user.as_str())
            .and_then(|e| e["content"]["membership"].as_str())
            .map(str::to_owned)
    });
    assert_eq!(
        membership.as_deref(),
        Some("leave"),
        "bot log:\n{}",
        bot.log_text()
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_device_is_the_same_and_encrypted_chat_works() {
    let (s, _) = setup(World::builder().scan(FOUR_AT_A_TIME).encrypted()).await;
    let bot = s.start_bot();
    wait_joined(&s.hs, &s.room, &s.bot_user, &bot).await;
    s.human.wait_sees_joined(&s.room, &s.bot_user).await;
    let first = s.human.say(&s.room, "!oldrooms status").await;
    s.human
        .wait_for(&s.bot_user, "first status", |m| m.body.starts_with("Idle"))
        .await;
    // Killed right after its answer, perhaps before it stored the sync token
    // of the response that carried it: Synapse may then serve that same
    // response again from its cache to the restarted bot's first sync.
    bot.kill().await;
    // Sent while the bot is down: the backlog of its first sync is not answered.
    s.human.say(&s.room, "!oldrooms scan").await;
    let devices = |v: serde_json::Value| -> Vec<String> {
        v["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["device_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let segs = [
        "_synapse",
        "admin",
        "v2",
        "users",
        s.bot_user.as_str(),
        "devices",
    ];
    let before = devices(s.hs.admin_get(&segs).await);

    let bot = s.start_bot();
    // Wait until the restarted bot is syncing, then talk to it.
    let ready = poll(Duration::from_secs(60), || {
        (bot.log_text().matches("listening for commands").count() >= 2).then_some(())
    })
    .await;
    assert!(ready.is_some(), "bot log:\n{}", bot.log_text());
    // An edit of an old command is not a new command.
    s.human.edit(&s.room, &first, "!oldrooms scan").await;
    s.human.say(&s.room, "!oldrooms status").await;
    let answers = poll(Duration::from_secs(60), || {
        let n = s
            .bot_messages()
            .iter()
            .filter(|m| m.body.starts_with("Idle"))
            .count();
        (n >= 2).then_some(n)
    })
    .await;
    assert_eq!(answers, Some(2), "bot log:\n{}", bot.log_text());
    assert!(s.bot_messages().iter().all(|m| m.encrypted));
    assert!(
        !s.bot_messages().iter().any(|m| m.body.contains("Scanning")),
        "a command from the backlog or an edit was answered: {:#?}",
        s.bot_messages()
    );
    assert_eq!(
        devices(s.hs.admin_get(&segs).await),
        before,
        "the bot made a new device"
    );
    assert_eq!(before.len(), 1, "{before:?}");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_an_account_with_an_admin() {
    let hs = Homeserver::new();
    let (user, password) = create_user(&hs, &unique("selfadmin"), true).await;
    let human = Human::login(&hs, &user, &password).await;
    let room = human.create_admin_room(&hs, &[], false).await;
    let dir = tempfile::tempdir().unwrap();
    let bot = format!(
        "admin_room = \"{room}\"\nadmins = [\"{user}\"]\ndata_dir = \"{data}\"",
        data = dir.path().join("data").display(),
    );
    let config = Config::new(&hs.s.url, user.as_str())
        .password(&password)
        .bot(&bot)
        .write(dir.path());
    let bot = BotProcess::start(&config, &dir.path().join("bot.log"));
    let ready = poll(Duration::from_secs(60), || {
        bot.log_text()
            .contains("listening for commands")
            .then_some(())
    })
    .await;
    assert!(ready.is_some(), "bot log:\n{}", bot.log_text());
    // The account is the human's too: the bot sets up no identity of its
    // own, which would replace theirs.
    assert!(
        bot.log_text()
            .contains("it sets up no cross-signing or key backup of its own"),
        "{}",
        bot.log_text()
    );
    let keys = human
        .client
        .encryption()
        .request_user_identity(&user)
        .await
        .unwrap();
    assert!(
        keys.is_none(),
        "the bot gave the shared account cross-signing keys"
    );

    human.say(&room, "!oldrooms status").await;
    human
        .wait_for(&user, "status", |m| m.body.starts_with("Idle"))
        .await;
    human.say(&room, "!oldrooms help").await;
    human
        .wait_for(&user, "help", |m| m.body.contains("Usage: !oldrooms"))
        .await;
    // A barrier: the bot handles the room in order, so once it answers a
    // further status, anything it would have said to its own answers above
    // is already in.
    let before = human.seen_from(&user).len();
    human.say(&room, "!oldrooms status").await;
    let barrier = poll(Duration::from_secs(60), || {
        human.seen_from(&user)[before..]
            .iter()
            .any(|m| m.body.starts_with("Idle"))
            .then_some(())
    })
    .await;
    assert!(
        barrier.is_some(),
        "no answer to the last status; seen: {:#?}\nbot log:\n{}",
        human.seen_from(&user),
        bot.log_text()
    );
    let from_account = human.seen_from(&user);
    let answers = from_account
        .iter()
        .filter(|m| m.body.starts_with("Idle"))
        .count();
    assert_eq!(answers, 2, "the bot answered itself: {from_account:#?}");
    assert_eq!(
        from_account.len(),
        6,
        "three commands, three answers: {from_account:#?}"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_cancel_answer_while_a_scan_runs() {
    // A few hundred rooms, read at 40 requests a second, so the scan takes
    // long enough to talk to it meanwhile.
    let slow = "concurrency = 1\nmax_requests_per_second = 40";
    let (s, _) = setup(World::builder().scan(slow)).await;
    let creator = unique("filler");
    s.hs.register(&creator).await;
    let creator = s.hs.user_id(&creator);
    let bodies: Vec<_> = (0..300)
        .map(|i| serde_json::json!({"name": format!("filler {i}")}))
        .collect();
    for chunk in bodies.chunks(10) {
        futures_util::future::join_all(chunk.iter().map(|b| s.hs.create_room(&creator, b.clone())))
            .await;
    }

    let bot = s.start_bot();
    wait_joined(&s.hs, &s.room, &s.bot_user, &bot).await;
    s.human.wait_sees_joined(&s.room, &s.bot_user).await;
    s.human.say(&s.room, "!oldrooms scan").await;
    s.human
        .wait_for(&s.bot_user, "the progress message", |m| {
            m.body.starts_with("Scanning all rooms")
        })
        .await;
    s.human.say(&s.room, "!oldrooms scan").await;
    s.human.say(&s.room, "!oldrooms status").await;
    let busy = s
        .human
        .wait_for(&s.bot_user, "busy", |m| {
            m.body.starts_with("Busy: scanning") && m.body.contains("Send")
        })
        .await;
    assert!(busy.body.contains("status"), "{}", busy.body);
    let status = s
        .human
        .wait_for(&s.bot_user, "status", |m| {
            m.replaces.is_none() && m.body.starts_with("Busy: scanning") && !m.body.contains("Send")
        })
        .await;
    assert!(status.body.contains("rooms"), "{}", status.body);
    s.human.say(&s.room, "!oldrooms cancel").await;
    let cancelled = s
        .human
        .wait_for(&s.bot_user, "cancelled", |m| {
            m.body.starts_with("Scan cancelled")
        })
        .await;
    assert!(
        cancelled.body.contains("No results were written"),
        "{}",
        cancelled.body
    );
    s.human.say(&s.room, "!oldrooms status").await;
    s.human
        .wait_for(&s.bot_user, "idle", |m| m.body.starts_with("Idle"))
        .await;
    let messages = s.bot_messages();
    assert!(
        !messages.iter().any(|m| m.file.is_some()),
        "no results.csv after cancel: {messages:#?}"
    );
    assert!(
        !messages
            .iter()
            .any(|m| m.body.starts_with("Scan finished") && m.replaces.is_none()),
        "{messages:#?}"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_synapse_rate_limits_nothing_that_matters_is_lost() {
    let world = World::builder().rate_limited_synapse().scan(FOUR_AT_A_TIME);
    let (s, _) = setup(world).await;
    let bot = s.start_bot();
    wait_joined(&s.hs, &s.room, &s.bot_user, &bot).await;
    s.human.wait_sees_joined(&s.room, &s.bot_user).await;
    // Twelve answers drain the bot's burst of ten: from here on Synapse
    // answers its messages with 429 until it waits.
    for _ in 0..12 {
        s.human.say(&s.room, "!oldrooms status").await;
    }
    s.human.say(&s.room, "!oldrooms scan").await;
    // Behind a dozen answers at 0.2 messages a second: the deadline only
    // guards a hang.
    let deadline = Duration::from_secs(180);
    s.human
        .wait_for_within(&s.bot_user, "the summary", deadline, |m| {
            m.body.starts_with("Scan finished:") && m.replaces.is_none()
        })
        .await;
    s.human
        .wait_for_within(&s.bot_user, "results.csv", deadline, |m| m.file.is_some())
        .await;
    // The replies queue behind Synapse's limit: wait for all of them.
    let idle = || {
        s.bot_messages()
            .iter()
            .filter(|m| m.body.starts_with("Idle"))
            .count()
    };
    let answered = poll(Duration::from_secs(120), || (idle() >= 12).then_some(())).await;
    assert!(
        answered.is_some(),
        "every status answered: {} of 12; seen: {:#?}\nlog:\n{}",
        idle(),
        s.bot_messages()
            .iter()
            .map(|m| m.body.chars().take(50).collect::<String>())
            .collect::<Vec<_>>(),
        bot.log_text()
    );
    assert_eq!(idle(), 12, "each status answered once");
    let log = bot.log_text();
    assert!(
        log.contains("429") || log.contains("M_LIMIT_EXCEEDED"),
        "no rate limit was hit:\n{log}"
    );
    bot.stop().await;
}
