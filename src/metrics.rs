//! What the bot did, for Prometheus: counters and gauges kept in memory and
//! rendered in the OpenMetrics text format at `/metrics`. Recording is
//! lock-free and never fails; labels come from small fixed sets (no room
//! id, no user id), so the number of series stays bounded.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

type Labels = Vec<(&'static str, &'static str)>;
type SecondsGauge = Gauge<f64, AtomicU64>;

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every metric the bot exports, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    scans: Family<Labels, Counter>,
    last_scan_rooms: Family<Labels, Gauge>,
    last_scan_duration: SecondsGauge,
    offer_candidates: Gauge,
    deletion_rooms: Family<Labels, Counter>,
    deletion_in_progress: Gauge,
    admin_requests: Family<Labels, Counter>,
    admin_retries: Family<Labels, Counter>,
    sync_failures: Counter,
    since_last_sync: SecondsGauge,
    last_sync: SecondsGauge,
    next_scheduled_scan: SecondsGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("oldrooms");
        let m = Self {
            scans: Family::default(),
            last_scan_rooms: Family::default(),
            last_scan_duration: SecondsGauge::default(),
            offer_candidates: Gauge::default(),
            deletion_rooms: Family::default(),
            deletion_in_progress: Gauge::default(),
            admin_requests: Family::default(),
            admin_retries: Family::default(),
            sync_failures: Counter::default(),
            since_last_sync: SecondsGauge::default(),
            last_sync: SecondsGauge::default(),
            next_scheduled_scan: SecondsGauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "scans",
            "Scans that ended, by trigger (chat, schedule) and end (finished, failed, cancelled)",
            m.scans.clone(),
        );
        registry.register(
            "last_scan_rooms",
            "Rooms of the last finished scan, by verdict",
            m.last_scan_rooms.clone(),
        );
        registry.register_with_unit(
            "last_scan_duration",
            "How long the last finished scan took",
            Unit::Seconds,
            m.last_scan_duration.clone(),
        );
        registry.register(
            "offer_candidates",
            "Rooms in the standing offer to delete (0 when none stands)",
            m.offer_candidates.clone(),
        );
        registry.register(
            "deletion_rooms",
            "Rooms of finished deletion runs, by outcome (deleted, skipped, failed) and reason class",
            m.deletion_rooms.clone(),
        );
        registry.register(
            "deletion_in_progress",
            "1 while a deletion runs",
            m.deletion_in_progress.clone(),
        );
        registry.register(
            "admin_api_requests",
            "Admin API requests (each attempt), by endpoint and outcome",
            m.admin_requests.clone(),
        );
        registry.register(
            "admin_api_retries",
            "Admin API requests tried again (after a 429, a 5xx or a network error), by endpoint",
            m.admin_retries.clone(),
        );
        registry.register(
            "sync_failures",
            "Syncs with the homeserver that failed",
            m.sync_failures.clone(),
        );
        registry.register_with_unit(
            "since_last_sync",
            "Time since the last successful sync (-1 before the first)",
            Unit::Seconds,
            m.since_last_sync.clone(),
        );
        registry.register_with_unit(
            "last_sync_timestamp",
            "When the last successful sync ended, as a Unix time (0 before the first: \
             `time() - this` alerts on a bot stuck at start too)",
            Unit::Seconds,
            m.last_sync.clone(),
        );
        registry.register_with_unit(
            "next_scheduled_scan_timestamp",
            "When the next scheduled scan runs, as a Unix time (0 without [schedule])",
            Unit::Seconds,
            m.next_scheduled_scan.clone(),
        );
        m.since_last_sync.set(-1.0);
        // Series at 0 from the start, so a query sees them before the
        // first event (and `increase()` counts the first one).
        for trigger in [Trigger::Chat, Trigger::Schedule] {
            for end in [ScanEnd::Finished, ScanEnd::Failed, ScanEnd::Cancelled] {
                let _ = m
                    .scans
                    .get_or_create(&vec![("trigger", trigger.as_str()), ("end", end.as_str())]);
            }
        }
        for endpoint in ENDPOINTS {
            let _ = m.admin_retries.get_or_create(&vec![("endpoint", endpoint)]);
        }
        Self { registry, ..m }
    }

    /// The OpenMetrics text, ending with `# EOF`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String does not fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// A scan ended; `rooms` is the verdict count of a finished one.
    pub fn scan_ended(&self, trigger: Trigger, end: ScanEnd, finished: Option<&FinishedScan>) {
        self.scans
            .get_or_create(&vec![("trigger", trigger.as_str()), ("end", end.as_str())])
            .inc();
        if let Some(scan) = finished {
            for (verdict, n) in &scan.rooms {
                self.last_scan_rooms
                    .get_or_create(&vec![("verdict", *verdict)])
                    .set(i64::try_from(*n).unwrap_or(i64::MAX));
            }
            self.last_scan_duration.set(scan.seconds);
        }
    }

    /// Shows these verdicts at 0 until a scan counts them.
    pub fn prepare_verdicts(&self, verdicts: &[&'static str]) {
        for verdict in verdicts {
            let _ = self
                .last_scan_rooms
                .get_or_create(&vec![("verdict", *verdict)]);
        }
    }

    /// Shows these (outcome, reason class) pairs at 0 until counted.
    pub fn prepare_deletion_reasons(&self, pairs: &[(&'static str, &'static str)]) {
        for (outcome, class) in pairs {
            let _ = self
                .deletion_rooms
                .get_or_create(&vec![("outcome", *outcome), ("reason", *class)]);
        }
    }

    pub fn set_offer_candidates(&self, n: usize) {
        self.offer_candidates
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub fn set_deletion_in_progress(&self, running: bool) {
        self.deletion_in_progress.set(i64::from(running));
    }

    /// One room of a finished deletion run.
    pub fn deletion_room(&self, outcome: &'static str, class: &'static str) {
        self.deletion_rooms
            .get_or_create(&vec![("outcome", outcome), ("reason", class)])
            .inc();
    }

    /// One attempt of an Admin API request.
    pub fn admin_request(&self, endpoint: &'static str, outcome: &'static str) {
        self.admin_requests
            .get_or_create(&vec![("endpoint", endpoint), ("outcome", outcome)])
            .inc();
    }

    pub fn admin_retry(&self, endpoint: &'static str) {
        self.admin_retries
            .get_or_create(&vec![("endpoint", endpoint)])
            .inc();
    }

    pub fn sync_failed(&self) {
        self.sync_failures.inc();
    }

    /// The values read at scrape time.
    pub fn set_last_sync(&self, at_ms: Option<i64>, now_ms: i64) {
        let age = at_ms.map(|at| (now_ms - at).max(0) / 1000);
        self.since_last_sync.set(age.map_or(-1.0, |s| s as f64));
        self.last_sync
            .set(at_ms.map_or(0.0, |ms| ms as f64 / 1000.0));
    }

    pub fn set_next_scheduled_scan(&self, at_ms: Option<i64>) {
        self.next_scheduled_scan
            .set(at_ms.map_or(0.0, |ms| ms as f64 / 1000.0));
    }
}

/// What started a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Chat,
    Schedule,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Schedule => "schedule",
        }
    }
}

/// How a scan ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanEnd {
    Finished,
    Failed,
    Cancelled,
}

impl ScanEnd {
    fn as_str(self) -> &'static str {
        match self {
            Self::Finished => "finished",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// What a finished scan found.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedScan {
    /// Rooms by verdict ("inactive", "active"…), every verdict present.
    pub rooms: Vec<(&'static str, usize)>,
    pub seconds: f64,
}

/// Every endpoint class [`endpoint_class`] gives.
pub const ENDPOINTS: [&str; 20] = [
    "GET rooms",
    "GET rooms/delete_status/{id}",
    "GET rooms/{id}",
    "DELETE rooms/{id}",
    "GET rooms/{id}/members",
    "GET rooms/{id}/messages",
    "GET rooms/{id}/state",
    "GET rooms/{id}/forward_extremities",
    "GET fetch_event/{id}",
    "GET scheduled_tasks",
    "GET server_version",
    "GET users/{id}/admin",
    "GET account/whoami",
    "GET versions",
    "GET auth_metadata",
    "POST login",
    "POST logout",
    "POST keys/query",
    "POST users/{id}/override_ratelimit",
    "other",
];

/// The endpoint of an Admin API path, with its ids left out: `GET
/// rooms/{id}/messages`. Paths outside the APIs we call are "other".
pub fn endpoint_class(method: &str, path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = match segments.as_slice() {
        ["_matrix", "client", "versions"] => return "GET versions",
        ["_synapse", "admin", _version, rest @ ..] | ["_matrix", "client", _version, rest @ ..] => {
            rest
        }
        _ => return "other",
    };
    match (method, rest) {
        ("GET", ["rooms"]) => "GET rooms",
        ("GET", ["rooms", "delete_status", _]) => "GET rooms/delete_status/{id}",
        ("GET", ["rooms", _]) => "GET rooms/{id}",
        ("DELETE", ["rooms", _]) => "DELETE rooms/{id}",
        ("GET", ["rooms", _, "members"]) => "GET rooms/{id}/members",
        ("GET", ["rooms", _, "messages"]) => "GET rooms/{id}/messages",
        ("GET", ["rooms", _, "state"]) => "GET rooms/{id}/state",
        ("GET", ["rooms", _, "forward_extremities"]) => "GET rooms/{id}/forward_extremities",
        ("GET", ["fetch_event", _]) => "GET fetch_event/{id}",
        ("GET", ["scheduled_tasks"]) => "GET scheduled_tasks",
        ("GET", ["server_version"]) => "GET server_version",
        ("GET", ["users", _, "admin"]) => "GET users/{id}/admin",
        ("GET", ["account", "whoami"]) => "GET account/whoami",
        ("GET", ["auth_metadata"]) => "GET auth_metadata",
        ("POST", ["login"]) => "POST login",
        ("POST", ["logout"]) => "POST logout",
        ("POST", ["keys", "query"]) => "POST keys/query",
        ("POST", ["users", _, "override_ratelimit"]) => "POST users/{id}/override_ratelimit",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_named_without_their_ids() {
        for (method, path, class) in [
            ("GET", "/_synapse/admin/v1/rooms", "GET rooms"),
            ("GET", "/_synapse/admin/v1/rooms/!a:x", "GET rooms/{id}"),
            (
                "GET",
                "/_synapse/admin/v1/rooms/%21a%3Ax/messages",
                "GET rooms/{id}/messages",
            ),
            (
                "DELETE",
                "/_synapse/admin/v2/rooms/!a:x",
                "DELETE rooms/{id}",
            ),
            (
                "GET",
                "/_synapse/admin/v2/rooms/delete_status/abcd",
                "GET rooms/delete_status/{id}",
            ),
            (
                "GET",
                "/_synapse/admin/v1/users/@a:x/admin",
                "GET users/{id}/admin",
            ),
            ("GET", "/elsewhere", "other"),
            ("PUT", "/_synapse/admin/v1/rooms", "other"),
        ] {
            assert_eq!(endpoint_class(method, path), class, "{method} {path}");
            assert!(ENDPOINTS.contains(&class), "{class}");
        }
    }

    #[test]
    fn the_text_names_every_metric_by_prometheus_conventions() {
        let m = Metrics::new();
        m.scan_ended(
            Trigger::Chat,
            ScanEnd::Finished,
            Some(&FinishedScan {
                rooms: vec![("inactive", 2), ("active", 1)],
                seconds: 1.5,
            }),
        );
        m.admin_request("GET rooms", "ok");
        m.deletion_room("skipped", "new_activity");
        let text = m.render();
        for line in [
            "oldrooms_scans_total{trigger=\"chat\",end=\"finished\"} 1",
            "oldrooms_last_scan_rooms{verdict=\"inactive\"} 2",
            "oldrooms_last_scan_duration_seconds 1.5",
            "oldrooms_admin_api_requests_total{endpoint=\"GET rooms\",outcome=\"ok\"} 1",
            "oldrooms_deletion_rooms_total{outcome=\"skipped\",reason=\"new_activity\"} 1",
            "oldrooms_offer_candidates 0",
            "oldrooms_since_last_sync_seconds -1.0",
            "oldrooms_last_sync_timestamp_seconds 0.0",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
    }
}
