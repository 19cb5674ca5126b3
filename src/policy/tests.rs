use super::*;

const NOW: i64 = 1_800_000_000_000;

fn id(s: &str) -> OwnedRoomId {
    OwnedRoomId::try_from(s).unwrap()
}

fn policy() -> Policy {
    {
        let mut p = Policy::for_tests();
        p.protected_rooms = [id("!listed")].into_iter().collect();
        p.admin_room = Some(id("!admin:example.org"));
        p
    }
}

fn facts(room_id: &RoomId) -> RoomFacts<'_> {
    RoomFacts {
        room_id,
        is_space: false,
        public: false,
        name: None,
        canonical_alias: None,
        creator: None,
        joined_local_members: 3,
        joined_members: 3,
        members: None,
        direct: false,
        last_activity: Ok(NOW),
        missing: None,
    }
}

fn days_ago(days: i64) -> Result<i64, &'static str> {
    Ok(NOW - days * MS_PER_DAY)
}

#[test]
fn the_line_is_more_than_inactive_days() {
    let room = id("!r");
    let p = policy();
    let at = |ts| {
        p.decide(
            &RoomFacts {
                last_activity: Ok(ts),
                ..facts(&room)
            },
            NOW,
        )
    };
    assert_eq!(at(NOW - 364 * MS_PER_DAY), Verdict::Active { days: 364 });
    assert_eq!(at(NOW - 365 * MS_PER_DAY), Verdict::Active { days: 365 });
    assert_eq!(
        at(NOW - 365 * MS_PER_DAY - 1),
        Verdict::Inactive {
            days: 365,
            limit: 365
        }
    );
    assert_eq!(at(NOW + MS_PER_DAY), Verdict::Active { days: 0 });
}

#[test]
fn v12_ids_without_server_name_are_matched() {
    let p = policy();
    let listed = id("!listed");
    let v = p.decide(
        &RoomFacts {
            last_activity: days_ago(999),
            ..facts(&listed)
        },
        NOW,
    );
    assert_eq!(v, Verdict::Protected(Protection::Listed));
    assert!(!v.should_delete());
}

#[test]
fn reasons_start_with_their_kind() {
    let cases = [
        Verdict::Protected(Protection::AdminRoom),
        Verdict::Protected(Protection::Listed),
        Verdict::Protected(Protection::Space),
        Verdict::Protected(Protection::Public),
        Verdict::Abandoned {
            remote_members: 0,
            ghosts: 0,
        },
        Verdict::Abandoned {
            remote_members: 4,
            ghosts: 0,
        },
        Verdict::Inactive {
            days: 400,
            limit: 365,
        },
        Verdict::Active { days: 2 },
        Verdict::Unknown("timeout".into()),
    ];
    for v in cases {
        let text = v.to_string();
        assert!(text.starts_with(v.kind().as_str()), "{text}");
        assert_eq!(
            v.should_delete(),
            matches!(v.kind(), ReasonKind::Inactive | ReasonKind::Abandoned)
        );
    }
    assert_eq!(
        Verdict::Abandoned {
            remote_members: 4,
            ghosts: 0
        }
        .to_string(),
        "abandoned: no local members (4 remote)"
    );
}

/// Every combination of the inputs that matter, against the rule as the
/// issue states it, written here independently of `decide`.
#[test]
fn exhaustive_against_the_stated_rule() {
    let rooms = [id("!admin:example.org"), id("!listed"), id("!other")];
    let activities: [Result<i64, &str>; 4] =
        [days_ago(10), days_ago(400), Err("no events"), Ok(NOW + 5)];
    let bools = [false, true];
    let mut seen = std::collections::HashSet::new();
    for room_id in &rooms {
        for is_space in bools {
            for public in bools {
                for local in [0u64, 2] {
                    for remote in [0u64, 5] {
                        for activity in activities {
                            for delete_abandoned in bools {
                                for include_spaces in bools {
                                    for include_public in bools {
                                        let p = {
                                            let mut p = policy();
                                            p.rules.delete_abandoned = delete_abandoned;
                                            p.rules.include_spaces = include_spaces;
                                            p.rules.include_public = include_public;
                                            p
                                        };
                                        let f = RoomFacts {
                                            room_id,
                                            is_space,
                                            public,
                                            name: None,
                                            canonical_alias: None,
                                            creator: None,
                                            joined_local_members: local,
                                            joined_members: local + remote,
                                            members: None,
                                            direct: false,
                                            last_activity: activity,
                                            missing: None,
                                        };
                                        let got = p.decide(&f, NOW);
                                        let want = expected(&p, &f);
                                        assert_eq!(got, want, "{f:?} {p:?}");
                                        seen.insert(got.kind());
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(seen.len(), 5, "every kind of verdict is reached");
}

fn expected(p: &Policy, f: &RoomFacts<'_>) -> Verdict {
    let protected = if f.room_id.as_str() == "!admin:example.org" {
        Some(Protection::AdminRoom)
    } else if f.room_id.as_str() == "!listed" {
        Some(Protection::Listed)
    } else if f.is_space && !p.rules.include_spaces {
        Some(Protection::Space)
    } else if f.public && !p.rules.include_public {
        Some(Protection::Public)
    } else {
        None
    };
    if let Some(why) = protected {
        return Verdict::Protected(why);
    }
    let Ok(ts) = f.last_activity else {
        return Verdict::Unknown("no events".into());
    };
    if p.rules.delete_abandoned && f.joined_local_members == 0 {
        return Verdict::Abandoned {
            remote_members: f.joined_members,
            ghosts: 0,
        };
    }
    if ts == NOW - 400 * MS_PER_DAY {
        Verdict::Inactive {
            days: 400,
            limit: 365,
        }
    } else if ts == NOW + 5 {
        Verdict::Active { days: 0 }
    } else {
        Verdict::Active { days: 10 }
    }
}

#[test]
fn exclusions_protect_by_pattern_and_by_the_creators_server() {
    fn old(f: RoomFacts<'_>) -> RoomFacts<'_> {
        RoomFacts {
            last_activity: days_ago(1000),
            ..f
        }
    }
    let p = {
        let mut p = policy();
        p.rules.exclude = Patterns::new(vec!["^#team-".into(), "(?i)archive".into()]).unwrap();
        p.rules.exclude_servers = vec!["bridge.example".into()];
        p
    };
    let room = id("!r:example.org");
    let alias = old(RoomFacts {
        canonical_alias: Some("#team-ops:example.org"),
        ..facts(&room)
    });
    assert_eq!(
        p.decide(&alias, NOW).to_string(),
        "protected: matches the exclude pattern ^#team-"
    );
    let name = old(RoomFacts {
        name: Some("Old ARCHIVE 2019"),
        ..facts(&room)
    });
    assert_eq!(
        p.decide(&name, NOW),
        Verdict::Protected(Protection::Excluded("(?i)archive".into()))
    );
    let bridged = old(RoomFacts {
        creator: Some("@_discord_1:bridge.example"),
        ..facts(&room)
    });
    assert_eq!(
        p.decide(&bridged, NOW),
        Verdict::Protected(Protection::Server("bridge.example".into()))
    );
    // A server name is matched whole, and only the creator's counts.
    let other = old(RoomFacts {
        creator: Some("@a:notbridge.example"),
        name: Some("bridge.example fans"),
        ..facts(&room)
    });
    assert!(p.decide(&other, NOW).should_delete());
    // Without a creator the server rule cannot be applied: kept.
    let nobody = old(facts(&room));
    assert_eq!(
        p.decide(&nobody, NOW).to_string(),
        "unknown: the homeserver's answer did not give the room's creator"
    );
    assert!(
        policy().decide(&nobody, NOW).should_delete(),
        "no server rule"
    );
    // The admin room stays the admin room, whatever matches.
    let admin = id("!admin:example.org");
    let admin_facts = RoomFacts {
        name: Some("archive"),
        ..facts(&admin)
    };
    assert_eq!(
        p.decide(&admin_facts, NOW),
        Verdict::Protected(Protection::AdminRoom)
    );
}

#[test]
fn a_pattern_that_cannot_be_read_keeps_every_room() {
    let p = {
        let mut p = policy();
        p.rules.exclude = Patterns::or_protect_all(vec!["(unclosed".into()]);
        p
    };
    let room = id("!r:example.org");
    let f = RoomFacts {
        last_activity: days_ago(1000),
        ..facts(&room)
    };
    let v = p.decide(&f, NOW);
    assert!(!v.should_delete(), "{v}");
    assert!(v.to_string().contains("unreadable"), "{v}");
}

#[test]
fn a_room_of_ghosts_is_abandoned_and_says_how_many() {
    let p = {
        let mut p = policy();
        p.rules.ignore_members =
            Patterns::new(vec!["^@_discord_".into(), "^@bot:".into()]).unwrap();
        p
    };
    let members = [
        "@_discord_1:example.org",
        "@_discord_2:example.org",
        // Remote puppets are not local members, whatever their name.
        "@_discord_3:other.org",
        "@alice:other.org",
    ];
    let sorted = p.sort_members(members);
    assert_eq!(
        sorted,
        Members {
            people: 0,
            ghosts: 2,
            remote: 2
        }
    );
    let room = id("!r");
    let active = RoomFacts {
        joined_local_members: 2,
        joined_members: 4,
        ..facts(&room)
    };
    let before = p.decide(&active, NOW);
    assert_eq!(before, Verdict::Active { days: 0 });
    assert!(p.worth_counting_ghosts(&active, &before));
    let ghostly = RoomFacts {
        members: Some(sorted),
        ..active
    };
    let v = p.decide(&ghostly, NOW);
    assert_eq!(
        v,
        Verdict::Abandoned {
            remote_members: 2,
            ghosts: 2
        }
    );
    assert_eq!(
        v.to_string(),
        "abandoned: no local members but 2 ignored by policy.ignore_members (2 remote)"
    );
    // One local person among the ghosts keeps the room, whatever Synapse's
    // (possibly lagging) count of local members says: the list decides.
    let with_alice = [
        "@bot:example.org",
        "@_discord_1:example.org",
        "@alice:example.org",
    ];
    let mixed = RoomFacts {
        members: Some(p.sort_members(with_alice)),
        ..active
    };
    assert_eq!(p.decide(&mixed, NOW), Verdict::Active { days: 0 });
}

#[test]
fn member_lists_are_read_only_where_they_can_change_the_verdict() {
    let p = {
        let mut p = policy();
        p.rules.ignore_members = Patterns::new(vec!["^@_discord_".into()]).unwrap();
        p.rules.max_ghosts = 5;
        p
    };
    let room = id("!r");
    let worth = |p: &Policy, local: u64, activity| {
        let f = RoomFacts {
            joined_local_members: local,
            last_activity: activity,
            ..facts(&room)
        };
        p.worth_counting_ghosts(&f, &p.decide(&f, NOW))
    };
    assert!(worth(&p, 1, days_ago(1)));
    assert!(worth(&p, 5, days_ago(1)));
    // Too many local members, already deleted, or no local member at all.
    assert!(!worth(&p, 6, days_ago(1)));
    assert!(!worth(&p, 2, days_ago(1000)));
    assert!(!worth(&p, 0, days_ago(1)));
    assert!(!worth(&p, 2, Err("no events")));
    let no_rules = policy();
    assert!(!worth(&no_rules, 2, days_ago(1)));
    let keep_abandoned = {
        let mut p = p.clone();
        p.rules.delete_abandoned = false;
        p
    };
    assert!(!worth(&keep_abandoned, 2, days_ago(1)));
    // A pattern that cannot be read makes nobody a ghost.
    let unreadable = {
        let mut p = p;
        p.rules.ignore_members = Patterns::or_protect_all(vec!["(unclosed".into()]);
        p
    };
    assert_eq!(
        unreadable.sort_members(["@_discord_1:example.org"]).people,
        1
    );
}

#[test]
fn direct_chats_are_kept_when_asked() {
    let room = id("!dm");
    let dm = RoomFacts {
        direct: true,
        last_activity: days_ago(1000),
        ..facts(&room)
    };
    assert!(policy().decide(&dm, NOW).should_delete());
    let p = {
        let mut p = policy();
        p.rules.keep_direct = true;
        p
    };
    assert_eq!(p.decide(&dm, NOW).to_string(), "protected: direct chat");
}

#[test]
fn a_room_the_homeserver_described_in_part_is_kept() {
    let p = policy();
    let room = id("!r");
    let partial = RoomFacts {
        joined_local_members: 0,
        joined_members: 0,
        last_activity: days_ago(1000),
        missing: Some("joined_local_members"),
        ..facts(&room)
    };
    assert_eq!(
        p.decide(&partial, NOW).to_string(),
        "unknown: the homeserver's answer did not give the room's joined_local_members"
    );
    let admin = id("!admin:example.org");
    let partial_admin = RoomFacts {
        room_id: &admin,
        ..partial
    };
    assert_eq!(
        p.decide(&partial_admin, NOW),
        Verdict::Protected(Protection::AdminRoom)
    );
}

#[test]
fn only_an_inactive_room_shared_with_other_servers_is_read_through() {
    let p = Policy::for_tests();
    let room = |creator: Option<&str>, joined, local| ListedRoom {
        room_id: id("!r:example.org"),
        name: None,
        creator: creator.map(Into::into),
        joined_members: joined,
        joined_local_members: local,
        public: false,
        rare: None,
    };
    let old = days_ago(366).ok();
    let recent = days_ago(365).ok();
    let ours = room(Some("@a:example.org"), 1, 1);
    assert!(
        !p.may_hide_activity(&ours, old, NOW),
        "nobody from elsewhere"
    );
    let visited = room(Some("@a:example.org"), 2, 1);
    assert!(p.may_hide_activity(&visited, old, NOW));
    assert!(p.may_hide_activity(&visited, None, NOW), "no activity read");
    assert!(
        !p.may_hide_activity(&visited, recent, NOW),
        "active already"
    );
    // Made on another server (a look-alike name is another server), or by
    // nobody we know of.
    for creator in [Some("@b:other.org"), Some("@a:example.org.evil"), None] {
        let elsewhere = room(creator, 1, 1);
        assert!(p.may_hide_activity(&elsewhere, old, NOW), "{creator:?}");
    }
    // A room described in part is kept anyway; its counts are not known.
    let mut partial = visited;
    partial.mark_missing("joined_local_members");
    assert!(!p.may_hide_activity(&partial, old, NOW));
}
