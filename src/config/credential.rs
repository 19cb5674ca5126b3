//! Where the secret comes from, first found wins: the environment, a
//! systemd credential (`LoadCredential=`), a file named in the config, the
//! config itself. A secret never has to sit in the environment or the file.

use std::path::{Path, PathBuf};

use super::Credential;
use super::raw::RawAuth;
use crate::secret::Secret;

pub const ENV_ACCESS_TOKEN: &str = "OLDROOMS_ACCESS_TOKEN";
pub const ENV_PASSWORD: &str = "OLDROOMS_PASSWORD";
/// The names to give the secret in `LoadCredential=NAME:PATH`.
pub const CREDENTIAL_ACCESS_TOKEN: &str = "oldrooms-access-token";
pub const CREDENTIAL_PASSWORD: &str = "oldrooms-password";

/// A secret that could not be read: the key (or place) and why.
pub type Unreadable = (String, String);

/// The credential, or `None` when no place has one. Relative `*_file`
/// paths are taken from the config file's folder.
pub fn pick(
    auth: &RawAuth,
    config_dir: &Path,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<Credential>, Unreadable> {
    let given = |v: Option<String>| v.filter(|s| !s.is_empty());
    if let Some(token) = given(env(ENV_ACCESS_TOKEN)) {
        return Ok(Some(Credential::AccessToken(Secret::new(token))));
    }
    if let Some(password) = given(env(ENV_PASSWORD)) {
        return Ok(Some(Credential::Password(Secret::new(password))));
    }
    if let Some(dir) = given(env("CREDENTIALS_DIRECTORY")) {
        let token = Path::new(&dir).join(CREDENTIAL_ACCESS_TOKEN);
        let password = Path::new(&dir).join(CREDENTIAL_PASSWORD);
        let place = |name: &str| format!("systemd credential {name}");
        if token.exists() {
            let secret = read(&token).map_err(|m| (place(CREDENTIAL_ACCESS_TOKEN), m))?;
            return Ok(Some(Credential::AccessToken(secret)));
        }
        if password.exists() {
            let secret = read(&password).map_err(|m| (place(CREDENTIAL_PASSWORD), m))?;
            return Ok(Some(Credential::Password(secret)));
        }
    }
    let both = |key: &str| {
        (
            format!("auth.{key}_file"),
            format!("set auth.{key} or auth.{key}_file, not both"),
        )
    };
    if auth.access_token.is_some() && auth.access_token_file.is_some() {
        return Err(both("access_token"));
    }
    if auth.password.is_some() && auth.password_file.is_some() {
        return Err(both("password"));
    }
    let path = |p: &PathBuf| config_dir.join(p);
    if let Some(file) = &auth.access_token_file {
        let secret = read(&path(file)).map_err(|m| ("auth.access_token_file".to_owned(), m))?;
        return Ok(Some(Credential::AccessToken(secret)));
    }
    if let Some(file) = &auth.password_file {
        let secret = read(&path(file)).map_err(|m| ("auth.password_file".to_owned(), m))?;
        return Ok(Some(Credential::Password(secret)));
    }
    Ok(given(auth.access_token.clone())
        .map(|t| Credential::AccessToken(Secret::new(t)))
        .or_else(|| given(auth.password.clone()).map(|p| Credential::Password(Secret::new(p)))))
}

/// A secret file's content without the line end editors add.
fn read(path: &Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(Secret::new(value))
}
