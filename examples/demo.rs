//! A demo for someone with no homeserver at hand: a throw-away Synapse with
//! rooms of every kind, a human admin, an encrypted admin room and the bot in
//! it. Run it with `scripts/demo.sh` (add `--walkthrough` to watch a scan).

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![recursion_limit = "256"]

#[path = "../tests/support/matrix.rs"]
mod matrix;
#[path = "../tests/support/synapse.rs"]
mod synapse;

use std::time::Duration;

use matrix::{BotProcess, Human, create_user, wait_joined};
use serde_json::json;
use synapse::{Homeserver, Synapse};

const DAY: i64 = 24 * 60 * 60 * 1000;

#[tokio::main]
async fn main() {
    let walkthrough = std::env::args().any(|a| a == "--walkthrough");
    // Each demo has a new homeserver: the previous bot session is useless.
    let dir = std::path::PathBuf::from("oldrooms-demo");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let dir = dir.canonicalize().unwrap();

    println!("Starting a throw-away Synapse…");
    let s: &'static Synapse = Box::leak(Box::new(Synapse::start()));
    let hs = Homeserver::on(s);

    println!("Seeding rooms: old, abandoned, active, a space, a public room…");
    seed(&hs).await;
    let (bot_user, bot_password) = create_user(&hs, "oldrooms", true).await;
    let (you, your_password) = create_user(&hs, "you", false).await;
    let human = Human::login(&hs, &you, &your_password).await;
    let room = human.create_admin_room(&hs, &[&bot_user], true).await;

    let config = dir.join("oldrooms.toml");
    std::fs::write(
        &config,
        format!(
            "[homeserver]\nurl = \"{url}\"\n[auth]\nuser_id = \"{bot_user}\"\npassword = \"{bot_password}\"\n\
             [bot]\nadmin_room = \"{room}\"\nadmins = [\"{you}\"]\ndata_dir = \"{data}\"\nprogress_interval_secs = 2\n",
            url = s.url,
            data = dir.join("bot-data").display(),
        ),
    )
    .unwrap();
    let bot = BotProcess::start(&config, &dir.join("bot.log"));
    wait_joined(&hs, &room, &bot_user, &bot).await;
    human.wait_sees_joined(&room, &bot_user).await;

    println!();
    println!("Homeserver:   {}", s.url);
    println!("Log in as:    {you}");
    println!("Password:     {your_password}");
    println!("Admin room:   {room} (encrypted; the bot has joined)");
    println!("Bot config:   {}", config.display());
    println!("Bot log:      {}", dir.join("bot.log").display());
    println!();

    if walkthrough {
        walk_through(&human, &room, &bot_user, &dir).await;
        bot.stop().await;
        return;
    }
    println!(
        "Open any Matrix client, log in with the above, and type `!oldrooms help` in the admin room."
    );
    println!("Ctrl-C stops the bot and the homeserver.");
    let _ = tokio::signal::ctrl_c().await;
    bot.stop().await;
}

/// Plays the human admin: sends `!oldrooms scan`, prints the bot's replies,
/// saves the attachment.
async fn walk_through(
    human: &Human,
    room: &matrix_sdk::ruma::OwnedRoomId,
    bot: &matrix_sdk::ruma::OwnedUserId,
    dir: &std::path::Path,
) {
    println!("you> !oldrooms scan");
    human.say(room, "!oldrooms scan").await;
    let mut printed = 0;
    let mut saved = false;
    let mut deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while tokio::time::Instant::now() < deadline {
        let seen = human.seen_from(bot);
        for m in &seen[printed..] {
            let label = if m.replaces.is_some() {
                "bot (edit)"
            } else {
                "bot"
            };
            for (i, line) in m.body.lines().enumerate() {
                println!("{}> {line}", if i == 0 { label } else { "   " });
            }
            if let Some(image) = &m.image {
                let bytes = human
                    .client
                    .media()
                    .get_file(image, false)
                    .await
                    .unwrap()
                    .unwrap();
                let path = dir.join("rooms-by-age.png");
                std::fs::write(&path, bytes).unwrap();
                println!("    (saved the chart, decrypted, to {})", path.display());
            }
            if let Some(file) = &m.file {
                let bytes = human
                    .client
                    .media()
                    .get_file(file, false)
                    .await
                    .unwrap()
                    .unwrap();
                let path = dir.join("results.csv");
                std::fs::write(&path, bytes).unwrap();
                println!(
                    "    (saved the attachment, decrypted, to {})",
                    path.display()
                );
                saved = true;
                // The offer to delete follows the file, if there are candidates.
                deadline = tokio::time::Instant::now() + Duration::from_secs(15);
            }
            if saved && m.body.starts_with("Delete these") {
                println!(
                    "\nThe walkthrough stops here: nothing was deleted. Log in with a Matrix client to react."
                );
                return;
            }
        }
        printed = seen.len();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if !saved {
        println!("The bot did not upload results.csv within two minutes; see its log.");
    }
}

async fn seed(hs: &Homeserver) {
    hs.register("alice").await;
    let alice = hs.user_id("alice");
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let old = now - 500 * DAY;
    let rooms = [
        (
            "Book club (quiet since last year)",
            json!({}),
            Some(old),
            false,
        ),
        ("Old project", json!({}), Some(now - 400 * DAY), false),
        ("Everyone left", json!({}), Some(now - 30 * DAY), true),
        ("Team chat", json!({}), None, false),
        (
            "Old space",
            json!({"creation_content": {"type": "m.space"}}),
            Some(old),
            false,
        ),
        (
            "Old public lobby",
            json!({"preset": "public_chat", "visibility": "public"}),
            Some(old),
            false,
        ),
    ];
    for (name, extra, at, leave) in rooms {
        let mut body = json!({"name": name, "preset": "private_chat"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let room = hs.create_room(&alice, body).await;
        hs.message(&room, &alice, "hello", at).await;
        if leave {
            hs.leave(&room, &alice).await;
        }
    }
}
