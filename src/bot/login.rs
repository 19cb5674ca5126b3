//! The bot's Matrix client: its SQLite state and crypto store in
//! `bot.data_dir`, and a session that survives restarts (same device, same
//! keys), whether the credential is a password or an access token.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use matrix_sdk::authentication::matrix::MatrixSession;
use matrix_sdk::config::RequestConfig;
use matrix_sdk::store::RoomLoadSettings;
use matrix_sdk::{Client, SessionMeta, SessionTokens};
use rand::Rng as _;
use tracing::info;

use crate::admin::AdminClient;
use crate::config::{Config, Credential};
use crate::secret::Secret;

const SESSION_FILE: &str = "session.json";
const PASSPHRASE_FILE: &str = "store-passphrase";
pub const STORE_DIR: &str = "store";
/// The device the crypto store belongs to, written at each start.
const DEVICE_FILE: &str = "device_id";

/// A logged-in client and its access token (which also serves the Admin API).
pub struct LoggedIn {
    pub client: Client,
    pub token: Secret,
}

/// Builds the client and logs in, or restores the session saved by an
/// earlier start.
pub async fn login(config: &Config) -> anyhow::Result<LoggedIn> {
    let dir = &config.bot.data_dir;
    create_private_dir(dir)?;
    let passphrase = store_passphrase(dir)?;
    let client = Client::builder()
        .homeserver_url(config.homeserver.as_str())
        .sqlite_store(dir.join(STORE_DIR), Some(passphrase.expose()))
        // Few retries by default, so a failed sync reaches our own loop (and
        // the health report) in seconds; messages ask for more (`chat`).
        .request_config(
            RequestConfig::new()
                .timeout(Duration::from_secs(60))
                .retry_limit(3),
        )
        .build()
        .await
        .context("cannot set up the Matrix client")?;

    // A session to restore: the token's own, or the one saved at first login.
    let saved = match &config.credential {
        Credential::AccessToken(token) => Some(token_session(config, token).await?),
        Credential::Password(password) => match read_session(dir)? {
            Some(session) => Some(session),
            None => {
                password_login(&client, config, password).await?;
                None
            }
        },
    };
    if let Some(session) = saved {
        check_owner(config, &session)?;
        client
            .matrix_auth()
            .restore_session(session, RoomLoadSettings::default())
            .await
            .with_context(|| {
                format!(
                    "cannot restore the session; if the crypto store in {} belongs to \
                     another device, move it away",
                    dir.display()
                )
            })?;
    }
    let token = Secret::new(
        client
            .access_token()
            .context("the Matrix client has no access token")?,
    );
    if let Some(device) = client.device_id() {
        crate::atomic::write_bytes(&dir.join(DEVICE_FILE), device.as_str().as_bytes())?;
    }
    info!(device_id = ?client.device_id(), "Matrix session ready");
    Ok(LoggedIn { client, token })
}

/// Logs in with a new device and saves the session for the next start.
async fn password_login(client: &Client, config: &Config, password: &Secret) -> anyhow::Result<()> {
    let mut login = client
        .matrix_auth()
        .login_username(config.user_id.as_str(), password.expose())
        .initial_device_display_name("oldrooms bot");
    // The homeserver reuses a named device, and the crypto store with it.
    if let Some(device) = &config.device_id {
        login = login.device_id(device.as_str());
    }
    login.send().await.context("password login failed")?;
    let session = client
        .matrix_auth()
        .session()
        .context("no session after login")?;
    check_owner(config, &session)?;
    write_session(&config.bot.data_dir, &session)?;
    info!(device_id = %session.meta.device_id, "logged in with a new device");
    Ok(())
}

fn check_owner(config: &Config, session: &MatrixSession) -> anyhow::Result<()> {
    if session.meta.user_id == config.user_id {
        return Ok(());
    }
    Err(config
        .invalid(
            "auth.user_id",
            format!(
                "the session in {} belongs to {}; move that directory away to start afresh",
                config.bot.data_dir.display(),
                session.meta.user_id
            ),
        )
        .into())
}

/// An access token's session: the device is the token's own.
async fn token_session(config: &Config, token: &Secret) -> anyhow::Result<MatrixSession> {
    let admin = AdminClient::new(config.homeserver.clone(), token.clone(), config.scan.http)?;
    let who = admin.whoami().await?;
    let device_id = who
        .device_id
        .context("the access token has no device; use a user's token or a password")?;
    if let Some(wanted) = &config.device_id
        && wanted.as_str() != device_id
    {
        return Err(config
            .invalid(
                "auth.device_id",
                format!(
                    "the access token belongs to device {device_id}, not {wanted}; issue it \
                     for that device (mas-cli manage issue-compatibility-token … --device-id \
                     {wanted}) or change auth.device_id"
                ),
            )
            .into());
    }
    check_store_device(&config.bot.data_dir, &device_id)?;
    Ok(MatrixSession {
        meta: SessionMeta {
            user_id: who.user_id,
            device_id: device_id.into(),
        },
        tokens: SessionTokens {
            access_token: token.expose().to_owned(),
            refresh_token: None,
        },
    })
}

/// A new token for another device would meet a crypto store it cannot
/// use: say so before touching the store.
fn check_store_device(dir: &Path, device_id: &str) -> anyhow::Result<()> {
    let path = dir.join(DEVICE_FILE);
    let stored = match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if stored.is_empty() || stored == device_id {
        return Ok(());
    }
    anyhow::bail!(
        "the crypto store in {dir} belongs to device {stored}, but the access token to device \
         {device_id}: issue the token for device {stored} (mas-cli manage \
         issue-compatibility-token … --device-id {stored}), or move {dir} away to start afresh \
         (the bot then cannot read encrypted messages sent before)",
        dir = dir.display()
    )
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    set_private(dir, 0o700)
}

#[cfg(unix)]
fn set_private(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot restrict access to {}", path.display()))
}

#[cfg(not(unix))]
fn set_private(_: &Path, _: u32) -> anyhow::Result<()> {
    Ok(())
}

/// The passphrase of the SQLite stores, made on first start.
fn store_passphrase(dir: &Path) -> anyhow::Result<Secret> {
    let path = dir.join(PASSPHRASE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Secret::new(text.trim())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let bytes: [u8; 32] = rand::rng().random();
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            crate::atomic::write_bytes(&path, hex.as_bytes())?;
            Ok(Secret::new(hex))
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn read_session(dir: &Path) -> anyhow::Result<Option<MatrixSession>> {
    let path = dir.join(SESSION_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).with_context(|| {
            format!(
                "{} is damaged; move it away to log in again",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write_session(dir: &Path, session: &MatrixSession) -> anyhow::Result<()> {
    let json = serde_json::to_vec(session)?;
    crate::atomic::write_bytes(&dir.join(SESSION_FILE), &json)
}
