#!/usr/bin/env bash
# A local demo cluster on one machine: PostgreSQL 15, two app replicas behind HAProxy, and two
# zone pollers (zones "dishub" and "polda") each capturing its own simulated cameras.
#
#   bash scripts/cluster.sh start     # prints the address; sign in as demo (password printed)
#   bash scripts/cluster.sh status
#   bash scripts/cluster.sh stop      # pollers hand their leases back, PostgreSQL stops cleanly
#
# Everything lives in $LJ_CLUSTER_DIR (default var/cluster): the database, each process's
# state folder, logs and pid files. Ports (override by environment): PostgreSQL LJ_PG_PORT
# (55432), replicas LJ_APP_PORTS ("8511 8512"), HAProxy LJ_PROXY_PORT (8600, plain HTTP on
# 127.0.0.1 — a real deployment terminates TLS as docs/haproxy.cfg does). Needs the venv made by
# scripts/run.sh or scripts/test.sh, and Debian's postgresql-15 and haproxy. As root, PostgreSQL
# runs as the postgres account (initdb refuses root).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIR=$(realpath -m "${LJ_CLUSTER_DIR:-var/cluster}")
PG_PORT=${LJ_PG_PORT:-55432}
read -r -a APP_PORTS <<< "${LJ_APP_PORTS:-8511 8512}"
PROXY_PORT=${LJ_PROXY_PORT:-8600}
ZONES=(dishub polda)
PY=$ROOT/.venv/bin/python
STREAMLIT=$ROOT/.venv/bin/streamlit
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
URL="postgresql://postgres@127.0.0.1:$PG_PORT/lawangjabo"

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

cluster_env() {
  export LAWANGJABO_STORAGE__POSTGRES_URL="$URL"
  export LAWANGJABO_CAMERAS__POLLER=zones
  export LAWANGJABO_CAMERAS__SIMULATE=true
  export LAWANGJABO_CAMERAS__INTERVAL_S=${LJ_INTERVAL_S:-5}
  export LAWANGJABO_PATHS__REGISTRY="$DIR/cameras.geojson"
  export LAWANGJABO_CAMERAS__ZONES
  LAWANGJABO_CAMERAS__ZONES=$(cat "$DIR/zones.json")
  export LAWANGJABO_AUTH__TRUSTED_PROXIES='["127.0.0.1"]'
}

start_postgres() {
  [ -n "$PGBIN" ] || { echo "PostgreSQL is not installed (Debian: postgresql-15)" >&2; exit 2; }
  if [ ! -d "$DIR/pg/data" ]; then
    mkdir -p "$DIR/pg"
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$DIR/pg"; fi
    as_postgres "$PGBIN/initdb" -D "$DIR/pg/data" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  if ! as_postgres "$PGBIN/pg_ctl" -D "$DIR/pg/data" status >/dev/null 2>&1; then
    as_postgres "$PGBIN/pg_ctl" -D "$DIR/pg/data" -l "$DIR/pg/server.log" -w -t 60 \
      -o "-p $PG_PORT -k $DIR/pg -c listen_addresses=127.0.0.1" start >/dev/null
  fi
  as_postgres "$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'lawangjabo'" | grep -q 1 ||
    as_postgres "$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc \
      "CREATE DATABASE lawangjabo" >/dev/null
  echo "postgresql   127.0.0.1:$PG_PORT (data in $DIR/pg)"
}

write_haproxy_config() {
  # docs/haproxy.cfg, served over plain HTTP on loopback for the demo: no certificate, so no
  # https redirect and no Secure flag on the stickiness cookie; the replicas' ports.
  sed -e '/bind :443/d' -e '/redirect scheme https/d' -e '/set-header X-Forwarded-Proto/d' \
      -e '/Strict-Transport-Security/d' \
      -e "s/bind :80/bind 127.0.0.1:$PROXY_PORT/" \
      -e 's/ httponly secure/ httponly/' \
      -e "s/127.0.0.1:8501 /127.0.0.1:${APP_PORTS[0]} /" \
      -e "s/127.0.0.1:8502 /127.0.0.1:${APP_PORTS[1]} /" \
      docs/haproxy.cfg > "$DIR/haproxy.cfg"
}

wait_http() {  # URL, seconds
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "no answer from $1 after $2 s" >&2; return 1; }
    sleep 0.5
  done
}

start() {
  [ -x "$PY" ] || { echo "no .venv: run scripts/run.sh or scripts/test.sh once" >&2; exit 2; }
  mkdir -p "$DIR"
  start_postgres
  if [ ! -f "$DIR/cameras.geojson" ]; then
    "$PY" -m lawangjabo generate-registry --count "${LJ_CAMERAS:-40}" --seed 7 \
      --out "$DIR/cameras.geojson" >/dev/null
    # Every owner agency belongs to one of the two zones (alternately).
    "$PY" - "$DIR" <<'EOF'
import json, sys
from pathlib import Path
folder = Path(sys.argv[1])
owners = sorted({f["properties"]["owner"] for f in
                 json.loads((folder / "cameras.geojson").read_text())["features"]})
zones = {owner: ("dishub", "polda")[n % 2] for n, owner in enumerate(owners)}
(folder / "zones.json").write_text(json.dumps(zones))
EOF
  fi
  cluster_env
  LAWANGJABO_PATHS__STATE_DIR="$DIR/app1" "$PY" -m lawangjabo users demo || true
  for n in 0 1; do
    local name="app$((n + 1))" port=${APP_PORTS[$n]}
    if ! alive "$DIR/$name.pid"; then
      LAWANGJABO_PATHS__STATE_DIR="$DIR/$name" nohup "$STREAMLIT" run app.py \
        --server.headless true --server.address 127.0.0.1 --server.port "$port" \
        --server.fileWatcherType none --browser.gatherUsageStats false \
        >"$DIR/$name.log" 2>&1 &
      echo $! >"$DIR/$name.pid"
    fi
    echo "replica      $name on 127.0.0.1:$port (log $DIR/$name.log)"
  done
  for zone in "${ZONES[@]}"; do
    if ! alive "$DIR/poller-$zone.pid"; then
      LAWANGJABO_PATHS__STATE_DIR="$DIR/poller-$zone" nohup "$PY" -m lawangjabo poller \
        --zone "$zone" --id "$zone-1" >"$DIR/poller-$zone.log" 2>&1 &
      echo $! >"$DIR/poller-$zone.pid"
    fi
    echo "zone poller  $zone-1 (log $DIR/poller-$zone.log)"
  done
  for port in "${APP_PORTS[@]}"; do wait_http "http://127.0.0.1:$port/_stcore/health" 90; done
  if ! alive "$DIR/haproxy.pid"; then
    write_haproxy_config
    nohup haproxy -f "$DIR/haproxy.cfg" -db >"$DIR/haproxy.log" 2>&1 &
    echo $! >"$DIR/haproxy.pid"
  fi
  wait_http "http://127.0.0.1:$PROXY_PORT/_stcore/health" 30
  echo "ready        http://127.0.0.1:$PROXY_PORT  (sign in as demo)"
}

stop() {
  local name
  for name in haproxy poller-dishub poller-polda app1 app2; do
    if alive "$DIR/$name.pid"; then kill -TERM "$(cat "$DIR/$name.pid")"; fi
  done
  for name in haproxy poller-dishub poller-polda app1 app2; do
    local waited=0
    while alive "$DIR/$name.pid" && [ $waited -lt 150 ]; do sleep 0.2; waited=$((waited + 1)); done
    if alive "$DIR/$name.pid"; then kill -KILL "$(cat "$DIR/$name.pid")"; fi
    rm -f "$DIR/$name.pid"
  done
  if [ -n "$PGBIN" ] && [ -d "$DIR/pg/data" ]; then
    as_postgres "$PGBIN/pg_ctl" -D "$DIR/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  echo "stopped (data kept in $DIR; remove the folder to start afresh)"
}

status() {
  local name code=0
  for name in app1 app2 poller-dishub poller-polda haproxy; do
    if alive "$DIR/$name.pid"; then echo "$name: running"; else echo "$name: stopped"; code=1; fi
  done
  if [ -n "$PGBIN" ] && as_postgres "$PGBIN/pg_ctl" -D "$DIR/pg/data" status >/dev/null 2>&1; then
    echo "postgresql: running"
  else
    echo "postgresql: stopped"; code=1
  fi
  return $code
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: bash scripts/cluster.sh start|stop|status" >&2; exit 2 ;;
esac
