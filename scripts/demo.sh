#!/usr/bin/env bash
# The demo: a throw-away Synapse with rooms of every kind, a human admin, an
# encrypted admin room and the bot in it. `--walkthrough` also plays the
# human: sends `!oldrooms scan`, prints the replies, saves results.csv.
# Ctrl-C stops everything it started. Files go to ./oldrooms-demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/oldrooms/target}
scripts/synapse.sh install >/dev/null
echo "Building oldrooms (the first build takes a few minutes)…"
cargo build --quiet --locked --bin oldrooms --example demo
# The scripts are found through OLDROOMS_ROOT at run time, never through a
# path compiled into the shared build directory's binary (another clone's).
OLDROOMS_ROOT=$(pwd) exec "$CARGO_TARGET_DIR/debug/examples/demo" "$@"
