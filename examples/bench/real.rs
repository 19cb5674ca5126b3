//! The parts of the benchmark against a real Synapse: a golden fixture of
//! 2,000 rooms shaped like a real server's, scans at several concurrencies
//! against a sequential baseline, and deletion against the all-at-once floor.

#[path = "../../tests/support/synapse.rs"]
mod synapse;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use synapse::{Homeserver, Synapse};

use crate::{Measured, run_oldrooms, write_config};

const DAY: i64 = 24 * 60 * 60 * 1000;
const OLD: usize = 1600;
const ABANDONED: usize = 100;
const CHURN: usize = 100;
const ACTIVE: usize = 400;

fn golden_dir() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
    PathBuf::from(home).join(".cache/oldrooms/bench-golden-v2")
}

/// CPU seconds a process has used so far (utime + stime).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// Admin API requests in Synapse's access log so far.
fn admin_requests(dir: &Path) -> usize {
    let log = std::fs::read_to_string(dir.join("synapse.log")).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("Processed request") && l.contains("/_synapse/admin/v1/rooms"))
        .count()
}

async fn create_many(
    hs: &Homeserver,
    creator: &str,
    n: usize,
    body: Value,
    at: Option<i64>,
) -> Vec<String> {
    let mut rooms = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(8) {
        let made = futures_util::future::join_all(chunk.iter().map(|i| {
            let mut body = body.clone();
            body["name"] = json!(format!("bench room {i}"));
            async move {
                let room = hs.create_room(creator, body).await;
                hs.message(&room, creator, "hello", at).await;
                room
            }
        }))
        .await;
        rooms.extend(made);
    }
    rooms
}

/// Builds the golden fixture once: most rooms created and last used 400
/// days ago (Synapse under libfaketime), some abandoned, some with only
/// membership churn today, some active.
async fn ensure_golden() -> PathBuf {
    let golden = golden_dir();
    if golden.join("homeserver.db").exists() {
        return golden;
    }
    let build = golden.with_extension("building");
    let _ = std::fs::remove_dir_all(&build);
    std::fs::create_dir_all(&build).unwrap();
    println!("Building the golden fixture (once; several minutes)…");
    let started = Instant::now();
    let old = Synapse::launch(&build, None, &[("OLDROOMS_SYNAPSE_FAKETIME", "-400d")]);
    let s: &'static Synapse = Box::leak(Box::new(old));
    let hs = Homeserver::on(s);
    hs.register("alice").await;
    hs.register("bob").await;
    let alice = hs.user_id("alice");
    let public = json!({"preset": "public_chat"});
    let rooms = create_many(&hs, &alice, OLD, public.clone(), None).await;
    for room in &rooms[..ABANDONED] {
        hs.leave(room, &alice).await;
    }
    s.stop();
    let now = Synapse::launch(&build, None, &[]);
    let s: &'static Synapse = Box::leak(Box::new(now));
    let hs = Homeserver::on(s);
    let bob = hs.user_id("bob");
    for room in &rooms[ABANDONED..ABANDONED + CHURN] {
        hs.join(room, &bob).await;
        hs.leave(room, &bob).await;
    }
    create_many(&hs, &alice, ACTIVE, public, None).await;
    s.stop();
    std::fs::rename(&build, &golden).unwrap();
    println!(
        "Golden fixture built in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    golden
}

fn copy_dir(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// One scan run: wall time, Synapse's CPU and Admin API requests.
struct Run {
    label: String,
    wall_s: f64,
    synapse_cpu_s: f64,
    requests: usize,
    oldrooms: Option<Measured>,
}

/// The old script's way: list the rooms, then one request per room, one at
/// a time. Returns each room's last activity.
async fn baseline(hs: &Homeserver) -> HashMap<String, Option<i64>> {
    let token = hs.admin_token().await;
    let http = reqwest::Client::new();
    let url = hs.url(
        &["_synapse", "admin", "v1", "rooms"],
        &[("limit", "100000")],
    );
    let get = |url: url::Url| {
        let request = http.get(url).bearer_auth(&token);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let list = get(url).await;
    let mut out = HashMap::new();
    for room in list["rooms"].as_array().unwrap() {
        let id = room["room_id"].as_str().unwrap().to_owned();
        let filter = r#"{"not_types":["m.room.member"]}"#;
        let url = hs.url(
            &["_synapse", "admin", "v1", "rooms", &id, "messages"],
            &[("dir", "b"), ("limit", "1"), ("filter", filter)],
        );
        let v = get(url).await;
        out.insert(id, v["chunk"][0]["origin_server_ts"].as_i64());
    }
    out
}

fn csv_last_activity(path: &Path) -> HashMap<String, String> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_owned(), r[9].to_owned())
        })
        .collect()
}

pub async fn scan_section() -> String {
    let golden = ensure_golden().await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("synapse");
    copy_dir(&golden, &dir);
    let s: &'static Synapse = Box::leak(Box::new(Synapse::launch(
        &dir,
        Some(std::process::id()),
        &[],
    )));
    let hs = Homeserver::on(s);
    let token = hs.admin_token().await;
    let total = hs.admin_get(&["_synapse", "admin", "v1", "rooms"]).await["total_rooms"]
        .as_u64()
        .unwrap();

    let mut runs = Vec::new();
    let mut csvs = Vec::new();
    // Warm Synapse's caches once, unmeasured, so no run pays for the first.
    let _ = baseline(&hs).await;
    let (cpu0, req0, t0) = (cpu_seconds(s.pid), admin_requests(&dir), Instant::now());
    let base = baseline(&hs).await;
    runs.push(Run {
        label: "baseline: sequential, like oldrooms.py".into(),
        wall_s: t0.elapsed().as_secs_f64(),
        synapse_cpu_s: cpu_seconds(s.pid) - cpu0,
        requests: admin_requests(&dir) - req0,
        oldrooms: None,
    });
    // The last run pays for the optional reads: member lists for every
    // active room with few local members (no puppets here, so nothing
    // changes), and a direct-chat check for every candidate.
    let options: [&[&str]; 5] = [
        &[],
        &[],
        &[],
        &[],
        &["--ignore-member", "^@_bridge_", "--keep-direct"],
    ];
    for (conc, options) in [8usize, 1, 4, 16, 8].into_iter().zip(options) {
        let cfg_dir = work.path().join(format!("c{conc}-{}", options.len()));
        std::fs::create_dir_all(&cfg_dir).unwrap();
        let config = write_config(
            &cfg_dir,
            &s.url,
            &s.admin_user,
            &format!("access_token = \"{token}\""),
            &format!("[scan]\nconcurrency = {conc}\n"),
        );
        let out = cfg_dir.join("results.csv");
        let (cpu0, req0) = (cpu_seconds(s.pid), admin_requests(&dir));
        let mut args = vec![
            "scan",
            "--config",
            config.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(options);
        let (m, _) = run_oldrooms(&args, "");
        let label = match (conc, options.is_empty()) {
            (8, true) => "oldrooms scan, concurrency 8 (default)".to_owned(),
            (_, true) => format!("oldrooms scan, concurrency {conc}"),
            (_, false) => format!("oldrooms scan, concurrency {conc}, {}", options.join(" ")),
        };
        runs.push(Run {
            label,
            wall_s: m.wall_s,
            synapse_cpu_s: cpu_seconds(s.pid) - cpu0,
            requests: admin_requests(&dir) - req0,
            oldrooms: Some(m),
        });
        csvs.push(out);
    }
    // Same answers: every room's last activity equal to the baseline's.
    let mut mismatches = 0;
    for csv in &csvs {
        let got = csv_last_activity(csv);
        for (room, ts) in &base {
            let want = ts.map(oldrooms::timefmt::rfc3339).unwrap_or_default();
            if got.get(room) != Some(&want) {
                mismatches += 1;
            }
        }
    }
    let mut md = String::new();
    writeln!(
        md,
        "## Scan against a real Synapse ({total} rooms, golden fixture)\n"
    )
    .unwrap();
    writeln!(
        md,
        "Fixture: {OLD} rooms created and last used 400 days ago (Synapse under libfaketime), {ABANDONED} of them abandoned, {CHURN} of them with only a join and a leave today, {ACTIVE} active today. Requests are Admin API room requests in Synapse's access log; Synapse CPU from /proc/<pid>/stat.\n"
    )
    .unwrap();
    writeln!(md, "| run | wall s | x baseline | Synapse CPU s | Synapse CPU ms/room | requests/room | oldrooms CPU s | peak RSS MB |").unwrap();
    writeln!(md, "|---|---|---|---|---|---|---|---|").unwrap();
    let base_wall = runs[0].wall_s;
    for r in &runs {
        let (cpu, rss) = r.oldrooms.map_or(("-".into(), "-".into()), |m| {
            (format!("{:.2}", m.cpu_s), format!("{:.0}", m.peak_rss_mb))
        });
        writeln!(
            md,
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.3} | {cpu} | {rss} |",
            r.label,
            r.wall_s,
            r.wall_s / base_wall,
            r.synapse_cpu_s,
            r.synapse_cpu_s * 1000.0 / total as f64,
            r.requests as f64 / total as f64,
        )
        .unwrap();
    }
    writeln!(md, "\nLast-activity values differing from the baseline, over the {} oldrooms runs: {mismatches}.\n", csvs.len()).unwrap();
    s.stop();
    println!("{md}");
    md
}

pub async fn delete_section() -> String {
    let s: &'static Synapse = Box::leak(Box::new(Synapse::start()));
    let hs = Homeserver::on(s);
    hs.register("alice").await;
    let alice = hs.user_id("alice");
    let old = oldrooms::timefmt::now_ms() - 400 * DAY;
    println!("Creating 400 rooms for the deletion benchmark…");
    let engine_rooms = create_many(&hs, &alice, 200, json!({}), Some(old)).await;
    let floor_rooms = create_many(&hs, &alice, 200, json!({}), Some(old)).await;
    let token = hs.admin_token().await;

    // The engine, through `oldrooms delete --yes` on a results.csv of them.
    let work = tempfile::tempdir().unwrap();
    let csv_path = work.path().join("results.csv");
    let mut csv = oldrooms::report::HEADER.join(",");
    csv.push('\n');
    let stamp = oldrooms::timefmt::rfc3339(old);
    for room in &engine_rooms {
        writeln!(csv, "{room},bench,,,,1,1,no,,{stamp},400,yes,inactive").unwrap();
    }
    std::fs::write(&csv_path, csv).unwrap();
    let config = write_config(
        work.path(),
        &s.url,
        &s.admin_user,
        &format!("access_token = \"{token}\""),
        "[delete]\npoll_interval_ms = 200\n",
    );
    let report = work.path().join("deletion-report.csv");
    let (m, stdout) = run_oldrooms(
        &[
            "delete",
            "--config",
            config.to_str().unwrap(),
            "--from",
            csv_path.to_str().unwrap(),
            "--yes",
            "--report",
            report.to_str().unwrap(),
        ],
        "",
    );
    assert!(stdout.contains("200 deleted"), "{stdout}");

    // The floor: every deletion submitted at once, then polled.
    let started = Instant::now();
    let http = reqwest::Client::new();
    let ids = futures_util::future::join_all(floor_rooms.iter().map(|room| {
        let (http, token) = (http.clone(), token.clone());
        let url = hs.url(&["_synapse", "admin", "v2", "rooms", room], &[]);
        async move {
            let v: Value = http
                .delete(url)
                .bearer_auth(token)
                .json(&json!({"purge": true}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["delete_id"].as_str().unwrap().to_owned()
        }
    }))
    .await;
    let mut pending = ids;
    while !pending.is_empty() {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut still = Vec::new();
        for id in pending {
            let url = hs.url(
                &["_synapse", "admin", "v2", "rooms", "delete_status", &id],
                &[],
            );
            let v: Value = http
                .get(url)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if !matches!(v["status"].as_str(), Some("complete" | "failed")) {
                still.push(id);
            }
        }
        pending = still;
    }
    let floor = started.elapsed().as_secs_f64();
    s.stop();
    let mut md = String::new();
    writeln!(md, "## Deleting 200 rooms on a real Synapse\n").unwrap();
    writeln!(md, "| run | wall s | x floor |").unwrap();
    writeln!(md, "|---|---|---|").unwrap();
    writeln!(
        md,
        "| floor: all 200 submitted at once, then polled every 200 ms | {floor:.2} | 1.00 |"
    )
    .unwrap();
    writeln!(
        md,
        "| `oldrooms delete --yes`, delete.concurrency 4 (default), poll 200 ms, with re-checks | {:.2} | {:.2} |\n",
        m.wall_s,
        m.wall_s / floor
    )
    .unwrap();
    println!("{md}");
    md
}
