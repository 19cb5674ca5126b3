# Synapse with workers, as Synapse's docs/workers.md describes it, for
# tests: the main process (which also serves the Admin API), a generic worker
# for client traffic and sync, a media repository worker, Redis between them,
# and nginx in front (scripts/nginx-workers.conf). Sourced by
# scripts/synapse.sh (OLDROOMS_SYNAPSE_WORKERS=1), whose helpers it uses.
#
# Every process but PostgreSQL is listed in DIR/pids, so `stop` and the
# watchdog stop them all; DIR/synapse.pid stays the main process.

ensure_worker_tools() {
  local missing=""
  command -v redis-server >/dev/null || missing="$missing redis-server"
  command -v nginx >/dev/null || missing="$missing nginx"
  [ -z "$missing" ] || { log "Synapse with workers needs Debian's$missing (apt-get install$missing)"; exit 1; }
  (
    flock 9
    "$VENV/bin/python" -c 'import txredisapi, hiredis' 2>/dev/null ||
      "$VENV/bin/pip" install --quiet --disable-pip-version-check "matrix-synapse[redis]==$VERSION" >&2
  ) 9>"$VENV.lock"
}

# The ports of every process behind nginx, chosen once per DIR (a restart
# keeps them).
worker_ports() {
  local dir=$1
  if [ ! -f "$dir/ports.env" ]; then
    printf 'main_port=%s\nrepl_port=%s\nworker_port=%s\nmedia_port=%s\nredis_port=%s\n' \
      "$(free_port)" "$(free_port)" "$(free_port)" "$(free_port)" "$(free_port)" >"$dir/ports.env"
  fi
  # shellcheck disable=SC1091
  . "$dir/ports.env"
}

# homeserver.yaml's listeners and what the processes share (replication over
# HTTP to main, Redis, media off on main); then each worker's own file.
workers_yaml() {
  local dir=$1 repl_secret=$2
  cat <<YAML
listeners:
  - port: $main_port
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: false
    x_forwarded: true
    resources: [{names: [client], compress: false}]
  - port: $repl_port
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: false
    resources: [{names: [replication]}]
instance_map:
  main: {host: 127.0.0.1, port: $repl_port}
redis: {enabled: true, host: 127.0.0.1, port: $redis_port}
worker_replication_secret: "$repl_secret"
enable_media_repo: false
media_instance_running_background_jobs: media_worker1
YAML
  cat >"$dir/generic_worker1.yaml" <<YAML
worker_app: synapse.app.generic_worker
worker_name: generic_worker1
worker_listeners:
  - type: http
    port: $worker_port
    bind_addresses: ["127.0.0.1"]
    x_forwarded: true
    resources: [{names: [client, federation], compress: false}]
YAML
  cat >"$dir/media_worker1.yaml" <<YAML
worker_app: synapse.app.media_repository
worker_name: media_worker1
worker_listeners:
  - type: http
    port: $media_port
    bind_addresses: ["127.0.0.1"]
    x_forwarded: true
    resources: [{names: [media], compress: false}]
YAML
}

# wait_http NAME URL PID: until URL answers, or fails if PID has exited.
wait_http() {
  local name=$1 url=$2 pid=$3
  for _ in $(seq 1 600); do
    if "$VENV/bin/python" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" \
      "$url" 2>/dev/null; then
      return 0
    fi
    alive "$pid" || { log "$name exited while starting; its log:"; tail -n 30 "$4" >&2; exit 1; }
    sleep 0.2
  done
  log "$name did not answer at $url"
  exit 1
}

# Starts Redis, then main (on a fresh database it makes the schema the
# workers need), then the workers and nginx. Sets `pid` to main's.
start_with_workers() {
  local dir=$1 port=$2
  local py="$VENV/bin/python"
  : >"$dir/pids"
  mkdir -p "$dir/redis" "$dir/nginx/tmp"
  redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
    --dir "$dir/redis" --logfile "$dir/redis.log" --daemonize no </dev/null >/dev/null 2>&1 &
  echo $! >>"$dir/pids"
  sed -e "s#@DIR@#$dir#g" -e "s#@PORT@#$port#g" -e "s#@MAIN_PORT@#$main_port#g" \
    -e "s#@WORKER_PORT@#$worker_port#g" -e "s#@MEDIA_PORT@#$media_port#g" \
    "$(dirname "${BASH_SOURCE[0]}")/nginx-workers.conf" >"$dir/nginx/nginx.conf"
  # As root, nginx's workers would run as nobody, who cannot write DIR.
  if [ "$(id -u)" = 0 ]; then sed -i '1i user root;' "$dir/nginx/nginx.conf"; fi
  local nginx=(nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log")
  "${nginx[@]}" -t >"$dir/nginx/configtest.log" 2>&1 ||
    { log "nginx refused its config:"; cat "$dir/nginx/configtest.log" >&2; exit 1; }
  "${nginx[@]}" -g 'daemon off;' </dev/null >>"$dir/nginx/stderr.log" 2>&1 &
  echo $! >>"$dir/pids"

  "${preload[@]}" "$py" -m synapse.app.homeserver -c "$dir/homeserver.yaml" \
    </dev/null >>"$dir/synapse.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/synapse.pid"
  wait_http "Synapse's main process" "http://127.0.0.1:$main_port/health" "$pid" "$dir/synapse.log"
  local worker
  for worker in generic_worker1 media_worker1; do
    local app=synapse.app.generic_worker
    [ "$worker" = media_worker1 ] && app=synapse.app.media_repository
    "${preload[@]}" "$py" -m "$app" -c "$dir/homeserver.yaml" -c "$dir/$worker.yaml" \
      </dev/null >>"$dir/$worker.log" 2>&1 &
    echo "$!" >"$dir/$worker.pid"
    echo "$!" >>"$dir/pids"
  done
  wait_http generic_worker1 "http://127.0.0.1:$worker_port/health" "$(cat "$dir/generic_worker1.pid")" \
    "$dir/generic_worker1.log"
  wait_http media_worker1 "http://127.0.0.1:$media_port/health" "$(cat "$dir/media_worker1.pid")" \
    "$dir/media_worker1.log"
}
