//! A bot Element trusts: its own cross-signing identity with its device
//! signed by it, and recovery (secret storage with server-side key backup),
//! so its room keys outlive `bot.data_dir`'s crypto store. Set up once;
//! later starts find it done and change nothing. The recovery key goes to
//! a file only the bot's user can read; the log names the file, never the
//! key. Trouble here never stops the bot: it works unverified, and says why.

use std::path::Path;

use anyhow::Context as _;
use matrix_sdk::Client;
use matrix_sdk::encryption::recovery::RecoveryState;
use matrix_sdk::ruma::api::client::uiaa;
use tracing::{info, warn};

use crate::config::{Config, Credential};

/// The recovery key, in `bot.data_dir`.
pub const RECOVERY_KEY_FILE: &str = "recovery-key";

/// Sets up what is missing. Call before the first sync, so that key backup
/// is running before the first room key needs backing up.
pub async fn ensure(client: &Client, config: &Config) {
    let encryption = client.encryption();
    // The SDK's own start-up work (resuming the backup, reading the
    // recovery state) runs first.
    encryption.wait_for_e2ee_initialization_tasks().await;
    if let Err(e) = cross_sign(client, config).await {
        warn!(error = %format!("{e:#}"), "the bot's device is not cross-signed; Element shows it as unverified");
        return;
    }
    let file = config.bot.data_dir.join(RECOVERY_KEY_FILE);
    if let Err(e) = recovery(client, &file).await {
        warn!(error = %format!("{e:#}"), "key backup is not set up: the bot's room keys live only in its crypto store");
    }
}

/// Whether our own device carries our self-signing key's signature, as the
/// homeserver has it.
pub async fn cross_signed(client: &Client) -> anyhow::Result<bool> {
    let encryption = client.encryption();
    if !encryption
        .cross_signing_status()
        .await
        .is_some_and(|s| s.is_complete())
    {
        return Ok(false);
    }
    let me = client.user_id().context("not logged in")?.to_owned();
    encryption
        .request_user_identity(&me)
        .await
        .context("cannot read our own keys")?;
    Ok(encryption
        .get_own_device()
        .await?
        .is_some_and(|d| d.is_cross_signed_by_owner()))
}

async fn cross_sign(client: &Client, config: &Config) -> anyhow::Result<()> {
    if cross_signed(client).await? {
        return Ok(());
    }
    // Synapse asks for the password to upload cross-signing keys; given
    // with the first request, it is one request and no 401.
    let auth = match &config.credential {
        Credential::Password(password) => {
            let who = uiaa::UserIdentifier::Matrix(uiaa::MatrixUserIdentifier::new(
                config.user_id.to_string(),
            ));
            Some(uiaa::AuthData::Password(uiaa::Password::new(
                who,
                password.expose().to_owned(),
            )))
        }
        Credential::AccessToken(_) => None,
    };
    let token_only = auth.is_none();
    match client.encryption().bootstrap_cross_signing(auth).await {
        Ok(()) => {}
        Err(e) if token_only && e.as_uiaa_response().is_some() => {
            anyhow::bail!(
                "{} already has cross-signing keys and the homeserver wants an approval to \
                 replace them; with MAS, sign in to its account page as that user, allow \
                 the cross-signing reset, and restart the bot within the window it gives \
                 (or put the bot's recovery-key file back into data_dir)",
                config.user_id
            );
        }
        Err(e) => return Err(e).context("cannot set up cross-signing"),
    }
    info!("cross-signing set up: the bot's device is signed by its own identity");
    Ok(())
}

async fn recovery(client: &Client, file: &Path) -> anyhow::Result<()> {
    let recovery = client.encryption().recovery();
    if recovery.state() == RecoveryState::Enabled {
        return Ok(());
    }
    // A key kept from before (a crypto store lost, the key file put back):
    // the secrets and the backup come back from the homeserver.
    if let Some(key) = read_key(file)? {
        recovery
            .recover(key.trim())
            .await
            .with_context(|| format!("cannot recover with the key in {}", file.display()))?;
        info!(file = %file.display(), "keys recovered from the server-side backup");
        return Ok(());
    }
    let key = recovery.enable().await.context("cannot turn on recovery")?;
    write_key(file, &key)?;
    info!(
        file = %file.display(),
        "recovery and key backup turned on; keep a copy of the recovery key file elsewhere: \
         with it, a bot that lost its data_dir gets its room keys back"
    );
    Ok(())
}

fn read_key(file: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(file) {
        Ok(key) => Ok(Some(key)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", file.display())),
    }
}

/// Written once, readable by the bot's user only.
fn write_key(file: &Path, key: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .with_context(|| format!("cannot write the recovery key to {}", file.display()))?;
    out.write_all(format!("{key}\n").as_bytes())
        .and_then(|()| out.sync_all())
        .with_context(|| format!("cannot write the recovery key to {}", file.display()))
}
