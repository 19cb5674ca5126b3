//! `oldrooms`: find and delete old or abandoned rooms on a Synapse homeserver.
//!
//! Data flows one way: the Admin API client lists rooms and reads their last
//! activity, the scan asks the policy for a verdict on each, and the report
//! writes `results.csv`.

/// Typed client for the Synapse Admin API (and the few client-API calls we need).
pub mod admin;
/// Writing files whole or not at all.
pub mod atomic;
/// The Matrix bot: commands in the admin room, scans from chat.
pub mod bot;
/// A picture of a scan: rooms by time since last activity, as a PNG.
pub mod chart;
/// The command line: `oldrooms scan`, `oldrooms check`, `oldrooms run`.
pub mod cli;
/// The TOML configuration: raw file format and validated settings.
pub mod config;
/// The read-only database path: rooms and last activity from Synapse's tables.
pub mod db;
/// Deleting confirmed rooms: journal, re-check, engine, report.
pub mod delete;
/// gzip for large results.csv files, read back with a size cap.
pub mod gz;
/// Files of JSON lines: a header, then records appended as a run goes.
pub mod jsonl;
/// What the bot did, for Prometheus.
pub mod metrics;
/// Protection pinned to room ids when an alias moves or vanishes.
pub mod pins;
/// Plain text for people: shortened names, durations in words.
pub mod plain;
/// A deletion with a grace period: people warned, rooms deleted later.
pub mod plan;
/// Pure decision: should this room be deleted, and why.
pub mod policy;
/// `results.csv`: rows, spreadsheet-safe cells, atomic writes, summaries.
pub mod report;
/// What is known of a room, however it was read: the bottom layer.
pub mod room;
/// The scan: list every room, read each one's last activity, ask the policy.
pub mod scan;
/// The options of one scan (overrides of `[policy]`), for chat and CLI.
pub mod scan_args;
/// When scheduled scans run.
pub mod schedule;
/// Small wrappers around secrets so they never reach a log line.
pub mod secret;
/// Connecting from the config: login, admin check, alias resolution.
pub mod session;
/// Timestamps: milliseconds since the epoch, RFC 3339, whole days.
pub mod timefmt;
