//! A homeserver whose upload limit is smaller than the scan's results.csv:
//! the bot posts results.csv.gz, which unpacks to the file it kept on disk
//! and to the rows the command line writes; posted back, it is offered; and
//! `oldrooms delete --from results.csv.gz` reads it too.

use std::collections::BTreeSet;

use matrix_sdk::attachment::AttachmentConfig;

use crate::common::{Csv, oldrooms};
use crate::matrix::wait_joined;
use crate::world::{World, fetch, is_offer};

/// Each room's id and verdict, as a file lists them.
fn verdicts(csv: &Csv) -> BTreeSet<(String, String)> {
    csv.rows
        .iter()
        .map(|r| (r["room_id"].clone(), r["should_delete"].clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_over_the_upload_limit_are_posted_gzipped_and_read_back() {
    let w = World::builder().upload_limit("16K").start().await;
    // 45 old rooms with 250-character names: a results.csv of about 20 KB,
    // which packs into a few.
    let long = "Archive of the old project, kept for the record ".repeat(6);
    for i in 0..45 {
        w.old_room(&format!("{i:02} {}", &long[..250]), None).await;
    }
    let bot = w.start_bot();
    wait_joined(&w.hs, &w.room, &w.bot_user, &bot).await;
    w.human.wait_sees_joined(&w.room, &w.bot_user).await;
    let offer = w.scan_and_offer().await;
    assert!(
        offer.body.starts_with("Delete these 45 rooms"),
        "{}",
        offer.body
    );

    let messages = w.bot_messages();
    let note = messages
        .iter()
        .find(|m| m.body.contains("posted gzip-compressed as results.csv.gz"))
        .unwrap_or_else(|| panic!("no word of the compressed file: {messages:#?}"));
    assert!(
        note.body
            .contains("over the homeserver's upload limit (16 KB)"),
        "{}",
        note.body
    );
    let posted = messages
        .iter()
        .find(|m| m.file.is_some() && m.body == "results.csv.gz")
        .unwrap_or_else(|| panic!("no results.csv.gz: {messages:#?}"));
    let packed = fetch(&w.human, posted, "application/gzip").await;
    assert!(packed.len() < 16 * 1024, "{} bytes", packed.len());
    let unpacked = oldrooms::gz::gunzip(&packed, 1 << 20).unwrap();
    let kept = std::fs::read(w.data().join("results.csv")).unwrap();
    assert!(
        kept.len() > 16 * 1024,
        "the plain file would not fit: {}",
        kept.len()
    );
    assert_eq!(
        unpacked, kept,
        "the posted file unpacks to the one kept on disk"
    );

    // The command line lists the same rooms with the same verdicts.
    let mine = w.dir.path().join("posted.csv");
    std::fs::write(&mine, &unpacked).unwrap();
    let cli = w.dir.path().join("cli.csv");
    let config = w.config.to_str().unwrap();
    let run = oldrooms(
        &[
            "scan",
            "--config",
            config,
            "--output",
            cli.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_eq!(verdicts(&Csv::read(&mine)), verdicts(&Csv::read(&cli)));

    // Posted back compressed, it is read like a .csv and offered.
    let before = w.bot_messages().len();
    let gzip: mime::Mime = "application/gzip".parse().unwrap();
    w.human
        .room(&w.room)
        .send_attachment(
            "results (edited).csv.gz",
            &gzip,
            packed.clone(),
            AttachmentConfig::new(),
        )
        .await
        .unwrap();
    let again = w
        .next_reply(before, "the offer for the compressed upload", |m| {
            is_offer(&m.body)
        })
        .await;
    assert!(
        again.body.starts_with("Delete these 45 rooms?"),
        "{}",
        again.body
    );

    // And the command line reads it, deleting nothing in a dry run.
    let gz = w.dir.path().join("results.csv.gz");
    std::fs::write(&gz, &packed).unwrap();
    let report = w.dir.path().join("dry-run.csv");
    let run = oldrooms(
        &[
            "delete",
            "--config",
            config,
            "--from",
            gz.to_str().unwrap(),
            "--dry-run",
            "--report",
            report.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    let dry = Csv::read(&report);
    assert_eq!(dry.rows.len(), 45);
    assert!(
        dry.rows.iter().all(|r| r["outcome"] == "would-delete"),
        "{:#?}",
        dry.rows
    );
    bot.stop().await;
}
