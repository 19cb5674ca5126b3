#!/usr/bin/env bash
# The benchmark (not part of the tests): builds oldrooms in release, runs
# examples/bench against a real Synapse and a fake Admin API, prints a table
# and writes BENCHMARKS.md. Parts: `scripts/bench.sh [real] [real-pg]
# [million] [fake] [delete]` (default all). The first run builds a 2,000-room
# golden fixture under ~/.cache/oldrooms/ (several minutes) and its copy on
# PostgreSQL; it needs libfaketime, GNU time and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/oldrooms/target}
if ! dpkg -s faketime >/dev/null 2>&1 || [ ! -x /usr/bin/time ] ||
  ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq faketime time postgresql >/dev/null
fi
scripts/synapse.sh install >/dev/null
cargo build --release --locked --bin oldrooms --example bench
OLDROOMS_ROOT=$(pwd) exec "$CARGO_TARGET_DIR/release/examples/bench" "$@"
