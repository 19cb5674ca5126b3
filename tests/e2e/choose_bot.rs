//! Choosing what goes, from chat: an edited results.csv uploaded in an
//! encrypted admin room, and the rules that keep or free rooms (direct
//! chats, bridge puppets), each on a Synapse of its own.

use std::time::Duration;

use serde_json::json;

use crate::common::Csv;
use crate::matrix::{Human, create_user, poll, wait_joined};
use crate::world::{World, exists, is_offer};

use oldrooms::timefmt::{MS_PER_DAY as DAY, now_ms};

/// What a European-locale Excel writes: a BOM, `;`, CRLF, every cell
/// quoted; `should_delete` set by `pick`, rows for which it gives `None`
/// left out.
fn as_excel_would(scan: &Csv, pick: impl Fn(&str) -> Option<&'static str>) -> Vec<u8> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    let mut w = csv::WriterBuilder::new()
        .delimiter(b';')
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(&mut out);
    w.write_record(&scan.header).unwrap();
    for row in &scan.rows {
        let Some(flag) = pick(&row["room_id"]) else {
            continue;
        };
        let cells = scan.header.iter().map(|h| match h.as_str() {
            "should_delete" => flag,
            _ => row[h].as_str(),
        });
        w.write_record(cells).unwrap();
    }
    drop(w);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_csv_uploaded_in_an_encrypted_room_deletes_exactly_its_yes_rows() {
    let w = World::for_deletion().encrypted().start().await;
    let (member, member_password) = create_user(&w.hs, "member", false).await;
    w.human
        .room(&w.room)
        .invite_user_by_id(&member)
        .await
        .unwrap();
    let member = Human::login(&w.hs, &member, &member_password).await;
    let joined = poll(Duration::from_secs(30), || member.client.get_room(&w.room)).await;
    joined.unwrap().join().await.unwrap();

    let turned_no = w.old_room("old, kept by the admin", None).await;
    let left_out = w.old_room("old, row removed", None).await;
    let old = w.old_room("old", None).await;
    let active = w.hs.create_room(&w.alice, json!({"name": "active"})).await;
    w.hs.message(&active, &w.alice, "now", None).await;
    let kept = w.old_room("protected", Some("keep")).await;

    let bot = w.start_bot();
    wait_joined(&w.hs, &w.room, &w.bot_user, &bot).await;
    w.human.wait_sees_joined(&w.room, &w.bot_user).await;
    member.wait_sees_joined(&w.room, &w.bot_user).await;
    let offer = w.scan_and_offer().await;
    assert!(offer.encrypted, "the room is encrypted");
    assert!(
        offer.body.starts_with("Delete these 3 rooms"),
        "{}",
        offer.body
    );
    let scan = w.posted_results().await;

    // The admin's edit: one candidate to no, one row removed, the active
    // room and the protected one to yes.
    let edited = as_excel_would(&scan, |id| {
        if id == turned_no {
            Some("no")
        } else if id == left_out {
            None
        } else if id == active || id == kept || id == old {
            Some("Yes")
        } else {
            Some("no")
        }
    });

    // A member who is not an admin: refused once, nothing read or offered.
    let before = w.bot_messages().len();
    w.upload(&member, "results.csv", edited.clone()).await;
    let refusal = w
        .next_reply(before, "the refusal", |m| m.body.starts_with("Sorry"))
        .await;
    assert!(refusal.body.contains("only the admins"), "{}", refusal.body);

    // A malformed file: the line and the problem, and no offer.
    let first = scan.rows[0]["room_id"].clone();
    let broken = as_excel_would(&scan, |id| Some(if id == first { "maybe" } else { "no" }));
    let before = w.bot_messages().len();
    w.upload(&w.human, "results.csv", broken).await;
    let refused = w
        .next_reply(before, "the refusal of a malformed file", |m| {
            m.body.starts_with("The uploaded file was not offered")
        })
        .await;
    assert!(
        refused
            .body
            .contains("line 2: should_delete must be yes or no, not `maybe`"),
        "{}",
        refused.body
    );

    // The edited file: an offer for exactly its yes rows, the protected
    // room refused, the differences from the scan counted.
    let before = w.bot_messages().len();
    w.upload(&w.human, "results (edited).csv", edited).await;
    let upload_offer = w
        .next_reply(before, "the upload's offer", |m| is_offer(&m.body))
        .await;
    let body = &upload_offer.body;
    assert!(body.starts_with("Delete these 2 rooms?"), "{body}");
    assert!(
        body.contains("1 of its candidates marked no, 1 left out of the file, 2 rooms it kept marked yes, 0 rooms it did not list"),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "protected ({kept}): protected: listed in policy.protected_rooms"
        )),
        "{body}"
    );
    // The scan's offer no longer stands.
    w.human.react(&w.room, &offer.event_id, "✅").await;
    w.next_reply(before, "the old offer refused", |m| {
        m.body.contains("no longer valid")
    })
    .await;
    w.human.react(&w.room, &upload_offer.event_id, "✅").await;
    let (finished, report) = w.deletion_result().await;
    assert!(
        finished
            .body
            .starts_with("Deletion finished: 2 deleted, 0 skipped, 0 failed, of 2."),
        "{}",
        finished.body
    );
    assert_eq!(report.rows.len(), 2);
    for (room, present) in [
        (&old, false),
        (&active, false),
        (&turned_no, true),
        (&left_out, true),
        (&kept, true),
    ] {
        assert_eq!(exists(&w.hs, room).await, present, "{room}");
    }
    assert!(exists(&w.hs, w.room.as_str()).await, "the admin room stays");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_left_to_bridge_puppets_go_and_direct_chats_stay() {
    let policy = "ignore_members = [\"^@_bridge_\"]\nkeep_direct = true";
    let w = World::for_deletion().policy(policy).start().await;
    let bob = w.hs.user_id("bob");
    w.hs.register("bob").await;
    let puppets = [w.hs.user_id("_bridge_1"), w.hs.user_id("_bridge_2")];
    for p in ["_bridge_1", "_bridge_2"] {
        w.hs.register(p).await;
    }
    // A portal the last person left: only puppets, relaying new messages.
    let portal =
        w.hs.create_room(
            &w.alice,
            json!({"name": "bridged portal", "preset": "public_chat"}),
        )
        .await;
    for p in &puppets {
        w.hs.join(&portal, p).await;
    }
    w.hs.leave(&portal, &w.alice).await;
    w.hs.message(&portal, &puppets[0], "relayed", None).await;
    // A puppet and a person: kept.
    let mixed =
        w.hs.create_room(&w.alice, json!({"name": "mixed", "preset": "public_chat"}))
            .await;
    w.hs.join(&mixed, &puppets[0]).await;
    w.hs.message(&mixed, &w.alice, "still here", None).await;
    // An old direct chat, as clients create them.
    let dm =
        w.hs.create_room(
            &w.alice,
            json!({"is_direct": true, "invite": [bob], "preset": "trusted_private_chat"}),
        )
        .await;
    w.hs.join(&dm, &bob).await;
    w.hs.message(&dm, &bob, "bye", Some(now_ms() - 400 * DAY))
        .await;

    // The config's protected room; it is new, so not a candidate anyway.
    w.hs.create_room(&w.alice, json!({"room_alias_name": "keep"}))
        .await;

    let bot = w.start_bot();
    wait_joined(&w.hs, &w.room, &w.bot_user, &bot).await;
    w.human.wait_sees_joined(&w.room, &w.bot_user).await;
    let offer = w.scan_and_offer().await;
    assert!(
        offer
            .body
            .starts_with("Delete this room (0 inactive, 1 abandoned)"),
        "{}",
        offer.body
    );
    let scan = w.posted_results().await;
    let row = scan.row(&portal);
    assert_eq!(row["should_delete"], "yes");
    assert_eq!(row["joined_local_members"], "2");
    assert_eq!(
        row["reason"],
        "abandoned: no local members but 2 ignored by policy.ignore_members (0 remote)"
    );
    assert_eq!(scan.row(&dm)["reason"], "protected: direct chat");
    assert_eq!(scan.row(&mixed)["should_delete"], "no");
    assert!(scan.row(&mixed)["reason"].starts_with("active"));

    // Synapse kicks the puppets as it purges the room.
    w.human.react(&w.room, &offer.event_id, "✅").await;
    let (finished, report) = w.deletion_result().await;
    assert!(
        finished
            .body
            .starts_with("Deletion finished: 1 deleted, 0 skipped, 0 failed, of 1."),
        "{}\n{:?}",
        finished.body,
        report.rows
    );
    assert!(!exists(&w.hs, &portal).await, "the portal is gone");
    assert!(exists(&w.hs, &mixed).await);
    assert!(exists(&w.hs, &dm).await);
    bot.stop().await;
}
