//! The config file as written: serde structs with their defaults, unknown
//! keys rejected. Validation into typed settings happens in `config.rs`.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) homeserver: RawHomeserver,
    pub(super) auth: RawAuth,
    #[serde(default)]
    pub(super) bot: RawBot,
    #[serde(default)]
    pub(super) policy: RawPolicy,
    #[serde(default)]
    pub(super) scan: RawScan,
    #[serde(default)]
    pub(super) delete: RawDelete,
    pub(super) schedule: Option<RawSchedule>,
    pub(super) database: Option<RawDatabase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDatabase {
    pub(super) sqlite: Option<PathBuf>,
    pub(super) postgres: Option<String>,
    pub(super) password_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    pub(super) every: String,
    pub(super) at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDelete {
    pub(super) confirm_reaction: String,
    pub(super) cancel_reaction: String,
    pub(super) confirm_timeout_secs: u64,
    pub(super) concurrency: usize,
    pub(super) block: bool,
    pub(super) room_timeout_secs: u64,
    pub(super) poll_interval_ms: u64,
    pub(super) notice_message: Option<String>,
    pub(super) notice_room_name: Option<String>,
    pub(super) grace: Option<String>,
    pub(super) warning_message: Option<String>,
}

impl Default for RawDelete {
    fn default() -> Self {
        Self {
            confirm_reaction: "✅".into(),
            cancel_reaction: "❌".into(),
            confirm_timeout_secs: 15 * 60,
            concurrency: 4,
            block: false,
            room_timeout_secs: 3600,
            poll_interval_ms: 1000,
            notice_message: None,
            notice_room_name: None,
            grace: None,
            warning_message: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHomeserver {
    pub(super) url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    pub(super) user_id: String,
    pub(super) access_token: Option<String>,
    pub(super) access_token_file: Option<PathBuf>,
    pub(super) password: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) device_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBot {
    pub(super) admin_room: Option<String>,
    #[serde(default)]
    pub(super) admins: Vec<String>,
    #[serde(default = "default_data_dir")]
    pub(super) data_dir: PathBuf,
    #[serde(default = "default_prefix")]
    pub(super) command_prefix: String,
    #[serde(default = "default_progress_interval")]
    pub(super) progress_interval_secs: u64,
    #[serde(default)]
    pub(super) lift_own_ratelimit: bool,
    pub(super) health_listen: Option<String>,
}

impl Default for RawBot {
    fn default() -> Self {
        Self {
            admin_room: None,
            admins: Vec::new(),
            data_dir: default_data_dir(),
            command_prefix: default_prefix(),
            progress_interval_secs: default_progress_interval(),
            lift_own_ratelimit: false,
            health_listen: None,
        }
    }
}

fn default_prefix() -> String {
    "!oldrooms".to_owned()
}

fn default_progress_interval() -> u64 {
    10
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./oldrooms-data")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawPolicy {
    pub(super) inactive_days: u32,
    pub(super) delete_abandoned: bool,
    pub(super) include_spaces: bool,
    pub(super) include_public: bool,
    pub(super) protected_rooms: Vec<String>,
    pub(super) exclude: Vec<String>,
    pub(super) exclude_servers: Vec<String>,
    pub(super) ignore_members: Vec<String>,
    pub(super) max_ghosts: u64,
    pub(super) keep_direct: bool,
}

/// The defaults are the `Rules`' own.
impl Default for RawPolicy {
    fn default() -> Self {
        let rules = crate::policy::Rules::default();
        Self {
            inactive_days: rules.inactive_days,
            delete_abandoned: rules.delete_abandoned,
            include_spaces: rules.include_spaces,
            include_public: rules.include_public,
            protected_rooms: Vec::new(),
            exclude: rules.exclude.patterns().to_vec(),
            exclude_servers: rules.exclude_servers,
            ignore_members: rules.ignore_members.patterns().to_vec(),
            max_ghosts: rules.max_ghosts,
            keep_direct: rules.keep_direct,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawScan {
    pub(super) concurrency: usize,
    pub(super) page_size: u32,
    pub(super) request_timeout_secs: u64,
    pub(super) max_retries: u32,
    pub(super) max_requests_per_second: u32,
    pub(super) outage_patience_secs: u64,
}

impl Default for RawScan {
    fn default() -> Self {
        Self {
            concurrency: 8,
            page_size: 500,
            request_timeout_secs: 30,
            max_retries: 5,
            max_requests_per_second: 0,
            outage_patience_secs: 300,
        }
    }
}
