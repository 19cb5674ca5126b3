//! The world of the end-to-end tests: a Synapse (the shared one or one of the
//! test's own), a bot account that is a server admin, a human admin on a real
//! client, their admin room, and the bot's config. Also the builder every
//! config an e2e test writes is made with, `oldrooms scan` as the CLI tests
//! run it, and the look-ups the e2e files share.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use matrix_sdk::attachment::AttachmentConfig;
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId};
use serde_json::json;

use crate::common::{Csv, Run, oldrooms, write_config};
use crate::matrix::{BotProcess, Human, Seen, create_user, poll};
use crate::synapse::{Homeserver, Synapse, unique};

use oldrooms::timefmt::{MS_PER_DAY as DAY, now_ms};

/// A Synapse of the test's own, started now and stopped when this process
/// exits.
pub fn own_synapse() -> &'static Synapse {
    Box::leak(Box::new(Synapse::start()))
}

/// A Synapse with workers behind nginx, shared by the tests that ask for
/// one (their users' names are unique).
pub fn workers_synapse() -> &'static Synapse {
    static WORKERS: std::sync::OnceLock<Synapse> = std::sync::OnceLock::new();
    WORKERS.get_or_init(Synapse::start_with_workers)
}

/// A Synapse of the test's own that federates, and the peer it federates
/// with, shared by the tests that ask (their users' names are unique).
pub fn federating_pair() -> (&'static Synapse, &'static Synapse) {
    static PEER: std::sync::OnceLock<Synapse> = std::sync::OnceLock::new();
    let ours = Box::leak(Box::new(Synapse::start_federating()));
    (ours, PEER.get_or_init(Synapse::start_federating))
}

/// A pair of federating Synapses of the test's own, for a test that stops
/// and restarts them.
pub fn federating_pair_of_its_own() -> (&'static Synapse, &'static Synapse) {
    let start = || &*Box::leak(Box::new(Synapse::start_federating()));
    (start(), start())
}

/// The same with Synapse's default rate limits.
pub fn rate_limited_synapse() -> &'static Synapse {
    Box::leak(Box::new(Synapse::start_rate_limited()))
}

/// An `oldrooms.toml`, table by table, each table's keys in the order given.
#[derive(Clone, Debug, Default)]
pub struct Config {
    tables: Vec<(String, Vec<String>)>,
}

impl Config {
    /// `[homeserver] url` and `[auth] user_id`; the secret comes from
    /// [`Self::password`], [`Self::access_token`] or the environment.
    pub fn new(url: &str, user_id: &str) -> Self {
        Self::default()
            .set("homeserver", &format!("url = \"{url}\""))
            .set("auth", &format!("user_id = \"{user_id}\""))
    }

    /// The server admin of `hs` with its access token, as the CLI tests run.
    pub async fn admin(hs: &Homeserver) -> Self {
        Self::new(&hs.s.url, &hs.s.admin_user).access_token(&hs.admin_token().await)
    }

    pub fn password(self, password: &str) -> Self {
        self.set("auth", &format!("password = \"{password}\""))
    }

    pub fn access_token(self, token: &str) -> Self {
        self.set("auth", &format!("access_token = \"{token}\""))
    }

    /// Adds `lines` (`key = value`, one a line) to `[table]`.
    pub fn set(mut self, table: &str, lines: &str) -> Self {
        let i = match self.tables.iter().position(|(t, _)| t == table) {
            Some(i) => i,
            None => {
                self.tables.push((table.to_owned(), Vec::new()));
                self.tables.len() - 1
            }
        };
        let lines = lines.lines().filter(|l| !l.trim().is_empty());
        self.tables[i].1.extend(lines.map(str::to_owned));
        self
    }

    pub fn bot(self, lines: &str) -> Self {
        self.set("bot", lines)
    }

    pub fn policy(self, lines: &str) -> Self {
        self.set("policy", lines)
    }

    pub fn delete(self, lines: &str) -> Self {
        self.set("delete", lines)
    }

    pub fn scan(self, lines: &str) -> Self {
        self.set("scan", lines)
    }

    /// Adds TOML text of whole tables (a `[table]` line, then its keys),
    /// each merged into the table of that name if there is one.
    pub fn toml(mut self, text: &str) -> Self {
        let mut table = None;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let header = line.trim().strip_prefix('[');
            if let Some(name) = header.and_then(|h| h.strip_suffix(']')) {
                self = self.set(name, "");
                table = Some(name.to_owned());
            } else {
                let name = table
                    .as_deref()
                    .unwrap_or_else(|| panic!("no table for `{line}`"));
                self = self.set(name, line);
            }
        }
        self
    }

    /// Adds the tables of `other` to these.
    fn merge(mut self, other: Self) -> Self {
        for (table, lines) in other.tables {
            self = self.set(&table, &lines.join("\n"));
        }
        self
    }

    pub fn text(&self) -> String {
        let mut text = String::new();
        for (table, lines) in &self.tables {
            text.push_str(&format!("[{table}]\n"));
            for line in lines {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }

    /// Writes it as `oldrooms.toml` in `dir`. Without a `bot.data_dir` of
    /// its own, its files (the scan's record, a journal) go to `dir/data`:
    /// the default, `./oldrooms-data`, would be the same folder for every
    /// test running at once.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let has_data_dir = self.tables.iter().any(|(table, lines)| {
            table == "bot" && lines.iter().any(|l| l.trim_start().starts_with("data_dir"))
        });
        let config = if has_data_dir {
            self.clone()
        } else {
            let data = dir.join("data");
            self.clone()
                .bot(&format!("data_dir = \"{}\"", data.display()))
        };
        write_config(dir, &config.text())
    }
}

/// Runs `oldrooms scan --config CONFIG --output OUTPUT`, checks that it
/// succeeded, and reads what it wrote.
pub async fn scan(config: &Path, output: &Path) -> Csv {
    scan_with(config, output, &[], &[]).await.1
}

/// [`scan`] with more arguments and an environment; also gives the run.
pub async fn scan_with(
    config: &Path,
    output: &Path,
    more: &[&str],
    env: &[(&str, &str)],
) -> (Run, Csv) {
    let mut args = vec![
        "scan",
        "--config",
        config.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ];
    args.extend_from_slice(more);
    let run = oldrooms(&args, env).await;
    assert_eq!(run.code(), Some(0), "scan to {}: {run:?}", output.display());
    let csv = Csv::read(output);
    (run, csv)
}

/// Whether the server still has the room (Room Details API).
pub async fn exists(hs: &Homeserver, room: &str) -> bool {
    let token = hs.admin_token().await;
    let url = hs.url(&["_synapse", "admin", "v1", "rooms", room], &[]);
    let resp = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    match resp.status().as_u16() {
        200 => true,
        404 => false,
        other => panic!("room details answered {other}"),
    }
}

/// How many deletion tasks Synapse has completed for a room (one cancelled
/// by a restart of Synapse does not count).
pub async fn deletions_of(hs: &Homeserver, room: &str) -> usize {
    let token = hs.admin_token().await;
    let url = hs.url(
        &["_synapse", "admin", "v2", "rooms", room, "delete_status"],
        &[],
    );
    let resp = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    if resp.status().as_u16() == 404 {
        return 0;
    }
    let v: serde_json::Value = resp.json().await.unwrap();
    let results = v["results"].as_array().cloned().unwrap_or_default();
    results.iter().filter(|t| t["status"] == "complete").count()
}

/// Downloads (and decrypts) the file of message `m` to `path`, and reads it.
pub async fn download(human: &Human, m: &Seen, path: &Path) -> Csv {
    std::fs::write(path, fetch(human, m, "text/csv").await).unwrap();
    Csv::read(path)
}

/// The bytes of message `m`'s file (decrypted), checked against what a
/// client shows before it downloads: the file's size, and its `mimetype`.
pub async fn fetch(human: &Human, m: &Seen, mimetype: &str) -> Vec<u8> {
    let file = m.file.as_ref().unwrap();
    let bytes = human
        .client
        .media()
        .get_file(file, false)
        .await
        .unwrap()
        .unwrap();
    let info = file.info.as_ref().expect("the file event has an info");
    assert_eq!(
        info.size.map(u64::from),
        Some(bytes.len() as u64),
        "{}'s info.size",
        m.body
    );
    assert_eq!(info.mimetype.as_deref(), Some(mimetype), "{}", m.body);
    bytes
}

/// Which Synapse a world is on.
#[derive(Clone, Copy, Debug)]
enum Server {
    Shared,
    Own,
    RateLimited,
    /// The one with workers behind nginx.
    Workers,
    /// Its own, with this `max_upload_size`.
    UploadLimit(&'static str),
    /// Its own, sending server notices.
    Notices,
}

/// A bot account (a server admin), a human admin logged in on a real
/// client, their admin room with the bot invited, alice (who makes the
/// rooms), and the bot's config in a temporary directory.
pub struct World {
    pub hs: Homeserver,
    pub dir: tempfile::TempDir,
    pub bot_user: OwnedUserId,
    pub human: Human,
    pub room: OwnedRoomId,
    /// The bot's `oldrooms.toml`, in `dir`.
    pub config: PathBuf,
    pub alice: String,
}

/// How to make a [`World`]: on the shared Synapse and unencrypted unless
/// told otherwise.
pub struct WorldBuilder {
    server: Server,
    encrypted: bool,
    admins: Vec<String>,
    protect_keep: bool,
    extra: Config,
}

impl WorldBuilder {
    /// On a Synapse of its own (users named plainly: `bot`, `human`,
    /// `alice`); on the shared one, their names are unique.
    pub fn own_synapse(mut self) -> Self {
        self.server = Server::Own;
        self
    }

    /// On a Synapse of its own that sends server notices.
    pub fn server_notices(mut self) -> Self {
        self.server = Server::Notices;
        self
    }

    /// On a Synapse of its own with Synapse's default rate limits.
    pub fn rate_limited_synapse(mut self) -> Self {
        self.server = Server::RateLimited;
        self
    }

    /// On the Synapse with workers behind nginx ([`workers_synapse`]).
    pub fn workers(mut self) -> Self {
        self.server = Server::Workers;
        self
    }

    /// On a Synapse of its own whose uploads are at most `size` ("64K").
    pub fn upload_limit(mut self, size: &'static str) -> Self {
        self.server = Server::UploadLimit(size);
        self
    }

    /// An encrypted admin room.
    pub fn encrypted(mut self) -> Self {
        self.encrypted = true;
        self
    }

    /// Another admin in `bot.admins`, by localpart: the test makes that
    /// user itself (`create_user`).
    pub fn admin(mut self, localpart: &str) -> Self {
        self.admins.push(localpart.to_owned());
        self
    }

    /// `policy.protected_rooms = ["#keep:SERVER"]` (see [`World::old_room`]).
    pub fn protect_keep(mut self) -> Self {
        self.protect_keep = true;
        self
    }

    /// More keys for `[table]` of the bot's config.
    pub fn set(mut self, table: &str, lines: &str) -> Self {
        self.extra = self.extra.set(table, lines);
        self
    }

    pub fn bot(self, lines: &str) -> Self {
        self.set("bot", lines)
    }

    pub fn policy(self, lines: &str) -> Self {
        self.set("policy", lines)
    }

    pub fn delete(self, lines: &str) -> Self {
        self.set("delete", lines)
    }

    pub fn scan(self, lines: &str) -> Self {
        self.set("scan", lines)
    }

    pub async fn start(self) -> World {
        let (hs, name): (Homeserver, fn(&str) -> String) = match self.server {
            Server::Shared => (Homeserver::new(), unique),
            Server::Own => (Homeserver::on(own_synapse()), str::to_owned),
            Server::RateLimited => (Homeserver::on(rate_limited_synapse()), str::to_owned),
            Server::Notices => (
                Homeserver::on(Box::leak(Box::new(Synapse::start_with_server_notices()))),
                str::to_owned,
            ),
            Server::Workers => (Homeserver::on(workers_synapse()), unique),
            Server::UploadLimit(size) => (
                Homeserver::on(Box::leak(Box::new(Synapse::start_with_upload_limit(size)))),
                str::to_owned,
            ),
        };
        let (bot_user, bot_password) = create_user(&hs, &name("bot"), true).await;
        let (human_user, human_password) = create_user(&hs, &name("human"), false).await;
        let human = Human::login(&hs, &human_user, &human_password).await;
        let room = human
            .create_admin_room(&hs, &[&bot_user], self.encrypted)
            .await;
        let alice = name("alice");
        hs.register(&alice).await;
        let alice = hs.user_id(&alice);
        let dir = tempfile::tempdir().unwrap();
        let mut admins = vec![format!("\"{human_user}\"")];
        admins.extend(self.admins.iter().map(|a| format!("\"{}\"", hs.user_id(a))));
        let bot = format!(
            "admin_room = \"{room}\"\nadmins = [{admins}]\ndata_dir = \"{data}\"\n\
             progress_interval_secs = 1",
            admins = admins.join(", "),
            data = dir.path().join("data").display(),
        );
        let mut config = Config::new(&hs.s.url, bot_user.as_str())
            .password(&bot_password)
            .bot(&bot);
        if self.protect_keep {
            let keep = format!("protected_rooms = [\"#keep:{}\"]", hs.s.server_name);
            config = config.policy(&keep);
        }
        let config = config.merge(self.extra).write(dir.path());
        World {
            hs,
            dir,
            bot_user,
            human,
            room,
            config,
            alice,
        }
    }
}

impl World {
    /// A world on the shared Synapse.
    pub fn builder() -> WorldBuilder {
        WorldBuilder {
            server: Server::Shared,
            encrypted: false,
            admins: Vec::new(),
            protect_keep: false,
            extra: Config::default(),
        }
    }

    /// What the tests of deleting from chat share: a Synapse of its own (an
    /// offer covers every candidate on the server), `#keep` protected, and
    /// deletions polled every 200 ms.
    pub fn for_deletion() -> WorldBuilder {
        Self::builder()
            .own_synapse()
            .protect_keep()
            .delete("poll_interval_ms = 200")
    }

    pub fn start_bot(&self) -> BotProcess {
        BotProcess::start(&self.config, &self.dir.path().join("bot.log"))
    }

    /// The bot's data directory.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A room of alice's whose last message is 400 days old, with `alias`
    /// (`keep` makes it protected with [`WorldBuilder::protect_keep`]).
    pub async fn old_room(&self, name: &str, alias: Option<&str>) -> String {
        let mut body = json!({"name": name, "preset": "private_chat"});
        if let Some(alias) = alias {
            body["room_alias_name"] = json!(alias);
        }
        let room = self.hs.create_room(&self.alice, body).await;
        self.hs
            .message(&room, &self.alice, "long ago", Some(now_ms() - 400 * DAY))
            .await;
        room
    }

    pub fn bot_messages(&self) -> Vec<Seen> {
        self.human.seen_from(&self.bot_user)
    }

    /// Sends a scan and returns the offer it ends with.
    pub async fn scan_and_offer(&self) -> Seen {
        let before = self.bot_messages().len();
        self.human.say(&self.room, "!oldrooms scan").await;
        let found = poll(Duration::from_secs(60), || {
            self.bot_messages()[before..]
                .iter()
                .find(|m| is_offer(&m.body))
                .cloned()
        })
        .await;
        found.unwrap_or_else(|| panic!("no offer; seen: {:#?}", self.bot_messages()))
    }

    /// Proof that the bot has handled what came before: a status answer.
    pub async fn status(&self) -> Seen {
        let before = self.bot_messages().len();
        self.human.say(&self.room, "!oldrooms status").await;
        let found = poll(Duration::from_secs(120), || {
            self.bot_messages()[before..]
                .iter()
                .find(|m| m.body.starts_with("Idle") || m.body.starts_with("Busy"))
                .cloned()
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "no answer to `!oldrooms status`; seen: {:#?}\nbot log:\n{}",
                self.bot_messages(),
                std::fs::read_to_string(self.dir.path().join("bot.log")).unwrap_or_default()
            )
        })
    }

    /// The newest bot message, after `before` of them, that matches.
    pub async fn next_reply(
        &self,
        before: usize,
        what: &str,
        matches: impl Fn(&Seen) -> bool,
    ) -> Seen {
        let found = poll(Duration::from_secs(60), || {
            self.bot_messages()
                .get(before..)?
                .iter()
                .find(|m| matches(m))
                .cloned()
        })
        .await;
        found.unwrap_or_else(|| panic!("no {what}; seen: {:#?}", self.bot_messages()))
    }

    /// Uploads `bytes` as `name` from `who`, as Element does (encrypted in
    /// an encrypted room).
    pub async fn upload(&self, who: &Human, name: &str, bytes: Vec<u8>) {
        who.room(&self.room)
            .send_attachment(name, &mime::TEXT_CSV, bytes, AttachmentConfig::new())
            .await
            .unwrap();
    }

    /// The results.csv the bot posted last, downloaded and decrypted.
    pub async fn posted_results(&self) -> Csv {
        let msg = self
            .human
            .wait_for(&self.bot_user, "results.csv", |m| {
                m.file.is_some() && m.body == "results.csv"
            })
            .await;
        download(&self.human, &msg, &self.dir.path().join("scan.csv")).await
    }

    /// Restarts the bot after an interruption and checks that it finishes
    /// the run: every room in `rooms` deleted, each exactly once.
    pub async fn resume_deletes_each_once(&self, rooms: &[String]) -> BotProcess {
        let bot = self.start_bot();
        self.human
            .wait_for(&self.bot_user, "resuming", |m| {
                m.body.starts_with("Resuming the deletion")
            })
            .await;
        let (finished, report) = self.deletion_result().await;
        let n = rooms.len();
        let expected = format!("Deletion finished: {n} deleted, 0 skipped, 0 failed, of {n}.");
        assert!(
            finished.body.starts_with(&expected),
            "{}\nlog:\n{}",
            finished.body,
            bot.log_text()
        );
        assert_eq!(report.rows.len(), n);
        for room in rooms {
            assert_eq!(report.row(room)["outcome"], "deleted");
            assert!(!exists(&self.hs, room).await, "{room} is still there");
            assert_eq!(
                deletions_of(&self.hs, room).await,
                1,
                "{room} deleted more than once"
            );
        }
        bot
    }

    /// Waits until the journal records `at_least` rooms done.
    pub async fn wait_done(&self, bot: &BotProcess, at_least: usize) -> PathBuf {
        let journal = self.data().join("deletion-journal.jsonl");
        // Real purges on a busy machine: the deadline only guards a hang.
        let started = poll(Duration::from_secs(300), || {
            let text = std::fs::read_to_string(&journal).ok()?;
            (text.matches("\"done\"").count() >= at_least).then_some(())
        })
        .await;
        assert!(
            started.is_some(),
            "the deletion never got going; log:\n{}",
            bot.log_text()
        );
        journal
    }

    /// Waits for the deletion's summary and its report, and reads the report.
    /// Up to 30 real purges at a concurrency of 1 or 2 on a busy machine: the
    /// deadline only guards a hang.
    pub async fn deletion_result(&self) -> (Seen, Csv) {
        const DEADLINE: Duration = Duration::from_secs(300);
        let finished = self
            .human
            .wait_for_within(&self.bot_user, "the deletion summary", DEADLINE, |m| {
                m.body.starts_with("Deletion finished:") && m.replaces.is_none()
            })
            .await;
        let report_msg = self
            .human
            .wait_for_within(&self.bot_user, "deletion-report.csv", DEADLINE, |m| {
                m.file.is_some() && m.body == "deletion-report.csv"
            })
            .await;
        let report = download(
            &self.human,
            &report_msg,
            &self.dir.path().join("report.csv"),
        )
        .await;
        (finished, report)
    }
}

/// Whether a bot message is an offer to delete ("Delete this room…",
/// "Delete these 3 rooms…").
pub fn is_offer(body: &str) -> bool {
    body.starts_with("Delete these ") || body.starts_with("Delete this room")
}
