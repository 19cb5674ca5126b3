//! The scan: list every room first (offsets shift if rooms change while
//! paging), then read each room's last activity with a bounded number of
//! requests in flight, and ask the policy for a verdict.

mod activity;
pub mod cache;
mod reader;
mod source;

use std::time::{Duration, Instant};

use futures_util::{StreamExt as _, TryStreamExt as _};

use matrix_sdk::ruma::UserId;

use crate::admin::{Activity, AdminClient, AdminError};
use crate::config::ScanSettings;
use crate::db::{self, Database, Last};
use crate::policy::{Policy, RoomFacts, Verdict};
use crate::room::ListedRoom;
use crate::timefmt::now_ms;
pub(crate) use activity::{Read, last_activity};
use cache::{Cache, Recorded};
pub(crate) use reader::Reader;
pub use source::{CacheKept, Source, run};

/// One room's result: what the Admin API said, and the verdict.
#[derive(Debug, Clone)]
pub struct Row {
    pub room: ListedRoom,
    /// Newest non-membership event (ms since the epoch), when known.
    pub last_activity: Option<i64>,
    /// That event's id: the deletion's re-check looks for another one.
    pub last_event: Option<Box<str>>,
    pub verdict: Verdict,
}

/// A finished scan, rows sorted for the report.
#[derive(Debug)]
pub struct ScanOutcome {
    pub rows: Vec<Row>,
    /// The instant the verdicts were measured against (ms since the epoch).
    pub now_ms: i64,
    pub elapsed: Duration,
    pub route: Route,
}

/// How a scan read the rooms, for its summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// One Admin API request per room, or the cache's answer.
    AdminApi,
    /// Synapse's database, read-only.
    Database,
    /// The Admin API, because the database could not be used: why.
    AdminApiInstead(String),
}

impl Route {
    /// A line for the summary, when the rooms were read another way than
    /// one Admin API request each.
    pub fn describe(&self) -> Option<String> {
        match self {
            Self::AdminApi => None,
            Self::Database => Some("Read from Synapse's database (read-only).".to_owned()),
            Self::AdminApiInstead(why) => Some(format!(
                "Synapse's database was not used ({why}); the rooms were read through the \
                 Admin API."
            )),
        }
    }
}

/// Where a running scan is, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Listing { listed: usize },
    Checking { checked: usize, total: usize },
}

/// Scans every room. Stops on the first error that would repeat for every
/// room (a token that is not or no longer an admin's); any other failure to
/// read a room is recorded in its row as `unknown`, and the room is kept.
async fn scan(
    client: &AdminClient,
    policy: &Policy,
    settings: &ScanSettings,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<ScanOutcome, AdminError> {
    Ok(scan_with(client, policy, settings, None, progress).await?.0)
}

/// The same scan, reusing `cache` for rooms whose forward extremities have
/// not changed; returns the cache to keep for the next one.
async fn scan_incremental(
    client: &AdminClient,
    policy: &Policy,
    settings: &ScanSettings,
    cache: &Cache,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<(ScanOutcome, Cache), AdminError> {
    let (outcome, next) = scan_with(client, policy, settings, Some(cache), progress).await?;
    Ok((outcome, next.unwrap_or_default()))
}

/// The same scan with the listing and last activities read from Synapse's
/// database (`admin` proves it is this homeserver's). When the database
/// cannot be used, the scan goes through the Admin API and says why.
async fn scan_via_database(
    client: &AdminClient,
    source: &db::Source,
    admin: &UserId,
    policy: &Policy,
    settings: &ScanSettings,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<ScanOutcome, AdminError> {
    let started = Instant::now();
    let listed = async {
        let database = Database::open(source, admin).await?;
        let rooms = database
            .rooms(&|listed| progress(Progress::Listing { listed }))
            .await?;
        Ok::<_, db::DbError>((database, rooms))
    };
    let (database, rooms) = match listed.await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(database = %source, error = %e, "scanning through the Admin API instead");
            let mut outcome = scan(client, policy, settings, progress).await?;
            outcome.route = Route::AdminApiInstead(e.to_string());
            return Ok(outcome);
        }
    };
    let reader = Reader {
        api: client,
        db: Some(&database),
        cache: None,
    };
    let (mut outcome, _) = check_all(&reader, policy, settings, rooms, started, progress).await?;
    outcome.route = Route::Database;
    Ok(outcome)
}

async fn scan_with(
    client: &AdminClient,
    policy: &Policy,
    settings: &ScanSettings,
    cache: Option<&Cache>,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<(ScanOutcome, Option<Cache>), AdminError> {
    let started = Instant::now();
    let rooms = list_all(client, settings.page_size, progress).await?;
    let reader = Reader {
        api: client,
        db: None,
        cache,
    };
    check_all(&reader, policy, settings, rooms, started, progress).await
}

/// A listed room, with its last activity when the listing knew it. The
/// API path's rooms are checked as listed: turning a million of them into
/// pairs first would hold both lists at once.
trait Listed {
    fn split(self) -> (ListedRoom, Last);
}

impl Listed for ListedRoom {
    fn split(self) -> (ListedRoom, Last) {
        (self, Last::Ask)
    }
}

impl Listed for (ListedRoom, Last) {
    fn split(self) -> (ListedRoom, Last) {
        self
    }
}

/// Reads what is not yet known of every listed room, and asks the policy
/// about each.
async fn check_all(
    reader: &Reader<'_>,
    policy: &Policy,
    settings: &ScanSettings,
    rooms: Vec<impl Listed>,
    started: Instant,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<(ScanOutcome, Option<Cache>), AdminError> {
    let now = now_ms();
    let total = rooms.len();
    let mut checked = 0;
    let mut rows: Vec<Row> = Vec::with_capacity(total);
    let mut next = reader.cache.map(|_| Cache::default());
    let mut checking = futures_util::stream::iter(draining(rooms))
        .map(|listed| {
            let (room, last) = listed.split();
            check_room(reader, policy, room, last, now)
        })
        .buffer_unordered(settings.concurrency)
        .inspect_ok(|_| {
            checked += 1;
            progress(Progress::Checking { checked, total });
        });
    while let Some((row, recorded)) = checking.try_next().await? {
        if let (Some(next), Some(recorded)) = (&mut next, recorded) {
            next.insert(row.room.room_id.as_str(), recorded);
        }
        rows.push(row);
    }
    sort_for_report(&mut rows);
    let outcome = ScanOutcome {
        rows,
        now_ms: now,
        elapsed: started.elapsed(),
        route: Route::AdminApi,
    };
    Ok((outcome, next))
}

/// Every room, each once even if the listing shifted under us.
async fn list_all(
    client: &AdminClient,
    page_size: u32,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Vec<ListedRoom>, AdminError> {
    let mut rooms = Vec::new();
    let mut pages = std::pin::pin!(client.room_pages(page_size));
    while let Some(page) = pages.try_next().await? {
        rooms.extend(page.rooms);
        progress(Progress::Listing {
            listed: rooms.len(),
        });
    }
    rooms.sort_unstable_by(|a, b| a.room_id.cmp(&b.room_id));
    rooms.dedup_by(|a, b| a.room_id == b.room_id);
    Ok(rooms)
}

/// The room's last activity, from the cache when its forward extremities
/// are those recorded; and what to record for the next scan, if known.
async fn read_activity(
    client: &AdminClient,
    policy: &Policy,
    room: &ListedRoom,
    cache: Option<&Cache>,
    now: i64,
) -> (Result<Read, AdminError>, Option<Recorded>) {
    let room_id = &room.room_id;
    let extremities = match cache {
        None => None,
        Some(cache) => match client.forward_extremities(room_id).await {
            Ok(ids) => {
                let print = cache::fingerprint(ids);
                match cache.get(room_id.as_str()) {
                    Some(recorded) if recorded.extremities == print => {
                        let last = recorded.last.clone().map(|newest| Activity {
                            newest,
                            sender: None,
                        });
                        return (Ok(Read::Last(last)), Some(recorded.clone()));
                    }
                    _ => Some(print),
                }
            }
            Err(e) if e.is_fatal() => return (Err(e), None),
            // Not cached this time: read in full.
            Err(_) => None,
        },
    };
    let read = last_activity(client, policy, room, now).await;
    let recorded = match (&read, extremities) {
        (Ok(Read::Last(last)), Some(extremities)) => Some(Recorded {
            extremities,
            last: last.as_ref().map(|a| a.newest.clone()),
        }),
        _ => None,
    };
    (read, recorded)
}

async fn check_room(
    reader: &Reader<'_>,
    policy: &Policy,
    mut room: ListedRoom,
    known: Last,
    now: i64,
) -> Result<(Row, Option<Recorded>), AdminError> {
    let (read, recorded) = match known {
        Last::At(newest) => (Ok(Read::Last(Some(newest.into()))), None),
        Last::Nothing => (Ok(Read::Last(None)), None),
        Last::Ask => read_activity(reader.api, policy, &room, reader.cache, now).await,
    };
    let (activity, last_event) = match read {
        Ok(Read::Last(Some(a))) => (Ok(a.newest.ts), Some(a.newest.event_id)),
        Ok(Read::Unsure(why)) => (Err(why), None),
        Ok(Read::Last(None)) => (
            Err("no events found in the room's timeline".to_owned()),
            None,
        ),
        Err(e) if e.is_fatal() => return Err(e),
        Err(e) => (Err(format!("could not read last activity: {e}")), None),
    };
    if let Err(e) = recover_left_room(reader, policy, &mut room).await {
        if e.is_fatal() {
            return Err(e);
        }
        tracing::warn!(room_id = %room.room_id, error = %e, "no name or alias from history");
    }
    let verdict = decide(reader, policy, &room, &activity, now).await?;
    let last_activity = activity.ok();
    let row = Row {
        last_activity,
        last_event,
        room,
        verdict,
    };
    Ok((row, recorded))
}

/// A room our server has left (no local member) has no name or alias in
/// Synapse's answer, but its history holds them, and `policy.exclude` must
/// see them: the scan and the deletion's re-check both complete the room
/// here, so the rules decide the same way at both. The alias is read only
/// where `policy.exclude` has patterns, the one rule that looks at it (a
/// request per left room, every scan).
pub(crate) async fn recover_left_room(
    reader: &Reader<'_>,
    policy: &Policy,
    room: &mut ListedRoom,
) -> Result<(), AdminError> {
    if room.joined_local_members > 0 {
        return Ok(());
    }
    if room.name.is_none() {
        room.name = reader
            .name_from_history(&room.room_id)
            .await?
            .map(String::into_boxed_str);
    }
    if room.canonical_alias().is_none() && !policy.rules.exclude.is_empty() {
        let alias = reader.alias_from_history(&room.room_id).await?;
        room.set_canonical_alias(alias.map(String::into_boxed_str));
    }
    Ok(())
}

/// Asks the policy, reading more only where it can change the verdict: the
/// member list of an active room with few local members (are they all
/// ghosts?), and the first invites of a room to delete (a direct chat?).
/// A read that fails keeps the verdict that keeps the room.
async fn decide(
    reader: &Reader<'_>,
    policy: &Policy,
    room: &ListedRoom,
    activity: &Result<i64, String>,
    now: i64,
) -> Result<Verdict, AdminError> {
    let mut facts = RoomFacts::listed(room, activity.as_ref().copied().map_err(String::as_str));
    let mut verdict = policy.decide(&facts, now);
    if policy.worth_counting_ghosts(&facts, &verdict) {
        match reader.joined_members(&room.room_id).await {
            Ok(members) => {
                facts.members = Some(policy.sort_members(members.iter().map(String::as_str)));
                verdict = policy.decide(&facts, now);
            }
            Err(e) if e.is_fatal() => return Err(e),
            Err(e) => tracing::warn!(room_id = %room.room_id, error = %e, "no member list"),
        }
    }
    if verdict.should_delete() && policy.rules.keep_direct {
        facts.direct = match reader.is_direct(&room.room_id).await {
            Ok(direct) => direct,
            Err(e) if e.is_fatal() => return Err(e),
            Err(e) => {
                let why = format!("could not tell whether it is a direct chat: {e}");
                return Ok(Verdict::Unknown(why.into()));
            }
        };
        verdict = policy.decide(&facts, now);
    }
    Ok(verdict)
}

/// Yields the rooms one by one, giving back the list's memory as it goes,
/// so the listing and the rows are not both held whole (a million rooms).
fn draining<T>(mut rooms: Vec<T>) -> impl Iterator<Item = T> {
    rooms.reverse();
    std::iter::from_fn(move || {
        let room = rooms.pop();
        if rooms.capacity() > 4096 && rooms.len() < rooms.capacity() / 2 {
            rooms.shrink_to_fit();
        }
        room
    })
}

/// Candidates first, then oldest activity first (unknown last), then by id.
/// Ids are unique, so the order is total and an unstable sort gives the
/// same result without the stable sort's scratch copy of half the rows
/// (84 MB at a million rooms).
pub fn sort_for_report(rows: &mut [Row]) {
    rows.sort_unstable_by(|a, b| {
        b.verdict
            .should_delete()
            .cmp(&a.verdict.should_delete())
            .then_with(|| {
                let key = |r: &Row| r.last_activity.unwrap_or(i64::MAX);
                key(a).cmp(&key(b))
            })
            .then_with(|| a.room.room_id.cmp(&b.room.room_id))
    });
}
