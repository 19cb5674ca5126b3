//! What the machine's unit and property tests build their cases from:
//! settings, scans, uploads, commands, and a machine with a clock.

use std::collections::HashSet;
use std::time::Duration;

use matrix_sdk::ruma::{OwnedEventId, OwnedUserId};

use super::*;
use crate::bot::commands::parse_line;
use crate::policy::{Patterns, Verdict};
use crate::room::ListedRoom;
use crate::scan::{Row, ScanOutcome};

pub const TIMEOUT: Ms = 15 * 60 * 1000;

pub fn user(name: &str) -> OwnedUserId {
    OwnedUserId::try_from(format!("@{name}:example.com")).unwrap()
}

pub fn event(name: &str) -> OwnedEventId {
    OwnedEventId::try_from(format!("${name}")).unwrap()
}

pub fn settings() -> Settings {
    Settings {
        admins: HashSet::from([user("alice"), user("bob")]),
        admin_room: "!admin:example.com".try_into().unwrap(),
        prefix: "!oldrooms".into(),
        confirm_key: "✅".into(),
        cancel_key: "❌".into(),
        confirm_shown: "✅".into(),
        cancel_shown: "❌".into(),
        confirm_timeout_ms: TIMEOUT,
        shares_account: false,
        schedule: None,
        grace_ms: None,
    }
}

pub fn options() -> Rules {
    Rules {
        inactive_days: 30,
        delete_abandoned: true,
        include_spaces: true,
        include_public: false,
        exclude: Patterns::or_protect_all(vec!["^#keep".into()]),
        exclude_servers: Vec::new(),
        ignore_members: Patterns::or_protect_all(vec!["^@_discord_".into()]),
        max_ghosts: 20,
        keep_direct: true,
    }
}

/// A scan whose candidates are `ids`, plus one active room.
pub fn scan_result(ids: &[String]) -> Box<ScanResult> {
    let row = |id: &str, verdict| Row {
        room: ListedRoom {
            room_id: id.try_into().unwrap(),
            name: Some("room".into()),
            creator: None,
            joined_members: 1,
            joined_local_members: 1,
            public: false,
            rare: None,
        },
        last_activity: Some(1_000),
        last_event: Some("$e".into()),
        verdict,
    };
    let mut rows: Vec<Row> = ids
        .iter()
        .map(|id| {
            row(
                id,
                Verdict::Inactive {
                    days: 400,
                    limit: 30,
                },
            )
        })
        .collect();
    rows.push(row("!active:example.com", Verdict::Active { days: 1 }));
    Box::new(ScanResult {
        outcome: ScanOutcome {
            rows,
            now_ms: 0,
            elapsed: Duration::from_secs(1),
            route: crate::scan::Route::AdminApi,
        },
        options: options(),
        message: None,
    })
}

/// A file posted in the admin room.
pub fn upload() -> Upload {
    Upload {
        name: "results.csv".into(),
        source: matrix_sdk::ruma::events::room::MediaSource::Plain("mxc://example.com/f".into()),
        size: Some(100),
    }
}

/// What reading an uploaded file found: `ids` to offer.
pub fn uploaded(ids: &[String]) -> Box<crate::delete::choice::Choice> {
    let offered = ids
        .iter()
        .map(|id| crate::delete::journal::Entry {
            room_id: id.as_str().try_into().unwrap(),
            name: String::new(),
            last_activity: Some(1_000),
            last_event: Some("$e".into()),
            joined_local_members: 1,
            abandoned: false,
            step: crate::delete::journal::Step::Pending,
            submitting_since: None,
        })
        .collect();
    Box::new(crate::delete::choice::Choice {
        offered,
        ..Default::default()
    })
}

pub fn command(sender: &OwnedUserId, line: &str) -> Input {
    Input::Command {
        sender: sender.clone(),
        parsed: parse_line("!oldrooms", line).unwrap(),
    }
}

pub fn says(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Say(t) => Some(t.plain.clone()),
            _ => None,
        })
        .collect()
}

pub fn said(effects: &[Effect], start: &str) -> bool {
    says(effects).iter().any(|s| s.contains(start))
}

pub fn new_deletion(effects: &[Effect]) -> Option<(JobId, &Confirmed)> {
    effects.iter().find_map(|e| match e {
        Effect::StartDeletion {
            job,
            start: DeletionStart::New(j),
        } => Some((*job, &**j)),
        _ => None,
    })
}

/// A machine and a clock.
pub struct Bot {
    pub m: Machine,
    pub now: Ms,
}

impl Bot {
    pub fn new() -> Self {
        Self::with(settings())
    }

    pub fn with(settings: Settings) -> Self {
        let mut m = Machine::new(settings);
        assert!(m.handle(0, Input::Started(OnDisk::Nothing)).is_empty());
        Self { m, now: 1_000_000 }
    }

    pub fn on(&mut self, input: Input) -> Vec<Effect> {
        self.m.handle(self.now, input)
    }

    pub fn react(&mut self, who: &str, target: &OwnedEventId, key: &str) -> Vec<Effect> {
        let input = Input::Reaction {
            sender: user(who),
            target: target.clone(),
            key: key.into(),
        };
        self.on(input)
    }

    /// A scan from alice that finds `n` candidates: returns its offer's id.
    pub fn scan(&mut self, n: usize) -> (JobId, u64) {
        let effects = self.on(command(&user("alice"), "!oldrooms scan"));
        let Some(Effect::StartScan { job, .. }) = effects.first() else {
            panic!("{effects:?}")
        };
        let job = *job;
        let ids: Vec<String> = (0..n).map(|i| format!("!r{i}:example.com")).collect();
        let end = ScanEnd::Done(scan_result(&ids));
        let effects = self.on(Input::ScanEnded { job, end });
        let offer = effects.iter().find_map(|e| match e {
            Effect::PublishScan {
                offer: Some((filed, _)),
                ..
            } => Some(filed.offer),
            _ => None,
        });
        (job, offer.unwrap())
    }

    /// A scan and its offer posted as `name`.
    pub fn offer(&mut self, name: &str) -> OwnedEventId {
        let (_, id) = self.scan(3);
        let event_id = event(name);
        let effects = self.on(Input::OfferPosted {
            offer: id,
            event_id: Some(event_id.clone()),
        });
        assert!(effects.is_empty(), "{effects:?}");
        event_id
    }
}
