//! Synapse with workers behind nginx, as large servers run it
//! (docs/workers.md): the bot's traffic reaches the process that serves it,
//! and an Admin API request that reaches a client worker is refused with the
//! routing fix named. `scripts/test.sh` also runs a chat scan, a ✅ deletion
//! and a dry run through such a Synapse (`OLDROOMS_SYNAPSE_WORKERS=1`).

use crate::common::oldrooms;
use crate::matrix::wait_joined;
use crate::world::{Config, World, workers_synapse};

/// The lines of `file` (a process's log in the Synapse's folder) that
/// record a request of `user` to `path`.
fn served(file: &str, user: &str, path: &str) -> usize {
    let log = std::fs::read_to_string(workers_synapse().dir.join(file)).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("Processed request") && l.contains(user) && l.contains(path))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_the_bot_scans_and_posts_through_the_workers() {
    let w = World::builder().workers().encrypted().start().await;
    let old = w.old_room("old, behind nginx", None).await;
    let bot = w.start_bot();
    wait_joined(&w.hs, &w.room, &w.bot_user, &bot).await;
    w.human.wait_sees_joined(&w.room, &w.bot_user).await;
    w.scan_and_offer().await;
    let results = w.posted_results().await;
    assert_eq!(results.row(&old)["should_delete"], "yes");

    // Who served the bot: each process's own access log.
    let bot_user = w.bot_user.as_str();
    assert!(
        served("generic_worker1.log", bot_user, "/sync") > 0,
        "the bot's sync did not reach the client worker"
    );
    assert!(
        served("media_worker1.log", bot_user, "/upload") > 0,
        "the bot's uploads did not reach the media worker"
    );
    assert!(
        served("synapse.log", bot_user, "/_synapse/admin/v1/rooms?") > 0,
        "the bot's room listing did not reach the main process"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_api_request_that_reaches_a_client_worker_names_the_routing_fix() {
    let s = workers_synapse();
    let worker = s.client_worker_url.as_deref().expect("a client worker");
    let dir = tempfile::tempdir().unwrap();
    let config = Config::new(worker, &s.admin_user)
        .password(&s.admin_password)
        .write(dir.path());
    let output = dir.path().join("results.csv");
    for command in [
        vec!["check", "--config", config.to_str().unwrap()],
        vec![
            "scan",
            "--config",
            config.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
        ],
    ] {
        let run = oldrooms(&command, &[]).await;
        assert_ne!(run.code(), Some(0), "{command:?}: {run:?}");
        assert!(
            run.stderr.contains("answered 404 M_UNRECOGNIZED")
                && run
                    .stderr
                    .contains("route /_synapse/admin/ to the main process"),
            "{command:?}: {}",
            run.stderr
        );
    }
    assert!(!output.exists(), "a scan that failed wrote results.csv");

    // Through nginx, the same account and config work.
    let config = Config::new(&s.url, &s.admin_user)
        .password(&s.admin_password)
        .write(dir.path());
    let run = oldrooms(&["check", "--config", config.to_str().unwrap()], &[]).await;
    assert_eq!(run.code(), Some(0), "{run:?}");
}
