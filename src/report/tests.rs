use matrix_sdk::ruma::OwnedRoomId;

use super::*;
use crate::policy::{Protection, Verdict};
use crate::room::ListedRoom;
use crate::timefmt::MS_PER_DAY;

/// The scan's instant: rows with activity at 0 are 400 days old.
const NOW: i64 = 400 * MS_PER_DAY;

fn row(id: &str, name: Option<&str>, verdict: Verdict, last: Option<i64>) -> Row {
    Row {
        room: ListedRoom {
            room_id: OwnedRoomId::try_from(id).unwrap(),
            name: name.map(Into::into),
            creator: Some("@alice:example.org".into()),
            joined_members: 2,
            joined_local_members: 1,
            public: false,
            rare: crate::room::Rare::boxed(
                Some("#a:example.org".into()),
                None,
                Some("m.megolm.v1.aes-sha2".into()),
            ),
        },
        last_activity: last,
        last_event: None,
        verdict,
    }
}

fn read_back(rows: &[Row]) -> Vec<csv::StringRecord> {
    let mut buf = Vec::new();
    write_csv(rows, NOW, &mut buf).unwrap();
    let mut reader = csv::Reader::from_reader(buf.as_slice());
    assert_eq!(
        reader.headers().unwrap(),
        &csv::StringRecord::from(HEADER.to_vec())
    );
    reader.records().map(Result::unwrap).collect()
}

#[test]
fn formulas_are_neutralized() {
    for hostile in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "＝1+1"] {
        assert_eq!(safe_cell(hostile), format!("'{hostile}"));
    }
    for harmless in [
        "",
        "plain",
        "a=b",
        "'quoted",
        "#room:x",
        "!id",
        "Ünïcödé 🎉",
    ] {
        assert_eq!(safe_cell(harmless), harmless);
    }
}

#[test]
fn hostile_names_survive_a_round_trip() {
    let names = [
        "comma, \"quote\" and\nnewline",
        "=HYPERLINK(\"http://evil.example\",\"x\")",
        "\u{202E}txt.exe \u{0000} zero",
        "日本語の部屋 🎉",
        "",
    ];
    let rows: Vec<Row> = names
        .iter()
        .map(|n| row("!x", Some(n), Verdict::Active { days: 1 }, Some(0)))
        .collect();
    let back = read_back(&rows);
    assert_eq!(back.len(), names.len());
    for (record, name) in back.iter().zip(names) {
        assert_eq!(record.len(), HEADER.len());
        assert_eq!(&record[1], safe_cell(name).as_ref());
    }
    assert_eq!(&back[1][1], "'=HYPERLINK(\"http://evil.example\",\"x\")");
}

#[test]
fn columns_hold_what_the_header_says() {
    let rows = [
        row(
            "!old",
            Some("Old"),
            Verdict::Inactive {
                days: 400,
                limit: 365,
            },
            Some(0),
        ),
        row(
            "!gone:example.org",
            None,
            Verdict::Unknown("no events".into()),
            None,
        ),
        row(
            "!space",
            Some("S"),
            Verdict::Protected(Protection::Space),
            Some(0),
        ),
    ];
    let back = read_back(&rows);
    let r = &back[0];
    assert_eq!(&r[0], "!old");
    assert_eq!(&r[4], "'@alice:example.org");
    assert_eq!((&r[5], &r[6], &r[7]), ("2", "1", "no"));
    assert_eq!(
        (&r[9], &r[10], &r[11]),
        ("1970-01-01T00:00:00Z", "400", "yes")
    );
    assert_eq!(&r[12], "inactive: no activity for 400 days (limit 365)");
    let r = &back[1];
    assert_eq!((&r[1], &r[9], &r[10], &r[11]), ("", "", "", "no"));
    assert!(r[12].starts_with("unknown"));
    assert_eq!(&back[2][12], "protected: space");
}

#[test]
fn atomic_write_leaves_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.csv");
    write_csv_atomic(
        &[row("!a", Some("A"), Verdict::Active { days: 0 }, Some(0))],
        NOW,
        &path,
    )
    .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("room_id,name,"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp file left"
    );

    let missing = dir.path().join("no-such-dir").join("results.csv");
    assert!(write_csv_atomic(&[], NOW, &missing).is_err());
    assert!(!missing.exists());
}

#[test]
fn summary_counts_by_reason() {
    let rows = [
        row(
            "!a",
            None,
            Verdict::Inactive {
                days: 400,
                limit: 365,
            },
            Some(0),
        ),
        row(
            "!b",
            None,
            Verdict::Abandoned {
                remote_members: 0,
                ghosts: 0,
            },
            Some(0),
        ),
        row("!c", None, Verdict::Active { days: 1 }, Some(0)),
        row("!d", None, Verdict::Protected(Protection::Public), Some(0)),
    ];
    let s = Summary::new(&rows, Duration::from_millis(1500));
    assert_eq!(s.candidates(), 2);
    assert_eq!(
        s.to_string(),
        "Scanned 4 rooms in 1.5 s: 2 to delete (1 inactive, 1 abandoned), \
         2 to keep (1 active, 1 protected, 0 unknown)."
    );
}
