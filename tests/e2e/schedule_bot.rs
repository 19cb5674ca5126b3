//! Scans on a schedule, against a real Synapse: the scan runs by itself and
//! posts its offer; a restart keeps the next run instead of running again;
//! the same candidates the next time get one line; nothing is deleted
//! without a confirmation.

use std::time::Duration;

use crate::matrix::{Seen, poll, wait_joined};
use crate::world::{World, exists, is_offer};

use oldrooms::timefmt::now_ms;

/// The schedule saved in the bot's data directory: the next run, and
/// whether a scheduled scan was running.
fn saved(data: &std::path::Path) -> (i64, bool) {
    let text = std::fs::read_to_string(data.join("schedule.json")).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&text).unwrap();
    (
        saved["next_ms"].as_i64().unwrap(),
        saved["running"].as_bool().unwrap_or(false),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_scan_offers_survives_a_restart_and_deletes_nothing() {
    // A period much longer than a scan and its posting: the second run must
    // not start before the stop below (checked there).
    let w = World::for_deletion()
        .encrypted()
        .set("schedule", "every = \"60s\"")
        .start()
        .await;
    w.old_room("protected", Some("keep")).await;
    let old = [
        w.old_room("old one", None).await,
        w.old_room("old two", None).await,
    ];
    let data = w.data();

    let bot = w.start_bot();
    wait_joined(&w.hs, &w.room, &w.bot_user, &bot).await;
    w.human.wait_sees_joined(&w.room, &w.bot_user).await;
    let status = w.status().await;
    assert!(
        status.body.contains("Next scheduled scan: "),
        "{}",
        status.body
    );
    assert!(status.body.contains("(every 1 minute)"), "{}", status.body);

    // Nobody asks: the scan runs when due (a period after the start) and
    // posts everything. The deadline only guards a hang.
    let offer = w
        .human
        .wait_for_within(
            &w.bot_user,
            "the scheduled scan's offer",
            Duration::from_secs(300),
            |m| is_offer(&m.body),
        )
        .await;
    assert!(
        offer
            .body
            .starts_with("Delete these 2 rooms (2 inactive, 0 abandoned)"),
        "{}",
        offer.body
    );
    let posted = |what: fn(&Seen) -> bool| w.bot_messages().iter().filter(|m| what(m)).count();
    assert_eq!(posted(|m| m.file.is_some()), 1, "results.csv");
    assert_eq!(posted(|m| m.image.is_some()), 1, "the chart");
    let stopped_at = now_ms();
    bot.stop().await;

    // The next run was saved before the scan: a restart keeps it. What
    // follows holds only if, at the stop, no second run had started and
    // none was due yet.
    let (next, running) = saved(&data);
    assert!(
        !running && next > stopped_at,
        "the next scheduled run (at {next}, running: {running}) had come before the stop at \
         {stopped_at}: the machine took longer than the period; make it longer"
    );
    // Only what the restarted bot says: the first bot's messages may reach
    // the human's client after the stop.
    let later = || -> Vec<Seen> {
        w.bot_messages()
            .into_iter()
            .filter(|m| m.ts >= stopped_at)
            .collect()
    };
    let bot = w.start_bot();
    let one_line = poll(Duration::from_secs(300), || {
        later()
            .into_iter()
            .find(|m| m.body.starts_with("Scheduled scan: the same 2 rooms"))
    })
    .await;
    let one_line = one_line.unwrap_or_else(|| panic!("no second run; log:\n{}", bot.log_text()));
    let after: Vec<Seen> = later();
    let scans: Vec<&Seen> = after
        .iter()
        .filter(|m| m.body.starts_with("Scanning all rooms"))
        .collect();
    assert_eq!(scans.len(), 1, "one run after the restart: {after:#?}");
    assert!(
        scans[0].ts >= next,
        "the restart ran the scan again at {} instead of waiting for {next}",
        scans[0].ts
    );
    assert!(one_line.ts >= next);
    assert!(
        !after.iter().any(|m| m.file.is_some() || is_offer(&m.body)),
        "the same candidates are not posted again: {after:#?}"
    );

    // No ✅ was given: nothing was deleted.
    for room in &old {
        assert!(
            exists(&w.hs, room).await,
            "{room} was deleted without a confirmation"
        );
    }
    assert!(!data.join("deletion-journal.jsonl").exists());
    bot.stop().await;
}
