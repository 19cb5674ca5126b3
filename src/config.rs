//! The TOML configuration: the file as written (`RawConfig`, unknown keys
//! rejected) and the validated settings (`Config`, typed ids and URLs). Every
//! error names the file and the key, on one line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use matrix_sdk::ruma::{OwnedDeviceId, OwnedRoomOrAliasId, OwnedUserId};
use url::Url;

use crate::admin::{HttpSettings, NoticeRoom};

mod credential;
mod database;
mod raw;
use crate::secret::Secret;
pub use credential::{
    CREDENTIAL_ACCESS_TOKEN, CREDENTIAL_PASSWORD, ENV_ACCESS_TOKEN, ENV_PASSWORD,
};
pub use database::ENV_DATABASE_PASSWORD;

/// Overrides `auth.device_id`.
pub const ENV_DEVICE_ID: &str = "OLDROOMS_DEVICE_ID";
use raw::RawConfig;

/// A configuration problem. Each is one line, and `oldrooms` exits with 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}, line {line}: {message}")]
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{file}: {key}: {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
}

/// How we prove who we are.
#[derive(Debug, Clone)]
pub enum Credential {
    AccessToken(Secret),
    /// Logged in for the run, and logged out at its end.
    Password(Secret),
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from, for messages.
    pub file: String,
    pub homeserver: Url,
    pub user_id: OwnedUserId,
    pub credential: Credential,
    /// The device the access token must name (a MAS compatibility token's
    /// `--device-id`), so the crypto store stays with one device.
    pub device_id: Option<OwnedDeviceId>,
    pub bot: BotSettings,
    pub policy: PolicySettings,
    pub scan: ScanSettings,
    pub delete: DeleteConfig,
    /// Scans the bot starts by itself (`[schedule]`), if any.
    pub schedule: Option<crate::schedule::Schedule>,
    /// Synapse's database, read-only, for fast scans (`[database]`).
    pub database: Option<crate::db::Source>,
}

/// `[delete]`: how confirmations and deletions work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteConfig {
    /// Reaction keys, compared without U+FE0F.
    pub confirm_reaction: String,
    pub cancel_reaction: String,
    /// How long an offer to delete stands.
    pub confirm_timeout: Duration,
    pub engine: DeleteSettings,
    /// How long the people of a room are given between their warning and
    /// its deletion (`grace`); none: deleted when confirmed.
    pub grace: Option<Duration>,
    /// The warning's template (`warning_message`), see `plan::warning_text`.
    pub warning: String,
}

/// How the deletion engine runs (`[delete]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteSettings {
    /// Deletions in flight at once.
    pub concurrency: usize,
    /// Block the room ids so they cannot be joined or re-created.
    pub block: bool,
    /// How long one room may take before it is reported as failed.
    pub room_timeout: Duration,
    /// Pause between two status polls of one deletion.
    pub poll_interval: Duration,
    /// The room Synapse makes for the local members still in a room when
    /// it is deleted (`notice_message`); none when unset.
    pub notice: Option<NoticeRoom>,
}

/// The notice room's name unless `delete.notice_room_name` says otherwise.
pub const NOTICE_ROOM_NAME: &str = "A room you were in was deleted";

/// A reaction key as compared: without the emoji variation selector.
pub fn reaction_key(key: &str) -> String {
    key.replace('\u{FE0F}', "")
}

#[derive(Debug, Clone)]
pub struct BotSettings {
    pub admin_room: Option<OwnedRoomOrAliasId>,
    pub admins: Vec<OwnedUserId>,
    pub data_dir: PathBuf,
    /// The first word of every command, e.g. `!oldrooms`.
    pub command_prefix: String,
    /// Least time between two edits of a progress message.
    pub progress_interval: Duration,
    /// Lift Synapse's message rate limit for the bot's own account.
    pub lift_own_ratelimit: bool,
    /// Where `/healthz` answers, if anywhere.
    pub health_listen: Option<std::net::SocketAddr>,
}

/// `[policy]` before aliases are resolved (that needs the homeserver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySettings {
    /// The knobs, patterns checked at load.
    pub rules: crate::policy::Rules,
    pub protected_rooms: Vec<OwnedRoomOrAliasId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanSettings {
    pub concurrency: usize,
    pub page_size: u32,
    pub http: HttpSettings,
}

impl Config {
    /// Reads and validates a config file; secrets in the environment win.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        Self::parse(&text, &file, |name| std::env::var(name).ok())
    }

    /// Validates config text. `env` looks up environment variables.
    pub fn parse(
        text: &str,
        file: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: file.to_owned(),
            line: e.span().map_or(0, |s| line_of(text, s.start)),
            message: e.message().replace('\n', " "),
        })?;
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            file: file.to_owned(),
            key: key.to_owned(),
            message,
        };

        let homeserver =
            parse_homeserver(&raw.homeserver.url).map_err(|m| invalid("homeserver.url", m))?;
        let user_id = parse_user(&raw.auth.user_id).map_err(|m| invalid("auth.user_id", m))?;
        let config_dir = Path::new(file).parent().unwrap_or(Path::new("."));
        let credential = credential::pick(&raw.auth, config_dir, &env)
            .map_err(|(key, message)| invalid(&key, message))?
            .ok_or_else(|| {
                invalid(
                    "auth.access_token",
                    format!(
                        "no secret given: set auth.access_token, auth.access_token_file, \
                         auth.password or auth.password_file, or {ENV_ACCESS_TOKEN} or \
                         {ENV_PASSWORD} in the environment, or the systemd credential \
                         {CREDENTIAL_ACCESS_TOKEN}"
                    ),
                )
            })?;

        let device_id = env(ENV_DEVICE_ID)
            .filter(|d| !d.is_empty())
            .or(raw.auth.device_id.clone())
            .map(|d| parse_device(&d))
            .transpose()
            .map_err(|m| invalid("auth.device_id", m))?;

        let admin_room = raw
            .bot
            .admin_room
            .as_deref()
            .map(parse_room)
            .transpose()
            .map_err(|m| invalid("bot.admin_room", m))?;
        let admins = raw
            .bot
            .admins
            .iter()
            .enumerate()
            .map(|(i, u)| parse_user(u).map_err(|m| invalid(&format!("bot.admins[{i}]"), m)))
            .collect::<Result<_, _>>()?;
        let protected_rooms = raw
            .policy
            .protected_rooms
            .iter()
            .enumerate()
            .map(|(i, r)| {
                parse_room(r).map_err(|m| invalid(&format!("policy.protected_rooms[{i}]"), m))
            })
            .collect::<Result<_, _>>()?;
        let exclude =
            crate::policy::Patterns::new(raw.policy.exclude.clone()).map_err(|(i, e)| {
                invalid(
                    &format!("policy.exclude[{i}]"),
                    format!("not a regular expression: {e}"),
                )
            })?;
        let ignore_members = crate::policy::Patterns::new(raw.policy.ignore_members.clone())
            .map_err(|(i, e)| {
                invalid(
                    &format!("policy.ignore_members[{i}]"),
                    format!("not a regular expression: {e}"),
                )
            })?;
        for (i, server) in raw.policy.exclude_servers.iter().enumerate() {
            if server.is_empty() || server.contains(|c: char| c.is_whitespace() || c == '@') {
                return Err(invalid(
                    &format!("policy.exclude_servers[{i}]"),
                    "must be a server name, like example.com".into(),
                ));
            }
        }

        let prefix = raw.bot.command_prefix.trim();
        if prefix.is_empty() || prefix.contains(char::is_whitespace) {
            return Err(invalid(
                "bot.command_prefix",
                "must be one word, like !oldrooms".into(),
            ));
        }
        if raw.bot.progress_interval_secs == 0 {
            return Err(invalid(
                "bot.progress_interval_secs",
                "must be at least 1".into(),
            ));
        }
        let health_listen = match &raw.bot.health_listen {
            None => None,
            Some(text) => Some(text.trim().parse().map_err(|_| {
                invalid(
                    "bot.health_listen",
                    format!("`{text}` is not an address and port, like 127.0.0.1:9187"),
                )
            })?),
        };
        if raw.policy.inactive_days == 0 {
            return Err(invalid("policy.inactive_days", "must be at least 1".into()));
        }
        let s = &raw.scan;
        if !(1..=256).contains(&s.concurrency) {
            return Err(invalid(
                "scan.concurrency",
                "must be between 1 and 256".into(),
            ));
        }
        if !(1..=10_000).contains(&s.page_size) {
            return Err(invalid(
                "scan.page_size",
                "must be between 1 and 10000".into(),
            ));
        }
        if s.outage_patience_secs > 86_400 {
            return Err(invalid(
                "scan.outage_patience_secs",
                "must be at most 86400 (a day)".into(),
            ));
        }
        if s.request_timeout_secs == 0 {
            return Err(invalid(
                "scan.request_timeout_secs",
                "must be at least 1".into(),
            ));
        }

        let schedule = match &raw.schedule {
            None => None,
            Some(s) => Some(crate::schedule::Schedule {
                every: crate::schedule::parse_every(&s.every)
                    .map_err(|m| invalid("schedule.every", m))?,
                at_minute: s
                    .at
                    .as_deref()
                    .map(crate::schedule::parse_at)
                    .transpose()
                    .map_err(|m| invalid("schedule.at", m))?,
            }),
        };

        if let Some(s) = &schedule
            && s.at_minute.is_some()
            && !s.every.as_secs().is_multiple_of(86_400)
        {
            return Err(invalid(
                "schedule.every",
                "must be whole days (1d, 7d…) when schedule.at is set".into(),
            ));
        }

        let database = raw
            .database
            .as_ref()
            .map(|d| database::pick(d, config_dir, &env))
            .transpose()
            .map_err(|(key, message)| invalid(&key, message))?;

        let d = &raw.delete;
        for (key, value) in [
            ("delete.confirm_reaction", &d.confirm_reaction),
            ("delete.cancel_reaction", &d.cancel_reaction),
        ] {
            if reaction_key(value).trim().is_empty() {
                return Err(invalid(key, "must not be empty".into()));
            }
        }
        if reaction_key(&d.confirm_reaction) == reaction_key(&d.cancel_reaction) {
            return Err(invalid(
                "delete.cancel_reaction",
                "must differ from delete.confirm_reaction".into(),
            ));
        }
        if !(1..=5).contains(&d.concurrency) {
            // Synapse runs at most 5 deletion tasks at once; more only queue.
            return Err(invalid(
                "delete.concurrency",
                "must be between 1 and 5".into(),
            ));
        }
        if d.confirm_timeout_secs == 0 || d.room_timeout_secs == 0 || d.poll_interval_ms == 0 {
            let key = if d.confirm_timeout_secs == 0 {
                "delete.confirm_timeout_secs"
            } else if d.room_timeout_secs == 0 {
                "delete.room_timeout_secs"
            } else {
                "delete.poll_interval_ms"
            };
            return Err(invalid(key, "must be at least 1".into()));
        }
        let notice = notice_room(d, &user_id).map_err(|(key, m)| invalid(key, m))?;
        let (grace, warning) = grace(d).map_err(|(key, m)| invalid(key, m))?;

        Ok(Self {
            file: file.to_owned(),
            homeserver,
            user_id,
            credential,
            device_id,
            bot: BotSettings {
                admin_room,
                admins,
                data_dir: raw.bot.data_dir,
                command_prefix: prefix.to_owned(),
                progress_interval: Duration::from_secs(raw.bot.progress_interval_secs),
                lift_own_ratelimit: raw.bot.lift_own_ratelimit,
                health_listen,
            },
            policy: PolicySettings {
                rules: crate::policy::Rules {
                    inactive_days: raw.policy.inactive_days,
                    delete_abandoned: raw.policy.delete_abandoned,
                    include_spaces: raw.policy.include_spaces,
                    include_public: raw.policy.include_public,
                    exclude,
                    exclude_servers: raw.policy.exclude_servers.clone(),
                    ignore_members,
                    max_ghosts: raw.policy.max_ghosts,
                    keep_direct: raw.policy.keep_direct,
                },
                protected_rooms,
            },
            scan: ScanSettings {
                concurrency: s.concurrency,
                page_size: s.page_size,
                http: HttpSettings {
                    request_timeout: Duration::from_secs(s.request_timeout_secs),
                    max_retries: s.max_retries,
                    max_requests_per_second: s.max_requests_per_second,
                    outage_patience: Duration::from_secs(s.outage_patience_secs),
                    ..HttpSettings::default()
                },
            },
            schedule,
            database,
            delete: DeleteConfig {
                confirm_reaction: d.confirm_reaction.clone(),
                cancel_reaction: d.cancel_reaction.clone(),
                confirm_timeout: Duration::from_secs(d.confirm_timeout_secs),
                engine: DeleteSettings {
                    concurrency: d.concurrency,
                    block: d.block,
                    room_timeout: Duration::from_secs(d.room_timeout_secs),
                    poll_interval: Duration::from_millis(d.poll_interval_ms),
                    notice,
                },
                grace,
                warning,
            },
        })
    }

    /// An error about one key of this file, for checks made after loading.
    pub fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.clone(),
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// `delete.notice_message` and `notice_room_name`: the account oldrooms
/// runs as makes the room (Synapse's `new_room_user_id`), since Synapse's
/// own name and message speak of illegal content.
fn notice_room(
    d: &raw::RawDelete,
    creator: &OwnedUserId,
) -> Result<Option<NoticeRoom>, (&'static str, String)> {
    let Some(message) = &d.notice_message else {
        return match d.notice_room_name {
            Some(_) => Err((
                "delete.notice_room_name",
                "needs delete.notice_message (the notice room is made only with a message)".into(),
            )),
            None => Ok(None),
        };
    };
    if message.trim().is_empty() || message.len() > NOTICE_MAX {
        return Err((
            "delete.notice_message",
            format!("must be 1 to {NOTICE_MAX} bytes"),
        ));
    }
    let room_name = d.notice_room_name.as_deref().unwrap_or(NOTICE_ROOM_NAME);
    if room_name.trim().is_empty() || room_name.len() > NAME_MAX {
        return Err((
            "delete.notice_room_name",
            format!("must be 1 to {NAME_MAX} bytes"),
        ));
    }
    Ok(Some(NoticeRoom {
        creator: creator.clone(),
        room_name: room_name.to_owned(),
        message: message.clone(),
    }))
}

/// `delete.grace` (a duration as in `[schedule]`; `"0s"` is none) and
/// `delete.warning_message`, which must say which rooms.
#[allow(clippy::type_complexity)]
fn grace(d: &raw::RawDelete) -> Result<(Option<Duration>, String), (&'static str, String)> {
    let grace = match d.grace.as_deref().map(str::trim) {
        None | Some("0s" | "0") => None,
        Some(text) => Some(crate::schedule::parse_every(text).map_err(|m| ("delete.grace", m))?),
    };
    let warning = d
        .warning_message
        .clone()
        .unwrap_or_else(|| crate::plan::DEFAULT_WARNING.to_owned());
    if !warning.contains("{rooms}") || warning.len() > NOTICE_MAX {
        return Err((
            "delete.warning_message",
            format!("must name the rooms with {{rooms}}, in at most {NOTICE_MAX} bytes"),
        ));
    }
    Ok((grace, warning))
}

/// Longest notice message and notice room name we send, in UTF-8 bytes
/// (Synapse refuses a room name over 255 bytes).
const NOTICE_MAX: usize = 4000;
const NAME_MAX: usize = 255;

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |head| head.matches('\n').count())
        + 1
}

fn parse_homeserver(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("`{s}` is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("`{s}` is not an http(s) URL with a host"));
    }
    Ok(url)
}

fn parse_user(s: &str) -> Result<OwnedUserId, String> {
    OwnedUserId::try_from(s)
        .map_err(|e| format!("`{s}` is not a Matrix user id like @name:example.com ({e})"))
}

fn parse_device(s: &str) -> Result<OwnedDeviceId, String> {
    let fits =
        !s.is_empty() && s.len() <= 255 && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    if fits {
        Ok(OwnedDeviceId::from(s))
    } else {
        Err(format!(
            "`{}` is not a device id (one word, like OLDROOMSBOT)",
            crate::plain::shorten(s, 40)
        ))
    }
}

fn parse_room(s: &str) -> Result<OwnedRoomOrAliasId, String> {
    OwnedRoomOrAliasId::try_from(s)
        .map_err(|e| format!("`{s}` is not a room id (!…) or alias (#…:server) ({e})"))
}

#[cfg(test)]
mod tests;
