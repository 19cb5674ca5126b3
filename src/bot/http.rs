//! `GET /healthz` and `GET /metrics` on `bot.health_listen`, served by
//! hyper: `/healthz` for a supervisor (200 when healthy, 503 otherwise, the
//! report as JSON), `/metrics` for Prometheus. A client gets a few seconds
//! to send its request head and one request per connection, and the
//! connections at once are capped far above what idle or slow clients can
//! hold for long: a probe is answered while they wait.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use super::health::Health;
use crate::metrics::Metrics;
use crate::timefmt::now_ms;

/// Connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 512;
/// Time to send the request head.
const HEAD_TIME: Duration = Duration::from_secs(3);
/// Time for a whole connection: head, answer, and a slow reader.
const CONNECTION_TIME: Duration = Duration::from_secs(10);

/// What the endpoints read.
pub struct Sources {
    pub health: Arc<Health>,
    pub metrics: Arc<Metrics>,
}

/// Answers until the task is dropped.
pub async fn serve(listener: TcpListener, sources: Arc<Sources>) {
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
            debug!("health check: too many connections; closing a new one");
            continue;
        };
        let sources = sources.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let answer = respond(request.method(), request.uri().path(), &sources);
                async move { Ok::<_, Infallible>(answer) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIME)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(CONNECTION_TIME, connection).await {
                Ok(Err(e)) => debug!(error = %e, "health check: connection failed"),
                Err(_) => debug!("health check: client too slow"),
                Ok(Ok(())) => {}
            }
            drop(slot);
        });
    }
}

fn respond(method: &Method, path: &str, sources: &Sources) -> Response<Full<Bytes>> {
    let json = "application/json";
    let allowed = matches!(*method, Method::GET | Method::HEAD);
    let (status, kind, body) = match path {
        "/healthz" | "/metrics" if !allowed => (
            StatusCode::METHOD_NOT_ALLOWED,
            json,
            r#"{"error":"use GET"}"#.to_owned(),
        ),
        "/healthz" => {
            let report = sources.health.report(now_ms());
            let body = serde_json::to_string(&report).unwrap_or_else(|_| "{}".to_owned());
            let status = if report.healthy() {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            (status, json, body)
        }
        "/metrics" => {
            sources
                .metrics
                .set_last_sync(sources.health.last_sync_ms(), now_ms());
            sources
                .metrics
                .set_next_scheduled_scan(sources.health.next_scan_ms());
            (
                StatusCode::OK,
                crate::metrics::CONTENT_TYPE,
                sources.metrics.render(),
            )
        }
        _ => (
            StatusCode::NOT_FOUND,
            json,
            r#"{"error":"not found; try /healthz or /metrics"}"#.to_owned(),
        ),
    };
    // For HEAD, hyper sends the length of this body and not the body.
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, hyper::header::HeaderValue::from_static(kind));
    headers.insert(
        CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    if status == StatusCode::METHOD_NOT_ALLOWED {
        headers.insert(ALLOW, hyper::header::HeaderValue::from_static("GET, HEAD"));
    }
    response
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;

    async fn answer(method: Method, path: &str, healthy: bool) -> (u16, String, String) {
        let sources = Sources {
            health: Arc::default(),
            metrics: Arc::default(),
        };
        if healthy {
            sources.health.synced(now_ms(), true);
        }
        let response = respond(&method, path, &sources);
        let status = response.status().as_u16();
        let kind = response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        let body = response.into_body().collect().await.map(|b| b.to_bytes());
        let body = String::from_utf8_lossy(&body.unwrap_or_default()).into_owned();
        (status, kind, body)
    }

    #[tokio::test]
    async fn each_path_and_method_gets_its_answer() {
        let (status, kind, body) = answer(Method::GET, "/healthz", true).await;
        assert_eq!((status, kind.as_str()), (200, "application/json"));
        assert!(body.contains(r#""status":"ok""#), "{body}");
        let (status, _, body) = answer(Method::GET, "/healthz", false).await;
        assert_eq!(status, 503);
        assert!(body.contains("no sync has succeeded yet"), "{body}");
        let (status, kind, body) = answer(Method::GET, "/metrics", true).await;
        assert_eq!((status, kind.as_str()), (200, crate::metrics::CONTENT_TYPE));
        assert!(body.ends_with("# EOF\n"), "{body}");
        assert_eq!(answer(Method::POST, "/healthz", true).await.0, 405);
        assert_eq!(answer(Method::GET, "/", true).await.0, 404);
        assert_eq!(answer(Method::GET, "/healthz/../etc", true).await.0, 404);
    }

    /// Sends `request` to a served listener and reads the whole answer.
    async fn raw(request: &str) -> String {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let sources = Arc::new(Sources {
            health: Arc::default(),
            metrics: Arc::default(),
        });
        sources.health.synced(now_ms(), true);
        let server = tokio::spawn(serve(listener, sources));
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        stream
            .write_all(request.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        server.abort();
        answer
    }

    #[tokio::test]
    async fn head_gets_the_length_and_no_body_and_the_connection_closes() {
        let get = raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let head = raw("HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let length = |text: &str| {
            text.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(str::to_owned)
            })
        };
        assert!(get.starts_with("HTTP/1.1 200 OK\r\n"), "{get}");
        assert!(
            get.to_ascii_lowercase().contains("connection: close\r\n"),
            "{get}"
        );
        assert_eq!(length(&head), length(&get), "{head}");
        assert!(length(&get).is_some(), "{get}");
        assert!(head.ends_with("\r\n\r\n"), "a body after HEAD: {head}");
    }
}
