//! A broken config: one line naming the file and the key, exit status 2,
//! and no CSV. No server is contacted.

use crate::common::{oldrooms, write_config};

async fn scan_with(text: &str) -> (crate::common::Run, String, bool) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), text);
    let output = dir.path().join("results.csv");
    let run = oldrooms(
        &[
            "scan",
            "--config",
            config.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    (run, config.display().to_string(), output.exists())
}

const GOOD: &str = "[homeserver]\nurl = \"http://127.0.0.1:9\"\n[auth]\nuser_id = \"@a:b.c\"\naccess_token = \"t\"\n";

#[tokio::test]
async fn each_mistake_is_one_line_naming_file_and_key() {
    let cases = [
        (
            format!("{GOOD}[policy]\ninactive_dayz = 30\n"),
            "line 7: unknown field `inactive_dayz`",
        ),
        (
            GOOD.replace("http://127.0.0.1:9", "not a url"),
            ": homeserver.url: ",
        ),
        (GOOD.replace("@a:b.c", "alice"), ": auth.user_id: "),
        (
            GOOD.replace("access_token = \"t\"", ""),
            ": auth.access_token: no secret given",
        ),
        (
            format!("{GOOD}[bot]\nadmin_room = \"general\"\n"),
            ": bot.admin_room: ",
        ),
        (format!("{GOOD}[scan]\nconcurrency = -1\n"), "line 7: "),
        ("this is not toml".to_owned(), "line 1: "),
    ];
    for (text, expected) in cases {
        let (run, file, csv) = scan_with(&text).await;
        assert_eq!(run.code(), Some(2), "{expected}: {run:?}");
        assert!(
            run.stderr.starts_with(&format!("error: {file}")),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains(expected), "{expected}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(!csv);
    }
}

#[tokio::test]
async fn a_missing_config_file_and_bad_arguments_exit_2() {
    let run = oldrooms(&["scan", "--config", "/nonexistent/oldrooms.toml"], &[]).await;
    assert_eq!(run.code(), Some(2), "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: cannot read config file /nonexistent/oldrooms.toml")
    );
    let run = oldrooms(&["scan", "--bogus"], &[]).await;
    assert_eq!(run.code(), Some(2), "{run:?}");
    let run = oldrooms(&["scan", "--help"], &[]).await;
    assert_eq!(run.code(), Some(0));
    assert!(run.stdout.contains("--output <FILE>"), "{}", run.stdout);
}
