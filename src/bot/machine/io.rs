//! What goes into the state machine and what comes out: inputs, effects,
//! and the data they carry.

use std::collections::HashSet;

use matrix_sdk::ruma::events::room::MediaSource;
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};

use super::Ms;
use crate::bot::commands::{Parsed, ScanArgs};
use crate::bot::text::Text;
use crate::delete::RunEvent;
use crate::delete::choice::Choice;
use crate::delete::journal::{Counts, Entry};
use crate::policy::Rules;
use crate::scan::{Progress, ScanOutcome};

/// Names one job, so that news from an older one is not taken for the
/// current one's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobId(pub u64);

/// What the machine knows from the config.
#[derive(Debug, Clone)]
pub struct Settings {
    pub admins: HashSet<OwnedUserId>,
    pub admin_room: OwnedRoomId,
    pub prefix: String,
    /// Reaction keys with U+FE0F removed.
    pub confirm_key: String,
    pub cancel_key: String,
    /// As configured, for the offer's text.
    pub confirm_shown: String,
    pub cancel_shown: String,
    pub confirm_timeout_ms: Ms,
    /// The bot runs on a human admin's account: it adds no reactions of its
    /// own, and leaves that human's invites alone.
    pub shares_account: bool,
    /// Scheduled scans, with the next run as saved, if configured.
    pub schedule: Option<super::Scheduled>,
    /// `delete.grace`: a ✅ makes a plan (see `plan.rs`); `None`: it
    /// deletes at once.
    pub grace_ms: Option<Ms>,
}

/// A plan that waits, as the machine knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanFacts {
    pub deadline: Ms,
    /// After this, a warning no longer counts (see `Plan::warned_in_time`).
    pub warn_until: Ms,
    pub rooms: usize,
    pub people: usize,
    pub warned: usize,
    pub confirmed_by: String,
    /// The offer message it was confirmed on: a ❌ there withdraws it.
    pub offer: Option<OwnedEventId>,
    /// Some warnings are still to send (never one that may have gone out).
    pub owed: bool,
}

impl PlanFacts {
    /// The facts of `plan`.
    pub fn of(plan: &crate::plan::Plan) -> Self {
        Self {
            deadline: plan.deadline,
            warn_until: plan.warn_until(),
            rooms: plan.rooms.len(),
            people: plan.people.len(),
            warned: plan.warned(),
            confirmed_by: plan.confirmed_by.clone(),
            offer: plan.offer.as_deref().and_then(|e| e.try_into().ok()),
            owed: !plan.to_warn().is_empty() || !plan.interrupted().is_empty(),
        }
    }
}

/// What the bot's plan file says at start.
#[derive(Debug, Clone)]
pub enum PlanOnDisk {
    Nothing,
    Waiting(PlanFacts),
    Unreadable(String),
}

/// How a plan job ended.
#[derive(Debug)]
pub enum PlanEnd {
    /// The plan is on disk and its people were warned (`failed`: those who
    /// could not be); the `now` rooms nobody is in are deleted next, by
    /// the same job, which becomes a deletion.
    Made {
        plan: PlanFacts,
        now: usize,
        how: &'static str,
        failed: Vec<String>,
    },
    /// Nobody local is in any of the rooms: no plan; all `now` rooms are
    /// deleted next, as without a grace period.
    Nobody { now: usize },
    /// The warnings still owed were tried again.
    Warned {
        plan: PlanFacts,
        sent: usize,
        failed: Vec<String>,
    },
    /// Nothing was deleted, and no plan stands (or the one there is as it
    /// was): why.
    Failed(String),
}

/// What the journal on disk says at start.
#[derive(Debug, Clone)]
pub enum OnDisk {
    Nothing,
    Unfinished {
        confirmed_by: String,
        confirmed_at: Ms,
        counts: Counts,
    },
    Unreadable(String),
}

/// A finished scan, as the scan job hands it over.
#[derive(Debug)]
pub struct ScanResult {
    pub outcome: ScanOutcome,
    pub options: Rules,
    /// The scan's progress message, to be edited with the result.
    pub message: Option<OwnedEventId>,
}

#[derive(Debug)]
pub enum ScanEnd {
    Done(Box<ScanResult>),
    Failed(ScanFailure),
    Cancelled,
}

/// Why a scan ended without results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanFailure {
    /// The bot is not in the admin room: nothing could be shown.
    NotInAdminRoom,
    /// The policy could not be resolved (an alias, the homeserver): why.
    Policy(String),
    /// The homeserver refused what every room would need: why.
    Homeserver(String),
    /// The scan's task ended without a word.
    Stopped,
}

impl std::fmt::Display for ScanFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotInAdminRoom => f.write_str("the bot is not in the admin room"),
            Self::Policy(why) | Self::Homeserver(why) => f.write_str(why),
            Self::Stopped => f.write_str("the scan stopped unexpectedly"),
        }
    }
}

#[derive(Debug)]
pub enum DeletionEnd {
    /// Every room is done and reported; the journal is archived.
    Finished,
    /// Stopped before the end; the journal stays and resumes at start.
    Stopped { why: String, counts: Counts },
    /// The journal could not be opened: nothing was deleted.
    Refused(String),
}

/// A file posted in the admin room that may be an edited results.csv.
#[derive(Debug, Clone)]
pub struct Upload {
    pub name: String,
    pub source: MediaSource,
    /// As the sender's client stated it.
    pub size: Option<u64>,
}

/// Everything that can happen to the bot.
#[derive(Debug)]
pub enum Input {
    Started(OnDisk),
    Command {
        sender: OwnedUserId,
        parsed: Parsed,
    },
    Reaction {
        sender: OwnedUserId,
        target: OwnedEventId,
        key: String,
    },
    Invite {
        room: OwnedRoomId,
        inviter: OwnedUserId,
    },
    /// Someone posted what may be an edited results.csv.
    Upload {
        sender: OwnedUserId,
        upload: Upload,
    },
    /// The uploaded file, read and compared with the last scan, or why not.
    UploadRead {
        job: JobId,
        sender: OwnedUserId,
        result: Result<Box<Choice>, String>,
    },
    ScanProgress {
        job: JobId,
        progress: Progress,
    },
    ScanEnded {
        job: JobId,
        end: ScanEnd,
    },
    /// The offer message is in the room (`None`: it could not be posted).
    OfferPosted {
        offer: u64,
        event_id: Option<OwnedEventId>,
    },
    Deletion {
        job: JobId,
        event: RunEvent,
    },
    DeletionEnded {
        job: JobId,
        end: DeletionEnd,
    },
    /// The cancel of a stopped run is in its journal, or why not.
    JournalCancelled(Result<(), String>),
    /// The bot's plan file, read at start (before `Started`).
    PlanFound(PlanOnDisk),
    /// A plan job made its plan or sent its warnings, or why not.
    Planned {
        job: JobId,
        end: PlanEnd,
    },
    /// The plan is withdrawn on disk: its rooms and how many people were
    /// warned (`None`: there was no plan), or why it could not be.
    PlanWithdrawn(Result<Option<(usize, usize)>, String>),
    /// A dry run posted its report (or stopped).
    DryRunEnded {
        job: JobId,
    },
    Tick,
    Shutdown,
}

/// How a deletion starts.
#[derive(Debug)]
pub enum DeletionStart {
    New(Box<Confirmed>),
    Resume,
    /// The waiting plan, at its deadline.
    Plan,
}

/// What a plan job does.
#[derive(Debug)]
pub enum PlanStart {
    /// Warn the people of the confirmed rooms that have any, write the
    /// plan, then delete the rest; `offer` is the message confirmed.
    New {
        confirmed: Box<Confirmed>,
        deadline: Ms,
        offer: Option<OwnedEventId>,
    },
    /// Send the waiting plan's warnings still owed.
    Warn,
}

/// A confirmed offer (or one to dry-run): who, when, with which options,
/// and its rooms, which become the journal.
#[derive(Debug)]
pub struct Confirmed {
    pub by: String,
    pub at: Ms,
    pub options: Option<Rules>,
    pub rooms: OfferRooms,
}

/// An offer's rooms.
#[derive(Debug, Clone)]
pub enum OfferRooms {
    /// In memory: an uploaded file's choice.
    Listed(Vec<Entry>),
    /// A scan's candidates, which `Effect::PublishScan` writes to a file
    /// before the offer is posted (see `bot/offer_file.rs`).
    Filed(Filed),
}

impl OfferRooms {
    pub fn len(&self) -> usize {
        match self {
            Self::Listed(rooms) => rooms.len(),
            Self::Filed(filed) => filed.rooms,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Names a scan's offer in its file: a file that names another offer, or
/// holds another number of rooms, is not this offer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Filed {
    pub offer: u64,
    pub expires: Ms,
    pub rooms: usize,
}

/// Invites: join, decline, or leave for the human who shares the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteAnswer {
    Join,
    Decline,
    Ignore,
}

/// What the machine asks the world to do.
#[derive(Debug)]
pub enum Effect {
    Say(Text),
    StartScan {
        job: JobId,
        args: ScanArgs,
    },
    /// Keep the schedule's state in `bot.data_dir`.
    SaveSchedule {
        next: Ms,
        last: Option<super::Fingerprint>,
        running: bool,
    },
    /// Post the scan's summary and results.csv; then, if there is an
    /// offer, write its rooms to its file, post it, and answer with
    /// `Input::OfferPosted`.
    PublishScan {
        result: Box<ScanResult>,
        summary: Text,
        status_line: String,
        offer: Option<(Filed, Text)>,
    },
    StartDeletion {
        job: JobId,
        start: DeletionStart,
    },
    /// Run a plan job; it answers with `Input::Planned`, and one that made
    /// a plan with rooms to delete now goes on as a deletion.
    StartPlan {
        job: JobId,
        start: PlanStart,
    },
    /// Withdraw the plan on disk, and answer with `Input::PlanWithdrawn`.
    WithdrawPlan,
    /// Re-check `rooms` as a deletion would, post the report, delete
    /// nothing, and answer with `Input::DryRunEnded`.
    StartDryRun {
        job: JobId,
        rooms: Confirmed,
    },
    /// Download and read an uploaded results.csv, and answer with
    /// `Input::UploadRead`.
    ReadUpload {
        job: JobId,
        sender: OwnedUserId,
        upload: Upload,
    },
    /// Post an offer on its own (an uploaded file's) and answer with
    /// `Input::OfferPosted`.
    PostOffer {
        offer: u64,
        text: Text,
    },
    /// Signal a job to stop; a deletion records the cancel first.
    CancelJob(JobId),
    /// Shutdown: jobs stop at a journaled step, without cancelling.
    StopJobs,
    /// Record a cancel in the journal of a stopped run, so that its resume
    /// submits nothing more.
    CancelJournal,
    /// Mark an offer message as no longer standing.
    EditOffer {
        event_id: OwnedEventId,
        text: Text,
    },
    AnswerInvite {
        room: OwnedRoomId,
        answer: InviteAnswer,
    },
    /// Nothing runs any more: the actor may end.
    Exit,
}
