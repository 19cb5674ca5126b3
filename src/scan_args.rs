//! The options of one scan, overriding `[policy]` for that run: a single
//! clap definition for `!oldrooms scan` in chat and `oldrooms scan` on the
//! command line.

use clap::Args;

use crate::policy::Policy;

/// Overrides of the configured `[policy]` for one scan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct ScanArgs {
    /// Days without activity before a room counts as inactive
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub inactive_days: Option<u32>,
    /// Consider spaces too (protected by default)
    #[arg(long)]
    pub include_spaces: bool,
    /// Consider rooms published in the room directory too (protected by default)
    #[arg(long)]
    pub include_public: bool,
    /// Keep rooms whose id, alias or name matches this regular expression
    /// (repeatable; added to policy.exclude)
    #[arg(long, value_name = "REGEX", value_parser = crate::policy::valid_pattern)]
    pub exclude: Vec<String>,
    /// Keep rooms created by users of this server (repeatable; added to
    /// policy.exclude_servers)
    #[arg(long, value_name = "SERVER")]
    pub exclude_server: Vec<String>,
    /// Keep direct chats (rooms whose first invites are marked is_direct)
    #[arg(long)]
    pub keep_direct: bool,
    /// User ids matching this regular expression are not people: a room
    /// where only such local members are left is abandoned (repeatable;
    /// added to policy.ignore_members)
    #[arg(long, value_name = "REGEX", value_parser = crate::policy::valid_pattern)]
    pub ignore_member: Vec<String>,
}

impl ScanArgs {
    /// The policy for this scan: the config's, with these overrides. The
    /// admin room and the protected rooms are never overridden.
    pub fn apply(&self, mut policy: Policy) -> Policy {
        let r = &mut policy.rules;
        r.inactive_days = self.inactive_days.unwrap_or(r.inactive_days);
        r.include_spaces |= self.include_spaces;
        r.include_public |= self.include_public;
        r.exclude = r.exclude.with(&self.exclude);
        r.ignore_members = r.ignore_members.with(&self.ignore_member);
        r.exclude_servers
            .extend(self.exclude_server.iter().cloned());
        r.keep_direct |= self.keep_direct;
        policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_only_what_is_given() {
        let mut config = Policy::for_tests();
        config.rules.exclude = crate::policy::Patterns::new(vec!["^#keep".into()]).unwrap();
        config.rules.exclude_servers = vec!["a.example".into()];
        assert_eq!(ScanArgs::default().apply(config.clone()), config);
        let args = ScanArgs {
            inactive_days: Some(30),
            include_spaces: true,
            include_public: false,
            exclude: vec!["team".into()],
            exclude_server: vec!["b.example".into()],
            keep_direct: true,
            ignore_member: vec!["^@_irc_".into()],
        };
        let p = args.apply(config.clone()).rules;
        assert_eq!(
            (p.inactive_days, p.include_spaces, p.include_public),
            (30, true, false)
        );
        assert_eq!(p.exclude.patterns(), ["^#keep", "team"]);
        assert_eq!(p.exclude_servers, ["a.example", "b.example"]);
        assert!(p.keep_direct);
        assert_eq!(p.ignore_members.patterns(), ["^@_irc_"]);
    }
}
