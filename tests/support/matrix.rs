//! The people in the admin room: a human admin as a real matrix-sdk client,
//! and the bot as a real `oldrooms run` process.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use matrix_sdk::config::SyncSettings;
use matrix_sdk::deserialized_responses::EncryptionInfo;
use matrix_sdk::encryption::EncryptionSettings;
use matrix_sdk::room::Room;
use matrix_sdk::ruma::events::room::message::{
    MessageType, OriginalSyncRoomMessageEvent, Relation, RoomMessageEventContent,
};
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use serde_json::json;

use crate::synapse::{Homeserver, unique};

/// A message seen by the human's client.
#[derive(Debug, Clone)]
pub struct Seen {
    pub sender: OwnedUserId,
    pub event_id: OwnedEventId,
    pub body: String,
    /// The event this one edits, for edits.
    pub replaces: Option<OwnedEventId>,
    pub encrypted: bool,
    pub file: Option<matrix_sdk::ruma::events::room::message::FileMessageEventContent>,
    pub image: Option<matrix_sdk::ruma::events::room::message::ImageMessageEventContent>,
    /// When the homeserver received it (ms since the epoch).
    pub ts: i64,
}

/// A human on their own device, syncing in the background.
pub struct Human {
    pub client: matrix_sdk::Client,
    pub user_id: OwnedUserId,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

/// Creates a user with a password through the Admin API.
pub async fn create_user(hs: &Homeserver, localpart: &str, admin: bool) -> (OwnedUserId, String) {
    let user_id = hs.user_id(localpart);
    let password = unique("pw");
    let token = hs.admin_token().await;
    let url = hs.url(&["_synapse", "admin", "v2", "users", &user_id], &[]);
    let resp = reqwest::Client::new()
        .put(url)
        .bearer_auth(token)
        .json(&json!({"password": password, "admin": admin}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{:?}", resp.text().await);
    (user_id.try_into().unwrap(), password)
}

impl Human {
    pub async fn login(hs: &Homeserver, user_id: &OwnedUserId, password: &str) -> Self {
        let client = matrix_sdk::Client::builder()
            .homeserver_url(&hs.s.url)
            .with_encryption_settings(EncryptionSettings {
                auto_enable_cross_signing: false,
                ..Default::default()
            })
            .build()
            .await
            .unwrap();
        client
            .matrix_auth()
            .login_username(user_id.as_str(), password)
            .initial_device_display_name("test human")
            .send()
            .await
            .unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let sink = seen.clone();
        client.add_event_handler(
            move |ev: OriginalSyncRoomMessageEvent, info: Option<EncryptionInfo>| {
                let sink = sink.clone();
                async move {
                    let replaces = match &ev.content.relates_to {
                        Some(Relation::Replacement(r)) => Some(r.event_id.clone()),
                        _ => None,
                    };
                    let file = match &ev.content.msgtype {
                        MessageType::File(f) => Some(f.clone()),
                        _ => None,
                    };
                    let image = match &ev.content.msgtype {
                        MessageType::Image(i) => Some(i.clone()),
                        _ => None,
                    };
                    sink.lock().unwrap().push(Seen {
                        sender: ev.sender.clone(),
                        event_id: ev.event_id.clone(),
                        body: ev.content.body().to_owned(),
                        replaces,
                        encrypted: info.is_some(),
                        file,
                        image,
                        ts: ev.origin_server_ts.0.into(),
                    });
                }
            },
        );
        client.sync_once(SyncSettings::default()).await.unwrap();
        let syncing = client.clone();
        // Syncs on after a failure: some tests stop and restart Synapse.
        tokio::spawn(async move {
            loop {
                if let Err(e) = syncing.sync(SyncSettings::default()).await {
                    eprintln!("test human: sync failed ({e}); syncing again");
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        Self {
            client,
            user_id: user_id.clone(),
            seen,
        }
    }

    /// A private room with the bot invited; encrypted when asked.
    pub async fn create_admin_room(
        &self,
        hs: &Homeserver,
        invite: &[&OwnedUserId],
        encrypted: bool,
    ) -> OwnedRoomId {
        let mut body = json!({"name": "oldrooms admins", "preset": "private_chat",
            "invite": invite});
        if encrypted {
            body["initial_state"] = json!([{"type": "m.room.encryption", "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]);
        }
        let room_id: OwnedRoomId = hs
            .create_room(self.user_id.as_str(), body)
            .await
            .try_into()
            .unwrap();
        let synced = poll(Duration::from_secs(30), || self.client.get_room(&room_id)).await;
        assert!(
            synced.is_some(),
            "the human's client never saw the new room"
        );
        room_id
    }

    pub fn room(&self, room_id: &OwnedRoomId) -> Room {
        self.client.get_room(room_id).unwrap()
    }

    pub async fn say(&self, room_id: &OwnedRoomId, text: &str) -> OwnedEventId {
        let room = self.room(room_id);
        let sent = room.send(RoomMessageEventContent::text_plain(text)).await;
        sent.unwrap().response.event_id
    }

    /// Reacts to a message with `key`.
    pub async fn react(&self, room_id: &OwnedRoomId, event_id: &OwnedEventId, key: &str) {
        use matrix_sdk::ruma::events::reaction::ReactionEventContent;
        use matrix_sdk::ruma::events::relation::Annotation;
        let content = ReactionEventContent::new(Annotation::new(event_id.clone(), key.to_owned()));
        self.room(room_id).send(content).await.unwrap();
    }

    /// Edits an earlier message of ours to `text`.
    pub async fn edit(&self, room_id: &OwnedRoomId, event_id: &OwnedEventId, text: &str) {
        use matrix_sdk::ruma::events::room::message::ReplacementMetadata;
        let content = RoomMessageEventContent::text_plain(text)
            .make_replacement(ReplacementMetadata::new(event_id.clone(), None));
        self.room(room_id).send(content).await.unwrap();
    }

    /// Waits until this client itself has `user` as joined in `room`. The
    /// server saying so is not enough in an encrypted room: a message sent
    /// before this client has seen the join (and the new member's device in
    /// the same sync) is not encrypted for that member, who then cannot read
    /// it.
    pub async fn wait_sees_joined(&self, room_id: &OwnedRoomId, user: &OwnedUserId) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(room) = self.client.get_room(room_id)
                && let Ok(Some(member)) = room.get_member_no_sync(user).await
                && *member.membership()
                    == matrix_sdk::ruma::events::room::member::MembershipState::Join
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} never saw {user} join {room_id}",
                self.user_id
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn seen_from(&self, sender: &OwnedUserId) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| &s.sender == sender)
            .cloned()
            .collect()
    }

    /// Waits until a message from `sender` matches, and returns it.
    pub async fn wait_for(
        &self,
        sender: &OwnedUserId,
        what: &str,
        matches: impl Fn(&Seen) -> bool,
    ) -> Seen {
        self.wait_for_within(sender, what, Duration::from_secs(60), matches)
            .await
    }

    /// [`Self::wait_for`] with a deadline of `timeout`: only a guard against
    /// hanging, for what takes long (real purges, a rate-limited bot).
    pub async fn wait_for_within(
        &self,
        sender: &OwnedUserId,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&Seen) -> bool,
    ) -> Seen {
        let found = poll(timeout, || {
            self.seen_from(sender).into_iter().find(|s| matches(s))
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "timed out waiting for {what}; seen: {:#?}",
                self.seen_from(sender)
            )
        })
    }
}

/// Polls `check` every 100 ms until it gives a value or `timeout` passes.
pub async fn poll<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A running `oldrooms run`, killed when dropped.
pub struct BotProcess {
    child: Mutex<tokio::process::Child>,
    pub log: PathBuf,
}

impl BotProcess {
    pub fn start(config: &Path, log: &Path) -> Self {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = tokio::process::Command::new(oldrooms_binary())
            .args(["-v", "run", "--config", config.to_str().unwrap()])
            .env_remove("OLDROOMS_ACCESS_TOKEN")
            .env_remove("OLDROOMS_PASSWORD")
            .env("RUST_LOG", "warn,oldrooms=debug")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        Self {
            child: Mutex::new(child),
            log: log.to_owned(),
        }
    }

    /// The bot's process id (for its memory in /proc, say).
    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap().id().unwrap()
    }

    /// Fails the test at once if the bot has exited.
    pub fn assert_running(&self) {
        let status = self.child.lock().unwrap().try_wait().unwrap();
        assert!(
            status.is_none(),
            "the bot exited ({status:?}); log:\n{}",
            self.log_text()
        );
    }

    /// SIGKILL: a crash, with no chance to clean up.
    pub async fn kill(self) {
        let mut child = self.child.into_inner().unwrap();
        child.kill().await.unwrap();
    }

    /// SIGTERM, as systemd stops it; waits for a clean exit.
    pub async fn stop(self) {
        self.assert_running();
        let mut child = self.child.into_inner().unwrap();
        let pid = child.id().unwrap();
        std::process::Command::new("kill")
            .arg(pid.to_string())
            .status()
            .unwrap();
        // Twice the bot's own shutdown grace and flush: only a guard.
        let status = tokio::time::timeout(Duration::from_secs(40), child.wait())
            .await
            .expect("the bot did not stop on SIGTERM")
            .unwrap();
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert!(status.success(), "bot exit status {status}; log:\n{log}");
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Waits until `user` has joined `room` (seen through the Admin API).
pub async fn wait_joined(
    hs: &Homeserver,
    room: &OwnedRoomId,
    user: &OwnedUserId,
    bot: &BotProcess,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let members = hs
            .admin_get(&["_synapse", "admin", "v1", "rooms", room.as_str(), "members"])
            .await;
        let joined = members["members"]
            .as_array()
            .is_some_and(|m| m.iter().any(|u| u.as_str() == Some(user.as_str())));
        if joined {
            return;
        }
        bot.assert_running();
        assert!(
            tokio::time::Instant::now() < deadline,
            "{user} never joined {room}; bot log:\n{}",
            bot.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until Synapse's room statistics give each `(room, joined_members,
/// joined_local_members)` its counts (Room Details API). Synapse updates
/// those statistics in the background, after the join or leave that changes
/// them, and the List Room API (and so a scan) reads them: a scan right
/// after a join or a leave may see the counts from before it.
pub async fn wait_member_counts(hs: &Homeserver, expected: &[(&str, u64, u64)]) {
    for &(room, joined, local) in expected {
        wait_room_details(
            hs,
            room,
            &format!("(joined, local) = ({joined}, {local})"),
            |d| {
                (
                    d["joined_members"].as_u64(),
                    d["joined_local_members"].as_u64(),
                ) == (Some(joined), Some(local))
            },
        )
        .await;
    }
}

/// Waits until `room`'s Room Details (from the statistics Synapse updates
/// in the background, in the order of the events) pass `check`.
pub async fn wait_room_details(
    hs: &Homeserver,
    room: &str,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let details = hs
            .admin_get(&["_synapse", "admin", "v1", "rooms", room])
            .await;
        if check(&details) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{room}: Synapse's room statistics never had {what}; room details: {details:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `oldrooms` binary: cargo tells integration tests where it is; an
/// example finds it next to its own directory (`target/debug/examples/..`).
pub fn oldrooms_binary() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_oldrooms") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(Path::parent)
        .unwrap()
        .join("oldrooms")
}
