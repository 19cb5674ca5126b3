//! End-to-end tests against a real Synapse (installed by
//! `scripts/synapse.sh install`, started once for this binary).

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// matrix-sdk futures are deep: `Send` checks need more than the default 128.
#![recursion_limit = "256"]

#[path = "../common/mod.rs"]
mod common;
#[path = "../support/matrix.rs"]
mod matrix;
#[path = "../support/synapse.rs"]
mod synapse;
#[path = "../support/world.rs"]
mod world;

mod bot;
mod choose_bot;
mod cli;
mod database;
mod delete_bot;
mod delete_cli;
mod federation;
mod grace_bot;
mod grace_cli;
mod metrics;
mod outage;
mod recheck;
mod scenario;
mod schedule_bot;
mod upload_limit;
mod workers;
