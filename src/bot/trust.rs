//! A bot Element trusts: its own cross-signing identity with its device
//! signed by it, and recovery (secret storage with server-side key backup),
//! so its keys outlive `bot.data_dir`'s crypto store. Set up once; later
//! starts find it done and change nothing. The recovery key goes to a file
//! only the bot's user can read; the log names the file, never the key.
//!
//! Nothing the account already has is replaced (cross-signing keys, secret
//! storage): it may be a human's (an account shared with an admin), and
//! replacing it would undo every verification made with it. Trouble here
//! never stops the bot: it works unverified, and says why.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use matrix_sdk::Client;
use matrix_sdk::encryption::recovery::RecoveryState;
use matrix_sdk::ruma::api::client::uiaa;
use tracing::{info, warn};

use crate::admin::AdminClient;
use crate::config::{Config, Credential};

/// The recovery key, in `bot.data_dir`.
pub const RECOVERY_KEY_FILE: &str = "recovery-key";

/// The longest the start waits for this: a homeserver that hangs costs
/// the bot its verification, not its start.
const PATIENCE: Duration = Duration::from_secs(120);

/// Sets up what is missing. Call before the first sync, so that key backup
/// is running before the first room key needs backing up.
pub async fn ensure(client: &Client, admin: &AdminClient, config: &Config, shares_account: bool) {
    if shares_account {
        info!(
            "the bot shares its account with a human admin: it sets up no cross-signing or \
             key backup of its own, and its session stays unverified"
        );
        return;
    }
    let file = config.bot.data_dir.join(RECOVERY_KEY_FILE);
    let work = async {
        // The SDK's own start-up work (resuming the backup, reading the
        // recovery state) runs first.
        client
            .encryption()
            .wait_for_e2ee_initialization_tasks()
            .await;
        set_up(client, admin, config, &file).await
    };
    let why = match tokio::time::timeout(PATIENCE, work).await {
        Ok(Ok(())) => return,
        Ok(Err(e)) => format!("{e:#}"),
        Err(_) => format!(
            "the homeserver did not answer within {} s",
            PATIENCE.as_secs()
        ),
    };
    warn!(error = %why, "the bot is not verified by its own identity, or its keys are not backed up");
}

async fn set_up(
    client: &Client,
    admin: &AdminClient,
    config: &Config,
    file: &Path,
) -> anyhow::Result<()> {
    let encryption = client.encryption();
    let holds_keys = || async {
        encryption
            .cross_signing_status()
            .await
            .is_some_and(|s| s.is_complete())
    };
    // Asked through our own client: the SDK's query of our own keys warns
    // while a new device's keys are not uploaded yet.
    let on_server = admin
        .has_cross_signing(&config.user_id)
        .await
        .context("cannot read the account's cross-signing keys")?;
    if !on_server {
        cross_sign(client, config).await?;
    } else if holds_keys().await {
        if !signed_by_owner(client).await? {
            sign_own_device(client).await?;
        }
    } else {
        // Keys we do not hold: only our recovery key brings them.
        let Some(key) = read_key(file)? else {
            anyhow::bail!(
                "{} already has cross-signing keys that this bot does not hold, and it \
                 never replaces them; put its recovery-key file back into {} and restart it",
                config.user_id,
                config.bot.data_dir.display()
            );
        };
        recover(client, &key, file).await?;
        sign_own_device(client).await?;
    }
    recovery(client, file).await
}

/// Whether our own device carries our self-signing key's signature, as the
/// homeserver has it.
async fn signed_by_owner(client: &Client) -> anyhow::Result<bool> {
    let encryption = client.encryption();
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

/// Signs our device with the self-signing key we hold.
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
    info!("the bot's device is signed by its own identity");
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
    let encryption = client.encryption();
    let key = read_key(file)?;
    if encryption.recovery().state() == RecoveryState::Enabled {
        if key.is_none() {
            warn!(
                file = %file.display(),
                "recovery is on but its key file is missing: put your copy back there, or a \
                 bot that loses data_dir cannot get its keys back"
            );
        }
        return Ok(());
    }
    // A key kept from before (a crypto store lost, the key file put back).
    if let Some(key) = key {
        return recover(client, &key, file).await;
    }
    // Someone's secret storage already: a new one would lock them out.
    if encryption
        .secret_storage()
        .is_enabled()
        .await
        .context("cannot read the account's secret storage")?
    {
        anyhow::bail!(
            "the account has secret storage whose key is not in {}; the bot does not replace it",
            file.display()
        );
    }
    let key = encryption
        .recovery()
        .enable()
        .await
        .context("cannot turn on recovery")?;
    // Whole or not at all, readable by the bot's user only.
    crate::atomic::write_bytes(file, format!("{key}\n").as_bytes())
        .context("cannot keep the recovery key")?;
    info!(
        file = %file.display(),
        "recovery and key backup turned on; keep a copy of the recovery key file elsewhere: \
         with it, a bot that lost its data_dir gets its keys back"
    );
    Ok(())
}

fn read_key(file: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(file) {
        Ok(key) if key.trim().is_empty() => Ok(None),
        Ok(key) => Ok(Some(key)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", file.display())),
    }
}
