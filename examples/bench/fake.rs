//! A fake Synapse Admin API for the benchmark: a million generated rooms,
//! last-activity answers, deletions that complete at once, and an added
//! latency per request. A minimal HTTP/1.1 server with keep-alive: enough
//! for reqwest, and cheap enough not to be what is measured.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

pub const ADMIN: &str = "@admin:bench.test";
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

pub struct Fake {
    pub addr: SocketAddr,
    pub requests: Arc<AtomicU64>,
}

/// Starts the server on a free loopback port.
pub async fn start(total_rooms: u64, latency: Duration) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicU64::new(0));
    let counter = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let counter = counter.clone();
            tokio::spawn(serve(stream, total_rooms, latency, counter));
        }
    });
    Fake { addr, requests }
}

async fn serve(mut stream: TcpStream, total: u64, latency: Duration, counter: Arc<AtomicU64>) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(4096);
    loop {
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let length = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + length);
        let mut words = head.split_whitespace();
        let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        counter.fetch_add(1, Ordering::Relaxed);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let body = route(method, target, total);
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn query<'a>(target: &'a str, key: &str) -> Option<&'a str> {
    let (_, q) = target.split_once('?')?;
    q.split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// A room's last activity: most rooms old, one in five recent.
pub fn last_activity(n: u64, now_ms: i64) -> i64 {
    let days = i64::try_from(n.wrapping_mul(2_654_435_761) % 800).unwrap_or(0);
    now_ms - days * DAY_MS - 1000
}

fn route(method: &str, target: &str, total: u64) -> String {
    let path = target.split('?').next().unwrap_or("");
    let now = oldrooms::timefmt::now_ms();
    if path == "/_matrix/client/v3/account/whoami" {
        return format!(r#"{{"user_id":"{ADMIN}","device_id":"BENCH"}}"#);
    }
    if path.ends_with("/admin") && path.starts_with("/_synapse/admin/v1/users/") {
        return r#"{"admin":true}"#.to_owned();
    }
    if path == "/_synapse/admin/v1/rooms" {
        let from: u64 = query(target, "from")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let limit: u64 = query(target, "limit")
            .and_then(|v| v.parse().ok())
            .unwrap_or(100)
            .max(1);
        let end = (from + limit).min(total);
        let mut out = String::with_capacity(((end - from) * 330) as usize + 100);
        out.push_str(r#"{"rooms":["#);
        for n in from..end {
            if n > from {
                out.push(',');
            }
            let local = if n % 10 == 0 { 0 } else { 2 };
            out.push_str(&format!(
                r#"{{"room_id":"!room{n}","name":"Room {n}","canonical_alias":null,"joined_members":2,"joined_local_members":{local},"version":"12","creator":"@u{n}:bench.test","encryption":null,"federatable":true,"public":false,"join_rules":"invite","guest_access":null,"history_visibility":"shared","state_events":7,"room_type":null}}"#
            ));
        }
        out.push_str(&format!(r#"],"offset":{from},"total_rooms":{total}"#));
        if end < total {
            out.push_str(&format!(r#","next_batch":{end}"#));
        }
        out.push('}');
        return out;
    }
    if let Some(n) = path
        .strip_prefix("/_synapse/admin/v1/rooms/!room")
        .and_then(|rest| rest.strip_suffix("/messages"))
        .and_then(|n| n.parse::<u64>().ok())
    {
        let ts = last_activity(n, now);
        return format!(
            r#"{{"chunk":[{{"type":"m.room.message","origin_server_ts":{ts},"content":{{"body":"x"}},"event_id":"$e{n}","sender":"@u:bench.test","room_id":"!room{n}"}}],"start":"s","end":"e"}}"#
        );
    }
    if method == "DELETE" {
        return r#"{"delete_id":"d"}"#.to_owned();
    }
    if path.contains("/delete_status") {
        return r#"{"status":"complete","shutdown_room":{"kicked_users":[],"failed_to_kick_users":[]}}"#.to_owned();
    }
    r#"{"errcode":"M_UNRECOGNIZED","error":"not in the fake"}"#.to_owned()
}
