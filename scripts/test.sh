#!/usr/bin/env bash
# The project's test command (README, .ci/run): formatting, lints, and all
# three test tiers (unit, fake HTTP server, real Synapse, part of it also on
# PostgreSQL). Installs what the real-Synapse tier needs into a cached venv
# on the first run.
set -euo pipefail
cd "$(dirname "$0")/.."
# Build output outside the clone, so repeated runs on one machine reuse it.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/oldrooms/target}

scripts/synapse.sh install >/dev/null
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo build --locked --examples
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --locked --lib --bins --tests 2>&1 | tee "$log"
# The benchmark's own logic (how BENCHMARKS.md is rewritten part by part).
cargo test --locked --example bench 2>&1 | tee -a "$log"
# The end-to-end scenario, the database path, a deletion from chat and one from the command
# line once more with Synapse on PostgreSQL, as large servers run it
# (Debian's postgresql package; scripts/synapse.sh runs a cluster per test).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
fi
OLDROOMS_SYNAPSE_DB=postgres cargo test --locked --test e2e -- \
  scenario:: database:: delete_cli::delete_from_an_edited_csv \
  delete_bot::only_an_admins_confirmation_on_the_newest_offer_deletes 2>&1 | tee -a "$log"
# The systemd unit under contrib/ must load, with the binary just built
# (systemd-analyze is Debian's systemd package).
if ! command -v systemd-analyze >/dev/null; then
  apt-get update -qq && apt-get install -y -qq systemd >/dev/null
fi
unit_dir=$(mktemp -d)
sed "s#/usr/local/bin/oldrooms#$CARGO_TARGET_DIR/debug/oldrooms#" contrib/oldrooms.service \
  >"$unit_dir/oldrooms.service"
systemd-analyze verify "$unit_dir/oldrooms.service"
rm -rf "$unit_dir"
echo "contrib/oldrooms.service: systemd-analyze verify passed"
# One closing line for the whole run, summed over the test binaries.
awk '/^test result:/ { p += $4; f += $6 } END { printf "all tiers: %d passed, %d failed\n", p, f }' "$log"
