//! Opening a working session from the config: the Admin API client (logged
//! in with a password when that is the credential), the proof that it is a
//! server admin, and the policy with every alias resolved.

use anyhow::Context as _;
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId, RoomOrAliasId};
use tracing::{info, warn};

use crate::admin::{AdminClient, AdminError};
use crate::config::{Config, Credential};
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
/// resolved to a room id. An alias that does not resolve is a config error.
pub async fn resolve_policy(client: &AdminClient, config: &Config) -> anyhow::Result<Policy> {
    let admin_room = match &config.bot.admin_room {
        Some(room) => Some(resolve_room(client, config, "bot.admin_room", room).await?),
        None => None,
    };
    let mut protected_rooms = std::collections::HashSet::new();
    for (i, room) in config.policy.protected_rooms.iter().enumerate() {
        let key = format!("policy.protected_rooms[{i}]");
        protected_rooms.insert(resolve_room(client, config, &key, room).await?);
    }
    let p = &config.policy;
    Ok(Policy {
        inactive_days: p.inactive_days,
        delete_abandoned: p.delete_abandoned,
        include_spaces: p.include_spaces,
        include_public: p.include_public,
        protected_rooms,
        admin_room,
        exclude: p.exclude.clone(),
        exclude_servers: p.exclude_servers.clone(),
        ignore_members: p.ignore_members.clone(),
        max_ghosts: p.max_ghosts,
        keep_direct: p.keep_direct,
        server_name: config.user_id.server_name().to_owned(),
    })
}

/// A room id as is, or the room an alias points to; `key` names the config
/// key in the error when the alias does not resolve.
pub async fn resolve_room(
    client: &AdminClient,
    config: &Config,
    key: &str,
    room: &RoomOrAliasId,
) -> anyhow::Result<OwnedRoomId> {
    let alias = match <&matrix_sdk::ruma::RoomAliasId>::try_from(room) {
        Ok(alias) => alias,
        Err(room_id) => return Ok(room_id.to_owned()),
    };
    let resolved = client
        .resolve_alias(alias)
        .await
        .with_context(|| format!("resolving {key} ({alias})"))?;
    resolved.ok_or_else(|| {
        config
            .invalid(key, format!("the alias {alias} does not resolve to a room"))
            .into()
    })
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
