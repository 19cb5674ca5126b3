//! Synapse stopped and restarted under a running bot, on a Synapse of its
//! own: `/healthz` turns 503 and back to 200 with no restart of the bot, a
//! scan in flight finishes with every row read, and a deletion in flight
//! finishes with each room deleted once.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::matrix::{BotProcess, Seen, poll, wait_joined};
use crate::world::{World, deletions_of, download, exists, is_offer};

/// `GET /healthz`: the status code and the JSON body.
async fn health(port: u16) -> Option<(u16, Value)> {
    let url = format!("http://127.0.0.1:{port}/healthz");
    let response = reqwest::get(url).await.ok()?;
    let code = response.status().as_u16();
    Some((code, response.json().await.ok()?))
}

/// Waits until `/healthz` answers `code` with a body that `fits`.
pub(crate) async fn wait_health(
    port: u16,
    code: u16,
    bot: &BotProcess,
    fits: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = None;
    loop {
        if let Some((got, body)) = health(port).await {
            if got == code && fits(&body) {
                return body;
            }
            last = Some((got, body));
        }
        assert!(
            Instant::now() < deadline,
            "/healthz never answered {code}; last: {last:?}; log:\n{}",
            bot.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A loopback port for the bot's listener, never one that
/// `scripts/synapse.sh` handed out lately (the same list, under the same
/// lock): a Synapse starting at the same time must not be given it too.
pub(crate) fn free_port() -> u16 {
    let dir = std::env::var_os("TMPDIR").map_or_else(std::env::temp_dir, Into::into);
    let path = dir.join("oldrooms-ports-taken");
    let lock = std::fs::File::create(dir.join("oldrooms-ports-taken.lock")).unwrap();
    lock.lock().unwrap();
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut taken: Vec<&str> = text.split_whitespace().collect();
    let port = loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if !taken.contains(&port.to_string().as_str()) {
            break port;
        }
    };
    let port_text = port.to_string();
    taken.push(&port_text);
    let keep = &taken[taken.len().saturating_sub(2000)..];
    let new = path.with_extension("new");
    std::fs::write(&new, keep.join("\n") + "\n").unwrap();
    std::fs::rename(&new, &path).unwrap();
    port
}

/// The first message from the bot after `skip` that `fits`, waited for as
/// long as `secs`.
async fn bot_says(w: &World, skip: usize, secs: u64, fits: impl Fn(&Seen) -> bool) -> Option<Seen> {
    poll(Duration::from_secs(secs), || {
        w.bot_messages().into_iter().skip(skip).find(|m| fits(m))
    })
    .await
}

/// The line the bot logs when an Admin API request starts waiting for the
/// homeserver to come back (`src/admin/outage.rs`).
const WAITING: &str = "the homeserver is not answering";

/// How many times the bot has started waiting for Synapse so far.
fn waits_for_synapse(bot: &BotProcess) -> usize {
    bot.log_text().matches(WAITING).count()
}

/// Waits until the bot starts waiting for Synapse once more than `before`.
async fn wait_until_waiting(bot: &BotProcess, before: usize) {
    let waiting = poll(Duration::from_secs(120), || {
        (waits_for_synapse(bot) > before).then_some(())
    })
    .await;
    assert!(
        waiting.is_some(),
        "the bot never waited for the stopped Synapse; log:\n{}",
        bot.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_rides_out_a_synapse_restart() {
    let port = free_port();
    // Paced requests make the scan and the deletion last several seconds
    // (a lower bound, however fast the machine), so a stop right after
    // they start lands in their middle; one quick retry, so requests
    // really wait for Synapse to come back rather than retrying through.
    let w = World::for_deletion()
        .bot(&format!("health_listen = \"127.0.0.1:{port}\""))
        .scan("max_requests_per_second = 3\nmax_retries = 1")
        .start()
        .await;
    w.old_room("protected", Some("keep")).await;
    let mut old = Vec::new();
    for i in 0..8 {
        old.push(w.old_room(&format!("old {i}"), None).await);
    }
    // Active rooms cost the scan a request each and are not deleted: at 3
    // requests a second they make it last 10 s or more.
    for i in 0..24 {
        let room =
            w.hs.create_room(&w.alice, json!({"name": format!("active {i}")}))
                .await;
        w.hs.message(&room, &w.alice, "now", None).await;
    }
    let synapse = w.hs.s;

    let bot = w.start_bot();
    wait_joined(&w.hs, &w.room, &w.bot_user, &bot).await;
    let ok = wait_health(port, 200, &bot, |_| true).await;
    eprintln!("/healthz, running: {ok}");
    assert_eq!(ok["status"], "ok", "{ok}");
    assert_eq!(ok["in_admin_room"], true, "{ok}");
    assert_eq!(ok["job"], Value::Null, "{ok}");

    // Idle: down, then back by itself.
    synapse.stop();
    let down = wait_health(port, 503, &bot, |_| true).await;
    eprintln!("/healthz, Synapse stopped: {down}");
    assert_eq!(down["status"], "unhealthy", "{down}");
    let problem = down["problems"][0].as_str().unwrap_or_default();
    assert!(problem.starts_with("the last sync failed"), "{down}");
    synapse.restart();
    wait_health(port, 200, &bot, |_| true).await;
    let idle = w.status().await;
    assert!(idle.body.starts_with("Idle"), "{}", idle.body);

    // A scan in flight.
    let before = w.bot_messages().len();
    w.human.say(&w.room, "!oldrooms scan").await;
    // Its progress shows rooms being read: the listing is done and the
    // requests for each room are under way.
    // An edit's body is "* " and the new text.
    let checking = |m: &Seen| m.body.contains("Scanning: checked ");
    let under_way = bot_says(&w, before, 60, checking).await;
    assert!(
        under_way.is_some(),
        "no scan progress; log:\n{}",
        bot.log_text()
    );
    let waits = waits_for_synapse(&bot);
    synapse.stop();
    let finished = |m: &Seen| m.body.starts_with("Scan finished:");
    assert!(
        w.bot_messages()[before..].iter().all(|m| !finished(m)),
        "the scan ended before Synapse stopped: the test proves nothing"
    );
    // Synapse stays down until a request of the scan is waiting for it:
    // restarted at once, it can listen again before the bot's retry, and
    // the retry then succeeds without ever waiting.
    wait_until_waiting(&bot, waits).await;
    synapse.restart();
    let offer = bot_says(&w, before, 120, |m| is_offer(&m.body)).await;
    let offer = offer.unwrap_or_else(|| panic!("no offer; log:\n{}", bot.log_text()));
    assert!(
        offer
            .body
            .starts_with("Delete these 8 rooms (8 inactive, 0 abandoned)"),
        "{}",
        offer.body
    );
    let file = bot_says(&w, before, 30, |m| {
        m.body == "results.csv" && m.file.is_some()
    })
    .await;
    let csv = download(&w.human, &file.unwrap(), &w.dir.path().join("results.csv")).await;
    for room in &old {
        let row = csv.row(room);
        assert_eq!(row["should_delete"], "yes", "{row:?}");
        assert!(row["reason"].starts_with("inactive"), "{row:?}");
    }
    let unknown: Vec<_> = csv
        .rows
        .iter()
        .filter(|r| r["reason"].starts_with("unknown"))
        .collect();
    assert!(unknown.is_empty(), "rows not read: {unknown:?}");
    assert!(
        bot.log_text().contains(WAITING),
        "no request waited for Synapse; log:\n{}",
        bot.log_text()
    );

    // A deletion in flight. Synapse cancels the purges its stop interrupts
    // (and does not resume them): the bot submits those rooms again.
    w.human.react(&w.room, &offer.event_id, "✅").await;
    w.wait_done(&bot, 1).await;
    let waits = waits_for_synapse(&bot);
    synapse.stop();
    let summary = |m: &Seen| m.body.starts_with("Deletion finished:") && m.replaces.is_none();
    assert!(
        w.bot_messages()[before..].iter().all(|m| !summary(m)),
        "the deletion ended before Synapse stopped: the test proves nothing"
    );
    wait_until_waiting(&bot, waits).await;
    synapse.restart();
    let done = bot_says(&w, before, 240, summary).await;
    let done = done.unwrap_or_else(|| panic!("no summary; log:\n{}", bot.log_text()));
    assert!(
        done.body
            .starts_with("Deletion finished: 8 deleted, 0 skipped, 0 failed, of 8."),
        "{}",
        done.body
    );
    let (_, report) = w.deletion_result().await;
    assert_eq!(report.rows.len(), 8);
    for room in &old {
        assert_eq!(report.row(room)["outcome"], "deleted");
        assert!(!exists(&w.hs, room).await, "{room} is still there");
        assert_eq!(
            deletions_of(&w.hs, room).await,
            1,
            "{room} deleted more than once"
        );
    }

    let after = wait_health(port, 200, &bot, |b| b["job"].is_null()).await;
    assert_eq!(after["status"], "ok", "{after}");
    bot.assert_running();
    let log = bot.log_text();
    assert_eq!(
        log.matches("listening for commands").count(),
        1,
        "the bot restarted:\n{log}"
    );
    bot.stop().await;
}
