//! A deletion with a grace period: the rooms that still have local people
//! are put on a plan, each person is warned once about all of their rooms,
//! and at the deadline the rooms go through the journaled deletion, whose
//! re-check keeps every room where anything was said since the scan. Pure:
//! the plan's content and its records; the file is `file.rs`, the sending
//! `warn.rs`.

pub mod file;
pub mod steps;
pub mod warn;

use std::collections::BTreeMap;

use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId};
use serde::{Deserialize, Serialize};

use crate::delete::journal::{Entry, Journal};
use crate::policy::Rules;

/// The plan format this oldrooms writes and reads.
pub const VERSION: u32 = 1;

/// One person to warn, with the plan's rooms they are in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub user_id: OwnedUserId,
    /// Indices into `Plan::rooms`.
    pub rooms: Vec<usize>,
}

/// How a warning reached a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    ServerNotice,
    /// A direct chat from our account.
    Direct {
        room_id: OwnedRoomId,
    },
}

/// Where one person's warning stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Warning {
    NotSent,
    /// About to be sent (with a transaction id of its own, so that a retry
    /// of the request is taken once).
    Sending,
    Sent {
        via: Via,
        event_id: String,
        at: i64,
    },
    /// Refused by the homeserver (a 4xx): nothing went out, so the next
    /// `--resume` tries again.
    Failed {
        error: String,
    },
    /// It may have gone out: found `Sending` after a stop, or the answer
    /// was a timeout or a 5xx. Never sent again (nobody is warned twice),
    /// and never counted as warned.
    Unknown,
}

/// One line after the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    Warning {
        person: usize,
        warning: Warning,
    },
    /// Withdrawn: nothing of it is deleted.
    Cancelled,
}

/// The whole plan: the header plus every record replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub version: u32,
    /// Names the plan in its warnings' transaction ids.
    pub id: String,
    /// When it was confirmed, and when its rooms are deleted (ms).
    pub confirmed_at: i64,
    pub deadline: i64,
    pub confirmed_by: String,
    /// The bot's offer message that was confirmed: a ❌ there withdraws it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<String>,
    pub options: Option<Rules>,
    pub rooms: Vec<Entry>,
    pub people: Vec<Person>,
    #[serde(skip)]
    pub warnings: Vec<Warning>,
    #[serde(skip)]
    pub cancelled: bool,
}

impl Plan {
    /// A plan of `rooms`, whose local people are `people_of[i]` for room
    /// `i`: each person once, with all of their rooms.
    pub fn new(
        id: String,
        confirmed_by: &str,
        confirmed_at: i64,
        deadline: i64,
        options: Option<Rules>,
        rooms: Vec<Entry>,
        people_of: &[Vec<OwnedUserId>],
    ) -> Self {
        let mut by_person: BTreeMap<OwnedUserId, Vec<usize>> = BTreeMap::new();
        for (i, people) in people_of.iter().enumerate() {
            for user in people {
                let theirs = by_person.entry(user.clone()).or_default();
                if !theirs.contains(&i) {
                    theirs.push(i);
                }
            }
        }
        let people: Vec<Person> = by_person
            .into_iter()
            .map(|(user_id, rooms)| Person { user_id, rooms })
            .collect();
        Self {
            version: VERSION,
            id,
            confirmed_at,
            deadline,
            confirmed_by: confirmed_by.to_owned(),
            offer: None,
            options,
            warnings: vec![Warning::NotSent; people.len()],
            rooms,
            people,
            cancelled: false,
        }
    }

    /// Applies one record; an index out of range means a damaged plan.
    pub fn apply(&mut self, record: &Record) -> Result<(), String> {
        match record {
            Record::Cancelled => self.cancelled = true,
            Record::Warning { person, warning } => {
                let slot = self
                    .warnings
                    .get_mut(*person)
                    .ok_or_else(|| format!("person {person} is not in the header"))?;
                *slot = warning.clone();
            }
        }
        Ok(())
    }

    /// The people still to warn: never one whose warning was or may have
    /// been sent.
    pub fn to_warn(&self) -> Vec<usize> {
        (0..self.people.len())
            .filter(|&i| matches!(self.warnings[i], Warning::NotSent | Warning::Failed { .. }))
            .collect()
    }

    /// The people whose warning a stop left `Sending`.
    pub fn interrupted(&self) -> Vec<usize> {
        (0..self.people.len())
            .filter(|&i| self.warnings[i] == Warning::Sending)
            .collect()
    }

    /// The transaction id of person `i`'s warning: the same on every try.
    pub fn txn(&self, i: usize) -> String {
        format!("oldrooms-plan-{}-{i}", self.id)
    }

    /// Whether person `i` was warned, early enough to count: at least half
    /// the grace period before the deadline. A warning sent later (a retry
    /// after a failure) leaves their rooms kept.
    pub fn warned_in_time(&self, i: usize) -> bool {
        matches!(self.warnings.get(i), Some(Warning::Sent { at, .. }) if *at <= self.warn_until())
    }

    /// The last time a warning counts: half the grace before the deadline.
    pub fn warn_until(&self) -> i64 {
        self.deadline - (self.deadline - self.confirmed_at) / 2
    }

    /// How many people were sent their warning.
    pub fn warned(&self) -> usize {
        self.warnings
            .iter()
            .filter(|w| matches!(w, Warning::Sent { .. }))
            .count()
    }

    /// Person `user`'s index, if the plan warns them.
    fn person(&self, user: &OwnedUserId) -> Option<usize> {
        self.people.iter().position(|p| &p.user_id == user)
    }

    /// The deletion the deadline starts, given each room's local people
    /// now (`people_now[i]` for room `i`): the rooms whose people were all
    /// warned in time, with the facts the scan recorded, so that anything
    /// said since keeps a room. Every other room is kept, with who was not
    /// warned (someone who joined since, or whose warning failed).
    pub fn deletion(&self, people_now: &[Vec<OwnedUserId>]) -> (Journal, Vec<(usize, String)>) {
        let mut kept = Vec::new();
        let mut rooms = Vec::new();
        for (i, room) in self.rooms.iter().enumerate() {
            let unwarned: Vec<&str> = people_now
                .get(i)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter(|u| !self.person(u).is_some_and(|p| self.warned_in_time(p)))
                .map(|u| u.as_str())
                .collect();
            if unwarned.is_empty() {
                rooms.push(room.clone());
            } else {
                kept.push((
                    i,
                    format!("kept: not warned in time ({})", unwarned.join(", ")),
                ));
            }
        }
        let journal = Journal::new(
            &self.confirmed_by,
            self.confirmed_at,
            self.options.clone(),
            rooms,
        );
        (journal, kept)
    }

    /// Every room a person is listed in exists: a plan edited by hand must
    /// not make a warning read past its rooms.
    pub(crate) fn check_indices(&self) -> Result<(), String> {
        let n = self.rooms.len();
        match self.people.iter().find(|p| p.rooms.iter().any(|&r| r >= n)) {
            Some(p) => Err(format!(
                "{} is listed in a room the plan does not hold",
                p.user_id
            )),
            None => Ok(()),
        }
    }
}

/// At most this many rooms are named in one warning: a message stays well
/// under Synapse's 64 KB event limit.
const LISTED: usize = 50;

/// The default warning. `{rooms}` is a line per room, `{deadline}` the
/// time of the deletion, `{server}` the homeserver's name.
pub const DEFAULT_WARNING: &str = "Some rooms you are in on {server} have been quiet for a long \
     time, and will be deleted after {deadline}:\n{rooms}\nTo keep a room, send any message in \
     it before then.";

/// Person `i`'s warning, from `template`.
pub fn warning_text(template: &str, plan: &Plan, i: usize, server: &str) -> String {
    let theirs = &plan.people[i].rooms;
    let mut rooms: Vec<String> = theirs
        .iter()
        .take(LISTED)
        .map(|&r| {
            let room = &plan.rooms[r];
            let name = crate::plain::shorten(room.name.trim(), 80);
            if name.is_empty() {
                format!("- {}", room.room_id)
            } else {
                format!("- {name} ({})", room.room_id)
            }
        })
        .collect();
    if theirs.len() > LISTED {
        rooms.push(format!("- … and {} more", theirs.len() - LISTED));
    }
    template
        .replace("{server}", server)
        .replace("{deadline}", &crate::timefmt::rfc3339(plan.deadline))
        .replace("{rooms}", &rooms.join("\n"))
}

#[cfg(test)]
mod tests;
