//! The bot itself on a large server (issue 23): a million synthetic rooms
//! scanned from chat through `[database]`, and 10,000 real rooms deleted
//! from chat against the all-at-once floor. A human admin on a real client
//! in an encrypted admin room, as in the end-to-end tests.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId};
use serde_json::{Value, json};

use crate::matrix::{BotProcess, Human, Seen, create_user, poll, wait_joined};
use crate::real::{copy_dir, cpu_seconds, create_many, postgres_cpu_seconds};
use crate::synapse::{Homeserver, Synapse};

const DAY: i64 = 24 * 60 * 60 * 1000;

/// A bot in an encrypted admin room with a human admin, on `s`.
struct BotWorld {
    hs: Homeserver,
    human: Human,
    bot_user: OwnedUserId,
    room: OwnedRoomId,
    bot: BotProcess,
    dir: tempfile::TempDir,
}

impl BotWorld {
    async fn start(s: &'static Synapse, extra: &str) -> Self {
        let hs = Homeserver::on(s);
        let (bot_user, bot_password) = create_user(&hs, "bot", true).await;
        let (human_user, human_password) = create_user(&hs, "human", false).await;
        let human = Human::login(&hs, &human_user, &human_password).await;
        let room = human.create_admin_room(&hs, &[&bot_user], true).await;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("oldrooms.toml");
        std::fs::write(
            &config,
            format!(
                "[homeserver]\nurl = \"{url}\"\n[auth]\nuser_id = \"{bot_user}\"\n\
                 password = \"{bot_password}\"\n[bot]\nadmin_room = \"{room}\"\n\
                 admins = [\"{human_user}\"]\ndata_dir = \"{data}\"\n{extra}\n",
                url = s.url,
                data = dir.path().join("data").display(),
            ),
        )
        .unwrap();
        let bot = BotProcess::start(&config, &dir.path().join("bot.log"));
        wait_joined(&hs, &room, &bot_user, &bot).await;
        human.wait_sees_joined(&room, &bot_user).await;
        let listening = poll(Duration::from_secs(300), || {
            bot.log_text()
                .contains("listening for commands")
                .then_some(())
        })
        .await;
        assert!(listening.is_some(), "bot log:\n{}", bot.log_text());
        BotWorld {
            hs,
            human,
            bot_user,
            room,
            bot,
            dir,
        }
    }

    fn messages(&self) -> Vec<Seen> {
        self.human.seen_from(&self.bot_user)
    }

    /// The first bot message after the first `before` that matches, within
    /// `limit` (a guard against a hang, not a measurement).
    async fn wait(
        &self,
        before: usize,
        limit: Duration,
        what: &str,
        f: impl Fn(&Seen) -> bool,
    ) -> Seen {
        let found = poll(limit, || {
            self.messages()
                .get(before..)?
                .iter()
                .find(|m| f(m))
                .cloned()
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "no {what}; seen: {:#?}\nbot log:\n{}",
                self.messages(),
                self.bot.log_text()
            )
        })
    }

    /// Sends `!oldrooms scan` and waits for the offer: the offer and the
    /// time from the command to it.
    async fn scan_to_offer(&self) -> (Seen, f64) {
        let before = self.messages().len();
        let started = Instant::now();
        self.human.say(&self.room, "!oldrooms scan").await;
        let offer = self
            .wait(before, Duration::from_secs(1800), "offer", |m| {
                m.body.starts_with("Delete these ") && m.replaces.is_none()
            })
            .await;
        (offer, started.elapsed().as_secs_f64())
    }

    /// A `!oldrooms status` answered: the bot has handled what came before.
    async fn status(&self) -> Seen {
        let before = self.messages().len();
        self.human.say(&self.room, "!oldrooms status").await;
        self.wait(before, Duration::from_secs(300), "status", |m| {
            m.body.starts_with("Idle") || m.body.starts_with("Busy")
        })
        .await
    }

    fn memory_mb(&self, key: &str) -> f64 {
        proc_status_mb(self.bot.pid(), key)
    }
}

/// `VmHWM` (peak) or `VmRSS` of a process, in MB.
fn proc_status_mb(pid: u32, key: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(key)).unwrap();
    let kb: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb / 1024.0
}

/// Admin API room requests in Synapse's log so far, and the rooms they name.
fn admin_room_requests(dir: &Path) -> (usize, std::collections::HashSet<String>) {
    let log = std::fs::read_to_string(dir.join("synapse.log")).unwrap_or_default();
    let mut n = 0;
    let mut rooms = std::collections::HashSet::new();
    for line in log.lines() {
        if !line.contains("Processed request") {
            continue;
        }
        let Some(at) = line.find("/_synapse/admin/v1/rooms/") else {
            continue;
        };
        n += 1;
        let rest = &line[at + "/_synapse/admin/v1/rooms/".len()..];
        let id: String = rest
            .chars()
            .take_while(|c| *c != '/' && *c != '?' && *c != ' ')
            .collect();
        rooms.insert(id);
    }
    (n, rooms)
}

/// The posted file's bytes, decrypted.
async fn download(human: &Human, m: &Seen) -> Vec<u8> {
    let file = m.file.as_ref().unwrap();
    human
        .client
        .media()
        .get_file(file, false)
        .await
        .unwrap()
        .unwrap()
}

/// A million synthetic rooms (OLDROOMS_BENCH_PG_ROOMS), scanned from chat
/// through `[database]`; then a minute of `!oldrooms dry-run` on that offer.
pub async fn million_section() -> String {
    let rooms = crate::million::rooms();
    let (s, _) = crate::million::fixture(rooms);
    let w = BotWorld::start(s, &s.database_toml()).await;
    let idle = w.memory_mb("VmRSS");
    let before = w.messages().len();
    let pg0 = postgres_cpu_seconds(&s.dir);
    let (offer, to_offer) = w.scan_to_offer().await;
    let pg_cpu = postgres_cpu_seconds(&s.dir) - pg0;
    let peak = w.memory_mb("VmHWM");
    let posted = w.messages()[before..].to_vec();
    let files: Vec<String> = posted
        .iter()
        .filter_map(|m| match (&m.file, &m.image) {
            (Some(_), _) => Some(m.body.clone()),
            (_, Some(_)) => Some("the chart".to_owned()),
            _ => None,
        })
        .collect();
    let results = posted
        .iter()
        .find(|m| m.file.is_some() && m.body.starts_with("results.csv"))
        .unwrap_or_else(|| panic!("no results file; posted: {posted:#?}"));
    let bytes = download(&w.human, results).await;
    let posted_bytes = bytes.len();
    let csv = if results.body.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        bytes
    };
    let rows = csv.iter().filter(|&&b| b == b'\n').count() - 1;
    assert_eq!(
        rows as u64,
        rooms + 1,
        "a row for each synthetic room and the admin room"
    );
    let summary = posted
        .iter()
        .find(|m| m.body.starts_with("Scan finished"))
        .map(|m| m.body.lines().take(4).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    w.status().await;
    let after = w.memory_mb("VmRSS");
    let candidates = offer
        .body
        .split_whitespace()
        .nth(2)
        .unwrap_or("?")
        .to_owned();

    // A minute of the dry run: what it costs per room, then cancelled.
    const SAMPLE: Duration = Duration::from_secs(60);
    let (req0, rooms0) = admin_room_requests(&s.dir);
    let synapse0 = cpu_seconds(s.pid);
    let before = w.messages().len();
    w.human.say(&w.room, "!oldrooms dry-run").await;
    tokio::time::sleep(SAMPLE).await;
    let (req1, rooms1) = admin_room_requests(&s.dir);
    let synapse_cpu = cpu_seconds(s.pid) - synapse0;
    w.human.say(&w.room, "!oldrooms cancel").await;
    // A small fixture's dry run may have finished within the minute. Its
    // progress message is edited in place; the end is a message of its own.
    let ended = w
        .wait(before, Duration::from_secs(300), "the dry run's end", |m| {
            m.replaces.is_none()
                && (m.body.starts_with("Dry run cancelled.")
                    || m.body.starts_with("Dry run of the offer"))
        })
        .await;
    let progress = w.messages()[before..]
        .iter()
        .rev()
        .find(|m| {
            // An edit's body is its fallback, "* " and the new text.
            m.replaces.is_some() && m.body.trim_start_matches("* ").starts_with("Dry run ")
        })
        .map(|m| m.body.clone())
        .unwrap_or_else(|| "no progress message".to_owned());
    let checked = rooms1.difference(&rooms0).count();
    let requests = req1 - req0;
    let dry_peak = w.memory_mb("VmHWM");
    let dry_after = w.memory_mb("VmRSS");
    w.bot.stop().await;
    s.stop();

    let mut md = String::new();
    writeln!(
        md,
        "## The bot: {rooms} synthetic rooms scanned from chat (PostgreSQL, `[database]`)\n"
    )
    .unwrap();
    writeln!(md, "The `million` part's fixture; the bot (release build) in an encrypted admin room, a human admin on a real client (matrix-sdk) sending `!oldrooms scan`. Time to the offer: from sending the command to the offer arriving at the human's client. Memory from the bot's /proc status: idle is VmRSS once it listens for commands, peak is VmHWM, after is VmRSS once it has answered `!oldrooms status` after the offer.\n").unwrap();
    writeln!(md, "| rooms | to the offer s | target s | PostgreSQL CPU s | bot idle MB | bot peak MB | target MB | bot after MB | posted | offer |").unwrap();
    writeln!(md, "|---|---|---|---|---|---|---|---|---|---|").unwrap();
    writeln!(
        md,
        "| {rooms} | {to_offer:.1} | 60 | {pg_cpu:.1} | {idle:.0} | {peak:.0} | 400 | {after:.0} | {} ({:.1} MB) | {candidates} rooms |\n",
        files.join(", "),
        posted_bytes as f64 / 1e6
    )
    .unwrap();
    writeln!(md, "The summary's first lines: \"{summary}\".\n").unwrap();
    writeln!(md, "`!oldrooms dry-run` on that offer re-checks each of its rooms through the Admin API; it was cancelled after {} s (\"{}\"; its progress message's last edit: \"{progress}\"): {checked} rooms re-checked, {requests} Admin API room requests ({:.2} per room), Synapse CPU {synapse_cpu:.1} s; at that rate the whole offer would take {:.1} h. Bot peak RSS by then: {dry_peak:.0} MB; its RSS once the cancel was answered: {dry_after:.0} MB.\n",
        SAMPLE.as_secs(),
        ended.body.lines().next().unwrap_or(""),
        requests as f64 / checked.max(1) as f64,
        candidates.parse::<f64>().unwrap_or(f64::NAN) / (checked.max(1) as f64 / SAMPLE.as_secs_f64()) / 3600.0,
    )
    .unwrap();
    println!("{md}");
    md
}

/// A PostgreSQL Synapse with `n` rooms of alice's, last used 400 days ago,
/// built once under /tmp (PostgreSQL's user cannot enter ~root) and
/// copied for each run.
async fn ensure_deletion_fixture(n: usize) -> PathBuf {
    let golden = std::env::temp_dir().join(format!("oldrooms-bench-deletions-{n}"));
    if golden.join("pg/PG_VERSION").exists() {
        return golden;
    }
    let build = golden.with_extension("building");
    let _ = std::fs::remove_dir_all(&build);
    std::fs::create_dir_all(&build).unwrap();
    println!("Building the {n}-room deletion fixture on PostgreSQL (once)…");
    let started = Instant::now();
    let s: &'static Synapse = Box::leak(Box::new(Synapse::launch(
        &build,
        None,
        &[("OLDROOMS_SYNAPSE_DB", "postgres")],
    )));
    let hs = Homeserver::on(s);
    hs.register("alice").await;
    let alice = hs.user_id("alice");
    let old = oldrooms::timefmt::now_ms() - 400 * DAY;
    let made = create_many(&hs, &alice, n, json!({}), Some(old)).await;
    assert_eq!(made.len(), n);
    s.stop();
    std::fs::rename(&build, &golden).unwrap();
    println!(
        "Deletion fixture built in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    golden
}

/// A fresh copy of the fixture, started.
fn launch_copy(golden: &Path) -> &'static Synapse {
    let dir = tempfile::Builder::new()
        .prefix("oldrooms-deletions-")
        .tempdir()
        .unwrap()
        .keep();
    std::fs::remove_dir(&dir).unwrap();
    copy_dir(golden, &dir);
    Box::leak(Box::new(Synapse::launch(
        &dir,
        Some(std::process::id()),
        &[],
    )))
}

/// GET `url` with `token`, as JSON.
async fn get_json(http: &reqwest::Client, url: url::Url, token: &str) -> Value {
    http.get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Room deletions Synapse has not finished (active or scheduled tasks).
async fn unfinished_deletions(hs: &Homeserver, http: &reqwest::Client, token: &str) -> usize {
    let mut n = 0;
    for status in ["scheduled", "active"] {
        let url = hs.url(
            &["_synapse", "admin", "v1", "scheduled_tasks"],
            &[
                ("action_name", "shutdown_and_purge_room"),
                ("status", status),
            ],
        );
        let v = get_json(http, url, token).await;
        n += v["scheduled_tasks"].as_array().unwrap().len();
    }
    n
}

/// The floor: every room's deletion submitted as fast as Synapse takes them
/// (32 requests in flight), then polled every 200 ms until none is left.
async fn floor(golden: &Path, n: usize) -> f64 {
    let s = launch_copy(golden);
    let hs = Homeserver::on(s);
    let token = hs.admin_token().await;
    let http = reqwest::Client::new();
    let url = hs.url(
        &["_synapse", "admin", "v1", "rooms"],
        &[("limit", &(n + 10).to_string())],
    );
    let listed = get_json(&http, url, &token).await;
    let rooms: Vec<String> = listed["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["room_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(rooms.len(), n);
    let started = Instant::now();
    let submitted = futures_util::stream::iter(rooms)
        .map(|room| {
            let (http, token) = (&http, &token);
            let url = hs.url(&["_synapse", "admin", "v2", "rooms", &room], &[]);
            async move {
                let resp = http
                    .delete(url)
                    .bearer_auth(token)
                    .json(&json!({"purge": true}))
                    .send()
                    .await
                    .unwrap();
                assert!(resp.status().is_success(), "{:?}", resp.text().await);
            }
        })
        .buffer_unordered(32)
        .count()
        .await;
    assert_eq!(submitted, n);
    while unfinished_deletions(&hs, &http, &token).await > 0 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let wall = started.elapsed().as_secs_f64();
    s.stop();
    wall
}

/// OLDROOMS_BENCH_DELETIONS rooms (10,000 unless told), deleted by the bot
/// from chat after a dry run, against the floor on a copy of the same
/// fixture.
pub async fn delete_section() -> String {
    let n: usize = std::env::var("OLDROOMS_BENCH_DELETIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let golden = ensure_deletion_fixture(n).await;
    println!("The floor: {n} deletions submitted at once…");
    let floor = floor(&golden, n).await;
    println!("floor: {floor:.1} s");

    let s = launch_copy(&golden);
    let w = BotWorld::start(
        s,
        &format!("{}[delete]\npoll_interval_ms = 200\n", s.database_toml()),
    )
    .await;
    let (offer, to_offer) = w.scan_to_offer().await;
    assert!(
        offer.body.starts_with(&format!("Delete these {n} rooms")),
        "{}",
        offer.body
    );

    // The dry run, in full.
    let before = w.messages().len();
    let (req0, _) = admin_room_requests(&s.dir);
    let synapse0 = cpu_seconds(s.pid);
    let started = Instant::now();
    w.human.say(&w.room, "!oldrooms dry-run").await;
    let dry = w
        .wait(before, Duration::from_secs(3600), "dry-run summary", |m| {
            m.body.starts_with("Dry run")
        })
        .await;
    let dry_wall = started.elapsed().as_secs_f64();
    let dry_cpu = cpu_seconds(s.pid) - synapse0;
    let dry_requests = admin_room_requests(&s.dir).0 - req0;
    w.status().await;

    // The deletion, from the ✅ to the summary.
    let before = w.messages().len();
    let synapse0 = cpu_seconds(s.pid);
    let started = Instant::now();
    w.human.react(&w.room, &offer.event_id, "✅").await;
    let finished = w
        .wait(
            before,
            Duration::from_secs(6 * 3600),
            "deletion summary",
            |m| m.body.starts_with("Deletion finished:") && m.replaces.is_none(),
        )
        .await;
    let wall = started.elapsed().as_secs_f64();
    let synapse_cpu = cpu_seconds(s.pid) - synapse0;
    let expected = format!("Deletion finished: {n} deleted, 0 skipped, 0 failed, of {n}.");
    assert!(finished.body.starts_with(&expected), "{}", finished.body);
    w.status().await;
    // Not the answer to `!oldrooms status` above.
    let during: Vec<Seen> = w.messages()[before..]
        .iter()
        .filter(|m| !(m.body.starts_with("Idle") || m.body.starts_with("Busy")))
        .cloned()
        .collect();
    let new_messages = during.iter().filter(|m| m.replaces.is_none()).count();
    let edits = during.len() - new_messages;
    // The finished journal is archived beside its name (….jsonl.<time>.done).
    let journal: u64 = std::fs::read_dir(w.dir.path().join("data"))
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("deletion-journal.jsonl")
        })
        .map(|e| e.metadata().unwrap().len())
        .sum();
    let peak = w.memory_mb("VmHWM");
    let after = w.memory_mb("VmRSS");
    let listed = w.hs.admin_get(&["_synapse", "admin", "v1", "rooms"]).await;
    let left = listed["total_rooms"].as_u64().unwrap();
    w.bot.stop().await;
    s.stop();

    let mut md = String::new();
    writeln!(md, "## The bot deleting {n} rooms on PostgreSQL\n").unwrap();
    writeln!(md, "A fixture of {n} real rooms (created through the client API, last message 400 days old), copied afresh for the floor and for the bot. The floor: every deletion submitted as fast as Synapse takes them (32 requests in flight), then Synapse's scheduled tasks polled every 200 ms until none is scheduled or active; its Synapse is freshly started, while the bot's has served a scan and a dry run first (warmer caches). The bot (release build, `[database]` scan, default `delete.concurrency` 4, `poll_interval_ms = 200`): from the human's ✅ on the offer to the deletion summary, with a re-check of each room.\n").unwrap();
    writeln!(md, "| run | wall s | x floor | target | Synapse CPU s |").unwrap();
    writeln!(md, "|---|---|---|---|---|").unwrap();
    writeln!(
        md,
        "| floor: all {n} submitted, then polled | {floor:.1} | 1.00 | - | - |"
    )
    .unwrap();
    writeln!(
        md,
        "| the bot: ✅ to the summary | {wall:.1} | {:.2} | 1.15 | {synapse_cpu:.1} |\n",
        wall / floor
    )
    .unwrap();
    writeln!(md, "Scan to offer: {to_offer:.1} s. Messages the bot posted from the ✅ to the summary's report: {new_messages} new, {edits} edits (the progress message is edited in place). Journal: {journal} bytes ({:.0} per room). Bot memory: peak {peak:.0} MB (VmHWM, whole run), {after:.0} MB after. Rooms left on the server: {left} (the admin room).\n", journal as f64 / n as f64).unwrap();
    writeln!(md, "`!oldrooms dry-run` before the ✅: {dry_wall:.1} s for {n} rooms, {dry_requests} Admin API room requests ({:.2} per room), Synapse CPU {dry_cpu:.1} s; its summary: \"{}\".\n", dry_requests as f64 / n as f64, dry.body.lines().next().unwrap_or("")).unwrap();
    println!("{md}");
    md
}
