//! A typed client for the Synapse Admin API: one `AdminClient` with a generic
//! request helper (bearer token, bounded retries, typed errors) and one file
//! per group of endpoints.

mod activity;
mod delete;
mod error;
mod notices;
mod outage;
mod rooms;
mod serde_quirks;
mod server;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tracing::{debug, info};
use url::Url;

pub use activity::{Activity, Through};
pub use delete::{DeleteState, DeleteStatus, DeleteTask, NoticeRoom, ShutdownRoom};
pub use error::AdminError;
pub use rooms::{DIRECT_INVITE_WINDOW, RoomPage};
pub use server::{Login, WhoAmI};

use crate::metrics::{Metrics, endpoint_class};
use crate::secret::Secret;
use error::ErrorBody;

/// How patient the client is. Defaults suit a homeserver under normal load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// Retries after a 429, a 5xx or a connection error; 0 means one attempt.
    pub max_retries: u32,
    /// First backoff; doubled each retry.
    pub base_delay: Duration,
    /// At most this many requests per second, to spare a busy homeserver;
    /// 0 for no limit.
    pub max_requests_per_second: u32,
    /// How long a request waits for a homeserver that answered before and
    /// stopped answering (a restart); zero: not at all.
    pub outage_patience: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            max_retries: 5,
            base_delay: Duration::from_millis(250),
            max_requests_per_second: 0,
            outage_patience: Duration::from_secs(300),
        }
    }
}

/// The longest we wait before a retry, even when Synapse asks for more.
const MAX_DELAY: Duration = Duration::from_secs(300);

/// Talks to one homeserver with one access token.
#[derive(Debug, Clone)]
pub struct AdminClient {
    http: reqwest::Client,
    base: Url,
    token: Option<Secret>,
    settings: HttpSettings,
    pacer: Option<Arc<Pacer>>,
    answered: Arc<outage::Answered>,
    /// Where each attempt is counted, in the bot.
    metrics: Option<Arc<Metrics>>,
}

/// Spaces requests evenly, across every clone of the client.
#[derive(Debug)]
struct Pacer {
    period: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    async fn wait(&self) {
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let at = (*next).max(Instant::now());
            *next = at + self.period;
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }
}

impl AdminClient {
    pub fn new(base: Url, token: Secret, settings: HttpSettings) -> Result<Self, AdminError> {
        let mut client = Self::anonymous(base, settings)?;
        client.token = Some(token);
        Ok(client)
    }

    fn anonymous(base: Url, settings: HttpSettings) -> Result<Self, AdminError> {
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .user_agent(concat!("oldrooms/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| AdminError::Unreachable {
                base: base.to_string(),
                source,
            })?;
        let pacer = (settings.max_requests_per_second > 0).then(|| {
            Arc::new(Pacer {
                period: Duration::from_secs(1) / settings.max_requests_per_second,
                next: Mutex::new(Instant::now()),
            })
        });
        Ok(Self {
            http,
            base,
            token: None,
            settings,
            pacer,
            answered: Arc::default(),
            metrics: None,
        })
    }

    /// Counts every attempt (and retry) of this client and its clones.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub fn homeserver(&self) -> &Url {
        &self.base
    }

    /// The URL of an endpoint; each segment is percent-encoded, so a room id
    /// or alias can never change the path.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<T, AdminError> {
        let mut url = self.url(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        self.send(Method::GET, url, None).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &serde_json::Value,
    ) -> Result<T, AdminError> {
        self.send(Method::POST, self.url(segments), Some(body))
            .await
    }

    /// One logical request: retried on 429 (after `retry_after_ms` when
    /// given), 5xx and transport errors, then decoded or mapped to an error.
    /// When the retries run out because the homeserver itself is gone, the
    /// request waits for it to come back (see `outage`).
    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<T, AdminError> {
        let endpoint = format!("{method} {}", url.path());
        let class = endpoint_class(method.as_str(), url.path());
        let mut attempt = 0;
        let mut outage_deadline: Option<Instant> = None;
        let mut checked_after_probe = false;
        loop {
            let outcome = self.attempt(&method, &url, body).await;
            if let Some(m) = &self.metrics {
                m.admin_request(class, outcome_class(&outcome));
            }
            let wait = match &outcome {
                Err(e) if !e.is_builder() => Some(self.backoff(attempt)),
                Ok((status, bytes)) if *status == StatusCode::TOO_MANY_REQUESTS => Some(
                    ErrorBody::parse(bytes)
                        .retry_after_ms
                        .map_or_else(|| self.backoff(attempt), Duration::from_millis)
                        .min(MAX_DELAY),
                ),
                Ok((status, _)) if status.is_server_error() => Some(self.backoff(attempt)),
                _ => None,
            };
            match wait {
                Some(delay) if attempt < self.settings.max_retries => {
                    attempt += 1;
                    if let Some(m) = &self.metrics {
                        m.admin_retry(class);
                    }
                    info!(%endpoint, attempt, delay_ms = delay.as_millis() as u64,
                        outcome = %describe(&outcome), "retrying");
                    tokio::time::sleep(delay).await;
                    continue;
                }
                _ => {}
            }
            let patient = !self.settings.outage_patience.is_zero() && self.answered.ever();
            if !(patient && outage::looks_down(&outcome)) {
                return self.finish(endpoint, outcome);
            }
            let deadline = *outage_deadline
                .get_or_insert_with(|| Instant::now() + self.settings.outage_patience);
            match self.wait_until_back(deadline).await {
                outage::Wait::Back => attempt = 0,
                // Up now: the homeserver may have come back during the last
                // backoff, so one more try before blaming the request.
                outage::Wait::WasUp if !checked_after_probe => checked_after_probe = true,
                outage::Wait::WasUp => return self.finish(endpoint, outcome),
                outage::Wait::GaveUp => {
                    return Err(AdminError::Outage {
                        base: self.base.to_string(),
                        waited_secs: self.settings.outage_patience.as_secs(),
                        last: describe(&outcome),
                    });
                }
            }
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&serde_json::Value>,
    ) -> Result<(StatusCode, bytes::Bytes), reqwest::Error> {
        if let Some(pacer) = &self.pacer {
            pacer.wait().await;
        }
        let mut request = self.http.request(method.clone(), url.clone());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !outage::is_down_status(status) {
            self.answered.saw();
        }
        debug!(%method, path = url.path(), %status, len = bytes.len(), "homeserver answered");
        Ok((status, bytes))
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.settings
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(MAX_DELAY)
    }

    fn finish<T: DeserializeOwned>(
        &self,
        endpoint: String,
        outcome: Result<(StatusCode, bytes::Bytes), reqwest::Error>,
    ) -> Result<T, AdminError> {
        let (status, bytes) = outcome.map_err(|source| AdminError::Unreachable {
            base: self.base.to_string(),
            source: source.without_url(),
        })?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| AdminError::Decode {
                endpoint,
                detail: error::undecodable(&e, &bytes),
            });
        }
        let ErrorBody { errcode, error, .. } = ErrorBody::parse(&bytes);
        let is_admin_api = endpoint.contains(" /_synapse/admin/");
        Err(match status {
            StatusCode::UNAUTHORIZED => AdminError::BadToken {
                errcode,
                message: error,
            },
            StatusCode::FORBIDDEN if is_admin_api => AdminError::NotAdmin {
                errcode,
                message: error,
            },
            StatusCode::NOT_FOUND if is_admin_api && errcode == "M_UNRECOGNIZED" => {
                AdminError::Unrouted { endpoint }
            }
            _ => AdminError::Api {
                endpoint,
                status,
                errcode,
                message: error,
            },
        })
    }
}

/// An attempt's outcome as a metric label.
fn outcome_class(outcome: &Result<(StatusCode, bytes::Bytes), reqwest::Error>) -> &'static str {
    match outcome {
        Ok((status, _)) if status.is_success() => "ok",
        Ok((status, _)) if *status == StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        Ok((status, _)) if status.is_client_error() => "client_error",
        Ok(_) => "server_error",
        Err(e) if e.is_timeout() => "timeout",
        Err(_) => "network_error",
    }
}

fn describe(outcome: &Result<(StatusCode, bytes::Bytes), reqwest::Error>) -> String {
    match outcome {
        Ok((status, _)) => status.to_string(),
        Err(e) => e.to_string(),
    }
}
