//! What an admin sees around the bot, on a Synapse of its own: `/metrics`,
//! read by Prometheus's own parser (the Python client in Synapse's venv),
//! equals what the scan and the deletion said in chat; 200 idle connections
//! do not keep a `/healthz` probe from its answer; another client sees the
//! bot's device signed by the bot's own identity, before and after a
//! restart; and the log of all that holds no WARN or ERROR line.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::matrix::{poll, wait_joined};
use crate::outage::{free_port, wait_health};
use crate::synapse::synapse_script;
use crate::world::World;

/// One sample: its name and labels, and its value.
type Samples = BTreeMap<String, f64>;

/// Reads the OpenMetrics text with `prometheus_client`'s parser, which
/// refuses text that breaks the format. Keys are `name{label="v",...}`,
/// labels sorted; the families are listed under `# family NAME TYPE`.
fn parse(text: &str) -> (Vec<String>, Samples) {
    let venv = std::process::Command::new(synapse_script())
        .arg("install")
        .output()
        .unwrap();
    let venv = String::from_utf8(venv.stdout).unwrap();
    let python = std::path::Path::new(venv.trim()).join("bin/python");
    let script = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    print(json.dumps(["family", family.name, family.type]))
    for s in family.samples:
        labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
        print(json.dumps(["sample", "%s{%s}" % (s.name, labels), s.value]))
"#;
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut families, mut samples) = (Vec::new(), Samples::new());
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        match v[0].as_str() {
            Some("family") => families.push(format!(
                "{} {}",
                v[1].as_str().unwrap(),
                v[2].as_str().unwrap()
            )),
            _ => {
                samples.insert(v[1].as_str().unwrap().to_owned(), v[2].as_f64().unwrap());
            }
        }
    }
    (families, samples)
}

async fn metrics(port: u16) -> (Vec<String>, Samples) {
    let url = format!("http://127.0.0.1:{port}/metrics");
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    parse(&response.text().await.unwrap())
}

/// Reads `/metrics` until `sample` has `value` (the actor updates them as
/// it takes each input, a moment after the chat shows it).
async fn wait_sample(port: u16, sample: &str, value: f64) -> Samples {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, samples) = metrics(port).await;
        if samples.get(sample) == Some(&value) {
            return samples;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{sample} never read {value}: {samples:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The numbers in a line such as "To delete: 2 (2 inactive, 0 abandoned)".
fn numbers(line: &str) -> Vec<f64> {
    line.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_bot_with_metrics_probes_and_a_quiet_log() {
    let port = free_port();
    let w = World::for_deletion()
        .bot(&format!("health_listen = \"127.0.0.1:{port}\""))
        .start()
        .await;
    w.old_room("protected", Some("keep")).await;
    for i in 0..3 {
        w.old_room(&format!("old {i}"), None).await;
    }
    let bot = w.start_bot();
    wait_joined(&w.hs, &w.room, &w.bot_user, &bot).await;
    wait_health(port, 200, &bot, |_| true).await;

    // 200 connections that send nothing, held open; probes still answer.
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap(),
        );
    }
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    for i in 0..5 {
        let answer = probe
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await;
        match answer {
            Ok(r) => assert_eq!(r.status(), 200, "probe {i}"),
            Err(e) => panic!("probe {i} under 200 idle connections: {e}"),
        }
    }
    drop(idle);

    // Before any scan: every family is there, nothing counted yet.
    let (families, before) = metrics(port).await;
    for family in [
        "oldrooms_scans counter",
        "oldrooms_last_scan_rooms gauge",
        "oldrooms_last_scan_duration_seconds gauge",
        "oldrooms_offer_candidates gauge",
        "oldrooms_deletion_rooms counter",
        "oldrooms_deletion_in_progress gauge",
        "oldrooms_admin_api_requests counter",
        "oldrooms_admin_api_retries counter",
        "oldrooms_sync_failures counter",
        "oldrooms_since_last_sync_seconds gauge",
        "oldrooms_last_sync_timestamp_seconds gauge",
        "oldrooms_next_scheduled_scan_timestamp_seconds gauge",
    ] {
        assert!(
            families.iter().any(|f| f == family),
            "{family} in {families:#?}"
        );
    }
    assert_eq!(before.get("oldrooms_offer_candidates{}"), Some(&0.0));
    assert_eq!(before.get("oldrooms_sync_failures_total{}"), Some(&0.0));
    assert_eq!(
        before.get("oldrooms_next_scheduled_scan_timestamp_seconds{}"),
        Some(&0.0),
        "no [schedule]"
    );
    let since = before["oldrooms_since_last_sync_seconds{}"];
    assert!((0.0..90.0).contains(&since), "{since}");
    let last = before["oldrooms_last_sync_timestamp_seconds{}"];
    let now = oldrooms::timefmt::now_ms() as f64 / 1000.0;
    assert!((now - 90.0..=now + 1.0).contains(&last), "{last} at {now}");
    // Resolving the protected alias at start went through the Admin API.
    assert!(
        before
            .keys()
            .any(|k| k.starts_with("oldrooms_admin_api_requests_total{")),
        "{before:#?}"
    );

    // A scan from chat: its counts as the summary gives them.
    let offer = w.scan_and_offer().await;
    let summary = w
        .bot_messages()
        .into_iter()
        .find(|m| m.body.starts_with("Scan finished:") && m.replaces.is_none())
        .unwrap();
    let line = |head: &str| {
        let l = summary.body.lines().find(|l| l.starts_with(head)).unwrap();
        numbers(l)
    };
    let (delete, keep) = (line("To delete: "), line("To keep: "));
    let offered = numbers(offer.body.lines().next().unwrap())[0];
    assert_eq!(offered, delete[0], "{}", offer.body);
    let after_scan = wait_sample(port, "oldrooms_offer_candidates{}", offered).await;
    let verdict = |v: &str| after_scan[&format!("oldrooms_last_scan_rooms{{verdict=\"{v}\"}}")];
    assert_eq!(
        [verdict("inactive"), verdict("abandoned")],
        [delete[1], delete[2]],
        "{}",
        summary.body
    );
    assert_eq!(
        [verdict("active"), verdict("protected"), verdict("unknown")],
        [keep[1], keep[2], keep[3]],
        "{}",
        summary.body
    );
    assert_eq!(
        after_scan.get("oldrooms_scans_total{end=\"finished\",trigger=\"chat\"}"),
        Some(&1.0)
    );
    assert!(after_scan["oldrooms_last_scan_duration_seconds{}"] > 0.0);
    assert!(
        after_scan["oldrooms_admin_api_requests_total{endpoint=\"GET rooms\",outcome=\"ok\"}"]
            >= 1.0
    );

    // The deletion: each room counted by outcome, as the summary says.
    w.human.react(&w.room, &offer.event_id, "✅").await;
    let (finished, _) = w.deletion_result().await;
    let counts = numbers(finished.body.lines().next().unwrap());
    let done = wait_sample(port, "oldrooms_deletion_in_progress{}", 0.0).await;
    let rooms = |outcome: &str| -> f64 {
        done.iter()
            .filter(|(k, _)| {
                k.starts_with("oldrooms_deletion_rooms_total{")
                    && k.contains(&format!("outcome=\"{outcome}\""))
            })
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!(
        [rooms("deleted"), rooms("skipped"), rooms("failed")],
        [counts[0], counts[1], counts[2]],
        "{}\n{done:#?}",
        finished.body
    );
    assert_eq!(
        done.get("oldrooms_deletion_rooms_total{outcome=\"deleted\",reason=\"none\"}"),
        Some(&offered)
    );
    assert!(
        done["oldrooms_admin_api_requests_total{endpoint=\"DELETE rooms/{id}\",outcome=\"ok\"}"]
            >= offered
    );
    assert_eq!(done.get("oldrooms_offer_candidates{}"), Some(&0.0));

    // Cross-signed, with a recovery key only the bot's user can read.
    let device = std::fs::read_to_string(w.data().join("device_id")).unwrap();
    assert!(
        signed_by_owner(&w, &device).await,
        "the bot's device is not cross-signed"
    );
    let key_file = w.data().join("recovery-key");
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert!(key.trim().len() > 40, "a recovery key");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let log = bot.log_text();
    assert!(!log.contains(key.trim()), "the recovery key is in the log");

    // A restart keeps all of it, and sets up nothing again.
    bot.stop().await;
    let bot = w.start_bot();
    let before = bot.log_text().matches("listening for commands").count();
    let listening = poll(Duration::from_secs(120), || {
        (bot.log_text().matches("listening for commands").count() > before).then_some(())
    })
    .await;
    assert!(
        listening.is_some(),
        "the bot did not start again:\n{}",
        bot.log_text()
    );
    let idle = w.status().await;
    assert!(idle.body.starts_with("Idle"), "{}", idle.body);
    assert!(
        signed_by_owner(&w, &device).await,
        "not cross-signed after a restart"
    );
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key);
    bot.stop().await;
    let log = std::fs::read_to_string(w.dir.path().join("bot.log")).unwrap();
    assert_eq!(quiet(&log), Vec::<String>::new());
    assert_eq!(
        log.matches("cross-signing set up").count(),
        1,
        "set up once:\n{log}"
    );
    let check =
        crate::common::oldrooms(&["check", "--config", w.config.to_str().unwrap()], &[]).await;
    assert!(
        check
            .stdout
            .contains("cross-signing: set up; the bot's recovery key is in "),
        "{check:?}"
    );

    // data_dir lost but for the recovery key: a new device, signed by the
    // same identity (never replaced), with the keys from the homeserver.
    let master = master_key(&w).await;
    for entry in std::fs::read_dir(w.data()).unwrap() {
        let path = entry.unwrap().path();
        if path != key_file {
            if path.is_dir() {
                std::fs::remove_dir_all(&path).unwrap();
            } else {
                std::fs::remove_file(&path).unwrap();
            }
        }
    }
    let bot = w.start_bot();
    let listening = poll(Duration::from_secs(120), || {
        (bot.log_text().matches("listening for commands").count() > 2).then_some(())
    })
    .await;
    assert!(
        listening.is_some(),
        "the bot did not start again:\n{}",
        bot.log_text()
    );
    let new_device = std::fs::read_to_string(w.data().join("device_id")).unwrap();
    assert_ne!(new_device, device, "a new device after the loss");
    assert!(
        signed_by_owner(&w, &new_device).await,
        "the new device is not signed; log:\n{}",
        bot.log_text()
    );
    assert_eq!(master_key(&w).await, master, "the identity was replaced");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key);
    assert!(
        bot.log_text()
            .contains("keys recovered from the homeserver"),
        "{}",
        bot.log_text()
    );
    // That start is not a normal run: the SDK warns, twice, that it asked
    // for our keys before the new device's keys were uploaded.
    bot.stop().await;
}

/// The log's WARN and ERROR lines.
fn quiet(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .map(str::to_owned)
        .collect()
}

/// The bot's master key as another client sees it.
async fn master_key(w: &World) -> String {
    let identity = w
        .human
        .client
        .encryption()
        .request_user_identity(&w.bot_user)
        .await
        .unwrap()
        .expect("the bot has a cross-signing identity");
    identity
        .master_key()
        .get_first_key()
        .expect("a master key")
        .to_base64()
}

/// Whether the human's client, asking the homeserver, sees the bot's
/// device signed by the bot's own self-signing key.
async fn signed_by_owner(w: &World, device: &str) -> bool {
    let encryption = w.human.client.encryption();
    let identity = encryption.request_user_identity(&w.bot_user).await.unwrap();
    assert!(identity.is_some(), "the bot has no cross-signing identity");
    let device: matrix_sdk::ruma::OwnedDeviceId = device.trim().into();
    let seen = encryption
        .get_device(&w.bot_user, &device)
        .await
        .unwrap()
        .expect("the bot's device is known");
    seen.is_cross_signed_by_owner()
}
