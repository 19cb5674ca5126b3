//! The rules of the policy, one type from the config or a command to the
//! deletion's re-check: the config's `[policy]` knobs, a scan's overrides
//! applied, carried as they are in the offer and the journal. Also the
//! patterns of `exclude` and `ignore_members`.

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The knobs that decide which rooms go (everything but the rooms named as
/// protected, which stay the config's own whatever a scan says).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    pub inactive_days: u32,
    pub delete_abandoned: bool,
    pub include_spaces: bool,
    pub include_public: bool,
    /// Rooms whose id, alias or name matches are protected.
    #[serde(default)]
    pub exclude: Patterns,
    /// Rooms created by users of these servers are protected.
    #[serde(default)]
    pub exclude_servers: Vec<String>,
    /// User ids that do not count as people (bridge puppets, bots).
    #[serde(default)]
    pub ignore_members: Patterns,
    /// Rooms with more local members are not read for ghosts.
    #[serde(default = "default_max_ghosts")]
    pub max_ghosts: u64,
    /// Direct chats are protected.
    #[serde(default)]
    pub keep_direct: bool,
}

/// `policy.max_ghosts` when the config does not set it.
pub const DEFAULT_MAX_GHOSTS: u64 = 20;

fn default_max_ghosts() -> u64 {
    DEFAULT_MAX_GHOSTS
}

impl Default for Rules {
    /// `[policy]`'s defaults.
    fn default() -> Self {
        Self {
            inactive_days: 365,
            delete_abandoned: true,
            include_spaces: false,
            include_public: false,
            exclude: Patterns::default(),
            exclude_servers: Vec::new(),
            ignore_members: Patterns::default(),
            max_ghosts: DEFAULT_MAX_GHOSTS,
            keep_direct: false,
        }
    }
}

/// Written as the list of patterns; read back (from a journal we wrote)
/// with [`Patterns::or_protect_all`].
impl Serialize for Patterns {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.patterns.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Patterns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<String>::deserialize(d).map(Self::or_protect_all)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_back_as_journals_have_always_written_them() {
        // A journal header's `options` as oldrooms wrote them before `Rules`.
        let written = r#"{"inactive_days":30,"delete_abandoned":true,"include_spaces":false,"include_public":true,"exclude":["^#keep"],"exclude_servers":["b.example"],"ignore_members":["^@_irc_"],"max_ghosts":20,"keep_direct":false}"#;
        let rules: Rules = serde_json::from_str(written).unwrap();
        assert_eq!(rules.exclude.patterns(), ["^#keep"]);
        assert!(
            rules
                .exclude
                .first_match(["#keep-me:x"].into_iter())
                .is_some()
        );
        assert_eq!(serde_json::to_string(&rules).unwrap(), written);
        // Only the four knobs were always written.
        let short = r#"{"inactive_days":1,"delete_abandoned":false,"include_spaces":true,"include_public":false}"#;
        let rules: Rules = serde_json::from_str(short).unwrap();
        assert_eq!(rules.max_ghosts, DEFAULT_MAX_GHOSTS);
        // A pattern that no longer compiles protects every room.
        let bad = r#"{"inactive_days":1,"delete_abandoned":false,"include_spaces":true,"include_public":false,"exclude":["(unclosed"]}"#;
        let rules: Rules = serde_json::from_str(bad).unwrap();
        assert!(rules.exclude.first_match(["!any:x"].into_iter()).is_some());
    }
}
