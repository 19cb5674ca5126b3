//! The machine driven by random sequences of commands, reactions, scans,
//! job ends, uploaded files, ticks, crashes and restarts, with deletion runs simulated on
//! the real journal (its records, its replay after a crash). An oracle that
//! knows the rules, written apart from the machine, checks after every step:
//! - a deletion starts only for a valid confirmation, with that offer's rooms;
//! - a room is submitted only by such a run, never twice, and never after a
//!   cancel of its run, across restarts too.

use std::collections::{HashMap, HashSet};

use matrix_sdk::ruma::OwnedEventId;
use proptest::prelude::*;

use super::builders::{TIMEOUT, command, event, scan_result, settings, upload, uploaded, user};
use super::*;
use crate::delete::choice::Choice;
use crate::delete::journal::{self, Journal, Record, Step};
use crate::delete::record::{Facts, Looks};
use crate::delete::settle::with_record;

#[derive(Debug, Clone)]
enum Op {
    Scan {
        who: u8,
    },
    Cancel {
        who: u8,
    },
    Status,
    React {
        who: u8,
        target: u8,
        key: u8,
    },
    ScanEnds {
        candidates: u8,
        fail: bool,
    },
    PostOffer {
        fail: bool,
    },
    Upload {
        who: u8,
    },
    /// An uploaded file read: how many rooms it chooses, and which of its
    /// cells (bits: date, reason, count) say otherwise than the record.
    UploadRead {
        rooms: u8,
        fail: bool,
        cells: u8,
    },
    Worker {
        keep: bool,
    },
    Fatal,
    Finish,
    Wait {
        secs: u16,
    },
    Tick,
    Crash,
    Shutdown,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<u8>().prop_map(|who| Op::Scan { who }),
        3 => any::<u8>().prop_map(|who| Op::Cancel { who }),
        1 => Just(Op::Status),
        6 => (any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(who, target, key)| Op::React { who, target, key }),
        3 => (0u8..4, any::<bool>()).prop_map(|(candidates, f)| Op::ScanEnds { candidates, fail: f }),
        3 => prop::bool::weighted(0.1).prop_map(|fail| Op::PostOffer { fail }),
        2 => any::<u8>().prop_map(|who| Op::Upload { who }),
        2 => (0u8..3, prop::bool::weighted(0.2), 0u8..8)
            .prop_map(|(rooms, fail, cells)| Op::UploadRead { rooms, fail, cells }),
        10 => prop::bool::weighted(0.2).prop_map(|keep| Op::Worker { keep }),
        3 => Just(Op::Fatal),
        2 => Just(Op::Finish),
        2 => (0u16..1200).prop_map(|secs| Op::Wait { secs }),
        1 => Just(Op::Tick),
        2 => Just(Op::Crash),
        1 => Just(Op::Shutdown),
    ]
}

const WHO: [&str; 3] = ["alice", "bob", "mallory"];

fn is_admin(who: &str) -> bool {
    who != "mallory"
}

/// What the rules say, kept apart from the machine.
#[derive(Default)]
struct Oracle {
    /// Offers by the machine's id: rooms, expiry, message (once posted).
    offers: HashMap<u64, OracleOffer>,
    /// The newest offer, while it can still be confirmed.
    live: Option<u64>,
    /// Confirms seen before the offer's message was known, per offer.
    early: HashMap<u64, Vec<String>>,
    /// Runs by their first room: rooms, and whether an admin cancelled.
    runs: HashMap<String, (HashSet<String>, bool)>,
    submitted: HashSet<String>,
    /// The run the deletion job is carrying out, and its offer's message.
    running: Option<(String, Option<OwnedEventId>)>,
    /// What the scan's record says of each room an uploaded file chose: the
    /// facts its journal entry must carry, whatever the file's cells said.
    recorded: HashMap<String, Facts>,
}

struct OracleOffer {
    rooms: Vec<String>,
    options: Option<Rules>,
    expires: Ms,
    event_id: Option<OwnedEventId>,
}

/// The world around the machine.
struct Sim {
    m: Machine,
    now: Ms,
    scan: Option<(JobId, bool)>,
    /// Offers being posted, with the message id each will get (unique
    /// across restarts, as real event ids are).
    publishing: Vec<(u64, OwnedEventId)>,
    messages: u32,
    posted: Vec<OwnedEventId>,
    run: Option<(JobId, Journal)>,
    /// The journal file, written through the real records.
    disk: Option<Vec<u8>>,
    /// The offer file, as the publishing of the newest scan offer wrote it.
    offer_file: Option<(Filed, Vec<journal::Entry>)>,
    scans: u32,
    o: Oracle,
    /// Set when the machine starts a deletion for a confirm the oracle
    /// expected.
    expect_start: Option<u64>,
    /// A cancel reaction came right behind that confirm.
    cancel_on_start: bool,
    /// Rooms this process claimed (not found claimed after a restart).
    claimed: HashSet<usize>,
    /// The options each scan ran with, by the machine's offer id.
    scan_options: Option<Rules>,
    /// The upload being read, and whether it was cancelled.
    upload: Option<(JobId, bool)>,
    /// The rooms of the upload just read, for the offer it makes.
    uploaded: Vec<String>,
    uploads: u32,
}

impl Sim {
    fn new() -> Self {
        Self {
            m: Machine::new(settings()),
            now: 1_000_000,
            scan: None,
            publishing: Vec::new(),
            messages: 0,
            posted: Vec::new(),
            run: None,
            disk: None,
            offer_file: None,
            scans: 0,
            o: Oracle::default(),
            expect_start: None,
            cancel_on_start: false,
            claimed: HashSet::new(),
            scan_options: None,
            upload: None,
            uploaded: Vec::new(),
            uploads: 0,
        }
    }

    fn feed(&mut self, input: Input) {
        let effects = self.m.handle(self.now, input);
        let expected = self.expect_start.take();
        let started = effects.iter().any(|e| {
            matches!(
                e,
                Effect::StartDeletion {
                    start: DeletionStart::New(_),
                    ..
                }
            )
        });
        assert_eq!(
            started,
            expected.is_some(),
            "a deletion must start exactly on a valid confirmation: {effects:?}"
        );
        for effect in effects {
            self.apply(effect, expected);
        }
    }

    fn append(&mut self, record: &Record) {
        if let Some(disk) = &mut self.disk {
            disk.extend(journal::record_line(record));
        }
    }

    fn apply(&mut self, effect: Effect, expected: Option<u64>) {
        match effect {
            Effect::StartScan { job, .. } => {
                assert!(
                    self.scan.is_none() && self.run.is_none() && self.upload.is_none(),
                    "two jobs at once"
                );
                self.scan = Some((job, false));
                // Any scan that starts replaces the offer.
                self.o.live = None;
            }
            Effect::SaveSchedule { .. } => panic!("the simulation has no schedule"),
            Effect::StartPlan { .. } | Effect::WithdrawPlan => {
                panic!("the simulation has no grace period (see plan_tests.rs)")
            }
            Effect::PublishScan {
                offer: Some((filed, _)),
                result,
                ..
            } => {
                let written: Vec<journal::Entry> = result
                    .outcome
                    .rows
                    .iter()
                    .filter(|r| r.verdict.should_delete())
                    .map(crate::bot::offer_file::entry)
                    .collect();
                assert_eq!(written.len(), filed.rooms, "the offer counts its rooms");
                let rooms = written.iter().map(|e| e.room_id.to_string()).collect();
                self.offer_file = Some((filed, written));
                let options = self.scan_options.clone();
                self.offered(filed.offer, rooms, options);
            }
            Effect::StartDeletion { job, start } => {
                assert!(
                    self.scan.is_none() && self.run.is_none() && self.upload.is_none(),
                    "two jobs at once"
                );
                let journal = match start {
                    DeletionStart::New(confirmed) => {
                        let journal = self.journal_of(*confirmed);
                        let offer = &self.o.offers[&expected.unwrap_or_default()];
                        let rooms: Vec<String> = journal
                            .rooms
                            .iter()
                            .map(|r| r.room_id.to_string())
                            .collect();
                        assert_eq!(rooms, offer.rooms, "the confirmed rooms, exactly");
                        assert_eq!(journal.options, offer.options, "the scan's own options");
                        for entry in &journal.rooms {
                            if let Some(facts) = self.o.recorded.get(entry.room_id.as_str()) {
                                let mut expected = entry.clone();
                                facts.clone().apply(&mut expected);
                                assert_eq!(entry, &expected, "the record's facts, not the file's");
                            }
                        }
                        let key = rooms[0].clone();
                        let cancelled = std::mem::take(&mut self.cancel_on_start);
                        self.o
                            .runs
                            .insert(key.clone(), (rooms.into_iter().collect(), cancelled));
                        self.o.running = Some((key, offer.event_id.clone()));
                        if self.disk.is_some() {
                            // The real run refuses: a journal is never overwritten.
                            self.feed(Input::DeletionEnded {
                                job,
                                end: DeletionEnd::Refused("a journal is there".into()),
                            });
                            self.o.running = None;
                            return;
                        }
                        self.disk = Some(journal.header_line());
                        journal
                    }
                    DeletionStart::Plan => panic!("a plan without a grace period"),
                    DeletionStart::Resume => {
                        let journal = journal::replay(self.disk.as_deref().unwrap_or_default())
                            .expect("the machine resumes only a readable journal");
                        let key = journal.rooms[0].room_id.to_string();
                        self.o.running = Some((key, None));
                        journal
                    }
                };
                let counts = journal.counts();
                self.run = Some((job, journal));
                self.feed(Input::Deletion {
                    job,
                    event: RunEvent::Opened(counts),
                });
            }
            Effect::CancelJob(job) => {
                if self.scan.is_some_and(|(j, _)| j == job) {
                    self.scan = Some((job, true));
                }

                if let Some((j, journal)) = &mut self.run
                    && *j == job
                {
                    let record = journal.cancel();
                    if let Some(r) = record {
                        self.append(&r);
                    }
                    self.feed(Input::Deletion {
                        job,
                        event: RunEvent::CancelRecorded,
                    });
                }
            }
            Effect::CancelJournal => {
                let journal = journal::replay(self.disk.as_deref().unwrap_or_default());
                let result = match journal {
                    Ok(mut j) => {
                        if let Some(r) = j.cancel() {
                            self.append(&r);
                        }
                        Ok(())
                    }
                    Err(e) => Err(e),
                };
                self.feed(Input::JournalCancelled(result));
            }
            Effect::StopJobs => {
                if let Some((job, journal)) = self.run.take() {
                    let counts = journal.counts();
                    self.o.running = None;
                    let end = DeletionEnd::Stopped {
                        why: "shutting down".into(),
                        counts,
                    };
                    self.feed(Input::DeletionEnded { job, end });
                }
            }
            Effect::StartDryRun { job, rooms } => {
                assert!(
                    self.scan.is_none() && self.run.is_none() && self.upload.is_none(),
                    "two jobs at once"
                );
                // It re-checks and reports; nothing is ever submitted by it.
                assert!(!rooms.rooms.is_empty());
                assert_eq!(rooms.by, "dry run");
                self.feed(Input::DryRunEnded { job });
            }
            Effect::ReadUpload { job, sender, .. } => {
                assert!(is_admin(sender.localpart()), "{sender}'s file read");
                assert!(
                    self.scan.is_none() && self.run.is_none() && self.upload.is_none(),
                    "two jobs at once"
                );
                self.upload = Some((job, false));
            }
            Effect::PostOffer { offer: id, .. } => {
                let rooms = std::mem::take(&mut self.uploaded);
                assert!(!rooms.is_empty(), "an offer of nothing");
                // Re-checked with the rules of the scan that wrote the record.
                self.offered(id, rooms, Some(super::builders::options()));
            }
            Effect::Say(_)
            | Effect::PublishScan { offer: None, .. }
            | Effect::EditOffer { .. }
            | Effect::AnswerInvite { .. }
            | Effect::Exit => {}
        }
    }

    /// An uploaded file choosing `ids`, its cells edited as `cells` says,
    /// merged with a record that says otherwise, as the upload job does.
    fn settled_file(&mut self, ids: &[String], cells: u8) -> Box<Choice> {
        let mut file = uploaded(ids).offered;
        let mut recorded = HashMap::new();
        for (i, entry) in file.iter_mut().enumerate() {
            let n = u64::from(self.uploads) * 10 + i as u64;
            if cells & 1 != 0 {
                entry.last_activity = Some(4_102_444_800_000);
            }
            entry.abandoned = cells & 2 != 0;
            if cells & 4 != 0 {
                entry.joined_local_members = 7;
            }
            let facts = Facts {
                last_activity: Some(500 + n as i64),
                last_event: Some(format!("$recorded{n}")),
                joined_local_members: n % 3,
                abandoned: n.is_multiple_of(2),
                looks: Looks::default(),
            };
            self.o
                .recorded
                .insert(entry.room_id.to_string(), facts.clone());
            recorded.insert(entry.room_id.clone(), facts);
        }
        let merged = with_record(file, &recorded);
        assert!(merged.unrecorded.is_empty());
        Box::new(Choice {
            offered: merged.settled.rooms,
            differ: merged.settled.differ,
            rules: Some(super::builders::options()),
            ..Choice::default()
        })
    }

    /// The journal the deletion job builds from a confirmed offer, reading
    /// a scan's offer file as `offer_file::read` does.
    fn journal_of(&self, confirmed: Confirmed) -> Journal {
        let rooms = match confirmed.rooms {
            OfferRooms::Listed(rooms) => rooms,
            OfferRooms::Filed(filed) => {
                let (written, rooms) = self.offer_file.clone().expect("an offer file");
                assert_eq!(
                    written, filed,
                    "the file of the offer confirmed, not another's"
                );
                rooms
            }
        };
        Journal::new(&confirmed.by, confirmed.at, confirmed.options, rooms)
    }

    /// The machine made offer `id` of `rooms`: the newest, being posted.
    fn offered(&mut self, id: u64, rooms: Vec<String>, options: Option<Rules>) {
        let expires = self.now + TIMEOUT;
        self.o.offers.insert(
            id,
            OracleOffer {
                rooms,
                options,
                expires,
                event_id: None,
            },
        );
        self.o.live = Some(id);
        self.messages += 1;
        let e = event(&format!("offer{}", self.messages));
        self.publishing.push((id, e));
    }

    /// Whether the oracle takes a confirm on `id` as valid now.
    /// An admin's ✅ or ❌ on live offer `id`: a valid confirm starts its
    /// deletion; a confirm refused because a job runs leaves it standing;
    /// anything else ends it.
    fn judge(&mut self, id: u64, key: &str) {
        let busy = self.scan.is_some() || self.run.is_some() || self.upload.is_some();
        let expired = self.now >= self.o.offers[&id].expires;
        if key == "✅" && busy && !expired {
            return;
        }
        if key == "✅" && self.valid_confirm(id) {
            self.expect_start = Some(id);
        }
        self.o.live = None;
    }

    fn valid_confirm(&self, id: u64) -> bool {
        self.o.live == Some(id)
            && self.now < self.o.offers[&id].expires
            && self.scan.is_none()
            && self.run.is_none()
            && self.upload.is_none()
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Scan { who } => {
                let who = WHO[usize::from(who) % 3];
                self.feed(command(&user(who), "!oldrooms scan"));
            }
            Op::Cancel { who } => {
                let who = WHO[usize::from(who) % 3];
                // A cancel while a file is read stops only that: what it
                // found is never offered.
                if is_admin(who) {
                    match &mut self.upload {
                        Some((_, cancelled)) => *cancelled = true,
                        None => {
                            self.o.live = None;
                            self.cancel_running_or_stopped();
                        }
                    }
                }
                self.feed(command(&user(who), "!oldrooms cancel"));
            }
            Op::Status => self.feed(command(&user("alice"), "!oldrooms status")),
            Op::React { who, target, key } => self.react(who, target, key),
            Op::ScanEnds { candidates, fail } => {
                let Some((job, cancelled)) = self.scan.take() else {
                    return;
                };
                self.scans += 1;
                let end = if fail {
                    ScanEnd::Failed(ScanFailure::Homeserver("boom".into()))
                } else if cancelled && candidates % 2 == 0 {
                    ScanEnd::Cancelled
                } else {
                    let ids: Vec<String> = (0..=candidates)
                        .map(|i| format!("!s{}r{i}:example.com", self.scans))
                        .collect();
                    let mut result = scan_result(&ids);
                    result.options.inactive_days = self.scans;
                    result.options.include_public = candidates % 2 == 1;
                    self.scan_options = Some(result.options.clone());
                    ScanEnd::Done(result)
                };
                self.feed(Input::ScanEnded { job, end });
            }
            Op::PostOffer { fail } => {
                if self.publishing.is_empty() {
                    return;
                }
                let (id, event_id) = self.publishing.remove(0);
                let event_id = (!fail).then_some(event_id);
                if let Some(e) = &event_id {
                    self.posted.push(e.clone());
                }
                if let Some(offer) = self.o.offers.get_mut(&id) {
                    offer.event_id = event_id.clone();
                }
                if event_id.is_none() && self.o.live == Some(id) {
                    self.o.live = None;
                }
                // Early reactions are judged now, in order.
                let early = self.o.early.remove(&id).unwrap_or_default();
                if event_id.is_some() {
                    for key in early {
                        if self.expect_start.is_some() && key == "❌" {
                            self.cancel_on_start = true;
                        }
                        if self.o.live != Some(id) {
                            continue;
                        }
                        self.judge(id, &key);
                    }
                }
                self.feed(Input::OfferPosted {
                    offer: id,
                    event_id,
                });
            }
            Op::Upload { who } => {
                let who = WHO[usize::from(who) % 3];
                self.feed(Input::Upload {
                    sender: user(who),
                    upload: upload(),
                });
            }
            Op::UploadRead { rooms, fail, cells } => {
                let Some((job, cancelled)) = self.upload.take() else {
                    // News of no upload being read changes nothing.
                    let out = self.m.handle(
                        self.now,
                        Input::UploadRead {
                            job: JobId(u64::MAX),
                            sender: user("alice"),
                            result: Ok(uploaded(&["!stale:example.com".into()])),
                        },
                    );
                    assert!(out.is_empty(), "{out:?}");
                    return;
                };
                self.uploads += 1;
                let ids: Vec<String> = (0..rooms)
                    .map(|i| format!("!u{}r{i}:example.com", self.uploads))
                    .collect();
                // The machine offers only what an uncancelled read found.
                if !cancelled && !fail && !ids.is_empty() {
                    self.uploaded.clone_from(&ids);
                }
                let result = if fail {
                    Err("results.csv, line 2: not a room id".to_owned())
                } else {
                    Ok(self.settled_file(&ids, cells))
                };
                self.feed(Input::UploadRead {
                    job,
                    sender: user("alice"),
                    result,
                });
                assert!(self.uploaded.is_empty(), "the offer the upload should make");
            }
            Op::Worker { keep } => self.worker(keep),
            Op::Fatal => {
                if let Some((job, journal)) = self.run.take() {
                    self.o.running = None;
                    let end = DeletionEnd::Stopped {
                        why: "token logged out".into(),
                        counts: journal.counts(),
                    };
                    self.feed(Input::DeletionEnded { job, end });
                }
            }
            Op::Finish => {
                if self.run.as_ref().is_some_and(|(_, j)| j.is_finished()) {
                    let (job, _) = self.run.take().unwrap_or_else(|| unreachable!());
                    self.disk = None;
                    self.o.running = None;
                    let end = DeletionEnd::Finished;
                    self.feed(Input::DeletionEnded { job, end });
                }
            }
            Op::Wait { secs } => self.now += i64::from(secs) * 1000,
            Op::Tick => self.feed(Input::Tick),
            Op::Crash => self.restart(),
            Op::Shutdown => {
                self.feed(Input::Shutdown);
                if let Some((job, _)) = self.scan.take() {
                    self.feed(Input::ScanEnded {
                        job,
                        end: ScanEnd::Cancelled,
                    });
                }
                // What a read finds after the shutdown is never offered.
                if let Some((job, _)) = self.upload.take() {
                    self.feed(Input::UploadRead {
                        job,
                        sender: user("alice"),
                        result: Ok(uploaded(&["!late:example.com".into()])),
                    });
                }
                self.restart();
            }
        }
    }

    fn cancel_running_or_stopped(&mut self) {
        if let Some((key, _)) = &self.o.running {
            if let Some(run) = self.o.runs.get_mut(key) {
                run.1 = true;
            }
        } else if self.scan.is_none()
            && let Some(Ok(j)) = self.disk.as_deref().map(journal::replay)
            && let Some(run) = self.o.runs.get_mut(j.rooms[0].room_id.as_str())
        {
            // A stopped run waiting for the next start.
            run.1 = true;
        }
    }

    fn react(&mut self, who: u8, target: u8, key: u8) {
        let who = WHO[usize::from(who) % 3];
        let key = ["✅", "❌", "👍"][usize::from(key) % 3];
        // A posted offer, the one being posted (its id is predictable), or
        // some other message.
        let pending = self.publishing.first().cloned();
        let choices = self.posted.len() + 2;
        let pick = usize::from(target) % choices;
        let (target, pending_id) = if pick < self.posted.len() {
            (self.posted[pick].clone(), None)
        } else if pick == self.posted.len()
            && let Some((id, e)) = pending
        {
            (e, Some(id))
        } else {
            (event("other"), None)
        };
        if is_admin(who) && key != "👍" {
            let on_live = self.o.live.and_then(|id| {
                let e = self.o.offers[&id].event_id.as_ref()?;
                (*e == target).then_some(id)
            });
            if let Some(id) = pending_id {
                // Judged when the offer is posted, in order.
                if self.o.live == Some(id) {
                    let early = self.o.early.entry(id).or_default();
                    if early.len() < 16 {
                        early.push(key.to_owned());
                    }
                }
            } else if let Some(id) = on_live {
                self.judge(id, key);
            } else if key == "❌"
                && let Some((run, Some(e))) = &self.o.running
                && *e == target
                && let Some(run) = self.o.runs.get_mut(run)
            {
                // A cancel reaction on the offer being carried out.
                run.1 = true;
            }
        }
        let input = Input::Reaction {
            sender: user(who),
            target,
            key: key.into(),
        };
        self.feed(input);
    }

    /// One step of a deletion worker on the first room not done, as the
    /// engine takes them: claim, then (a separate step, so a crash can fall
    /// between) send, then done. A room found at `Submitting` after a
    /// restart is adopted if Synapse has it, else goes back to pending.
    fn worker(&mut self, keep: bool) {
        let Some((job, journal)) = &mut self.run else {
            return;
        };
        let job = *job;
        let Some(i) = journal
            .rooms
            .iter()
            .position(|r| !matches!(r.step, Step::Done { .. }))
        else {
            return;
        };
        let room = journal.rooms[i].room_id.to_string();
        let record = match journal.rooms[i].step.clone() {
            Step::Pending if keep => journal.set(
                i,
                Step::Done {
                    outcome: journal::Outcome::Skipped,
                    detail: "new activity".into(),
                },
            ),
            Step::Pending => {
                self.claimed.insert(i);
                journal.claim_submit(i, 7)
            }
            Step::Submitting if !self.claimed.contains(&i) => {
                if self.o.submitted.contains(&room) {
                    let delete_id = "d".to_owned();
                    journal.set(i, Step::Submitted { delete_id })
                } else {
                    journal.set(i, Step::Pending)
                }
            }
            // The engine looks at the cancel again once its claim is on disk.
            Step::Submitting if journal.cancelled => journal.set(
                i,
                Step::Done {
                    outcome: journal::Outcome::Skipped,
                    detail: journal::CANCELLED.into(),
                },
            ),
            Step::Submitting => {
                let (key, _) = self.o.running.clone().expect("a run the oracle knows");
                let (rooms, cancelled) = &self.o.runs[&key];
                assert!(
                    rooms.contains(&room),
                    "{room} was not confirmed in this run"
                );
                assert!(!cancelled, "{room} submitted after its run was cancelled");
                assert!(
                    self.o.submitted.insert(room.clone()),
                    "{room} submitted twice"
                );
                let delete_id = "d".to_owned();
                journal.set(i, Step::Submitted { delete_id })
            }
            Step::Submitted { .. } | Step::Done { .. } => journal.set(
                i,
                Step::Done {
                    outcome: journal::Outcome::Deleted,
                    detail: String::new(),
                },
            ),
        };
        let counts = journal.counts();
        self.append(&record);
        self.feed(Input::Deletion {
            job,
            event: RunEvent::Progress(counts),
        });
    }

    /// The process ends; the journal file is all that is left.
    fn restart(&mut self) {
        self.m = Machine::new(settings());
        self.claimed.clear();
        self.scan = None;
        self.upload = None;
        self.uploaded.clear();
        self.publishing.clear();
        self.run = None;
        self.o.live = None;
        self.o.early.clear();
        self.o.running = None;
        let disk = match self.disk.as_deref().map(journal::replay) {
            None => OnDisk::Nothing,
            Some(Ok(j)) => OnDisk::Unfinished {
                confirmed_by: j.confirmed_by.clone(),
                confirmed_at: j.confirmed_at,
                counts: j.counts(),
            },
            Some(Err(e)) => OnDisk::Unreadable(e),
        };
        self.feed(Input::Started(disk));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn no_interleaving_deletes_what_was_not_validly_confirmed(
        ops in prop::collection::vec(op(), 1..60)
    ) {
        let mut sim = Sim::new();
        sim.feed(Input::Started(OnDisk::Nothing));
        for op in ops {
            sim.step(op);
        }
    }
}

/// A scan with three candidates, its offer posted, and alice's confirm.
fn confirmed_run() -> Vec<Op> {
    vec![
        Op::Scan { who: 0 },
        Op::ScanEnds {
            candidates: 3,
            fail: false,
        },
        Op::PostOffer { fail: false },
        Op::React {
            who: 0,
            target: 0,
            key: 0,
        },
    ]
}

/// The defects the old shape had, as sequences the oracle must pass.
#[test]
fn the_old_defects_as_sequences() {
    let confirm = Op::React {
        who: 0,
        target: 0,
        key: 0,
    };
    // (what, ops, whether a deletion must start)
    let cases: Vec<(&str, Vec<Op>, bool)> = vec![
        (
            "cancel during a run, then a restart",
            [
                confirmed_run(),
                vec![
                    Op::Worker { keep: false },
                    Op::Cancel { who: 1 },
                    Op::Crash,
                    Op::Worker { keep: false },
                    Op::Worker { keep: false },
                    Op::Worker { keep: false },
                    Op::Worker { keep: false },
                ],
            ]
            .concat(),
            true,
        ),
        (
            "a permanent error, a cancel, then a restart",
            [
                confirmed_run(),
                vec![
                    Op::Worker { keep: false },
                    Op::Worker { keep: false },
                    Op::Fatal,
                    Op::Cancel { who: 0 },
                    Op::Crash,
                    Op::Worker { keep: false },
                    Op::Worker { keep: false },
                    Op::Worker { keep: false },
                    Op::Worker { keep: false },
                ],
            ]
            .concat(),
            true,
        ),
        (
            "a cancel before the offer is posted",
            vec![
                Op::Scan { who: 0 },
                Op::ScanEnds {
                    candidates: 1,
                    fail: false,
                },
                Op::Cancel { who: 0 },
                Op::PostOffer { fail: false },
                confirm.clone(),
                Op::Worker { keep: false },
                Op::Worker { keep: false },
            ],
            false,
        ),
        (
            "a confirm before the offer is known",
            vec![
                Op::Scan { who: 0 },
                Op::ScanEnds {
                    candidates: 1,
                    fail: false,
                },
                Op::React {
                    who: 0,
                    target: 0,
                    key: 0,
                },
                Op::PostOffer { fail: false },
                Op::Worker { keep: false },
                Op::Worker { keep: false },
            ],
            true,
        ),
    ];
    for (name, ops, confirms) in cases {
        let mut sim = Sim::new();
        sim.feed(Input::Started(OnDisk::Nothing));
        for op in ops {
            sim.step(op);
        }
        assert_eq!(!sim.o.runs.is_empty(), confirms, "{name}");
    }
}
