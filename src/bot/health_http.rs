//! `GET /healthz` on `bot.health_listen`, for a supervisor to poll: 200 when
//! healthy, 503 otherwise, with the report as JSON. One endpoint on a
//! loopback address does not need an HTTP framework: this reads a request
//! head of at most 8 KiB, answers from its first line, and closes. Connections are
//! bounded in number and time, so a stuck or hostile client costs little.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use super::health::Health;
use crate::timefmt::now_ms;

const MAX_HEAD: usize = 8 * 1024;
const MAX_CONNECTIONS: usize = 16;
const CONNECTION_TIME: Duration = Duration::from_secs(5);

/// Answers until the task is dropped.
pub async fn serve(listener: TcpListener, health: Arc<Health>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: try again shortly.
                warn!(error = %e, "health check: accept failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let health = health.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(CONNECTION_TIME, answer(stream, &health)).await {
                Ok(Err(e)) => debug!(error = %e, "health check: connection failed"),
                Err(_) => debug!("health check: client too slow"),
                Ok(Ok(())) => {}
            }
            drop(slot);
        });
    }
}

async fn answer(mut stream: TcpStream, health: &Health) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head_complete(&head) && head.len() < MAX_HEAD {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let response = respond(&head, || {
        let report = health.report(now_ms());
        let body = serde_json::to_string(&report).unwrap_or_else(|_| "{}".to_owned());
        (report.healthy(), body)
    });
    stream.write_all(&response).await?;
    stream.shutdown().await?;
    // Closing with unread input (a body, an oversized head) would reset the
    // connection and could lose the answer: read what is left, a little.
    let mut left: usize = 64 * 1024;
    while left > 0 {
        match stream.read(&mut buf).await? {
            0 => break,
            n => left = left.saturating_sub(n),
        }
    }
    Ok(())
}

/// The empty line that ends a request head, with or without `\r`.
fn head_complete(head: &[u8]) -> bool {
    head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n")
}

/// The whole response to a request head; `check` runs only for the
/// health endpoint.
fn respond(head: &[u8], check: impl FnOnce() -> (bool, String)) -> Vec<u8> {
    let line = head
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    let (code, reason, body) = if path != b"/healthz" {
        (
            404,
            "Not Found",
            r#"{"error":"not found; try /healthz"}"#.to_owned(),
        )
    } else if method != b"GET" && method != b"HEAD" {
        (
            405,
            "Method Not Allowed\r\nAllow: GET, HEAD",
            r#"{"error":"use GET"}"#.to_owned(),
        )
    } else {
        match check() {
            (true, body) => (200, "OK", body),
            (false, body) => (503, "Service Unavailable", body),
        }
    };
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != b"HEAD" {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(head: &str, healthy: bool) -> String {
        String::from_utf8(respond(head.as_bytes(), || {
            (healthy, "{\"status\":\"x\"}".into())
        }))
        .unwrap()
    }

    #[test]
    fn health_is_200_or_503_with_the_report() {
        let ok = text("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", true);
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("Content-Length: 14\r\n"), "{ok}");
        assert!(ok.ends_with("\r\n\r\n{\"status\":\"x\"}"), "{ok}");
        let down = text("GET /healthz?verbose=1 HTTP/1.0\r\n\r\n", false);
        assert!(
            down.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{down}"
        );
        let head = text("HEAD /healthz HTTP/1.1\r\n\r\n", true);
        assert!(head.ends_with("Connection: close\r\n\r\n"), "{head}");
    }

    #[test]
    fn a_head_ends_at_an_empty_line_with_or_without_cr() {
        assert!(head_complete(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(head_complete(b"GET /healthz HTTP/1.0\n\n"));
        assert!(!head_complete(b"GET /healthz HTTP/1.1\r\nHost: x\r\n"));
    }

    #[test]
    fn anything_else_is_refused_without_running_the_check() {
        let never = || -> (bool, String) { panic!("the check ran") };
        for (head, code) in [
            ("GET / HTTP/1.1\r\n\r\n", "404 Not Found"),
            (
                "POST /healthz HTTP/1.1\r\n\r\n",
                "405 Method Not Allowed\r\nAllow: GET, HEAD",
            ),
            ("GET /healthz/../etc HTTP/1.1\r\n\r\n", "404 Not Found"),
            ("", "404 Not Found"),
            ("\u{0}\u{ff}garbage", "404 Not Found"),
        ] {
            let out = String::from_utf8_lossy(&respond(head.as_bytes(), never)).into_owned();
            assert!(
                out.starts_with(&format!("HTTP/1.1 {code}\r\n")),
                "{head:?}: {out}"
            );
        }
    }
}
