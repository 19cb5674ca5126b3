//! Riding out a homeserver restart. A request that keeps failing the way a
//! stopped Synapse fails (connection refused, or a proxy's 502/503) is not
//! recorded as that room's failure while the homeserver as a whole is gone:
//! it waits, probing `/_synapse/admin/v1/server_version` (served by the main
//! process, as the Admin API is, even where workers answer the client API),
//! until the homeserver is back or the patience runs out. A homeserver that never answered (a wrong URL)
//! is not waited for.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tracing::{info, warn};

use super::AdminClient;

/// The longest pause between two probes of a homeserver that is down.
const MAX_PROBE_DELAY: Duration = Duration::from_secs(10);

/// Whether the homeserver has ever answered this client (any clone).
#[derive(Debug, Default)]
pub(super) struct Answered(AtomicBool);

impl Answered {
    pub(super) fn saw(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub(super) fn ever(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A failure that says "the homeserver is not there", as opposed to "this
/// request failed" (a timeout, a 500, a 504 from a slow room).
pub(super) fn looks_down(outcome: &Result<(StatusCode, bytes::Bytes), reqwest::Error>) -> bool {
    match outcome {
        Ok((status, _)) => is_down_status(*status),
        Err(e) => !e.is_timeout() && !e.is_builder(),
    }
}

pub(super) fn is_down_status(status: StatusCode) -> bool {
    status == StatusCode::BAD_GATEWAY || status == StatusCode::SERVICE_UNAVAILABLE
}

/// What a wait for the homeserver found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Wait {
    /// It answered the first probe: the failure was the request's own.
    WasUp,
    /// It was down and answers again.
    Back,
    /// Still down at the deadline.
    GaveUp,
}

impl AdminClient {
    /// Probes until the homeserver answers or `deadline` passes.
    pub(super) async fn wait_until_back(&self, deadline: Instant) -> Wait {
        let mut delay = Duration::from_secs(1);
        let mut down_since: Option<Instant> = None;
        loop {
            if self.probe().await {
                if let Some(since) = down_since {
                    info!(homeserver = %self.base, after_secs = since.elapsed().as_secs(),
                        "the homeserver answers again; carrying on");
                    return Wait::Back;
                }
                return Wait::WasUp;
            }
            if down_since.is_none() {
                down_since = Some(Instant::now());
                warn!(homeserver = %self.base,
                    patience_secs = deadline.saturating_duration_since(Instant::now()).as_secs(),
                    "the homeserver is not answering (restarting?); waiting for it");
            }
            if Instant::now() + delay > deadline {
                return Wait::GaveUp;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_PROBE_DELAY);
        }
    }

    /// Any answer from the homeserver but a proxy's 502/503 counts as up.
    async fn probe(&self) -> bool {
        let url = self.url(&["_synapse", "admin", "v1", "server_version"]);
        match self.http.get(url).send().await {
            Ok(response) => !is_down_status(response.status()),
            Err(_) => false,
        }
    }
}
