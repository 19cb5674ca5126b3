//! What the bot reports at `/healthz`: healthy while it syncs and is in the
//! admin room. The sync loop and the actor write it; the report is a pure
//! function of what they wrote and the time.

use std::sync::Mutex;

use serde::Serialize;

use crate::timefmt::rfc3339;

/// A sync answers within its long-poll timeout (30 s) when nothing
/// happens; this much silence means the sync is stuck.
pub const STALE_AFTER_MS: i64 = 90_000;

#[derive(Debug, Default)]
pub struct Health(Mutex<State>);

#[derive(Debug, Default, Clone)]
struct State {
    last_sync_ms: Option<i64>,
    /// Why the latest sync failed; cleared by the next success.
    sync_error: Option<String>,
    in_admin_room: bool,
    job: Option<&'static str>,
    next_scan_ms: Option<i64>,
    /// The waiting plan's deadline and rooms.
    plan: Option<(i64, usize)>,
}

/// The body of `/healthz`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Report {
    pub status: &'static str,
    /// Why the status is not "ok"; empty when it is.
    pub problems: Vec<String>,
    pub last_sync: Option<String>,
    pub last_sync_secs_ago: Option<i64>,
    pub in_admin_room: bool,
    /// The running job ("scan", "deletion", "dry run", "upload"), if any.
    pub job: Option<&'static str>,
    /// With `[schedule]`: when the next scheduled scan runs.
    pub next_scheduled_scan: Option<String>,
    /// With `[delete] grace`: the plan that waits, if any.
    pub plan: Option<PlanReport>,
}

/// A waiting plan in `/healthz`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct PlanReport {
    pub rooms: usize,
    pub deadline: String,
}

impl Report {
    pub fn healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Health {
    fn with(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    pub fn synced(&self, now_ms: i64, in_admin_room: bool) {
        self.with(|s| {
            s.last_sync_ms = Some(now_ms);
            s.sync_error = None;
            s.in_admin_room = in_admin_room;
        });
    }

    pub fn sync_failed(&self, why: &str) {
        let why = crate::plain::shorten(why, 200);
        self.with(|s| s.sync_error = Some(why));
    }

    pub fn set_job(&self, job: Option<&'static str>) {
        self.with(|s| s.job = job);
    }

    pub fn set_next_scan(&self, at_ms: Option<i64>) {
        self.with(|s| s.next_scan_ms = at_ms);
    }

    pub fn set_plan(&self, plan: Option<(i64, usize)>) {
        self.with(|s| s.plan = plan);
    }

    pub fn last_sync_ms(&self) -> Option<i64> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last_sync_ms
    }

    pub fn next_scan_ms(&self) -> Option<i64> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_scan_ms
    }

    pub fn report(&self, now_ms: i64) -> Report {
        let s = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let age = s.last_sync_ms.map(|at| (now_ms - at).max(0) / 1000);
        let mut problems = Vec::new();
        match (&s.sync_error, s.last_sync_ms) {
            (Some(why), _) => problems.push(format!("the last sync failed: {why}")),
            (None, None) => problems.push("no sync has succeeded yet".to_owned()),
            (None, Some(at)) if now_ms - at > STALE_AFTER_MS => {
                problems.push(format!("no sync for {} s", (now_ms - at) / 1000));
            }
            (None, Some(_)) => {}
        }
        if !s.in_admin_room {
            problems.push("the bot is not in the admin room".to_owned());
        }
        Report {
            status: if problems.is_empty() {
                "ok"
            } else {
                "unhealthy"
            },
            problems,
            last_sync: s.last_sync_ms.map(rfc3339),
            last_sync_secs_ago: age,
            in_admin_room: s.in_admin_room,
            job: s.job,
            next_scheduled_scan: s.next_scan_ms.map(rfc3339),
            plan: s.plan.map(|(deadline, rooms)| PlanReport {
                rooms,
                deadline: rfc3339(deadline),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_700_000_000_000;

    #[test]
    fn healthy_only_while_syncing_in_the_admin_room() {
        let h = Health::default();
        let starting = h.report(T);
        assert_eq!(
            starting.problems,
            [
                "no sync has succeeded yet",
                "the bot is not in the admin room"
            ]
        );
        assert_eq!(starting.status, "unhealthy");

        h.synced(T, true);
        h.set_job(Some("scan"));
        let ok = h.report(T + 5_000);
        assert!(ok.healthy(), "{ok:?}");
        assert_eq!(ok.status, "ok");
        assert_eq!(ok.last_sync.as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(ok.last_sync_secs_ago, Some(5));
        assert_eq!(ok.job, Some("scan"));

        h.sync_failed("error sending request: connection refused");
        let down = h.report(T + 6_000);
        assert_eq!(
            down.problems,
            ["the last sync failed: error sending request: connection refused"]
        );
        assert_eq!(down.last_sync_secs_ago, Some(6));

        h.synced(T + 20_000, true);
        assert!(h.report(T + 21_000).healthy());
        let stuck = h.report(T + 20_000 + STALE_AFTER_MS + 1_000);
        assert_eq!(stuck.problems, ["no sync for 91 s"]);

        h.synced(T + 200_000, false);
        assert_eq!(
            h.report(T + 200_000).problems,
            ["the bot is not in the admin room"]
        );
    }

    #[test]
    fn the_body_is_one_json_object() {
        let h = Health::default();
        h.synced(T, true);
        let json = serde_json::to_value(h.report(T)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "status": "ok", "problems": [], "last_sync": "2023-11-14T22:13:20Z",
                "last_sync_secs_ago": 0, "in_admin_room": true, "job": null,
                "next_scheduled_scan": null, "plan": null
            })
        );
        h.set_plan(Some((T, 3)));
        let json = serde_json::to_value(h.report(T)).unwrap();
        assert_eq!(
            json["plan"],
            serde_json::json!({"rooms": 3, "deadline": "2023-11-14T22:13:20Z"})
        );
    }
}
