//! `[database]`: where Synapse's database is, for the read-only path.

use std::path::Path;
use std::str::FromStr as _;

use super::raw::RawDatabase;
use crate::db::Source;

/// Overrides the PostgreSQL password, so it need not sit in the file.
pub const ENV_DATABASE_PASSWORD: &str = "OLDROOMS_DATABASE_PASSWORD";

/// The source, or the key at fault and why. Relative paths are taken from
/// the config file's folder.
pub fn pick(
    raw: &RawDatabase,
    config_dir: &Path,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Source, (String, String)> {
    let fail = |key: &str, message: String| (format!("database.{key}"), message);
    match (&raw.sqlite, &raw.postgres) {
        (Some(_), Some(_)) => Err(fail("postgres", "set sqlite or postgres, not both".into())),
        (None, None) => Err(fail(
            "sqlite",
            "set sqlite (the path of homeserver.db) or postgres (a connection string)".into(),
        )),
        (Some(path), None) => {
            if raw.password_file.is_some() {
                return Err(fail("password_file", "only for postgres".into()));
            }
            Ok(Source::Sqlite(config_dir.join(path)))
        }
        (None, Some(text)) => {
            // The error names the problem, never the text: it may hold a
            // password.
            let mut config = tokio_postgres::Config::from_str(text).map_err(|e| {
                fail(
                    "postgres",
                    format!(
                        "not a connection string (\"host=/var/run/postgresql \
                         dbname=synapse user=oldrooms_ro\" or postgresql://…): {e}"
                    ),
                )
            })?;
            if let Some(password) = env(ENV_DATABASE_PASSWORD).filter(|p| !p.is_empty()) {
                config.password(password);
            } else if let Some(file) = &raw.password_file {
                let path = config_dir.join(file);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    fail(
                        "password_file",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                config.password(text.trim_end_matches(['\n', '\r']));
            }
            if config.get_dbname().is_none() {
                return Err(fail("postgres", "name the database (dbname=…)".into()));
            }
            if let Some(host) = remote_host(&config) {
                return Err(fail(
                    "postgres",
                    format!(
                        "{host} is not this machine: oldrooms connects without TLS, so use a \
                         Unix socket, localhost, or an SSH tunnel to a remote database"
                    ),
                ));
            }
            Ok(Source::Postgres(Box::new(config)))
        }
    }
}

/// A TCP host that is not loopback, if the connection names one.
fn remote_host(config: &tokio_postgres::Config) -> Option<String> {
    use tokio_postgres::config::Host;
    let loopback = |name: &str| {
        name == "localhost"
            || name
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    };
    let named = config.get_hosts().iter().find_map(|host| match host {
        Host::Tcp(name) if !loopback(name) => Some(name.clone()),
        _ => None,
    });
    let by_address = config
        .get_hostaddrs()
        .iter()
        .find(|ip| !ip.is_loopback())
        .map(ToString::to_string);
    named.or(by_address)
}
