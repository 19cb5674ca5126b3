//! What `oldrooms scan` shows while it works: a progress bar on a terminal
//! (a pseudo-terminal made by util-linux `script`), plain log lines in a
//! pipe; and the chart `--chart` writes.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::oldrooms;
use crate::{admin_server, fake_config, messages_at, room, scan_args};

async fn three_rooms() -> MockServer {
    let server = admin_server().await;
    Mock::given(method("GET"))
        .and(path("/_synapse/admin/v1/rooms"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "rooms": [room("!a", "A"), room("!b", "B"), room("!c", "C")],
            "offset": 0, "total_rooms": 3})))
        .mount(&server)
        .await;
    messages_at(&server, 1_600_000_000_000).await;
    server
}

#[tokio::test]
async fn in_a_pipe_progress_is_plain_lines_and_the_chart_is_a_png() {
    let server = three_rooms().await;
    let dir = tempfile::tempdir().unwrap();
    let config = fake_config(dir.path(), &server, "");
    let output = dir.path().join("results.csv");
    let chart = dir.path().join("chart.png");
    let mut args = scan_args(&config, &output);
    args.extend(["--chart", chart.to_str().unwrap()]);
    let run = oldrooms(&args, &[]).await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert!(run.stderr.contains("scan: 1 of 3 rooms"), "{}", run.stderr);
    assert!(
        run.stderr.contains("scan: 3 of 3 rooms in "),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(['\r', '\x1b']), "{:?}", run.stderr);
    assert!(
        run.stdout.contains(&format!("Wrote {}", chart.display())),
        "{}",
        run.stdout
    );

    let bytes = std::fs::read(&chart).unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let header = decoder.read_info().unwrap().info().clone();
    assert_eq!((header.width, header.height), (1200, 675));
}

#[tokio::test]
async fn on_a_terminal_progress_is_a_bar() {
    let server = three_rooms().await;
    let dir = tempfile::tempdir().unwrap();
    let config = fake_config(dir.path(), &server, "");
    let output = dir.path().join("results.csv");
    let command = format!(
        "{} scan --config {} --output {}",
        env!("CARGO_BIN_EXE_oldrooms"),
        config.display(),
        output.display()
    );
    // `script` runs the command on a pseudo-terminal and copies what it
    // draws to its own stdout, here a pipe.
    let run = tokio::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("TERM", "xterm-256color")
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("util-linux `script` (Debian's bsdutils)");
    let shown = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{shown}");
    assert!(shown.contains("3/3 rooms"), "{shown:?}");
    assert!(shown.contains('\r') || shown.contains('\x1b'), "{shown:?}");
    assert!(!shown.contains("scan: 3 of 3 rooms in"), "{shown:?}");
    assert!(
        shown.contains("to delete"),
        "the summary follows: {shown:?}"
    );
}
