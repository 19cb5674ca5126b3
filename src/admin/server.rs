//! Who we are and what we talk to: server version, admin check, alias
//! resolution, password login/logout and delegated authentication
//! (client-server API).
//!
//! - Server Version API: <https://element-hq.github.io/synapse/latest/admin_api/version_api.html>
//! - Query server admin status: <https://element-hq.github.io/synapse/latest/admin_api/user_admin_api.html#get-whether-a-user-is-a-server-administrator-or-not>

use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId, RoomAliasId, UserId};
use serde::Deserialize;
use serde_json::json;
use tracing::instrument;
use url::Url;

use super::{AdminClient, AdminError, HttpSettings};
use crate::secret::Secret;

#[derive(Deserialize)]
struct ServerVersion {
    server_version: String,
}

/// Whom an access token belongs to.
#[derive(Debug, Deserialize)]
pub struct WhoAmI {
    pub user_id: OwnedUserId,
    /// Absent for application-service tokens.
    pub device_id: Option<String>,
}

/// The part of a `keys/query` answer we read.
#[derive(Deserialize)]
struct KeysQuery {
    #[serde(default)]
    master_keys: std::collections::HashMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct IsAdmin {
    #[serde(default)]
    admin: bool,
}

#[derive(Deserialize)]
struct AliasTarget {
    room_id: OwnedRoomId,
}

#[derive(Deserialize)]
struct LoginResponse {
    access_token: String,
    device_id: String,
}

/// A session opened with a password; log it out when done.
#[derive(Debug)]
pub struct Login {
    pub client: AdminClient,
    pub device_id: String,
}

impl AdminClient {
    /// Synapse's version string, e.g. `1.163.2`.
    #[instrument(skip(self), level = "debug")]
    pub async fn server_version(&self) -> Result<String, AdminError> {
        let v: ServerVersion = self
            .get(&["_synapse", "admin", "v1", "server_version"], &[])
            .await?;
        Ok(v.server_version)
    }

    /// The user (and device) the access token belongs to.
    #[instrument(skip(self), level = "debug")]
    pub async fn whoami(&self) -> Result<WhoAmI, AdminError> {
        self.get(&["_matrix", "client", "v3", "account", "whoami"], &[])
            .await
    }

    /// Lifts Synapse's message rate limit for `user` (Admin API
    /// `override_ratelimit` with zeros).
    #[instrument(skip(self), level = "debug")]
    pub async fn lift_ratelimit(&self, user: &UserId) -> Result<(), AdminError> {
        let segs = [
            "_synapse",
            "admin",
            "v1",
            "users",
            user.as_str(),
            "override_ratelimit",
        ];
        let body = json!({"messages_per_second": 0, "burst_count": 0});
        let _: serde_json::Value = self.post(&segs, &body).await?;
        Ok(())
    }

    /// Whether `user` has published a cross-signing master key (client
    /// API `keys/query`; informational, for `oldrooms check`).
    #[instrument(skip(self), level = "debug")]
    pub async fn has_cross_signing(&self, user: &UserId) -> Result<bool, AdminError> {
        let body = json!({"device_keys": {user.as_str(): []}});
        let answer: KeysQuery = self
            .post(&["_matrix", "client", "v3", "keys", "query"], &body)
            .await?;
        Ok(answer.master_keys.contains_key(user.as_str()))
    }

    /// Whether `user` is a server admin. Only an admin may ask, so a
    /// non-admin token gets [`AdminError::NotAdmin`].
    #[instrument(skip(self), level = "debug")]
    pub async fn is_server_admin(&self, user: &UserId) -> Result<bool, AdminError> {
        let answer: IsAdmin = self
            .get(
                &["_synapse", "admin", "v1", "users", user.as_str(), "admin"],
                &[],
            )
            .await?;
        Ok(answer.admin)
    }

    /// The room an alias points to; `None` when the alias does not exist.
    #[instrument(skip(self), level = "debug")]
    pub async fn resolve_alias(
        &self,
        alias: &RoomAliasId,
    ) -> Result<Option<OwnedRoomId>, AdminError> {
        match self
            .get::<AliasTarget>(
                &[
                    "_matrix",
                    "client",
                    "v3",
                    "directory",
                    "room",
                    alias.as_str(),
                ],
                &[],
            )
            .await
        {
            Ok(target) => Ok(Some(target.room_id)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Logs in with a password, creating a device that [`Self::logout`] removes.
    #[instrument(skip(password, settings), level = "debug")]
    pub async fn login(
        base: Url,
        user: &UserId,
        password: &Secret,
        settings: HttpSettings,
    ) -> Result<Login, AdminError> {
        let anonymous = Self::anonymous(base.clone(), settings)?;
        let body = json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user.as_str()},
            "password": password.expose(),
            "initial_device_display_name": "oldrooms (command line)",
        });
        let answer: LoginResponse = anonymous
            .post(&["_matrix", "client", "v3", "login"], &body)
            .await
            .map_err(|e| match e {
                AdminError::Api {
                    errcode, message, ..
                } if errcode == "M_FORBIDDEN" => AdminError::LoginRefused { errcode, message },
                other => other,
            })?;
        Ok(Login {
            client: Self::new(base, Secret::new(answer.access_token), settings)?,
            device_id: answer.device_id,
        })
    }

    /// Ends the session of this token, removing its device.
    #[instrument(skip(self), level = "debug")]
    /// Logs the token out. At the end of a run, so it does not wait out a
    /// homeserver that is down (see `outage`): a device may then remain.
    pub async fn logout(&self) -> Result<(), AdminError> {
        let mut impatient = self.clone();
        impatient.settings.outage_patience = std::time::Duration::ZERO;
        let _: serde_json::Value = impatient
            .post(&["_matrix", "client", "v3", "logout"], &json!({}))
            .await?;
        Ok(())
    }
}

#[derive(Deserialize)]
struct Versions {
    #[serde(default)]
    versions: Vec<String>,
}

impl AdminClient {
    /// The client-server API versions the homeserver speaks; needs no token.
    #[instrument(skip(self), level = "debug")]
    pub async fn client_versions(&self) -> Result<Vec<String>, AdminError> {
        let v: Versions = self.get(&["_matrix", "client", "versions"], &[]).await?;
        Ok(v.versions)
    }
}

#[derive(Deserialize)]
struct AuthIssuer {
    issuer: String,
}

impl AdminClient {
    /// Who issues the homeserver's tokens when it delegates authentication
    /// (the Matrix Authentication Service, MAS); `None` when it does not, or
    /// does not say. The stable endpoint first, then MSC2965's unstable one.
    #[instrument(skip(self), level = "debug")]
    pub async fn auth_issuer(&self) -> Option<String> {
        let stable = ["_matrix", "client", "v1", "auth_metadata"];
        let unstable = [
            "_matrix",
            "client",
            "unstable",
            "org.matrix.msc2965",
            "auth_issuer",
        ];
        for path in [&stable[..], &unstable[..]] {
            if let Ok(found) = self.get::<AuthIssuer>(path, &[]).await {
                return Some(found.issuer).filter(|i| !i.is_empty());
            }
        }
        None
    }
}
