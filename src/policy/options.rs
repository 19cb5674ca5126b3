//! The options a scan runs with, as recorded in the deletion journal so that
//! the re-check applies them again, and the `exclude` patterns.

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
            exclude: Exclusions::or_protect_all(o.exclude),
            exclude_servers: o.exclude_servers,
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

/// Regular expressions; a room whose id, canonical alias or name matches
/// one of them is protected.
#[derive(Debug, Clone, Default)]
pub struct Exclusions {
    patterns: Vec<String>,
    regexes: Vec<Regex>,
    /// A pattern that did not compile where it should have: it matches
    /// every room.
    unreadable: Option<String>,
}

impl PartialEq for Exclusions {
    fn eq(&self, other: &Self) -> bool {
        self.patterns == other.patterns
    }
}

impl Eq for Exclusions {}

impl Exclusions {
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
    /// wrote): should one not compile after all, every room is protected,
    /// because a rule we cannot apply is no reason to delete.
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
}

/// Checks one pattern, for clap and the config.
pub fn valid_pattern(p: &str) -> Result<String, String> {
    Regex::new(p)
        .map(|_| p.to_owned())
        .map_err(|e| e.to_string())
}
