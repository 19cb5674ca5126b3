//! The benchmark of issue 5, run by `scripts/bench.sh` (release build):
//! scans against a real Synapse (oldrooms at several concurrencies against a
//! sequential baseline like the old script), a million rooms against a fake
//! Admin API, and deletion against the all-at-once floor. Prints a Markdown
//! table and writes BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![recursion_limit = "256"]

mod bot;
mod doc;
mod fake;
#[path = "../../tests/support/matrix.rs"]
mod matrix;
mod million;
mod real;
#[path = "../../tests/support/synapse.rs"]
mod synapse;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// What `/usr/bin/time` saw of one `oldrooms` run.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub wall_s: f64,
    pub cpu_s: f64,
    pub peak_rss_mb: f64,
}

/// Runs the release `oldrooms` under GNU time.
pub fn run_oldrooms(args: &[&str], stdin: &str) -> (Measured, String) {
    let bin = oldrooms_binary();
    // OLDROOMS_BENCH_WRAP runs oldrooms under a profiler ("perf record --").
    let wrap = std::env::var("OLDROOMS_BENCH_WRAP").unwrap_or_default();
    let mut child = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("TIME %e %U %S %M")
        .args(wrap.split_whitespace())
        .arg(&bin)
        .args(args)
        .env_remove("OLDROOMS_ACCESS_TOKEN")
        .env_remove("OLDROOMS_PASSWORD")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run oldrooms under /usr/bin/time");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "oldrooms {args:?} failed:\n{stderr}\n{stdout}"
    );
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("TIME "))
        .unwrap();
    let v: Vec<f64> = line[5..]
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    (
        Measured {
            wall_s: v[0],
            cpu_s: v[1] + v[2],
            peak_rss_mb: v[3] / 1024.0,
        },
        stdout,
    )
}

fn oldrooms_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(Path::parent)
        .unwrap()
        .join("oldrooms")
}

pub fn write_config(dir: &Path, url: &str, user: &str, secret: &str, extra: &str) -> PathBuf {
    let path = dir.join("oldrooms.toml");
    let text = format!(
        "[homeserver]\nurl = \"{url}\"\n[auth]\nuser_id = \"{user}\"\n{secret}\n[bot]\ndata_dir = \"{}\"\n{extra}\n",
        dir.join("data").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn fake_scan(rooms: u64, latency_ms: u64, concurrency: usize) -> (Measured, u64) {
    let fake = fake::start(rooms, Duration::from_millis(latency_ms)).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{}", fake.addr);
    let extra = format!("[scan]\nconcurrency = {concurrency}\npage_size = 1000\n");
    let config = write_config(
        dir.path(),
        &url,
        fake::ADMIN,
        "access_token = \"bench\"",
        &extra,
    );
    let out = dir.path().join("results.csv");
    let args = [
        "scan",
        "--config",
        config.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ];
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let (m, _) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_oldrooms(&args, "")
    })
    .await
    .unwrap();
    let rows = std::fs::read_to_string(&out).unwrap().lines().count() as u64 - 1;
    assert_eq!(rows, rooms, "every room has a row");
    (m, fake.requests.load(std::sync::atomic::Ordering::Relaxed))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let only = |part: &str| args.len() < 2 || args.iter().any(|a| a == part);
    let mut md = String::new();
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .unwrap();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        .unwrap_or_default();
    let date = String::from_utf8_lossy(&date.stdout).trim().to_owned();
    writeln!(md, "# Benchmarks\n").unwrap();
    writeln!(
        md,
        "- machine: {} cores, {cpu}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    )
    .unwrap();
    writeln!(md, "- command: `scripts/bench.sh [PART]…` (release build; Synapse 1.163.2 on SQLite and on PostgreSQL 15, on the same machine); each part below says when it was measured, and a run of some parts replaces only theirs\n").unwrap();
    let header = std::mem::take(&mut md);
    let mut parts: Vec<(&str, String)> = Vec::new();
    let stamp = |part: &str| format!("_Measured {date} by `scripts/bench.sh {part}`._\n\n");

    if only("real") {
        let text = real::scan_section(real::Db::Sqlite).await;
        parts.push(("real", format!("{}{text}", stamp("real"))));
    }
    if only("real-pg") {
        let text = real::scan_section(real::Db::Postgres).await;
        parts.push(("real-pg", format!("{}{text}", stamp("real-pg"))));
    }
    if only("million") {
        let text = million::section().await;
        parts.push(("million", format!("{}{text}", stamp("million"))));
    }
    if only("fake") {
        writeln!(
            md,
            "## A fake Admin API (the project's own, in examples/bench/fake.rs)\n"
        )
        .unwrap();
        writeln!(md, "| rooms | latency | concurrency | wall s | rooms/s | target rooms/s | oldrooms CPU µs/room | peak RSS MB | requests/room |").unwrap();
        writeln!(md, "|---|---|---|---|---|---|---|---|---|").unwrap();
        // OLDROOMS_BENCH_FAKE_ROOMS shrinks the run, to try the harness.
        let million: u64 = std::env::var("OLDROOMS_BENCH_FAKE_ROOMS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        for (rooms, latency, conc) in [(million, 0u64, 8usize), (million.min(20_000), 20, 8)] {
            let (m, requests) = fake_scan(rooms, latency, conc).await;
            let target = if latency == 0 {
                "-".to_owned()
            } else {
                format!(
                    "{:.0} (90% of {conc}/{latency} ms)",
                    0.9 * conc as f64 * 1000.0 / latency as f64
                )
            };
            writeln!(
                md,
                "| {rooms} | {latency} ms | {conc} | {:.1} | {:.0} | {target} | {:.1} | {:.0} | {:.3} |",
                m.wall_s,
                rooms as f64 / m.wall_s,
                m.cpu_s * 1e6 / rooms as f64,
                m.peak_rss_mb,
                requests as f64 / rooms as f64
            )
            .unwrap();
            println!("{md}");
        }
        parts.push((
            "fake",
            format!("{}{}", stamp("fake"), std::mem::take(&mut md)),
        ));
    }
    if only("delete") {
        let text = real::delete_section().await;
        parts.push(("delete", format!("{}{text}", stamp("delete"))));
    }
    if only("bot-million") {
        let text = bot::million_section().await;
        parts.push(("bot-million", format!("{}{text}", stamp("bot-million"))));
    }
    if only("bot-delete") {
        let text = bot::delete_section().await;
        parts.push(("bot-delete", format!("{}{text}", stamp("bot-delete"))));
    }
    let old = std::fs::read_to_string("BENCHMARKS.md").unwrap_or_default();
    let new = doc::merge(&old, &header, &parts);
    println!("{new}");
    std::fs::write("BENCHMARKS.md", &new).unwrap();
    println!(
        "Wrote BENCHMARKS.md (parts run: {:?})",
        parts.iter().map(|p| p.0).collect::<Vec<_>>()
    );
}
