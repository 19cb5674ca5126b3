//! A real Synapse started by `scripts/synapse.sh` and stopped by its watchdog
//! when this process exits, with helpers that build rooms through its
//! application service. Shared by the end-to-end tests and the demo.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};
use tokio::sync::OnceCell;
use url::Url;

pub struct Synapse {
    pub url: String,
    pub server_name: String,
    pub as_token: String,
    pub admin_user: String,
    pub admin_password: String,
    /// Synapse's own process id.
    pub pid: u32,
    pub dir: std::path::PathBuf,
    /// `[database]` for oldrooms: `sqlite=PATH` or `postgres=CONNINFO` of
    /// the read-only role.
    pub readonly_db: String,
    /// With workers (`OLDROOMS_SYNAPSE_WORKERS=1`): the generic worker's own
    /// address, which bypasses nginx's routing.
    pub client_worker_url: Option<String>,
    /// The admin's access token, logged in on first use.
    admin_token: OnceCell<String>,
}

static SYNAPSE: OnceLock<Synapse> = OnceLock::new();

/// The Synapse shared by every test of this process, started on first use.
pub fn synapse() -> &'static Synapse {
    SYNAPSE.get_or_init(Synapse::start)
}

impl Synapse {
    /// Starts a throw-away Synapse in a fresh temporary directory, with rate
    /// limits raised for fixtures.
    pub fn start() -> Self {
        Self::start_with(&[("OLDROOMS_SYNAPSE_DEFAULT_RATELIMITS", "0")])
    }

    /// Starts one with Synapse's default rate limits (0.2 messages/s, burst
    /// 10), for tests of how the bot copes with 429s.
    pub fn start_rate_limited() -> Self {
        Self::start_with(&[("OLDROOMS_SYNAPSE_DEFAULT_RATELIMITS", "1")])
    }

    /// Starts one whose `max_upload_size` is `size` (say "64K").
    pub fn start_with_upload_limit(size: &str) -> Self {
        Self::start_with(&[
            ("OLDROOMS_SYNAPSE_DEFAULT_RATELIMITS", "0"),
            ("OLDROOMS_SYNAPSE_MAX_UPLOAD", size),
        ])
    }

    /// Starts one that sends server notices (as `@notices`).
    pub fn start_with_server_notices() -> Self {
        Self::start_with(&[
            ("OLDROOMS_SYNAPSE_DEFAULT_RATELIMITS", "0"),
            ("OLDROOMS_SYNAPSE_SERVER_NOTICES", "1"),
        ])
    }

    /// Starts one that federates with others started so (its server name
    /// is `127.0.0.1:PORT`).
    pub fn start_federating() -> Self {
        Self::start_with(&[
            ("OLDROOMS_SYNAPSE_DEFAULT_RATELIMITS", "0"),
            ("OLDROOMS_SYNAPSE_FEDERATION", "1"),
        ])
    }

    /// Starts one with workers behind nginx, whatever the environment says.
    pub fn start_with_workers() -> Self {
        Self::start_with(&[
            ("OLDROOMS_SYNAPSE_DEFAULT_RATELIMITS", "0"),
            ("OLDROOMS_SYNAPSE_WORKERS", "1"),
        ])
    }

    fn start_with(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("oldrooms-synapse-")
            .tempdir()
            .expect("temp dir")
            .keep();
        Self::launch(&dir, Some(std::process::id()), env)
    }

    /// Starts Synapse in `dir` (a new one, or one started before). With
    /// `watch`, it is stopped and `dir` removed once that process is gone.
    pub fn launch(dir: &Path, watch: Option<u32>, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(synapse_script());
        cmd.arg("start").arg(dir);
        if let Some(pid) = watch {
            cmd.arg(pid.to_string());
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run scripts/synapse.sh");
        assert!(
            out.status.success(),
            "scripts/synapse.sh start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let vars: HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        // The PostgreSQL pass of scripts/test.sh must really run on it.
        if let Ok(wanted) = std::env::var("OLDROOMS_SYNAPSE_DB") {
            assert_eq!(vars.get("DATABASE"), Some(&wanted), "Synapse's database");
        }
        // So must the workers pass.
        let asked = env.iter().find(|(k, _)| *k == "OLDROOMS_SYNAPSE_WORKERS");
        if let Some(wanted) = asked
            .map(|(_, v)| (*v).to_owned())
            .or_else(|| std::env::var("OLDROOMS_SYNAPSE_WORKERS").ok())
        {
            assert_eq!(vars.get("WORKERS"), Some(&wanted), "Synapse's workers");
        }
        Synapse {
            url: vars["URL"].clone(),
            server_name: vars["SERVER_NAME"].clone(),
            as_token: vars["AS_TOKEN"].clone(),
            admin_user: vars["ADMIN_USER"].clone(),
            admin_password: vars["ADMIN_PASSWORD"].clone(),
            pid: vars["PID"].parse().expect("PID"),
            dir: vars["DIR"].clone().into(),
            readonly_db: vars["READONLY_DB"].clone(),
            client_worker_url: vars.get("CLIENT_WORKER_URL").cloned(),
            admin_token: OnceCell::new(),
        }
    }

    /// The `[database]` section that reads this Synapse's database.
    pub fn database_toml(&self) -> String {
        let (key, value) = self.readonly_db.split_once('=').expect("READONLY_DB");
        format!("[database]\n{key} = \"{value}\"\n")
    }

    /// Stops it (SIGTERM, then SIGKILL after 5 s); the directory stays.
    pub fn stop(&self) {
        self.script("stop");
    }

    /// Starts it again after `stop`, on the same port and database.
    pub fn restart(&self) {
        self.script("restart");
    }

    fn script(&self, command: &str) {
        let out = Command::new(synapse_script())
            .arg(command)
            .arg(&self.dir)
            .output()
            .expect("run scripts/synapse.sh");
        assert!(
            out.status.success(),
            "scripts/synapse.sh {command} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `scripts/synapse.sh` of the checkout this process runs for, found at run
/// time: a path compiled in would point into whichever clone built the binary
/// first, since clones share one build directory (`~/.cache/oldrooms/target`).
/// `OLDROOMS_ROOT` (set by `scripts/demo.sh` and `scripts/bench.sh`) wins; then
/// the package folder that `cargo test` and `cargo run` put in the environment;
/// then the nearest folder above the current one that holds the script.
pub fn synapse_script() -> std::path::PathBuf {
    const SCRIPT: &str = "scripts/synapse.sh";
    let named = ["OLDROOMS_ROOT", "CARGO_MANIFEST_DIR"]
        .iter()
        .find_map(std::env::var_os);
    if let Some(root) = named {
        return Path::new(&root).join(SCRIPT);
    }
    let here = std::env::current_dir().expect("the current folder");
    here.ancestors()
        .map(|dir| dir.join(SCRIPT))
        .find(|script| script.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no {SCRIPT} in {} or above it: run from the checkout, or set OLDROOMS_ROOT",
                here.display()
            )
        })
}

/// A unique name for this run, so tests sharing the server never collide.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}{:x}{}", nanos, N.fetch_add(1, Ordering::Relaxed))
}

/// Builds rooms and users through the application service, which may act as
/// any local user and backdate events with `?ts=`.
pub struct Homeserver {
    pub s: &'static Synapse,
    http: reqwest::Client,
}

impl Homeserver {
    /// The shared test server.
    pub fn new() -> Self {
        Self::on(synapse())
    }

    pub fn on(s: &'static Synapse) -> Self {
        Self {
            s,
            http: reqwest::Client::new(),
        }
    }

    pub fn user_id(&self, localpart: &str) -> String {
        format!("@{localpart}:{}", self.s.server_name)
    }

    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = Url::parse(&self.s.url).unwrap();
        url.path_segments_mut()
            .unwrap()
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: Url,
        token: &str,
        body: Option<Value>,
    ) -> Value {
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request to Synapse");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(
            status.is_success(),
            "{method} {} -> {status}: {text}",
            url.path()
        );
        serde_json::from_str(&text).unwrap()
    }

    /// As the application service, acting as `user` (`?user_id=`), at `ts`.
    async fn as_user(
        &self,
        method: reqwest::Method,
        segments: &[&str],
        user: &str,
        ts: Option<i64>,
        body: Value,
    ) -> Value {
        let ts = ts.map(|t| t.to_string());
        let mut query = vec![("user_id", user)];
        if let Some(ts) = &ts {
            query.push(("ts", ts));
        }
        let url = self.url(segments, &query);
        self.call(method, url, &self.s.as_token, Some(body)).await
    }

    /// As `user` (who may edit it), removes `alias` (`#name:server`) and,
    /// with `to`, points it at that room instead.
    pub async fn move_alias(&self, alias: &str, user: &str, to: Option<&str>) {
        let segs = ["_matrix", "client", "v3", "directory", "room", alias];
        self.as_user(reqwest::Method::DELETE, &segs, user, None, json!({}))
            .await;
        if let Some(room) = to {
            let body = json!({"room_id": room});
            self.as_user(reqwest::Method::PUT, &segs, user, None, body)
                .await;
        }
    }

    /// Registers a local user named `prefix` and a unique tail; its user id.
    pub async fn new_user(&self, prefix: &str) -> String {
        let localpart = unique(prefix);
        self.register(&localpart).await;
        self.user_id(&localpart)
    }

    /// Registers a local user (no-op if it exists); returns its access token.
    pub async fn register(&self, localpart: &str) -> String {
        let url = self.url(&["_matrix", "client", "v3", "register"], &[]);
        let body = json!({"type": "m.login.application_service", "username": localpart});
        let v = self
            .call(reqwest::Method::POST, url, &self.s.as_token, Some(body))
            .await;
        v["access_token"].as_str().unwrap_or_default().to_owned()
    }

    pub async fn create_room(&self, creator: &str, body: Value) -> String {
        let v = self
            .as_user(
                reqwest::Method::POST,
                &["_matrix", "client", "v3", "createRoom"],
                creator,
                None,
                body,
            )
            .await;
        v["room_id"].as_str().unwrap().to_owned()
    }

    pub async fn send(
        &self,
        room: &str,
        sender: &str,
        event_type: &str,
        content: Value,
        ts: Option<i64>,
    ) {
        let txn = unique("txn");
        let segs = [
            "_matrix", "client", "v3", "rooms", room, "send", event_type, &txn,
        ];
        self.as_user(reqwest::Method::PUT, &segs, sender, ts, content)
            .await;
    }

    pub async fn message(&self, room: &str, sender: &str, body: &str, ts: Option<i64>) {
        let content = json!({"msgtype": "m.text", "body": body});
        self.send(room, sender, "m.room.message", content, ts).await;
    }

    pub async fn state(
        &self,
        room: &str,
        sender: &str,
        event_type: &str,
        key: &str,
        content: Value,
        ts: Option<i64>,
    ) -> String {
        let segs = [
            "_matrix", "client", "v3", "rooms", room, "state", event_type, key,
        ];
        let sent = self
            .as_user(reqwest::Method::PUT, &segs, sender, ts, content)
            .await;
        sent["event_id"].as_str().unwrap().to_owned()
    }

    /// Redacts an event, as `sender`.
    pub async fn redact(&self, room: &str, sender: &str, event_id: &str) {
        let txn = unique("txn");
        let segs = [
            "_matrix", "client", "v3", "rooms", room, "redact", event_id, &txn,
        ];
        self.as_user(reqwest::Method::PUT, &segs, sender, None, json!({}))
            .await;
    }

    pub async fn join(&self, room: &str, user: &str) {
        let segs = ["_matrix", "client", "v3", "join", room];
        self.as_user(reqwest::Method::POST, &segs, user, None, json!({}))
            .await;
    }

    /// Joins a room this server may not be in yet, through `server`.
    pub async fn join_via(&self, room: &str, user: &str, server: &str) {
        let segs = ["_matrix", "client", "v3", "join", room];
        let url = self.url(&segs, &[("user_id", user), ("server_name", server)]);
        self.call(
            reqwest::Method::POST,
            url,
            &self.s.as_token,
            Some(json!({})),
        )
        .await;
    }

    /// `by` bans `user` from `room`.
    pub async fn ban(&self, room: &str, by: &str, user: &str) {
        let segs = ["_matrix", "client", "v3", "rooms", room, "ban"];
        let body = json!({"user_id": user});
        self.as_user(reqwest::Method::POST, &segs, by, None, body)
            .await;
    }

    pub async fn leave(&self, room: &str, user: &str) {
        let segs = ["_matrix", "client", "v3", "rooms", room, "leave"];
        self.as_user(reqwest::Method::POST, &segs, user, None, json!({}))
            .await;
    }

    pub async fn admin_token(&self) -> String {
        self.s
            .admin_token
            .get_or_init(|| async {
                let url = self.url(&["_matrix", "client", "v3", "login"], &[]);
                let body = json!({
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": self.s.admin_user},
                    "password": self.s.admin_password,
                });
                let resp = reqwest::Client::new()
                    .post(url)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let v: Value = resp.json().await.unwrap();
                v["access_token"].as_str().unwrap().to_owned()
            })
            .await
            .clone()
    }

    /// The users joined to `room`, as this server sees them (Admin API).
    pub async fn members(&self, room: &str) -> Vec<String> {
        let got = self
            .admin_get(&["_synapse", "admin", "v1", "rooms", room, "members"])
            .await;
        serde_json::from_value(got["members"].clone()).unwrap()
    }

    /// GET on the Admin API with the admin's token.
    pub async fn admin_get(&self, segments: &[&str]) -> Value {
        self.admin_get_with(segments, &[]).await
    }

    /// [`Self::admin_get`] with a query.
    pub async fn admin_get_with(&self, segments: &[&str], query: &[(&str, &str)]) -> Value {
        let token = self.admin_token().await;
        let url = self.url(segments, query);
        self.call(reqwest::Method::GET, url, &token, None).await
    }
}
