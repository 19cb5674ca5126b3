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
# What the end-to-end tier runs beside Synapse, from Debian: PostgreSQL,
# and Redis and nginx for Synapse with workers (tests/e2e/workers.rs and the
# workers pass below); systemd for the unit check at the end.
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null || need+=(redis-server)
command -v nginx >/dev/null || need+=(nginx)
command -v systemd-analyze >/dev/null || need+=(systemd)
# openssl: the certificate of a Synapse that federates (tests/e2e/federation.rs).
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  # Installed, not started: the tests run their own on free loopback ports,
  # and Debian would otherwise start nginx on port 80 and Redis on 6379.
  no_start=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    no_start=1
  fi
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
  [ -z "$no_start" ] || rm -f /usr/sbin/policy-rc.d
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --locked --lib --bins --tests 2>&1 | tee "$log"
# The benchmark's own logic (how BENCHMARKS.md is rewritten part by part).
cargo test --locked --example bench 2>&1 | tee -a "$log"
# The end-to-end scenario, the database path, rooms shared with another server, a deletion
# from chat and one from the command line once more with Synapse on PostgreSQL, as large
# servers run it (scripts/synapse.sh runs a PostgreSQL cluster per test).
OLDROOMS_SYNAPSE_DB=postgres cargo test --locked --test e2e -- \
  scenario:: database:: federation:: delete_cli::delete_from_an_edited_csv \
  delete_bot::only_an_admins_confirmation_on_the_newest_offer_deletes 2>&1 | tee -a "$log"
# The bot through Synapse with workers behind nginx, as large servers run it
# (docs/workers.md; Debian's redis-server and nginx): a chat scan posting an
# encrypted results.csv, an uploaded edited file, a ✅ deletion and a dry
# run, the upload limit, cross-signing and key backup.
OLDROOMS_SYNAPSE_WORKERS=1 cargo test --locked --test e2e -- \
  bot::scan_from_chat_in_an_encrypted_room \
  choose_bot::an_edited_csv_uploaded_in_an_encrypted_room_deletes_exactly_its_yes_rows \
  delete_bot::only_an_admins_confirmation_on_the_newest_offer_deletes \
  upload_limit:: metrics:: 2>&1 | tee -a "$log"
# The systemd unit under contrib/ must load, with the binary just built.
unit_dir=$(mktemp -d)
sed "s#/usr/local/bin/oldrooms#$CARGO_TARGET_DIR/debug/oldrooms#" contrib/oldrooms.service \
  >"$unit_dir/oldrooms.service"
systemd-analyze verify "$unit_dir/oldrooms.service"
rm -rf "$unit_dir"
echo "contrib/oldrooms.service: systemd-analyze verify passed"
# One closing line for the whole run, summed over the test binaries.
awk '/^test result:/ { p += $4; f += $6 } END { printf "all tiers: %d passed, %d failed\n", p, f }' "$log"
