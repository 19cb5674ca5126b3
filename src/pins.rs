//! Protection pinned to room ids. An alias in `policy.protected_rooms` or
//! `bot.admin_room` is a name that the alias's creator or a room moderator
//! can delete or point elsewhere; the room it named must stay protected.
//! So every room an alias has ever resolved to is pinned (kept in
//! `bot.data_dir`), a pinned room stays protected when its alias moves or
//! vanishes, and the admins are told once about each change. Pure: the
//! file and the lookups are the caller's.

use std::collections::BTreeMap;

use matrix_sdk::ruma::OwnedRoomId;
use serde::{Deserialize, Serialize};

/// The file in `bot.data_dir`.
pub const FILE: &str = "pinned-rooms.json";

/// Every alias's pinned rooms, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pins {
    aliases: BTreeMap<String, Pinned>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Pinned {
    rooms: Vec<OwnedRoomId>,
    /// The changes already told, so each is told once.
    #[serde(default)]
    told: Vec<String>,
}

/// What one alias protects now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protects {
    /// The first room it was pinned to (the admin room, for
    /// `bot.admin_room`), then the others.
    pub rooms: Vec<OwnedRoomId>,
    /// A change not yet told, for the admins.
    pub news: Option<String>,
}

impl Pins {
    /// Pins what `alias` (the config's `key`) resolves to now (`None`: it
    /// resolves to nothing). `None` when it never resolved: a config error.
    pub fn pin(&mut self, key: &str, alias: &str, now: Option<OwnedRoomId>) -> Option<Protects> {
        let pinned = self.aliases.entry(alias.to_owned()).or_default();
        let news = match now {
            Some(room) if pinned.rooms.contains(&room) => None,
            Some(room) => {
                let before = pinned.rooms.clone();
                pinned.rooms.push(room.clone());
                (!before.is_empty()).then(|| {
                    format!(
                        "The alias {alias} ({key}) now points to {room}, no longer to {}: the \
                         rooms it pointed to stay protected, and so does {room}.",
                        list(&before)
                    )
                })
            }
            None if pinned.rooms.is_empty() => {
                self.aliases.remove(alias);
                return None;
            }
            None => Some(format!(
                "The alias {alias} ({key}) no longer resolves to a room: {} stays protected.",
                list(&pinned.rooms)
            )),
        };
        let news = news.filter(|text| !pinned.told.contains(text));
        if let Some(text) = &news {
            pinned.told.push(text.clone());
        }
        Some(Protects {
            rooms: pinned.rooms.clone(),
            news,
        })
    }
}

fn list(rooms: &[OwnedRoomId]) -> String {
    let ids: Vec<&str> = rooms.iter().map(|r| r.as_str()).collect();
    ids.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> OwnedRoomId {
        OwnedRoomId::try_from(s).unwrap()
    }

    #[test]
    fn a_moved_or_vanished_alias_keeps_protecting_its_rooms_and_says_so_once() {
        let mut pins = Pins::default();
        let key = "policy.protected_rooms[0]";
        let first = pins.pin(key, "#keep:x", Some(id("!a:x"))).unwrap();
        assert_eq!((first.rooms, first.news), (vec![id("!a:x")], None));
        let again = pins.pin(key, "#keep:x", Some(id("!a:x"))).unwrap();
        assert_eq!(again.news, None);

        let moved = pins.pin(key, "#keep:x", Some(id("!b:x"))).unwrap();
        assert_eq!(moved.rooms, [id("!a:x"), id("!b:x")]);
        assert_eq!(
            moved.news.as_deref(),
            Some(
                "The alias #keep:x (policy.protected_rooms[0]) now points to !b:x, no longer to \
                 !a:x: the rooms it pointed to stay protected, and so does !b:x."
            )
        );
        let told = pins.pin(key, "#keep:x", Some(id("!b:x"))).unwrap();
        assert_eq!(told.news, None, "told once");

        let gone = pins.pin(key, "#keep:x", None).unwrap();
        assert_eq!(gone.rooms, [id("!a:x"), id("!b:x")]);
        assert!(gone.news.unwrap().contains("no longer resolves"));
        assert_eq!(pins.pin(key, "#keep:x", None).unwrap().news, None);

        // Survives the file.
        let text = serde_json::to_string(&pins).unwrap();
        let mut back: Pins = serde_json::from_str(&text).unwrap();
        assert_eq!(back.pin(key, "#keep:x", None).unwrap().rooms.len(), 2);
    }

    #[test]
    fn an_alias_that_never_resolved_is_not_pinned() {
        let mut pins = Pins::default();
        assert_eq!(pins.pin("bot.admin_room", "#typo:x", None), None);
        assert_eq!(pins, Pins::default());
    }
}
