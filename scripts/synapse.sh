#!/usr/bin/env bash
# A throw-away Synapse for tests, benchmarks and the demo.
#
#   scripts/synapse.sh install
#       Installs matrix-synapse (pinned) from PyPI into a cached venv, once.
#       The venv lives in $OLDROOMS_SYNAPSE_VENV (default
#       ~/.cache/oldrooms/synapse-$VERSION). Prints its path.
#   scripts/synapse.sh start DIR [WATCH_PID]
#       Writes a homeserver config into DIR (created; must be empty or new),
#       starts Synapse on a free loopback port, waits until it answers, and
#       registers a server admin. Prints KEY=VALUE lines (URL, PID, ...).
#       With WATCH_PID, a watchdog stops Synapse and removes DIR once that
#       process is gone, so a crashed test run leaves nothing behind.
#       OLDROOMS_SYNAPSE_DEFAULT_RATELIMITS=1 keeps Synapse's rate limits.
#       OLDROOMS_SYNAPSE_MAX_UPLOAD=SIZE sets max_upload_size (say 64K).
#       OLDROOMS_SYNAPSE_SERVER_NOTICES=1 enables server notices, sent as
#       @notices:SERVER.
#       OLDROOMS_SYNAPSE_DB=postgres runs it on PostgreSQL: a cluster of its
#       own in DIR/pg (Debian's postgresql package, run as its unprivileged
#       `postgres` user when we are root), reached over a Unix socket only,
#       with psycopg2-binary installed into the venv on first use, and the
#       read-only role of scripts/readonly-role.sql. READONLY_DB says how
#       oldrooms' [database] reaches it: sqlite=PATH or postgres=CONNINFO.
#       OLDROOMS_SYNAPSE_FEDERATION=1 makes it federate with others started
#       so on this machine: its server name is 127.0.0.1:FED_PORT (an IP
#       literal, so no well-known or DNS lookup), served with TLS by a
#       self-signed certificate (openssl) that peers accept
#       (federation_verify_certificates: false), and loopback is taken off
#       ip_range_blacklist, the one list Synapse checks for an IP literal.
#       A restart keeps the name and port.
#       OLDROOMS_SYNAPSE_FAKETIME=-400d runs it under libfaketime (Debian
#       package libfaketime), so every event it stamps is that old.
#       A DIR that already holds a homeserver from an earlier start (a golden
#       copy, say) is started again on a new port with its database.
#       OLDROOMS_SYNAPSE_WORKERS=1 runs it as Synapse's docs/workers.md
#       describes (on PostgreSQL): the main process, a generic worker for
#       client traffic and sync, a media repository worker, Redis (Debian's
#       redis-server) and nginx (Debian's) in front, routing as
#       scripts/nginx-workers.conf says; URL is nginx's, CLIENT_WORKER_URL the
#       generic worker's own (scripts/workers.sh).
#   scripts/synapse.sh stop DIR
#       Stops the Synapse started in DIR (the directory stays).
#   scripts/synapse.sh port-to-postgres DIR
#       Moves the stopped SQLite homeserver of DIR onto PostgreSQL (Synapse's
#       synapse_port_db): the same rooms and events on both databases.
#   scripts/synapse.sh restart DIR
#       Starts the Synapse of DIR again on the port it had, after a stop:
#       clients that know its URL reconnect (tests of outages).
set -euo pipefail

VERSION=1.163.2
VENV=${OLDROOMS_SYNAPSE_VENV:-$HOME/.cache/oldrooms/synapse-$VERSION}
SERVER_NAME=oldrooms.test

log() { echo "synapse.sh: $*" >&2; }

# DIR's server name: fixed by its first start, since Synapse's database
# holds it.
server_name() {
  if [ -f "$1/fed_port" ]; then echo "127.0.0.1:$(cat "$1/fed_port")"; else echo "$SERVER_NAME"; fi
}

# Makes DIR federate (see start): a port for the federation listener,
# which names the server, and a self-signed certificate for it.
federating() {
  local dir=$1
  [ -f "$dir/fed_port" ] && return
  command -v openssl >/dev/null || { log "federation needs openssl (apt-get install openssl)"; exit 1; }
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=127.0.0.1" \
    -keyout "$dir/tls.key" -out "$dir/tls.crt" >"$dir/openssl.log" 2>&1 ||
    { log "openssl could not make a certificate:"; cat "$dir/openssl.log" >&2; exit 1; }
  free_port >"$dir/fed_port"
}

# Whether PID runs; an exited child that nobody has reaped yet (a zombie,
# which `kill -0` still finds) does not.
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# shellcheck source=scripts/workers.sh
. "$(dirname "${BASH_SOURCE[0]}")/workers.sh"

install() {
  if [ -f "$VENV/.installed-$VERSION" ]; then
    echo "$VENV"
    return
  fi
  mkdir -p "$(dirname "$VENV")"
  (
    flock 9
    if [ ! -f "$VENV/.installed-$VERSION" ]; then
      log "installing matrix-synapse==$VERSION into $VENV (about a minute)"
      rm -rf "$VENV"
      python3 -m venv "$VENV"
      "$VENV/bin/pip" install --quiet --disable-pip-version-check "matrix-synapse==$VERSION" >&2
      touch "$VENV/.installed-$VERSION"
    fi
  ) 9>"$VENV.lock"
  echo "$VENV"
}

random_token() { "$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(16))'; }
# A loopback port free now and not handed out lately to another Synapse,
# worker, Redis or nginx of ours on this machine: a port is chosen here and
# bound later by the process, and many of them start at once in the tests
# (two runs at once too). A port handed out twice once sent a worker's
# media uploads to another server's listener. The last 2000 are kept in a
# list shared under a lock.
free_port() {
  local taken="${TMPDIR:-/tmp}/oldrooms-ports-taken"
  (
    flock 9
    "$VENV/bin/python" - "$taken" <<'PY'
import os, socket, sys
path = sys.argv[1]
try:
    taken = open(path).read().split()
except FileNotFoundError:
    taken = []
while True:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    if str(port) not in taken:
        break
taken = (taken + [str(port)])[-2000:]
with open(path + ".new", "w") as f:
    f.write("\n".join(taken) + "\n")
os.replace(path + ".new", path)
print(port)
PY
  ) 9>"$taken.lock"
}

# PostgreSQL's programs: the newest installed version.
pg_bin() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$bin" ] || { log "PostgreSQL is not installed (apt-get install postgresql)"; exit 1; }
  echo "$bin"
}

# PostgreSQL refuses to run as root.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_psycopg2() {
  (
    flock 9
    "$VENV/bin/python" -c 'import psycopg2' 2>/dev/null ||
      "$VENV/bin/pip" install --quiet --disable-pip-version-check psycopg2-binary >&2
  ) 9>"$VENV.lock"
}

# Starts DIR's cluster (made on first use) and its database `synapse`,
# with the C collation Synapse asks for.
postgres_up() {
  local dir=$1 bin fresh=""
  bin=$(pg_bin)
  ensure_psycopg2
  # Others may enter DIR (the postgres user needs to), not list it.
  chmod 711 "$dir"
  if [ ! -f "$dir/pg/PG_VERSION" ]; then
    mkdir -p "$dir/pg"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir/pg"; fi
    chmod 700 "$dir/pg"
    as_pg "$bin/initdb" -D "$dir/pg" -U synapse --auth=trust -E UTF8 --locale=C \
      >"$dir/initdb.log" 2>&1 || { log "initdb failed:"; cat "$dir/initdb.log" >&2; exit 1; }
    fresh=1
  fi
  as_pg "$bin/pg_ctl" -D "$dir/pg" -l "$dir/pg/server.log" -w \
    -o "-k $dir/pg -c listen_addresses='' -p 5432" start >/dev/null ||
    { log "PostgreSQL did not start:"; as_pg tail -n 20 "$dir/pg/server.log" >&2; exit 1; }
  if [ -n "$fresh" ]; then
    as_pg "$bin/createdb" -h "$dir/pg" -U synapse -E UTF8 --locale=C -T template0 synapse
  fi
}

postgres_down() {
  local dir=$1
  [ -f "$dir/pg/postmaster.pid" ] || return 0
  as_pg "$(pg_bin)/pg_ctl" -D "$dir/pg" -m fast -w stop >/dev/null 2>&1 || true
}

write_config() {
  local dir=$1 port=$2 secret=$3 as_token=$4 hs_token=$5 db=$6 repl_secret=${7:-}
  local server_name escaped
  server_name=$(server_name "$dir")
  escaped=${server_name//./\\.}
  local database="{name: sqlite3, args: {database: \"$dir/homeserver.db\"}}"
  if [ "$db" = postgres ]; then
    database="{name: psycopg2, args: {user: synapse, database: synapse, host: \"$dir/pg\", cp_min: 1, cp_max: 5}}"
  fi
  cat >"$dir/appservice.yaml" <<YAML
id: oldrooms-fixtures
url: null
as_token: "$as_token"
hs_token: "$hs_token"
sender_localpart: oldrooms-fixtures
rate_limited: false
namespaces:
  users: [{exclusive: false, regex: '@.*:$escaped'}]
  rooms: []
  aliases: [{exclusive: false, regex: '#.*:$escaped'}]
YAML
  local listeners
  if [ -n "$repl_secret" ]; then
    listeners=$(workers_yaml "$dir" "$repl_secret")
  else
    listeners=$(cat <<YAML
listeners:
  - port: $port
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: false
    x_forwarded: false
    resources: [{names: [client], compress: false}]
YAML
)
  fi
  if [ -f "$dir/fed_port" ]; then
    listeners+=$(cat <<YAML

  - port: $(cat "$dir/fed_port")
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: true
    x_forwarded: false
    resources: [{names: [federation], compress: false}]
tls_certificate_path: "$dir/tls.crt"
tls_private_key_path: "$dir/tls.key"
federation_verify_certificates: false
# Synapse's default list without 127.0.0.0/8: the peers are on loopback.
ip_range_blacklist: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
  "192.0.0.0/24", "169.254.0.0/16", "192.88.99.0/24", "198.18.0.0/15", "192.0.2.0/24",
  "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "::1/128", "fe80::/10", "fc00::/7",
  "2001:db8::/32", "ff00::/8", "fec0::/10"]
YAML
)
  fi
  cat >"$dir/homeserver.yaml" <<YAML
server_name: "$server_name"
public_baseurl: "http://127.0.0.1:$port/"
$listeners
database: $database
media_store_path: "$dir/media"
signing_key_path: "$dir/signing.key"
registration_shared_secret: "$secret"
report_stats: false
trusted_key_servers: []
suppress_key_server_warning: true
bcrypt_rounds: 4
presence: {enabled: false}
enable_registration: false
room_list_publication_rules: [{action: allow}]
app_service_config_files: ["$dir/appservice.yaml"]
YAML
  if [ "${OLDROOMS_SYNAPSE_SERVER_NOTICES:-0}" = 1 ]; then
    cat >>"$dir/homeserver.yaml" <<'YAML'
server_notices:
  system_mxid_localpart: notices
  system_mxid_display_name: "Server Notices"
  room_name: "Server Notices"
YAML
  fi
  if [ -n "${OLDROOMS_SYNAPSE_MAX_UPLOAD:-}" ]; then
    echo "max_upload_size: \"$OLDROOMS_SYNAPSE_MAX_UPLOAD\"" >>"$dir/homeserver.yaml"
  fi
  if [ "${OLDROOMS_SYNAPSE_DEFAULT_RATELIMITS:-0}" != 1 ]; then
    cat >>"$dir/homeserver.yaml" <<'YAML'
rc_message: {per_second: 10000, burst_count: 10000}
rc_registration: {per_second: 10000, burst_count: 10000}
rc_login:
  address: {per_second: 10000, burst_count: 10000}
  account: {per_second: 10000, burst_count: 10000}
  failed_attempts: {per_second: 10000, burst_count: 10000}
rc_joins:
  local: {per_second: 10000, burst_count: 10000}
  remote: {per_second: 10000, burst_count: 10000}
rc_joins_per_room: {per_second: 10000, burst_count: 10000}
rc_invites:
  per_room: {per_second: 10000, burst_count: 10000}
  per_user: {per_second: 10000, burst_count: 10000}
  per_issuer: {per_second: 10000, burst_count: 10000}
rc_room_creation: {per_second: 10000, burst_count: 10000}
rc_admin_redaction: {per_second: 10000, burst_count: 10000}
YAML
  fi
}

start() {
  local dir=$1 watch=${2:-} port=${3:-}
  install >/dev/null
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local secret as_token hs_token password
  [ -n "$port" ] || port=$(free_port)
  echo "$port" >"$dir/port"
  if [ "${OLDROOMS_SYNAPSE_FEDERATION:-0}" = 1 ]; then federating "$dir"; fi
  if [ -f "$dir/secrets.env" ]; then
    # shellcheck disable=SC1091
    . "$dir/secrets.env"
  else
    secret=$(random_token)
    as_token=$(random_token)
    hs_token=$(random_token)
    password=$(random_token)
    printf 'secret=%s\nas_token=%s\nhs_token=%s\npassword=%s\n' \
      "$secret" "$as_token" "$hs_token" "$password" >"$dir/secrets.env"
  fi
  # A DIR started before keeps its database and its workers.
  local workers=${OLDROOMS_SYNAPSE_WORKERS:-$(cat "$dir/workers" 2>/dev/null || echo 0)}
  case "$workers" in
    0 | 1) ;;
    *) log "OLDROOMS_SYNAPSE_WORKERS must be 0 or 1, not $workers"; exit 2 ;;
  esac
  if [ "$workers" = 1 ] && [ -f "$dir/homeserver.db" ]; then
    log "$dir holds a homeserver on SQLite; Synapse with workers needs PostgreSQL"
    exit 2
  fi
  echo "$workers" >"$dir/workers"
  local db=${OLDROOMS_SYNAPSE_DB:-$(cat "$dir/database" 2>/dev/null || echo sqlite)}
  local repl_secret=""
  if [ "$workers" = 1 ]; then
    # Workers share their state through PostgreSQL only.
    [ "${OLDROOMS_SYNAPSE_DB:-postgres}" = postgres ] ||
      { log "Synapse with workers runs on PostgreSQL, not $OLDROOMS_SYNAPSE_DB"; exit 2; }
    db=postgres
    ensure_worker_tools
    worker_ports "$dir"
    grep -q '^repl_secret=' "$dir/secrets.env" || echo "repl_secret=$(random_token)" >>"$dir/secrets.env"
    # shellcheck disable=SC1091
    . "$dir/secrets.env"
  fi
  echo "$db" >"$dir/database"
  case "$db" in
    sqlite) ;;
    postgres) postgres_up "$dir" ;;
    *) log "OLDROOMS_SYNAPSE_DB must be sqlite or postgres, not $db"; exit 2 ;;
  esac
  write_config "$dir" "$port" "$secret" "$as_token" "$hs_token" "$db" "$repl_secret"
  local preload=()
  if [ -n "${OLDROOMS_SYNAPSE_FAKETIME:-}" ]; then
    local lib
    lib=$(dpkg -L libfaketime 2>/dev/null | grep 'libfaketime.so.1$' | head -n 1 || true)
    [ -n "$lib" ] || { log "libfaketime is not installed (apt-get install faketime)"; exit 1; }
    preload=(env "LD_PRELOAD=$lib" "FAKETIME=$OLDROOMS_SYNAPSE_FAKETIME" "FAKETIME_DONT_RESET=1")
  fi
  "$VENV/bin/python" -m synapse.app.homeserver -c "$dir/homeserver.yaml" --generate-keys \
    >"$dir/generate.log" 2>&1
  local pid
  if [ "$workers" = 1 ]; then
    # A start that fails half-way stops what it started.
    # shellcheck disable=SC2064 # DIR is fixed now, not when the trap runs.
    trap "stop '$dir' >/dev/null 2>&1" EXIT
    start_with_workers "$dir" "$port"
  else
    "${preload[@]}" "$VENV/bin/python" -m synapse.app.homeserver -c "$dir/homeserver.yaml" \
      </dev/null >>"$dir/synapse.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/synapse.pid"
  fi
  local url="http://127.0.0.1:$port"
  local i
  for i in $(seq 1 300); do
    if "$VENV/bin/python" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" \
      "$url/_matrix/client/versions" 2>/dev/null; then
      break
    fi
    if ! alive "$pid"; then
      log "Synapse exited while starting; its log:"
      tail -n 30 "$dir/synapse.log" >&2
      exit 1
    fi
    sleep 0.2
  done
  "$VENV/bin/register_new_matrix_user" -k "$secret" -u admin -p "$password" --admin --exists-ok \
    "$url" >"$dir/register.log" 2>&1 || {
    log "could not register the admin user:"
    cat "$dir/register.log" >&2
    stop "$dir"
    exit 1
  }
  local readonly_db="sqlite=$dir/homeserver.db"
  if [ "$db" = postgres ]; then
    # Read by this shell, not by the postgres user.
    as_pg "$(pg_bin)/psql" -h "$dir/pg" -U synapse -d synapse -q -v ON_ERROR_STOP=1 \
      <"$(dirname "${BASH_SOURCE[0]}")/readonly-role.sql" >"$dir/readonly-role.log" 2>&1 ||
      { log "could not create the read-only role:"; cat "$dir/readonly-role.log" >&2; stop "$dir"; exit 1; }
    readonly_db="postgres=host=$dir/pg port=5432 dbname=synapse user=oldrooms_ro"
  fi
  trap - EXIT
  if [ -n "$watch" ]; then
    # Detached, with no stdio of ours, so callers reading our output see EOF.
    # It follows the pid file, so a Synapse restarted in DIR is stopped too.
    setsid bash -c '
      while kill -0 "$1" 2>/dev/null && [ -d "$2" ]; do sleep 1; done
      pid=$(cat "$2/synapse.pid" 2>/dev/null) || exit 0
      # TERM first: an nginx master killed outright leaves its workers.
      others=$(cat "$2/pids" 2>/dev/null)
      for other in $others; do kill "$other" 2>/dev/null; done
      for _ in $(seq 1 50); do
        left=""
        for other in $others; do kill -0 "$other" 2>/dev/null && left=1; done
        [ -z "$left" ] && break
        sleep 0.1
      done
      for other in $others; do kill -9 "$other" 2>/dev/null; done
      kill "$pid" 2>/dev/null
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null
      pg=$(head -n 1 "$2/pg/postmaster.pid" 2>/dev/null) && kill -INT "$pg" 2>/dev/null
      for _ in $(seq 1 50); do [ -f "$2/pg/postmaster.pid" ] || break; sleep 0.1; done
      rm -rf "$2"
    ' watchdog "$watch" "$dir" </dev/null >/dev/null 2>&1 &
  fi
  cat <<OUT
URL=$url
PID=$pid
DIR=$dir
SERVER_NAME=$(server_name "$dir")
AS_TOKEN=$as_token
SHARED_SECRET=$secret
ADMIN_USER=@admin:$(server_name "$dir")
ADMIN_PASSWORD=$password
VENV=$VENV
DATABASE=$db
READONLY_DB=$readonly_db
WORKERS=$workers
OUT
  if [ "$workers" = 1 ]; then
    echo "CLIENT_WORKER_URL=http://127.0.0.1:$worker_port"
  fi
}

# Moves DIR's stopped SQLite homeserver onto PostgreSQL with Synapse's own
# synapse_port_db: the same rooms and events, so both databases can be
# compared on one fixture. The next `start DIR` runs on PostgreSQL.
port_to_postgres() {
  local dir=$1
  install >/dev/null
  [ "$(cat "$dir/database" 2>/dev/null || echo sqlite)" = sqlite ] && [ -f "$dir/homeserver.db" ] ||
    { log "$dir holds no SQLite homeserver"; exit 2; }
  dir=$(cd "$dir" && pwd)
  local port
  port=$(cat "$dir/port" 2>/dev/null || free_port)
  echo "$port" >"$dir/port"
  # shellcheck disable=SC1091
  . "$dir/secrets.env"
  postgres_up "$dir"
  write_config "$dir" "$port" "$secret" "$as_token" "$hs_token" postgres
  "$VENV/bin/synapse_port_db" --sqlite-database "$dir/homeserver.db" \
    --postgres-config "$dir/homeserver.yaml" >"$dir/port_db.log" 2>&1 ||
    { log "synapse_port_db failed:"; tail -n 20 "$dir/port_db.log" >&2; postgres_down "$dir"; exit 1; }
  postgres_down "$dir"
  echo postgres >"$dir/database"
}

stop_pid() {
  local pid=$1
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do alive "$pid" || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

stop() {
  local dir=$1 pid
  # The workers, nginx and Redis first, so that none outlives main.
  for pid in $(cat "$dir/pids" 2>/dev/null); do stop_pid "$pid"; done
  rm -f "$dir/pids"
  [ -f "$dir/synapse.pid" ] && stop_pid "$(cat "$dir/synapse.pid")"
  postgres_down "$dir"
}

case "${1:-}" in
  install) install ;;
  start) [ $# -ge 2 ] || { log "usage: $0 start DIR [WATCH_PID]"; exit 2; }; start "$2" "${3:-}" ;;
  stop) [ $# -eq 2 ] || { log "usage: $0 stop DIR"; exit 2; }; stop "$2" ;;
  restart)
    [ $# -eq 2 ] || { log "usage: $0 restart DIR"; exit 2; }
    [ -f "$2/port" ] || { log "$2 holds no Synapse started by this script"; exit 2; }
    stop "$2"
    start "$2" "" "$(cat "$2/port")"
    ;;
  port-to-postgres)
    [ $# -eq 2 ] || { log "usage: $0 port-to-postgres DIR"; exit 2; }
    port_to_postgres "$2"
    ;;
  *) log "usage: $0 install | start DIR [WATCH_PID] | stop DIR | restart DIR | port-to-postgres DIR"; exit 2 ;;
esac
