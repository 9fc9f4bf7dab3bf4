#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis are reachable for `make run` and `make test`, and writes the
# settings to use into .data/env.
#
# PostgreSQL: CREWTIME_DATABASE_URL when given; else a server already listening on 127.0.0.1:5432
# with trust auth for user postgres; else a private cluster under .data/pg (PostgreSQL is
# installed from Debian packages when missing). Redis likewise: CREWTIME_REDIS_URL, then
# 127.0.0.1:6379, then a private redis-server under .data/redis.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
data="$root/.data"
mkdir -p "$data"
env_file="$data/env"
: > "$env_file.tmp"

log() { printf 'services: %s\n' "$*" >&2; }

apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    log "cannot install $* (no apt-get); install it and retry"
    exit 1
  fi
  log "installing $* from Debian packages"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

pg_bin() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && printf '%s' "$dir"
}

# --- PostgreSQL ------------------------------------------------------------------------------
pg_admin_url=""
if [ -n "${CREWTIME_DATABASE_URL:-}" ]; then
  pg_admin_url="${CREWTIME_TEST_ADMIN_URL:-}"
  log "using CREWTIME_DATABASE_URL"
else
  if ! command -v psql >/dev/null 2>&1 || [ -z "$(pg_bin)" ]; then
    apt_install postgresql postgresql-client
  fi
  if psql "postgres://postgres@127.0.0.1:5432/postgres" -Atqc 'select 1' >/dev/null 2>&1; then
    pg_admin_url="postgres://postgres@127.0.0.1:5432/postgres"
    log "using PostgreSQL on 127.0.0.1:5432"
  else
    bin="$(pg_bin)"
    port=55432
    pgdata="$data/pg"
    run_as=()
    if [ "$(id -u)" -eq 0 ]; then
      id postgres >/dev/null 2>&1 || useradd --system --home-dir "$data" postgres
      run_as=(runuser -u postgres --)
    fi
    if [ ! -f "$pgdata/PG_VERSION" ]; then
      mkdir -p "$pgdata"
      [ "$(id -u)" -eq 0 ] && chown -R postgres "$pgdata"
      "${run_as[@]}" "$bin/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    if ! psql "postgres://postgres@127.0.0.1:$port/postgres" -Atqc 'select 1' >/dev/null 2>&1; then
      [ "$(id -u)" -eq 0 ] && chown -R postgres "$pgdata"
      "${run_as[@]}" "$bin/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w -t 60 \
        -o "-p $port -c listen_addresses=127.0.0.1 -k $pgdata -c max_connections=300" start >/dev/null
      log "started a private PostgreSQL on 127.0.0.1:$port (data in .data/pg)"
    fi
    pg_admin_url="postgres://postgres@127.0.0.1:$port/postgres"
  fi
  base="${pg_admin_url%/postgres}"
  if ! psql "$pg_admin_url" -Atqc "select 1 from pg_database where datname = 'crewtime'" | grep -q 1; then
    psql "$pg_admin_url" -qc 'CREATE DATABASE crewtime' >/dev/null
  fi
  echo "export CREWTIME_DATABASE_URL='$base/crewtime'" >> "$env_file.tmp"
fi
[ -n "$pg_admin_url" ] && echo "export CREWTIME_TEST_ADMIN_URL='$pg_admin_url'" >> "$env_file.tmp"

# --- Redis -----------------------------------------------------------------------------------
redis_ping() { (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'PING\r\n' >&3 && timeout 2 head -c 5 <&3 | grep -q PONG) 2>/dev/null; }
if [ -n "${CREWTIME_REDIS_URL:-}" ]; then
  log "using CREWTIME_REDIS_URL"
  echo "export CREWTIME_TEST_REDIS_URL='$CREWTIME_REDIS_URL'" >> "$env_file.tmp"
elif redis_ping 6379; then
  log "using Redis on 127.0.0.1:6379"
  echo "export CREWTIME_TEST_REDIS_URL='redis://127.0.0.1:6379'" >> "$env_file.tmp"
else
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  port=56379
  if ! redis_ping "$port"; then
    mkdir -p "$data/redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
      --dir "$data/redis" --logfile "$data/redis/redis.log" --pidfile "$data/redis/redis.pid"
    for _ in $(seq 1 50); do redis_ping "$port" && break; sleep 0.1; done
    log "started a private Redis on 127.0.0.1:$port"
  fi
  echo "export CREWTIME_TEST_REDIS_URL='redis://127.0.0.1:$port'" >> "$env_file.tmp"
fi

mv "$env_file.tmp" "$env_file"
