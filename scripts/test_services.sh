#!/usr/bin/env bash
# The services the test suite needs, made available on a fresh Debian machine.
#
#   test_services.sh postgres-ensure DIR  print a PostgreSQL URL that answers: TURKOPS_TEST_PG_URL
#                                         (default postgresql+psycopg://postgres@127.0.0.1:5432/test)
#                                         if it does, else a throwaway cluster started under DIR
#   test_services.sh postgres-start DIR   start a throwaway cluster under DIR, print its URL
#   test_services.sh postgres-stop DIR    stop and delete the cluster under DIR (if any)
#   test_services.sh browser              make sure chromium and chromedriver are installed
#   test_services.sh python-venv          install Debian's python3-venv (python3 -m venv failed)
#
# A throwaway cluster: initdb + pg_ctl in a temporary folder (recorded in DIR), trust auth on 127.0.0.1 only, a free port,
# database `test`, fsync off. initdb refuses root, so as root it runs as the `postgres` user.
# Missing packages (postgresql, chromium, chromium-driver) are installed with apt-get when run as
# root; TURKOPS_TEST_NO_INSTALL=1 forbids that. When a service cannot be provided the script
# prints one line saying why and exits 1: the tests that need it must fail, never be skipped.
# PYTHON: an interpreter with SQLAlchemy and psycopg (default .venv/bin/python), used to check
# that a URL answers. TURKOPS_PG_BINDIR: where initdb/pg_ctl live (default: newest Debian one).
set -euo pipefail

DEFAULT_PG_URL="postgresql+psycopg://postgres@127.0.0.1:5432/test"
PY=${PYTHON:-.venv/bin/python}

fail() {
  echo "test_services: $*" >&2
  exit 1
}

# apt-get install, refreshing the package lists once if the first attempt fails.
apt_install() {
  if [ "${TURKOPS_TEST_NO_INSTALL:-0}" = "1" ]; then
    fail "$1 is missing and TURKOPS_TEST_NO_INSTALL=1 forbids installing it: install ${*:2}"
  fi
  if [ "$(id -u)" != "0" ]; then
    fail "$1 is missing and installing it needs root: run 'apt-get install ${*:2}' as root"
  fi
  command -v apt-get >/dev/null || fail "$1 is missing and apt-get is not available"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q "${@:2}" >/dev/null 2>&1; then
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${@:2}" >/dev/null 2>&1; } ||
      fail "$1 is missing and 'apt-get install ${*:2}' failed (no package registry reachable?)"
  fi
}

# Does a PostgreSQL answer at URL (connect + SELECT 1)?
pg_answers() {
  [ -x "$PY" ] || command -v "$PY" >/dev/null || fail "no Python at $PY (set PYTHON)"
  local rc=0
  "$PY" - "$1" <<'EOF' >/dev/null 2>&1 || rc=$?
import sys
try:
    from sqlalchemy import create_engine, text
    import psycopg  # noqa: F401
except ImportError:
    sys.exit(3)
engine = create_engine(sys.argv[1], connect_args={"connect_timeout": 5})
with engine.connect() as conn:
    conn.execute(text("SELECT 1"))
EOF
  [ "$rc" != 3 ] || fail "PYTHON=$PY has no SQLAlchemy/psycopg to check PostgreSQL with"
  [ "$rc" = 0 ]
}

pg_bindir() {
  if [ -n "${TURKOPS_PG_BINDIR:-}" ]; then
    echo "$TURKOPS_PG_BINDIR"
    return
  fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

# Run a PostgreSQL binary as a user initdb accepts (not root).
as_pg_user() {
  if [ "$(id -u)" = "0" ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The cluster lives in a fresh folder under the system's temporary directory (which the
# `postgres` user can reach, unlike e.g. a root-only pytest folder); DIR/pg records where.
postgres_start() {
  local dir=$1 bin port cluster
  bin=$(pg_bindir)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    apt_install postgresql postgresql
    bin=$(pg_bindir)
    [ -n "$bin" ] && [ -x "$bin/initdb" ] || fail "postgresql installed but no initdb found"
  fi
  if [ "$(id -u)" = "0" ] && ! id postgres >/dev/null 2>&1; then
    fail "initdb refuses root and there is no 'postgres' user to run it as"
  fi
  mkdir -p "$dir/pg"
  cluster=$(mktemp -d "${TMPDIR:-/tmp}/turkops-pg.XXXXXX")
  echo "$bin" >"$dir/pg/bindir"
  echo "$cluster" >"$dir/pg/cluster"
  if [ "$(id -u)" = "0" ]; then chown postgres: "$cluster"; fi
  port=$(free_port)
  as_pg_user "$bin/initdb" -D "$cluster/data" -U postgres -A trust -E UTF8 --no-locale \
    --no-sync >"$dir/pg/initdb.log" 2>&1 || fail "initdb failed: see $dir/pg/initdb.log"
  as_pg_user "$bin/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" -w -t 60 \
    -o "-p $port -k $cluster -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" \
    start >/dev/null || fail "the throwaway PostgreSQL did not start: see $cluster/server.log"
  as_pg_user "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres test ||
    fail "could not create database test on the throwaway PostgreSQL"
  echo "postgresql+psycopg://postgres@127.0.0.1:$port/test"
}

postgres_stop() {
  local dir=$1 cluster
  [ -f "$dir/pg/cluster" ] || { rm -rf "$dir/pg"; return 0; }
  cluster=$(cat "$dir/pg/cluster")
  if [ -f "$cluster/data/postmaster.pid" ]; then
    as_pg_user "$(cat "$dir/pg/bindir")/pg_ctl" -D "$cluster/data" -m immediate -w stop \
      >/dev/null 2>&1 || true
  fi
  case "$cluster" in */turkops-pg.*) rm -rf "$cluster" ;; esac
  rm -rf "$dir/pg"
}

postgres_ensure() {
  local url=${TURKOPS_TEST_PG_URL:-$DEFAULT_PG_URL}
  if pg_answers "$url"; then
    echo "$url"
    return
  fi
  echo "test_services: no PostgreSQL answers at $url: starting a throwaway cluster" >&2
  url=$(postgres_start "$1")
  pg_answers "$url" || fail "the throwaway PostgreSQL at $url does not answer"
  echo "$url"
}

browser() {
  if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    return
  fi
  apt_install "chromium/chromedriver (for the browser tests)" chromium chromium-driver
  command -v chromium >/dev/null && command -v chromedriver >/dev/null ||
    fail "chromium-driver installed but chromium or chromedriver is not on PATH"
}

case "${1:-}" in
  postgres-ensure) postgres_ensure "${2:?DIR}" ;;
  postgres-start) postgres_start "${2:?DIR}" ;;
  postgres-stop) postgres_stop "${2:?DIR}" ;;
  browser) browser ;;
  python-venv) apt_install "python3-venv (to create .venv)" python3-venv ;;
  *) fail "usage: $0 postgres-ensure DIR | postgres-start DIR | postgres-stop DIR | browser | python-venv" ;;
esac
