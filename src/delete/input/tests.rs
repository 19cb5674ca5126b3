use super::*;

const HEAD: &str = "room_id,name,canonical_alias,room_type,creator,joined_members,joined_local_members,public,encryption,last_activity,inactive_days,should_delete,reason\n";

fn read(body: &str) -> Result<Marked, String> {
    read_marked("F", body.as_bytes()).map_err(|e| e.to_string())
}

#[test]
fn takes_the_yes_rows_as_edited() {
    let body = format!(
        "{HEAD}!a,'=evil,,,,1,0,no,,2020-01-01T00:00:00Z,2000,yes,abandoned: no members left\n\
         !b:x.org,B,,,,1,1,no,,2020-01-01T00:00:00Z,2000,no,inactive: edited to no\n\
         !c,\"multi\nline\",,,,2,2,no,,,,yes,unknown: edited to yes\n"
    );
    let marked = read(&body).unwrap();
    let rooms = marked.delete;
    assert_eq!(rooms.len(), 2);
    assert_eq!(rooms[0].room_id, "!a");
    assert_eq!(rooms[0].name, "=evil");
    assert_eq!(rooms[0].last_activity, Some(1_577_836_800_000));
    assert!(rooms[0].abandoned);
    assert_eq!(rooms[1].name, "multi\nline");
    assert_eq!(rooms[1].last_activity, None);
    assert!(!rooms[1].abandoned);
    assert_eq!(marked.keep, ["!b:x.org"]);
}

#[test]
fn reads_what_spreadsheets_write_back() {
    // A European-locale Excel: BOM, `;`, CRLF, every cell quoted, Yes/NO,
    // a time turned into a plain date-time, and a trailing empty row.
    let excel = "\u{FEFF}\"room_id\";\"name\";\"canonical_alias\";\"room_type\";\"creator\";\
        \"joined_members\";\"joined_local_members\";\"public\";\"encryption\";\"last_activity\";\
        \"inactive_days\";\"should_delete\";\"reason\"\r\n\
        \"!a\";\"A; with a semicolon\";\"\";\"\";\"'@x:s\";\"1\";\"0\";\"no\";\"\";\
        \"2020-01-01 00:00:00\";\"2000\";\"Yes\";\"abandoned: no members left\"\r\n\
        \"!b\";\"B\";\"\";\"\";\"\";\"1\";\"1\";\"no\";\"\";\"\";\"\";\"NO\";\"active\"\r\n\
        ;;;;;;;;;;;;\r\n";
    let marked = read(excel).unwrap();
    assert_eq!(marked.delete.len(), 1);
    assert_eq!(marked.delete[0].room_id, "!a");
    assert_eq!(marked.delete[0].name, "A; with a semicolon");
    assert_eq!(marked.delete[0].last_activity, Some(1_577_836_800_000));
    assert_eq!(marked.keep, ["!b"]);
    let tabs = HEAD.replace(',', "\t") + "!a\tA\t\t\t\t1\t0\tno\t\t\t\tyes\tx\n";
    assert_eq!(read(&tabs).unwrap().delete.len(), 1);
}

#[test]
fn refuses_what_is_not_a_results_csv_with_the_line() {
    let err = |body: &str| read(body).unwrap_err();
    assert!(err("a,b,c\n1,2,3\n").starts_with("F, line 1: not a results.csv"));
    assert!(err("").starts_with("F, line 1: not a results.csv"));
    assert!(err("\u{FEFF}room_id;name\n").starts_with("F, line 1: not a results.csv"));
    let bad_id = format!("{HEAD}!a,A,,,,1,0,no,,,,yes,x\nnot-a-room,B,,,,1,0,no,,,,yes,x\n");
    assert!(err(&bad_id).starts_with("F, line 3: `not-a-room` is not a room id"));
    let bad_flag = format!("{HEAD}!a,A,,,,1,0,no,,,,maybe,x\n");
    assert!(err(&bad_flag).starts_with("F, line 2: should_delete must be yes or no"));
    let short = format!("{HEAD}!a,A,,\n");
    assert!(err(&short).starts_with("F, line 2: malformed CSV"));
    let twice = format!("{HEAD}!a,A,,,,1,0,no,,,,yes,x\n!a,A,,,,1,0,no,,,,no,x\n");
    assert_eq!(err(&twice), "F, line 3: !a is listed twice");
    let bad_time = format!("{HEAD}!a,A,,,,1,0,no,,31/01/2024,,yes,x\n");
    assert!(err(&bad_time).starts_with("F, line 2: last_activity `31/01/2024` is not a time"));
    let bad_count = format!("{HEAD}!a,A,,,,1,two,no,,,,yes,x\n");
    assert!(err(&bad_count).contains("joined_local_members `two` is not a number"));
    let binary = b"\x89PNG\r\n\x1a\n\0\0\0";
    assert!(
        read_marked("F", binary)
            .unwrap_err()
            .to_string()
            .starts_with("F, line 1:")
    );
}

#[test]
fn lines_are_counted_in_crlf_files_too() {
    let body = HEAD.replace('\n', "\r\n") + "!a,A,,,,1,0,no,,,,maybe,x\r\n";
    assert!(
        read(&body).unwrap_err().starts_with("F, line 2:"),
        "{:?}",
        read(&body)
    );
    let quoted = "\"room_id\";\"name\";\"canonical_alias\";\"room_type\";\"creator\";\
        \"joined_members\";\"joined_local_members\";\"public\";\"encryption\";\"last_activity\";\
        \"inactive_days\";\"should_delete\";\"reason\"\r\n\
        \"!a\";\"A\";\"\";\"\";\"\";\"1\";\"0\";\"no\";\"\";\"\";\"\";\"maybe\";\"x\"\r\n";
    assert!(
        read(quoted).unwrap_err().starts_with("F, line 2:"),
        "{:?}",
        read(quoted)
    );
}

#[test]
fn lines_count_blank_lines_and_multi_line_cells() {
    let body = HEAD.replace('\n', "\r\n")
        + "\r\n!a,\"two\r\nlines\",,,,1,0,no,,,,yes,x\r\n\r\n!b,B,,,,1,0,no,,,,maybe,x\r\n";
    assert_eq!(
        read(&body).unwrap_err(),
        "F, line 6: should_delete must be yes or no, not `maybe`"
    );
    let long = format!("{HEAD}!a,A,,,,1,0,no,,,,{},x\n", "y".repeat(100_000));
    let err = read(&long).unwrap_err();
    assert!(err.len() < 200, "{}", err.len());
    assert!(err.starts_with("F, line 2: should_delete must be yes or no"));
}

#[test]
fn a_gzipped_file_reads_like_the_plain_one_and_a_broken_one_is_refused() {
    let body = format!(
        "{HEAD}!a:x,A,,,,1,0,no,,2020-01-01T00:00:00Z,2000,yes,abandoned: no members left\n\
         !b:x,B,,,,1,1,no,,2020-01-01T00:00:00Z,2000,no,inactive: edited to no\n"
    );
    let packed = crate::gz::gzip(body.as_bytes()).unwrap();
    let plain = read(&body).unwrap();
    let unpacked = read_marked("F.gz", &packed).unwrap();
    assert_eq!(unpacked.delete, plain.delete);
    assert_eq!(unpacked.keep, plain.keep);
    let broken = read_marked("F.gz", &packed[..packed.len() - 9]).unwrap_err();
    assert!(
        broken
            .to_string()
            .starts_with("F.gz, line 0: not a valid gzip file"),
        "{broken}"
    );
}
