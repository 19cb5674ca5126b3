use super::*;

fn entry(id: &str) -> Entry {
    Entry {
        room_id: OwnedRoomId::try_from(id).unwrap(),
        name: "n".into(),
        last_activity: Some(5),
        last_event: Some("$e5".into()),
        joined_local_members: 0,
        abandoned: false,
        step: Step::Pending,
        submitting_since: None,
    }
}

fn deleted() -> Step {
    Step::Done {
        outcome: Outcome::Deleted,
        detail: String::new(),
    }
}

fn file_of(journal: &Journal, records: &[Record]) -> Vec<u8> {
    let mut bytes = journal.header_line();
    for r in records {
        bytes.extend(record_line(r));
    }
    bytes
}

#[test]
fn replay_gives_back_every_step_and_the_cancel() {
    let mut j = Journal::new("@a:b", 7, None, vec![entry("!a"), entry("!b"), entry("!c")]);
    let header = j.clone();
    let records = vec![
        j.claim_submit(0, 7),
        j.set(
            0,
            Step::Submitted {
                delete_id: "x".into(),
            },
        ),
        j.set(0, deleted()),
        j.claim_submit(1, 7),
        j.cancel().unwrap(),
        j.claim_submit(2, 7),
    ];
    assert_eq!(j.cancel(), None, "a second cancel writes nothing");
    let replayed = replay(&file_of(&header, &records)).unwrap();
    assert_eq!(replayed, j);
    assert!(replayed.cancelled);
    assert_eq!(replayed.rooms[1].step, Step::Submitting);
    assert_eq!(
        replayed.rooms[2].step,
        Step::Done {
            outcome: Outcome::Skipped,
            detail: CANCELLED.into()
        },
        "after the cancel, no room is submitted"
    );
    let c = replayed.counts();
    assert_eq!((c.deleted, c.skipped, c.failed, c.total), (1, 1, 0, 3));
    assert!(!replayed.is_finished());
}

#[test]
fn a_line_cut_by_a_crash_is_ignored_but_damage_is_an_error() {
    let mut j = Journal::new("@a:b", 7, None, vec![entry("!a")]);
    let header = j.clone();
    let mut bytes = file_of(&header, &[j.claim_submit(0, 7)]);
    let full = bytes.clone();
    bytes.extend_from_slice(b"{\"step\":{\"room\":0,\"st");
    assert_eq!(replay(&bytes).unwrap(), replay(&full).unwrap());

    let mut damaged = full.clone();
    damaged.extend_from_slice(b"not json\n");
    assert!(replay(&damaged).unwrap_err().contains("line 3"));
    let mut out_of_range = full.clone();
    out_of_range.extend(record_line(&Record::Step {
        room: 9,
        step: Step::Pending,
        at: None,
    }));
    assert!(replay(&out_of_range).unwrap_err().contains("index 9"));
    assert!(replay(b"{\"version\": 1, \"rooms\": [").is_err());
    assert!(replay(b"").is_err());
    let old = b"{\"version\":1,\"confirmed_at\":1,\"confirmed_by\":\"x\",\"options\":null,\"rooms\":[]}\n";
    assert!(replay(old).unwrap_err().contains("version 1"));
}

#[test]
fn the_journal_grows_by_a_few_lines_per_room() {
    // 100,000 rooms, each: submitting, submitted, done.
    let rooms: Vec<Entry> = (0..100_000)
        .map(|i| entry(&format!("!room{i:06}")))
        .collect();
    let mut j = Journal::new("@admin:example.com", 7, None, rooms);
    let mut bytes = j.header_line().len();
    for i in 0..j.rooms.len() {
        bytes += record_line(&j.claim_submit(i, 7)).len();
        let delete_id = "abcdefghijklmnopqrstuvwx".to_owned();
        bytes += record_line(&j.set(i, Step::Submitted { delete_id })).len();
        bytes += record_line(&j.set(i, deleted())).len();
    }
    let per_room = bytes / 100_000;
    eprintln!("journal of 100,000 rooms: {bytes} bytes, {per_room} per room");
    assert!(per_room < 400, "{per_room} bytes per room");
}

#[test]
fn counts_follow_every_change_of_step() {
    let mut j = Journal::new("t", 0, None, vec![entry("!a"), entry("!b"), entry("!c")]);
    j.set(0, deleted());
    j.set(1, Step::Submitting);
    let failed = Step::Done {
        outcome: Outcome::Failed,
        detail: "x".into(),
    };
    // A room done once, then again with another outcome, counts once.
    j.set(2, deleted());
    j.set(2, failed);
    let c = j.counts();
    assert_eq!((c.total, c.deleted, c.failed, c.done()), (3, 1, 1, 2));
    // What replays from the file counts the same.
    let records = [
        Record::Step {
            room: 0,
            step: deleted(),
            at: None,
        },
        Record::Step {
            room: 2,
            step: deleted(),
            at: None,
        },
    ];
    let replayed = replay(&file_of(
        &Journal::new("t", 0, None, j.rooms.clone()),
        &records,
    ))
    .unwrap();
    assert_eq!(replayed.counts().deleted, 2);
}

#[test]
fn the_time_of_submitting_is_kept_and_replayed() {
    let mut j = Journal::new("t", 0, None, vec![entry("!a"), entry("!b")]);
    let record = j.claim_submit(0, 1_234);
    assert_eq!(j.rooms[0].submitting_since, Some(1_234));
    // Sent back to "submitting" (a purge already in progress): the claim's
    // time stays.
    j.set(0, Step::Submitting);
    assert_eq!(j.rooms[0].submitting_since, Some(1_234));
    let text = String::from_utf8(record_line(&record)).unwrap();
    assert_eq!(
        text,
        "{\"step\":{\"room\":0,\"step\":\"submitting\",\"at\":1234}}\n"
    );
    let header = Journal::new("t", 0, None, vec![entry("!a"), entry("!b")]);
    let old_style = b"{\"step\":{\"room\":1,\"step\":\"submitting\"}}\n";
    let mut bytes = file_of(&header, &[record]);
    bytes.extend_from_slice(old_style);
    let replayed = replay(&bytes).unwrap();
    assert_eq!(replayed.rooms[0].submitting_since, Some(1_234));
    assert_eq!(replayed.rooms[1].step, Step::Submitting);
    assert_eq!(replayed.rooms[1].submitting_since, None);
}
