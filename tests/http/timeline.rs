//! How a room's last activity is read from its timeline, where Synapse's
//! answers cannot be produced on demand: a page emptied by a rejected
//! event, an endless run of such pages, and which rooms pay for reading
//! the whole timeline through (rooms shared with other servers that look
//! inactive) and how much.

use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::common::{Csv, oldrooms};
use crate::{admin_server, fake_config, requests_to, room, scan_args};

use oldrooms::timefmt::{MS_PER_DAY as DAY, now_ms};

fn message(ts: i64) -> Value {
    json!({"type": "m.room.message", "origin_server_ts": ts, "content": {"body": "x"},
        "event_id": format!("$m{ts}"), "sender": "@b:elsewhere.test"})
}

fn join(user: &str, ts: i64) -> Value {
    json!({"type": "m.room.member", "state_key": user, "origin_server_ts": ts,
        "content": {"membership": "join"}, "event_id": format!("$j{user}{ts}"), "sender": user})
}

fn page(chunk: Vec<Value>, end: Option<&str>) -> ResponseTemplate {
    let mut body = json!({"chunk": chunk, "start": "s"});
    if let Some(end) = end {
        body["end"] = json!(end);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

fn messages_of(id: &str) -> String {
    format!("/_synapse/admin/v1/rooms/{id}/messages")
}

async fn list(server: &MockServer, rooms: Vec<Value>) {
    let total = rooms.len();
    Mock::given(method("GET"))
        .and(path("/_synapse/admin/v1/rooms"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "rooms": rooms, "offset": 0, "total_rooms": total})))
        .mount(server)
        .await;
}

async fn scan(server: &MockServer) -> Csv {
    let dir = tempfile::tempdir().unwrap();
    let config = fake_config(dir.path(), server, "");
    let output = dir.path().join("results.csv");
    let run = oldrooms(&scan_args(&config, &output), &[]).await;
    assert_eq!(run.code(), Some(0), "{run:?}");
    Csv::read(&output)
}

#[tokio::test]
async fn a_page_emptied_by_a_rejected_event_is_read_past() {
    let server = admin_server().await;
    list(&server, vec![room("!rejected", "Rejected on top")]).await;
    // Synapse cut the page at the rejected event, then dropped it.
    let recent = now_ms() - 2 * DAY;
    Mock::given(method("GET"))
        .and(path(messages_of("!rejected")))
        .and(query_param_is_missing("from"))
        .respond_with(page(vec![], Some("t1")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(messages_of("!rejected")))
        .and(query_param("from", "t1"))
        .respond_with(page(vec![message(recent)], Some("t2")))
        .mount(&server)
        .await;
    let csv = scan(&server).await;
    let row = csv.row("!rejected");
    assert_eq!(row["reason"], "active: last activity 2 days ago", "{row:?}");
    assert_eq!(requests_to(&server, &messages_of("!rejected")).await, 2);
}

async fn at_depth(server: &MockServer, event_id: &str, depth: i64) {
    Mock::given(method("GET"))
        .and(path(format!("/_synapse/admin/v1/fetch_event/{event_id}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "event": {"event_id": event_id, "depth": depth, "type": "m.room.message"}})))
        .mount(server)
        .await;
}

#[tokio::test]
async fn of_two_newest_events_at_one_depth_the_later_date_counts() {
    let server = admin_server().await;
    list(
        &server,
        vec![room("!tie", "At once"), room("!order", "In turn")],
    )
    .await;
    // Served first (it arrived later), dated long ago by its sender; the
    // one under it was written two days ago. In !tie they share a depth; in
    // !order the old-dated one came after the other.
    let (old, recent) = (now_ms() - 600 * DAY, now_ms() - 2 * DAY + 1);
    let (old_here, recent_here) = (old + 1, recent + 1);
    for (id, old, recent) in [("!tie", old, recent), ("!order", old_here, recent_here)] {
        Mock::given(method("GET"))
            .and(path(messages_of(id)))
            .and(query_param("limit", "2"))
            .respond_with(page(vec![message(old), message(recent)], Some("t2")))
            .mount(&server)
            .await;
        at_depth(&server, &format!("$m{recent}"), 7).await;
    }
    at_depth(&server, &format!("$m{old}"), 7).await;
    at_depth(&server, &format!("$m{old_here}"), 8).await;
    let csv = scan(&server).await;
    let row = csv.row("!tie");
    assert_eq!(row["reason"], "active: last activity 2 days ago", "{row:?}");
    let row = csv.row("!order");
    assert_eq!(
        row["reason"],
        "inactive: no activity for 600 days (limit 365)"
    );
    let fetched = server.received_requests().await.unwrap_or_default();
    let fetched = fetched
        .iter()
        .filter(|r| r.url.path().contains("fetch_event"));
    assert_eq!(fetched.count(), 4, "two depths for each room");
}

#[tokio::test]
async fn pages_that_stay_empty_leave_the_room_unknown() {
    let server = admin_server().await;
    list(&server, vec![room("!hollow", "Hollow")]).await;
    // Each empty page names another next page.
    Mock::given(method("GET"))
        .and(path(messages_of("!hollow")))
        .respond_with(|req: &Request| {
            let from = req
                .url
                .query_pairs()
                .find(|(k, _)| k == "from")
                .map_or(0, |(_, v)| v.trim_start_matches('t').parse().unwrap_or(0));
            page(vec![], Some(&format!("t{}", from + 1)))
        })
        .mount(&server)
        .await;
    let csv = scan(&server).await;
    let row = csv.row("!hollow");
    assert_eq!(row["should_delete"], "no", "{row:?}");
    assert!(
        row["reason"].starts_with("unknown: could not read last activity:")
            && row["reason"]
                .ends_with("5 pages in a row held no event that counts, each naming a next"),
        "{row:?}"
    );
    assert_eq!(requests_to(&server, &messages_of("!hollow")).await, 5);
}

#[tokio::test]
async fn only_inactive_looking_rooms_shared_with_other_servers_are_read_through() {
    let server = admin_server().await;
    let shared = |id: &str| {
        let mut r = room(id, id);
        r["creator"] = json!("@b:elsewhere.test");
        r["joined_members"] = json!(2);
        r
    };
    list(
        &server,
        vec![
            room("!ours", "Ours"),
            shared("!busy"),
            shared("!shared"),
            shared("!back"),
            shared("!holed"),
        ],
    )
    .await;
    let (old, recent) = (now_ms() - 600 * DAY, now_ms() - 2 * DAY);
    let filtered = |id: &str, ts: i64| {
        Mock::given(method("GET"))
            .and(path(messages_of(id)))
            .and(query_param_is_missing("from"))
            .and(query_param("limit", "2"))
            .respond_with(page(vec![message(ts)], Some("t0")))
    };
    for (id, ts) in [
        ("!ours", old),
        ("!busy", recent),
        ("!shared", old),
        ("!back", old),
        ("!holed", old),
    ] {
        filtered(id, ts).mount(&server).await;
    }
    // !shared: a page of twenty remote joins, then one with activity.
    let joins: Vec<Value> = (0..20)
        .map(|n| join(&format!("@p{n}:elsewhere.test"), old))
        .collect();
    let whole = |id: &str| {
        Mock::given(method("GET"))
            .and(path(messages_of(id)))
            .and(query_param("limit", "20"))
    };
    whole("!shared")
        .and(query_param_is_missing("from"))
        .respond_with(page(joins, Some("p2")))
        .mount(&server)
        .await;
    whole("!shared")
        .and(query_param("from", "p2"))
        .respond_with(page(vec![message(old)], Some("p3")))
        .mount(&server)
        .await;
    // !back: one of ours joined today, above the old message.
    let back = vec![join("@c:fake.test", now_ms()), message(old)];
    whole("!back")
        .and(query_param_is_missing("from"))
        .respond_with(page(back, Some("p2")))
        .mount(&server)
        .await;

    // !holed: two joins above the old message, which is ten deeper than
    // the room's newest events: events are missing in between.
    let holed = vec![
        join("@p1:elsewhere.test", old),
        join("@p2:elsewhere.test", old),
        message(old),
    ];
    whole("!holed")
        .and(query_param_is_missing("from"))
        .respond_with(page(holed, Some("p2")))
        .mount(&server)
        .await;
    at_depth(&server, &format!("$m{old}"), 10).await;
    for (id, top) in [("!shared", 30), ("!holed", 20)] {
        Mock::given(method("GET"))
            .and(path(format!(
                "/_synapse/admin/v1/rooms/{id}/forward_extremities"
            )))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"count": 1,
                "results": [{"event_id": "$top", "state_group": 1, "depth": top,
                    "received_ts": 1}]})))
            .mount(&server)
            .await;
    }

    let csv = scan(&server).await;
    assert!(csv.row("!ours")["reason"].starts_with("inactive"));
    assert!(csv.row("!busy")["reason"].starts_with("active"));
    assert!(csv.row("!shared")["reason"].starts_with("inactive"));
    assert_eq!(
        csv.row("!back")["reason"],
        "unknown: @c:fake.test joined 0 days ago, after the newest activity our server holds; \
         the room's other servers may hold newer messages it could not fetch"
    );
    assert_eq!(
        csv.row("!holed")["reason"],
        "unknown: our server's copy of the room lacks events above the newest activity it \
         holds; the room's other servers may hold newer messages it could not fetch"
    );
    // The filtered read for every room; then, for a room that needs it, a
    // page of the whole timeline each down to activity, and the filtered
    // read once more; where the answer stays old, the room's top depth and
    // the answer's, and the pages once more when they fell short.
    let messages = [
        ("!ours", 1),
        ("!busy", 1),
        ("!shared", 4),
        ("!back", 3),
        ("!holed", 4),
    ];
    for (id, requests) in messages {
        assert_eq!(
            requests_to(&server, &messages_of(id)).await,
            requests,
            "{id}"
        );
    }
    for id in ["!shared", "!holed"] {
        let top = format!("/_synapse/admin/v1/rooms/{id}/forward_extremities");
        assert_eq!(requests_to(&server, &top).await, 1, "{id}");
    }
    let depth = format!("/_synapse/admin/v1/fetch_event/$m{old}");
    assert_eq!(requests_to(&server, &depth).await, 2);
}
