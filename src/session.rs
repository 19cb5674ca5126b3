//! Opening a working session from the config: the Admin API client (logged
//! in with a password when that is the credential), the proof that it is a
//! server admin, and the policy with every alias resolved.

use anyhow::Context as _;
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId, RoomOrAliasId};
use tracing::{info, warn};

use crate::admin::{AdminClient, AdminError};
use crate::config::{Config, Credential};
use crate::pins::{self, Pins};
use crate::policy::Policy;

/// An authenticated client. Close it: a password session logs out.
#[derive(Debug)]
pub struct Session {
    pub client: AdminClient,
    pub user_id: OwnedUserId,
    logged_in: bool,
}

impl Session {
    /// Connects and checks that the account is a server admin.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        let session = Self::connect(config).await?;
        if let Err(e) = verify_admin(&session.client, config).await {
            session.close().await;
            return Err(e);
        }
        Ok(session)
    }

    /// Connects (logging in when the credential is a password), checking nothing.
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        let http = config.scan.http;
        let (client, logged_in) = match &config.credential {
            Credential::AccessToken(token) => (
                AdminClient::new(config.homeserver.clone(), token.clone(), http)?,
                false,
            ),
            Credential::Password(password) => {
                let login =
                    AdminClient::login(config.homeserver.clone(), &config.user_id, password, http)
                        .await?;
                info!(device_id = %login.device_id, "logged in with a password");
                (login.client, true)
            }
        };
        Ok(Self {
            client,
            user_id: config.user_id.clone(),
            logged_in,
        })
    }

    /// Ends the session: logs out a password login, so no device is left.
    pub async fn close(self) {
        if self.logged_in
            && let Err(e) = self.client.logout().await
        {
            warn!(error = %e, "could not log out; a device may remain on the account");
        }
    }

    /// The policy of `config`, resolved with this session.
    pub async fn policy(&self, config: &Config) -> anyhow::Result<Policy> {
        resolve_policy(&self.client, config).await
    }
}

/// The `[policy]` settings with `bot.admin_room` and every protected alias
/// resolved to room ids, pinned (see [`crate::pins`]): a room an alias
/// named stays protected when the alias moves or vanishes. Changes are
/// logged; [`resolve_policy_told`] also hands them back, to tell the admins.
pub async fn resolve_policy(client: &AdminClient, config: &Config) -> anyhow::Result<Policy> {
    let (policy, news) = resolve_policy_told(client, config).await?;
    for line in news {
        warn!(notice = %line, "a protected room's alias changed");
    }
    Ok(policy)
}

/// [`resolve_policy`], with the alias changes not yet told.
pub async fn resolve_policy_told(
    client: &AdminClient,
    config: &Config,
) -> anyhow::Result<(Policy, Vec<String>)> {
    let path = config.bot.data_dir.join(pins::FILE);
    let mut pins = load_pins(&path)?;
    let before = pins.clone();
    let mut news = Vec::new();
    let mut protected_rooms = std::collections::HashSet::new();
    let admin_room = match &config.bot.admin_room {
        Some(room) => {
            let rooms = pinned(client, config, &mut pins, "bot.admin_room", room, &mut news);
            let mut rooms = rooms.await?.into_iter();
            // The room the alias first named is the admin room; any it
            // named since is protected too.
            let first = rooms.next();
            protected_rooms.extend(rooms);
            first
        }
        None => None,
    };
    for (i, room) in config.policy.protected_rooms.iter().enumerate() {
        let key = format!("policy.protected_rooms[{i}]");
        let rooms = pinned(client, config, &mut pins, &key, room, &mut news).await?;
        protected_rooms.extend(rooms);
    }
    if pins != before
        && let Err(e) = save_pins(&path, &pins)
    {
        warn!(path = %path.display(), error = %format!("{e:#}"), "could not keep the pinned rooms");
    }
    let policy = Policy {
        rules: config.policy.rules.clone(),
        protected_rooms,
        admin_room,
        server_name: config.user_id.server_name().to_owned(),
    };
    Ok((policy, news))
}

/// The rooms `room` (the config's `key`) protects: itself when it is a room
/// id; for an alias, every room it has named. An alias that never resolved
/// is a config error; one that stopped resolving is not.
async fn pinned(
    client: &AdminClient,
    config: &Config,
    pins: &mut Pins,
    key: &str,
    room: &RoomOrAliasId,
    news: &mut Vec<String>,
) -> anyhow::Result<Vec<OwnedRoomId>> {
    let alias = match <&matrix_sdk::ruma::RoomAliasId>::try_from(room) {
        Ok(alias) => alias,
        Err(room_id) => return Ok(vec![room_id.to_owned()]),
    };
    let now = client
        .resolve_alias(alias)
        .await
        .with_context(|| format!("resolving {key} ({alias})"))?;
    let protects = pins.pin(key, alias.as_str(), now).ok_or_else(|| {
        anyhow::Error::from(
            config.invalid(key, format!("the alias {alias} does not resolve to a room")),
        )
    })?;
    news.extend(protects.news);
    Ok(protects.rooms)
}

/// The pins on disk; none when there is no file yet. A file that cannot
/// be read is an error, never an empty set: the rooms it pins would lose
/// their protection.
fn load_pins(path: &std::path::Path) -> anyhow::Result<Pins> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Pins::default()),
        Err(e) => return Err(damaged_pins(path, &e)),
    };
    serde_json::from_slice(&bytes).map_err(|e| damaged_pins(path, &e))
}

fn damaged_pins(path: &std::path::Path, e: &dyn std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!(
        "{} cannot be read ({e}); it keeps the rooms that protected aliases have named: repair \
         it, or move it aside to pin the aliases afresh",
        path.display()
    )
}

fn save_pins(path: &std::path::Path, pins: &Pins) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::atomic::write_bytes(path, &serde_json::to_vec_pretty(pins)?)
}

/// Checks that the token belongs to `auth.user_id` and that it is a server
/// admin's.
pub async fn verify_admin(client: &AdminClient, config: &Config) -> anyhow::Result<()> {
    let me = client.whoami().await?.user_id;
    if me != config.user_id {
        return Err(config
            .invalid(
                "auth.user_id",
                format!("the access token belongs to {me}, not {}", config.user_id),
            )
            .into());
    }
    let refused = match client.is_server_admin(&me).await {
        Ok(true) => return Ok(()),
        Ok(false) => None,
        Err(AdminError::NotAdmin { message, .. }) => Some(message),
        Err(e) => return Err(e.into()),
    };
    let message = match client.auth_issuer().await {
        Some(issuer) => mas_advice(&me, &issuer),
        None => refused.unwrap_or_else(|| format!("{me} is not a server admin")),
    };
    Err(AdminError::NotAdmin {
        errcode: "M_FORBIDDEN".into(),
        message,
    }
    .into())
}

/// What to do on a server that delegates authentication to MAS: there the
/// Admin API takes only tokens with the admin scope, whatever the
/// account's admin flag, and a password login never yields one.
fn mas_advice(me: &OwnedUserId, issuer: &str) -> String {
    format!(
        "the token of {me} is valid, but this homeserver delegates authentication to {issuer} \
         (Matrix Authentication Service), where the Admin API takes only tokens with the scope \
         urn:synapse:admin:*, whatever the account's admin flag; a password login never gets one. \
         On the MAS host, run `mas-cli manage issue-compatibility-token {} \
         --yes-i-want-to-grant-synapse-admin-privileges` and set the token it prints as \
         auth.access_token (or in a file, or OLDROOMS_ACCESS_TOKEN)",
        me.localpart()
    )
}
