//! The plan's content: people grouped once, records replayed, and what the
//! deadline deletes.

use matrix_sdk::ruma::OwnedUserId;

use super::*;
use crate::delete::journal::{Entry, Step};

fn room(id: &str, name: &str) -> Entry {
    Entry {
        room_id: id.try_into().unwrap(),
        name: name.to_owned(),
        last_activity: Some(1),
        last_event: Some("$e".into()),
        joined_local_members: 1,
        abandoned: false,
        step: Step::Pending,
        submitting_since: None,
    }
}

fn user(name: &str) -> OwnedUserId {
    format!("@{name}:example.com").try_into().unwrap()
}

/// Each room's local people now: those the plan was made with.
fn people_now(p: &Plan) -> Vec<Vec<OwnedUserId>> {
    (0..p.rooms.len())
        .map(|r| {
            p.people
                .iter()
                .filter(|x| x.rooms.contains(&r))
                .map(|x| x.user_id.clone())
                .collect()
        })
        .collect()
}

fn sent(at: i64) -> Warning {
    Warning::Sent {
        via: Via::ServerNotice,
        event_id: "$w".into(),
        at,
    }
}

fn plan() -> Plan {
    let rooms = vec![
        room("!a:example.com", "Book club"),
        room("!b:example.com", ""),
        room("!c:example.com", "Line\nbreak"),
    ];
    let people = vec![
        vec![user("alice"), user("bob")],
        vec![user("alice")],
        vec![user("bob"), user("bob")],
    ];
    Plan::new(
        "p1".into(),
        "@admin:example.com",
        10,
        1_000,
        None,
        rooms,
        &people,
    )
}

#[test]
fn each_person_is_warned_once_with_all_of_their_rooms() {
    let p = plan();
    let people: Vec<(&str, &[usize])> = p
        .people
        .iter()
        .map(|x| (x.user_id.as_str(), &x.rooms[..]))
        .collect();
    assert_eq!(
        people,
        [
            ("@alice:example.com", &[0, 1][..]),
            ("@bob:example.com", &[0, 2][..])
        ]
    );
    let text = warning_text(DEFAULT_WARNING, &p, 1, "example.com");
    assert!(
        text.contains("- Book club (!a:example.com)\n- Line break (!c:example.com)"),
        "{text}"
    );
    assert!(text.contains("after 1970-01-01T00:00:01Z"), "{text}");
    assert!(!text.contains("!b:example.com"), "only bob's rooms: {text}");
    let alice = warning_text("{rooms}", &p, 0, "example.com");
    assert_eq!(alice, "- Book club (!a:example.com)\n- !b:example.com");
}

#[test]
fn a_sent_warning_is_never_sent_again_and_a_cut_line_is_ignored() {
    let mut p = plan();
    let sent = Record::Warning {
        person: 0,
        warning: Warning::Sent {
            via: Via::ServerNotice,
            event_id: "$w".into(),
            at: 20,
        },
    };
    let sending = Record::Warning {
        person: 1,
        warning: Warning::Sending,
    };
    let mut bytes = serde_json::to_vec(&p).unwrap();
    for r in [&sent, &sending] {
        bytes.push(b'\n');
        bytes.extend(serde_json::to_vec(r).unwrap());
    }
    bytes.extend(b"\n{\"cancel");
    let back = file::replay(&bytes).unwrap();
    assert_eq!(back.to_warn(), Vec::<usize>::new(), "alice's was sent");
    assert_eq!(back.interrupted(), [1], "bob's may have gone out");
    assert!(!back.cancelled);
    p.apply(&sent).unwrap();
    p.apply(&sending).unwrap();
    assert_eq!(back, p);
    let out_of_range = Record::Warning {
        person: 5,
        warning: Warning::Sending,
    };
    assert!(p.apply(&out_of_range).is_err());
}

#[test]
fn the_deadline_deletes_only_rooms_whose_people_were_all_warned() {
    let mut p = plan();
    p.apply(&Record::Warning {
        person: 0,
        warning: Warning::Sent {
            via: Via::ServerNotice,
            event_id: "$w".into(),
            at: 20,
        },
    })
    .unwrap();
    p.apply(&Record::Warning {
        person: 1,
        warning: Warning::Failed {
            error: "403".into(),
        },
    })
    .unwrap();
    let now = people_now(&p);
    let (journal, kept) = p.deletion(&now);
    let ids: Vec<&str> = journal.rooms.iter().map(|r| r.room_id.as_str()).collect();
    assert_eq!(ids, ["!b:example.com"], "alice's own room only");
    assert_eq!(
        journal.rooms[0].last_event.as_deref(),
        Some("$e"),
        "the scan's facts"
    );
    assert_eq!(journal.confirmed_by, "@admin:example.com");
    let kept: Vec<(usize, &str)> = kept.iter().map(|(i, w)| (*i, w.as_str())).collect();
    assert_eq!(
        kept,
        [
            (0, "kept: not warned in time (@bob:example.com)"),
            (2, "kept: not warned in time (@bob:example.com)")
        ]
    );
}

#[test]
fn a_refused_warning_is_tried_again_and_its_rooms_wait_for_it() {
    let mut p = plan();
    p.apply(&Record::Warning {
        person: 0,
        warning: Warning::Failed {
            error: "429".into(),
        },
    })
    .unwrap();
    p.apply(&Record::Warning {
        person: 1,
        warning: Warning::Unknown,
    })
    .unwrap();
    assert_eq!(p.to_warn(), [0], "alice's again; bob's may have gone out");
    let (journal, kept) = p.deletion(&people_now(&p));
    assert!(journal.rooms.is_empty(), "every room has someone unwarned");
    assert_eq!(kept.len(), 3);
    p.apply(&Record::Cancelled).unwrap();
    assert!(p.cancelled);
}

#[test]
fn a_late_warning_or_a_newcomer_keeps_the_room() {
    let mut p = plan();
    // Confirmed at 10, deadline 1000: a warning at 600 leaves 400 of 990.
    p.apply(&Record::Warning {
        person: 0,
        warning: sent(600),
    })
    .unwrap();
    p.apply(&Record::Warning {
        person: 1,
        warning: sent(20),
    })
    .unwrap();
    assert!(!p.warned_in_time(0) && p.warned_in_time(1));
    let (journal, kept) = p.deletion(&people_now(&p));
    let ids: Vec<&str> = journal.rooms.iter().map(|r| r.room_id.as_str()).collect();
    assert_eq!(ids, ["!c:example.com"], "bob's own room only");
    assert_eq!(kept.len(), 2);
    p.apply(&Record::Warning {
        person: 0,
        warning: sent(20),
    })
    .unwrap();
    let mut now = people_now(&p);
    now[1].push(user("carol"));
    let (journal, kept) = p.deletion(&now);
    assert_eq!(journal.rooms.len(), 2);
    assert_eq!(
        kept,
        [(
            1,
            "kept: not warned in time (@carol:example.com)".to_owned()
        )]
    );
    // Someone who left since does not hold a room back.
    now[0].clear();
    assert_eq!(p.deletion(&now).0.rooms.len(), 2);
}

#[test]
fn a_plan_whose_people_point_past_its_rooms_is_refused() {
    let mut p = plan();
    p.people[0].rooms.push(7);
    let mut bytes = serde_json::to_vec(&p).unwrap();
    bytes.push(b'\n');
    let err = file::replay(&bytes).unwrap_err();
    assert!(
        err.contains("@alice:example.com is listed in a room"),
        "{err}"
    );
}

#[test]
fn a_warning_names_at_most_fifty_rooms() {
    let rooms: Vec<Entry> = (0..60)
        .map(|i| room(&format!("!r{i}:example.com"), ""))
        .collect();
    let people = vec![vec![user("alice")]; 60];
    let p = Plan::new("p".into(), "@a:example.com", 0, 1, None, rooms, &people);
    let text = warning_text("{rooms}", &p, 0, "example.com");
    assert_eq!(text.lines().count(), 51);
    assert!(text.ends_with("- … and 10 more"), "{text}");
}

#[test]
fn a_record_after_a_line_cut_by_a_crash_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.jsonl");
    let p = plan();
    drop(file::create(&path, &p).unwrap());
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"warning\":{\"pers").unwrap();
    file::append(&path, &Record::Cancelled).unwrap();
    let back = file::read(&path).unwrap().unwrap();
    assert!(back.cancelled, "the record after the cut line is read");
}

#[test]
fn a_plan_whose_rooms_a_journal_holds_is_archived_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.jsonl");
    let p = plan();
    drop(file::create(&path, &p).unwrap());
    // Another deletion's journal (the confirm's empty rooms) leaves it.
    let other = Journal::new("x", 1, None, vec![room("!other:example.com", "")]);
    assert!(steps::pending(&path, Some(&other)).unwrap().is_some());
    assert!(path.exists());
    let journal = Journal::new("x", 1, None, vec![p.rooms[1].clone()]);
    assert!(steps::pending(&path, Some(&journal)).unwrap().is_none());
    assert!(!path.exists());
    // Archived beside an earlier plan of the same time, not over it.
    drop(file::create(&path, &p).unwrap());
    let first = file::archive(&path, &p).unwrap();
    drop(file::create(&path, &p).unwrap());
    let second = file::archive(&path, &p).unwrap();
    assert_ne!(first, second);
    assert!(first.exists() && second.exists());
}
