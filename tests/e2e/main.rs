//! End-to-end tests against a real Synapse (installed by
//! `scripts/synapse.sh install`, started once for this binary).

#[path = "../common/mod.rs"]
mod common;
mod synapse;

mod cli;
mod scenario;
