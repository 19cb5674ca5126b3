//! A string that must never be printed: access tokens and passwords.

use std::fmt;

/// A secret string. `Debug` and `Display` print a placeholder, so a secret
/// inside a struct that is logged or shown in an error stays hidden.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<hidden>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<hidden>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("syt_very_secret");
        assert!(!format!("{s:?} {s}").contains("syt_very_secret"));
        assert_eq!(s.expose(), "syt_very_secret");
    }
}
