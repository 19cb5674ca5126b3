//! `oldrooms scan` and `oldrooms check` against a real Synapse: what an admin
//! sees with a good, a wrong or a non-admin credential.

use crate::common::oldrooms;
use crate::matrix::wait_member_counts;
use crate::synapse::{Homeserver, unique};
use crate::world::{Config, own_synapse, scan_with};

fn path(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn check_reports_version_and_admin() {
    let hs = Homeserver::new();
    let dir = tempfile::tempdir().unwrap();
    let config = Config::admin(&hs).await.write(dir.path());
    let run = oldrooms(&["check", "--config", path(&config)], &[]).await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert!(run.stdout.contains("admin:      yes"), "{}", run.stdout);
    assert!(run.stdout.contains("synapse:    1.163.2"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("cross-signing: not set up yet; the bot sets it up at its first start"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn a_non_admin_token_is_refused_and_writes_no_csv() {
    let hs = Homeserver::new();
    let lp = unique("mallory");
    let token = hs.register(&lp).await;
    let dir = tempfile::tempdir().unwrap();
    let config = Config::new(&hs.s.url, &hs.user_id(&lp)).write(dir.path());
    let output = dir.path().join("results.csv");
    for command in ["scan", "check"] {
        let run = oldrooms(
            &[
                command,
                "--config",
                path(&config),
                "--output",
                path(&output),
            ][..if command == "scan" { 5 } else { 3 }],
            &[("OLDROOMS_ACCESS_TOKEN", &token)],
        )
        .await;
        assert_eq!(run.code(), Some(1), "{run:?}");
        assert!(
            run.stderr.contains("not a server admin's"),
            "{}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(!run.stderr.contains(&token));
    }
    assert!(!output.exists());
}

#[tokio::test]
async fn an_alias_that_does_not_resolve_is_a_config_error() {
    let hs = Homeserver::new();
    let dir = tempfile::tempdir().unwrap();
    let protected = format!(
        "protected_rooms = [\"#{}:{}\"]",
        unique("nosuch"),
        hs.s.server_name
    );
    let config = Config::admin(&hs)
        .await
        .policy(&protected)
        .write(dir.path());
    let output = dir.path().join("results.csv");
    let run = oldrooms(
        &["scan", "--config", path(&config), "--output", path(&output)],
        &[],
    )
    .await;
    assert_eq!(run.code(), Some(2), "{run:?}");
    let expected = format!(
        "error: {}: policy.protected_rooms[0]: the alias",
        path(&config)
    );
    assert!(run.stderr.starts_with(&expected), "{}", run.stderr);
    assert!(!output.exists());
}

#[tokio::test]
async fn a_token_of_another_user_is_a_config_error() {
    let hs = Homeserver::new();
    let dir = tempfile::tempdir().unwrap();
    let other = hs.user_id("somebody-else");
    let config = Config::new(&hs.s.url, &other)
        .access_token(&hs.admin_token().await)
        .write(dir.path());
    let run = oldrooms(&["scan", "--config", path(&config)], &[]).await;
    assert_eq!(run.code(), Some(2), "{run:?}");
    assert!(
        run.stderr
            .contains("auth.user_id: the access token belongs to"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_password_scan_leaves_no_device_behind() {
    let hs = Homeserver::new();
    let devices = |v: serde_json::Value| v["devices"].as_array().unwrap().len();
    let admin = hs.s.admin_user.clone();
    let segs = [
        "_synapse",
        "admin",
        "v2",
        "users",
        admin.as_str(),
        "devices",
    ];
    let before = devices(hs.admin_get(&segs).await);

    let dir = tempfile::tempdir().unwrap();
    let config = Config::new(&hs.s.url, &admin).write(dir.path());
    let output = dir.path().join("results.csv");
    let env = [("OLDROOMS_PASSWORD", hs.s.admin_password.as_str())];
    let (run, _) = scan_with(&config, &output, &[], &env).await;
    assert!(output.exists());
    assert!(!run.stderr.contains(&hs.s.admin_password));
    assert_eq!(
        devices(hs.admin_get(&segs).await),
        before,
        "a device was left behind"
    );

    let wrong = [("OLDROOMS_PASSWORD", "wrong password")];
    let run = oldrooms(&["check", "--config", path(&config)], &wrong).await;
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert!(
        run.stderr.contains("refused the password login"),
        "{}",
        run.stderr
    );
}

/// On a Synapse of its own (nothing else writes to it): a scan that builds
/// the cache, some rooms touched (a message, a join, a leave), then the
/// incremental scan gives the very bytes a full scan gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_scan_gives_the_full_scans_results() {
    use oldrooms::timefmt::{MS_PER_DAY, now_ms};
    let hs = Homeserver::on(own_synapse());
    let alice = hs.user_id(&unique("alice"));
    hs.register(alice.trim_start_matches('@').split(':').next().unwrap())
        .await;
    let bob = hs.user_id(&unique("bob"));
    hs.register(bob.trim_start_matches('@').split(':').next().unwrap())
        .await;
    let mut rooms = Vec::new();
    for i in 0..6 {
        let room = hs
            .create_room(
                &alice,
                serde_json::json!({"name": format!("room {i}"), "preset": "public_chat"}),
            )
            .await;
        let ts = now_ms() - (100 + 200 * i) * MS_PER_DAY;
        hs.message(&room, &alice, "long ago", Some(ts)).await;
        rooms.push(room);
    }
    let dir = tempfile::tempdir().unwrap();
    let config = Config::admin(&hs).await.write(dir.path());
    let cache = dir.path().join("cache.tsv");
    let scan = |name: &str, cached: bool| {
        let output = dir.path().join(name);
        let (config, cache) = (config.clone(), cache.clone());
        async move {
            let mut more = Vec::new();
            if cached {
                more.extend(["--cache", path(&cache)]);
            }
            scan_with(&config, &output, &more, &[]).await;
            std::fs::read_to_string(&output).unwrap()
        }
    };
    // The scans read member counts from statistics Synapse updates in the
    // background: first wait until they have every room with its creator.
    let counts: Vec<(&str, u64, u64)> = rooms.iter().map(|r| (r.as_str(), 1, 1)).collect();
    wait_member_counts(&hs, &counts).await;
    scan("first.csv", true).await;
    let recorded = std::fs::read_to_string(&cache).unwrap();
    assert_eq!(
        recorded.lines().count(),
        1 + 6,
        "a header and the six rooms:\n{recorded}"
    );

    hs.message(&rooms[1], &alice, "back again", None).await;
    hs.join(&rooms[3], &bob).await;
    hs.leave(&rooms[4], &alice).await;
    // Both scans must see the join and the leave, not one scan the counts
    // from before them and the other those from after.
    wait_member_counts(&hs, &[(rooms[3].as_str(), 2, 2), (rooms[4].as_str(), 0, 0)]).await;
    let incremental = scan("incremental.csv", true).await;
    let full = scan("full.csv", false).await;
    assert_eq!(incremental, full);
    let row = incremental
        .lines()
        .find(|l| l.starts_with(&rooms[1]))
        .unwrap();
    assert!(
        row.contains(",no,active"),
        "the touched room was read again: {row}"
    );
}
