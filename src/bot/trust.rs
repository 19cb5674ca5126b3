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

use crate::admin::AdminClient;
use crate::config::{Config, Credential};

/// The recovery key, in `bot.data_dir`.
pub const RECOVERY_KEY_FILE: &str = "recovery-key";

/// Sets up what is missing. Call before the first sync, so that key backup
/// is running before the first room key needs backing up.
///
/// Keys the account already has are never replaced: they may be a human's
/// (an account shared with an admin), and replacing them would break every
/// verification made with them. The bot then uses them only through its
/// own recovery key, or leaves its device for the account's owner to verify.
pub async fn ensure(client: &Client, admin: &AdminClient, config: &Config, shares_account: bool) {
    if shares_account {
        info!(
            "the bot shares its account with a human admin: it sets up no cross-signing or \
             key backup of its own; verify its session from your client"
        );
        return;
    }
    let encryption = client.encryption();
    // The SDK's own start-up work (resuming the backup, reading the
    // recovery state) runs first.
    encryption.wait_for_e2ee_initialization_tasks().await;
    let file = config.bot.data_dir.join(RECOVERY_KEY_FILE);
    match set_up(client, admin, config, &file).await {
        Ok(()) => {}
        Err(e) => warn!(
            error = %format!("{e:#}"),
            "the bot is not verified by its own identity, or its room keys are not backed up"
        ),
    }
}

async fn set_up(
    client: &Client,
    admin: &AdminClient,
    config: &Config,
    file: &Path,
) -> anyhow::Result<()> {
    if !cross_signed(client).await? {
        let on_server = admin
            .has_cross_signing(&config.user_id)
            .await
            .context("cannot read the account's cross-signing keys")?;
        let ours = client
            .encryption()
            .cross_signing_status()
            .await
            .is_some_and(|s| s.is_complete());
        if on_server && !ours {
            // Keys we do not hold: only the recovery key brings them.
            let Some(key) = read_key(file)? else {
                anyhow::bail!(
                    "{} already has cross-signing keys that this bot does not hold, and it \
                     never replaces them: verify its session from a client of that account, \
                     or put its recovery-key file back into {}",
                    config.user_id,
                    config.bot.data_dir.display()
                );
            };
            recover(client, &key, file).await?;
            sign_own_device(client).await?;
            return Ok(());
        }
        cross_sign(client, config).await?;
    }
    recovery(client, file).await
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
    // Synapse asks for the password to upload cross-signing keys; given
    // with the first request, it is one request and no 401. A first upload
    // needs none (MSC3967): with a token only, the bot sends none.
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
    client
        .encryption()
        .bootstrap_cross_signing(auth)
        .await
        .context("cannot set up cross-signing")?;
    info!("cross-signing set up: the bot's device is signed by its own identity");
    Ok(())
}

/// Signs our device with the self-signing key the recovery brought back.
async fn sign_own_device(client: &Client) -> anyhow::Result<()> {
    let device = client
        .encryption()
        .get_own_device()
        .await?
        .context("the crypto store has no device of ours")?;
    device
        .verify()
        .await
        .context("cannot sign the bot's device")?;
    info!("the bot's device is signed again by its own identity, from the recovery key");
    Ok(())
}

async fn recover(client: &Client, key: &str, file: &Path) -> anyhow::Result<()> {
    client
        .encryption()
        .recovery()
        .recover(key.trim())
        .await
        .with_context(|| format!("cannot recover with the key in {}", file.display()))?;
    info!(file = %file.display(), "keys recovered from the homeserver with the recovery key");
    Ok(())
}

async fn recovery(client: &Client, file: &Path) -> anyhow::Result<()> {
    let recovery = client.encryption().recovery();
    if recovery.state() == RecoveryState::Enabled {
        return Ok(());
    }
    // A key kept from before (a crypto store lost, the key file put back).
    if let Some(key) = read_key(file)? {
        return recover(client, &key, file).await;
    }
    let key = recovery.enable().await.context("cannot turn on recovery")?;
    write_key(file, &key)?;
    info!(
        file = %file.display(),
        "recovery and key backup turned on; keep a copy of the recovery key file elsewhere: \
         with it, a bot that lost its data_dir gets its keys back"
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
