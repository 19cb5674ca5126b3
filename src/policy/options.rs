//! The options a scan runs with, as recorded in the deletion journal so that
//! the re-check applies them again, and the patterns of `exclude` and
//! `ignore_members`.

use regex::Regex;

use super::Policy;

/// The options a scan ran with: what the deletion's re-check must apply
/// again, whatever the config says by then.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScanOptions {
    pub inactive_days: u32,
    pub delete_abandoned: bool,
    pub include_spaces: bool,
    pub include_public: bool,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub exclude_servers: Vec<String>,
    #[serde(default)]
    pub ignore_members: Vec<String>,
    #[serde(default = "default_max_ghosts")]
    pub max_ghosts: u64,
    #[serde(default)]
    pub keep_direct: bool,
}

/// `policy.max_ghosts` when the config does not set it.
pub const DEFAULT_MAX_GHOSTS: u64 = 20;

fn default_max_ghosts() -> u64 {
    DEFAULT_MAX_GHOSTS
}

impl Policy {
    pub fn options(&self) -> ScanOptions {
        ScanOptions {
            inactive_days: self.inactive_days,
            delete_abandoned: self.delete_abandoned,
            include_spaces: self.include_spaces,
            include_public: self.include_public,
            exclude: self.exclude.patterns().to_vec(),
            exclude_servers: self.exclude_servers.clone(),
            ignore_members: self.ignore_members.patterns().to_vec(),
            max_ghosts: self.max_ghosts,
            keep_direct: self.keep_direct,
        }
    }

    /// This policy with a scan's options; the admin room and the protected
    /// rooms stay this policy's own, so they are always refused.
    pub fn with_options(&self, o: ScanOptions) -> Policy {
        Policy {
            inactive_days: o.inactive_days,
            delete_abandoned: o.delete_abandoned,
            include_spaces: o.include_spaces,
            include_public: o.include_public,
            exclude: Patterns::or_protect_all(o.exclude),
            exclude_servers: o.exclude_servers,
            ignore_members: Patterns::or_protect_all(o.ignore_members),
            max_ghosts: o.max_ghosts,
            keep_direct: o.keep_direct,
            ..self.clone()
        }
    }
}

impl Policy {
    /// The rules a deletion re-checks with: the confirmed scan's options,
    /// or this policy's own when there are none (an edited CSV).
    pub fn for_run(&self, options: Option<ScanOptions>) -> Policy {
        match options {
            Some(o) => self.with_options(o),
            None => self.clone(),
        }
    }
}

/// Regular expressions: `exclude` (a room whose id, canonical alias or name
/// matches is protected) and `ignore_members` (user ids that are not people).
#[derive(Debug, Clone, Default)]
pub struct Patterns {
    patterns: Vec<String>,
    regexes: Vec<Regex>,
    /// A pattern that did not compile where it should have: every room is
    /// excluded, and no member is a ghost.
    unreadable: Option<String>,
}

impl PartialEq for Patterns {
    fn eq(&self, other: &Self) -> bool {
        self.patterns == other.patterns
    }
}

impl Eq for Patterns {}

impl Patterns {
    /// Compiles the patterns; the error names the first bad one's index.
    pub fn new(patterns: Vec<String>) -> Result<Self, (usize, regex::Error)> {
        let regexes = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| Regex::new(p).map_err(|e| (i, e)))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            patterns,
            regexes,
            unreadable: None,
        })
    }

    /// For patterns checked before (config, command options, a journal we
    /// wrote): should one not compile after all, every room is protected and
    /// nobody is a ghost, because a rule we cannot apply is no reason to
    /// delete.
    pub fn or_protect_all(patterns: Vec<String>) -> Self {
        Self::new(patterns.clone()).unwrap_or_else(|(i, _)| {
            let bad = patterns.get(i).cloned().unwrap_or_default();
            Self {
                unreadable: Some(format!("{bad} (unreadable, so every room is kept)")),
                patterns,
                regexes: Vec::new(),
            }
        })
    }

    /// These patterns and `more` (checked before, as clap does).
    pub fn with(&self, more: &[String]) -> Self {
        if more.is_empty() {
            return self.clone();
        }
        let mut patterns = self.patterns.clone();
        patterns.extend(more.iter().cloned());
        Self::or_protect_all(patterns)
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// The first pattern that matches any of `texts`.
    pub fn first_match<'a>(&self, texts: impl Iterator<Item = &'a str> + Clone) -> Option<&str> {
        if let Some(all) = &self.unreadable {
            return Some(all);
        }
        self.regexes
            .iter()
            .zip(&self.patterns)
            .find(|(r, _)| texts.clone().any(|t| r.is_match(t)))
            .map(|(_, p)| p.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `user_id` matches one of the patterns; never when a pattern
    /// is unreadable.
    pub fn matches_user(&self, user_id: &str) -> bool {
        self.unreadable.is_none() && self.regexes.iter().any(|r| r.is_match(user_id))
    }
}

/// Checks one pattern, for clap and the config.
pub fn valid_pattern(p: &str) -> Result<String, String> {
    Regex::new(p)
        .map(|_| p.to_owned())
        .map_err(|e| e.to_string())
}
