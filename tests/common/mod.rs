//! Helpers shared by the test tiers: running the `oldrooms` binary as a user
//! would, writing config files, reading results.csv back.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

/// What a user sees after running `oldrooms`.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Runs the built `oldrooms` binary with no secrets in its environment
/// except those given.
pub async fn oldrooms(args: &[&str], env: &[(&str, &str)]) -> Run {
    oldrooms_with_input(args, env, "").await
}

/// Like [`oldrooms`], typing `input` on its standard input.
pub async fn oldrooms_with_input(args: &[&str], env: &[(&str, &str)], input: &str) -> Run {
    use tokio::io::AsyncWriteExt as _;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_oldrooms"));
    cmd.args(args)
        .env_remove("OLDROOMS_ACCESS_TOKEN")
        .env_remove("OLDROOMS_PASSWORD")
        .env_remove("RUST_LOG")
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("run oldrooms");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(input.as_bytes())
        .await
        .expect("write stdin");
    drop(stdin);
    let out = child.wait_with_output().await.expect("run oldrooms");
    Run {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Writes `oldrooms.toml` into `dir`.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("oldrooms.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// A config with the given homeserver, user and secret line (e.g.
/// `access_token = "..."`), plus extra TOML.
pub fn config_text(url: &str, user: &str, secret: &str, extra: &str) -> String {
    format!("[homeserver]\nurl = \"{url}\"\n[auth]\nuser_id = \"{user}\"\n{secret}\n{extra}\n")
}

/// results.csv read back: the header and each row as column -> value.
pub struct Csv {
    pub header: Vec<String>,
    pub rows: Vec<HashMap<String, String>>,
}

impl Csv {
    pub fn read(path: &Path) -> Self {
        let mut reader = csv::Reader::from_path(path).expect("open results.csv");
        let header: Vec<String> = reader
            .headers()
            .expect("header")
            .iter()
            .map(str::to_owned)
            .collect();
        let rows = reader
            .records()
            .map(|r| {
                let r = r.expect("row");
                header
                    .iter()
                    .cloned()
                    .zip(r.iter().map(str::to_owned))
                    .collect()
            })
            .collect();
        Self { header, rows }
    }

    pub fn row(&self, room_id: &str) -> &HashMap<String, String> {
        self.rows
            .iter()
            .find(|r| r["room_id"] == room_id)
            .unwrap_or_else(|| panic!("no row for {room_id}"))
    }
}

pub const HEADER: &str = "room_id,name,canonical_alias,room_type,creator,joined_members,\
joined_local_members,public,encryption,last_activity,inactive_days,should_delete,reason";
