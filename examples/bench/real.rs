//! The parts of the benchmark against a real Synapse: a golden fixture of
//! 2,000 rooms shaped like a real server's, scans at several concurrencies
//! against a sequential baseline, and deletion against the all-at-once floor.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::synapse::{Homeserver, Synapse};
use serde_json::{Value, json};

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

/// Which database the fixture's Synapse runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The golden fixture on PostgreSQL: the SQLite one moved there by
/// Synapse's synapse_port_db, once, so both hold the same events.
async fn ensure_golden_on(db: Db) -> PathBuf {
    let sqlite = ensure_golden().await;
    if db == Db::Sqlite {
        return sqlite;
    }
    // Under /tmp: PostgreSQL runs as its own user, which cannot enter ~root.
    let golden = std::env::temp_dir().join("oldrooms-bench-golden-v2-pg");
    if golden.join("pg/PG_VERSION").exists() {
        return golden;
    }
    let build = golden.with_extension("building");
    let _ = std::fs::remove_dir_all(&build);
    copy_dir(&sqlite, &build);
    println!("Porting the golden fixture to PostgreSQL (once)…");
    // synapse_port_db refuses a database with background updates pending:
    // let Synapse finish them first.
    let s = Synapse::launch(&build, Some(std::process::id()), &[]);
    let db = rusqlite::Connection::open(build.join("homeserver.db")).unwrap();
    let started = Instant::now();
    loop {
        let pending: i64 = db
            .query_row("SELECT COUNT(*) FROM background_updates", [], |r| r.get(0))
            .unwrap();
        if pending == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "background updates"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(db);
    s.stop();
    let status = std::process::Command::new(crate::synapse::synapse_script())
        .arg("port-to-postgres")
        .arg(&build)
        .status()
        .unwrap();
    assert!(status.success(), "synapse.sh port-to-postgres");
    std::fs::rename(&build, &golden).unwrap();
    golden
}

/// A process's /proc stat fields after its name (field 3 onwards).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    Some(after.split_whitespace().map(str::to_owned).collect())
}

fn ticks(fields: &[String], at: &[usize]) -> f64 {
    at.iter()
        .map(|&i| fields[i].parse::<f64>().unwrap())
        .sum::<f64>()
        / 100.0
}

/// CPU seconds a process has used so far (utime + stime).
pub fn cpu_seconds(pid: u32) -> f64 {
    ticks(&stat_fields(pid).unwrap(), &[11, 12])
}

/// CPU seconds of the PostgreSQL cluster in `dir/pg` so far: its
/// postmaster, the backends it has reaped, and those still running.
pub fn postgres_cpu_seconds(dir: &Path) -> f64 {
    let pid_file = std::fs::read_to_string(dir.join("pg/postmaster.pid")).unwrap();
    let postmaster: u32 = pid_file.lines().next().unwrap().trim().parse().unwrap();
    let mut total = ticks(&stat_fields(postmaster).unwrap(), &[11, 12, 13, 14]);
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(fields) = stat_fields(pid)
            && fields[1] == postmaster.to_string()
        {
            total += ticks(&fields, &[11, 12]);
        }
    }
    total
}

/// Admin API requests in Synapse's access log so far.
fn admin_requests(dir: &Path) -> usize {
    let log = std::fs::read_to_string(dir.join("synapse.log")).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("Processed request") && l.contains("/_synapse/admin/v1/rooms"))
        .count()
}

pub async fn create_many(
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

pub fn copy_dir(from: &Path, to: &Path) {
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
    postgres_cpu_s: f64,
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

/// results.csv without what depends on the instant of the scan (the days
/// and the numbers in reasons): the golden fixture's times are not whole
/// days, so a day can turn between two scans.
fn csv_without_days(path: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            r.iter()
                .enumerate()
                .filter(|(i, _)| *i != 10)
                .map(|(i, cell)| {
                    if i == 12 {
                        cell.replace(|c: char| c.is_ascii_digit(), "")
                    } else {
                        cell.to_owned()
                    }
                })
                .collect()
        })
        .collect()
}

/// How many rows of `b` differ from `a`'s (or are missing).
fn rows_differing(a: &Path, b: &Path) -> usize {
    let (a, b) = (csv_without_days(a), csv_without_days(b));
    let differing = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    differing + a.len().abs_diff(b.len())
}

/// The fixture's Synapse, a copy of the golden one, with what a scan costs.
struct Bench {
    s: &'static Synapse,
    hs: Homeserver,
    dir: PathBuf,
    db: Db,
    total: u64,
    work: PathBuf,
    token: String,
    runs: Vec<Run>,
    /// Scans run so far, each in its own folder.
    made: usize,
}

impl Bench {
    fn postgres_cpu(&self) -> f64 {
        match self.db {
            Db::Sqlite => 0.0,
            Db::Postgres => postgres_cpu_seconds(&self.dir),
        }
    }

    /// Runs `oldrooms scan` with `extra` config and `options`, records it
    /// under `label` (unless `None`), and returns its results.csv.
    fn scan(&mut self, label: Option<&str>, extra: &str, options: &[&str]) -> PathBuf {
        self.made += 1;
        let cfg_dir = self.work.join(format!("run{}", self.made));
        std::fs::create_dir_all(&cfg_dir).unwrap();
        let config = write_config(
            &cfg_dir,
            &self.s.url,
            &self.s.admin_user,
            &format!("access_token = \"{}\"", self.token),
            extra,
        );
        let out = cfg_dir.join("results.csv");
        let (cpu0, pg0, req0) = (
            cpu_seconds(self.s.pid),
            self.postgres_cpu(),
            admin_requests(&self.dir),
        );
        let mut args = vec![
            "scan",
            "--config",
            config.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(options);
        let (m, _) = run_oldrooms(&args, "");
        if let Some(label) = label {
            self.runs.push(Run {
                label: label.to_owned(),
                wall_s: m.wall_s,
                synapse_cpu_s: cpu_seconds(self.s.pid) - cpu0,
                postgres_cpu_s: self.postgres_cpu() - pg0,
                requests: admin_requests(&self.dir) - req0,
                oldrooms: Some(m),
            });
        }
        out
    }
}

pub async fn scan_section(db: Db) -> String {
    let golden = ensure_golden_on(db).await;
    let work = tempfile::tempdir().unwrap();
    // PostgreSQL's user must pass through it to the cluster's folder.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
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
    let mut b = Bench {
        s,
        hs,
        dir,
        db,
        total,
        work: work.path().to_owned(),
        token,
        runs: Vec::new(),
        made: 0,
    };

    // Warm Synapse's caches once, unmeasured, so no run pays for the first.
    let _ = baseline(&b.hs).await;
    let (cpu0, pg0, req0, t0) = (
        cpu_seconds(s.pid),
        b.postgres_cpu(),
        admin_requests(&b.dir),
        Instant::now(),
    );
    let base = baseline(&b.hs).await;
    b.runs.push(Run {
        label: "baseline: sequential, like oldrooms.py".into(),
        wall_s: t0.elapsed().as_secs_f64(),
        synapse_cpu_s: cpu_seconds(s.pid) - cpu0,
        postgres_cpu_s: b.postgres_cpu() - pg0,
        requests: admin_requests(&b.dir) - req0,
        oldrooms: None,
    });
    let database = s.database_toml();
    let with_db = |extra: &str| format!("{extra}{database}");
    // The optional reads: member lists for every active room with few local
    // members, and a direct-chat check for every candidate.
    let options: &[&str] = &["--ignore-member", "^@_bridge_", "--keep-direct"];
    let opts = options.join(" ");
    let api = b.scan(Some("API, full scan, concurrency 8 (default)"), "", &[]);
    let api_opts = b.scan(Some(&format!("API, full scan, {opts}")), "", options);
    let db_scan = b.scan(Some("database path"), &with_db(""), &[]);
    let db_opts = b.scan(
        Some(&format!("database path, {opts}")),
        &with_db(""),
        options,
    );
    let cache = b.work.join("scan-cache.tsv");
    let cache_arg = ["--cache", cache.to_str().unwrap()];
    let cold = b.scan(
        Some("API, incremental, first run (fills the cache)"),
        "",
        &cache_arg,
    );

    // Under 10% of the rooms change: a message today in 100 joined rooms.
    let alice = b.hs.user_id("alice");
    let joined: Vec<String> = csv::Reader::from_path(&api)
        .unwrap()
        .records()
        .map(|r| r.unwrap())
        .filter(|r| &r[6] != "0")
        .map(|r| r[0].to_owned())
        .take(100)
        .collect();
    for room in &joined {
        b.hs.message(room, &alice, "back again", None).await;
    }
    let changed = joined.len();
    let incremental = b.scan(
        Some(&format!("API, incremental, {changed} rooms changed")),
        "",
        &cache_arg,
    );
    let full_after = b.scan(None, "", &[]);
    let db_after = b.scan(None, &with_db(""), &[]);

    let mut mismatches = 0;
    let got = csv_last_activity(&api);
    for (room, ts) in &base {
        let want = ts.map(oldrooms::timefmt::rfc3339).unwrap_or_default();
        if got.get(room) != Some(&want) {
            mismatches += 1;
        }
    }
    let checks = [
        (
            "database path against API full scan",
            rows_differing(&api, &db_scan),
        ),
        (
            &*format!("database path, {opts}, against the API's"),
            rows_differing(&api_opts, &db_opts),
        ),
        (
            "first incremental run against API full scan",
            rows_differing(&api, &cold),
        ),
        (
            "incremental run against a full scan after the changes",
            rows_differing(&full_after, &incremental),
        ),
        (
            "database path against a full scan after the changes",
            rows_differing(&full_after, &db_after),
        ),
    ]
    .map(|(what, n)| format!("{what}: {n}"));

    let name = match db {
        Db::Sqlite => "SQLite",
        Db::Postgres => "PostgreSQL (the same fixture, moved by synapse_port_db)",
    };
    let mut md = String::new();
    writeln!(
        md,
        "## Scan against a real Synapse on {name} ({total} rooms, golden fixture)\n"
    )
    .unwrap();
    writeln!(
        md,
        "Fixture: {OLD} rooms created and last used 400 days ago (Synapse under libfaketime), {ABANDONED} of them abandoned, {CHURN} of them with only a join and a leave today, {ACTIVE} active today. Requests are Admin API room requests in Synapse's access log; Synapse CPU from /proc/<pid>/stat; PostgreSQL CPU: its postmaster and every backend (Synapse's and ours).\n"
    )
    .unwrap();
    writeln!(md, "| run | wall s | x baseline | Synapse CPU s | Synapse CPU ms/room | x baseline Synapse CPU | PostgreSQL CPU s | requests/room | oldrooms CPU s | peak RSS MB |").unwrap();
    writeln!(md, "|---|---|---|---|---|---|---|---|---|---|").unwrap();
    let (base_wall, base_cpu) = (b.runs[0].wall_s, b.runs[0].synapse_cpu_s);
    for r in &b.runs {
        let (cpu, rss) = r.oldrooms.map_or(("-".into(), "-".into()), |m| {
            (format!("{:.2}", m.cpu_s), format!("{:.0}", m.peak_rss_mb))
        });
        let pg = match db {
            Db::Sqlite => "-".to_owned(),
            Db::Postgres => format!("{:.2}", r.postgres_cpu_s),
        };
        writeln!(
            md,
            "| {} | {:.2} | {:.3} | {:.2} | {:.3} | {:.3} | {pg} | {:.3} | {cpu} | {rss} |",
            r.label,
            r.wall_s,
            r.wall_s / base_wall,
            r.synapse_cpu_s,
            r.synapse_cpu_s * 1000.0 / b.total as f64,
            r.synapse_cpu_s / base_cpu,
            r.requests as f64 / b.total as f64,
        )
        .unwrap();
    }
    writeln!(md, "\nLast-activity values of the API full scan differing from the baseline: {mismatches}. Rows differing (all columns but inactive_days, and reasons without their numbers, since a day can turn between two scans of this fixture): {}.\n", checks.join("; ")).unwrap();
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
