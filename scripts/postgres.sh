#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for booker's PostgreSQL store (package
# pgstore) and its tests. Installs the distribution's postgresql package
# when it is missing (apt-get, as root), runs initdb and pg_ctl as the
# postgres user (as yourself when not root: initdb refuses root) in a new
# temp dir, listening ONLY on a Unix socket in that dir (no TCP port),
# creates the database "booker" and prints its DSN.
#
#   scripts/postgres.sh                  # start; print the DSN and how to stop
#   eval "$(scripts/postgres.sh --env)"  # start; export BOOKER_TEST_POSTGRES (and _DIR)
#   scripts/postgres.sh --stop DIR       # stop the cluster in DIR and remove DIR
#   scripts/postgres.sh --down DIR       # stop it and keep it (tests: the database away)
#   scripts/postgres.sh --up DIR         # start it again
#
# Then: go test ./pgstore ./storetest   (the PostgreSQL tests run, not skip)
set -euo pipefail

die() { echo "postgres.sh: $*" >&2; exit 1; }

# bindir finds the newest /usr/lib/postgresql/*/bin holding initdb.
bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

# as runs a command as the cluster's owner: postgres when we are root.
as() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop() {
  local dir=$1
  [ -d "$dir/data" ] || die "no cluster in $dir"
  as "$(bindir)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  rm -rf "$dir"
}

install() {
  [ -n "$(bindir)" ] && return 0
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null ||
    die "PostgreSQL is not installed and I cannot install it (need root and apt-get): install the postgresql package"
  echo "postgres.sh: installing postgresql" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
  [ -n "$(bindir)" ] || die "installed postgresql but found no /usr/lib/postgresql/*/bin/initdb"
}

# up starts the cluster in $1, on its socket only.
up() {
  as "$(bindir)/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 \
    -o "-c listen_addresses='' -c unix_socket_directories='$1' -c max_connections=200" \
    start >/dev/null || { cat "$1/server.log" >&2; die "pg_ctl start failed"; }
}

# down stops the cluster in $1 and keeps it.
down() {
  as "$(bindir)/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null || die "pg_ctl stop failed"
}

start() {
  install
  local bin dir
  bin=$(bindir)
  dir=$(mktemp -d /tmp/pg.XXXXXX)
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
  chmod 0700 "$dir"
  # Trust on the socket only: nobody but the dir's owner (and root) can
  # reach it. No TCP listener at all.
  as "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=reject \
    -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  up "$dir"
  as "$bin/psql" -h "$dir" -U postgres -d postgres -qAt -c 'create database booker' >/dev/null ||
    die "create database failed (server log: $dir/server.log)"
  DIR=$dir
  DSN="postgres://postgres@/booker?host=$dir"
}

case "${1:-}" in
  --stop)
    [ -n "${2:-}" ] || die "usage: $0 --stop DIR"
    stop "$2"
    ;;
  --down|--up)
    [ -n "${2:-}" ] && [ -d "$2/data" ] || die "usage: $0 $1 DIR (a cluster this script started)"
    if [ "$1" = --down ]; then down "$2"; else up "$2"; fi
    ;;
  --env)
    start
    echo "export BOOKER_TEST_POSTGRES='$DSN'"
    echo "export BOOKER_TEST_POSTGRES_DIR='$DIR'"
    ;;
  "")
    start
    echo "PostgreSQL $(basename "$(dirname "$(bindir)")") is running on a Unix socket in $DIR (no TCP port)."
    echo
    echo "  DSN:   $DSN"
    echo "  tests: BOOKER_TEST_POSTGRES='$DSN' go test ./pgstore ./storetest ./ticket"
    echo "  psql:  psql '$DSN'"
    echo "  stop:  $0 --stop $DIR"
    ;;
  *)
    sed -n '2,15p' "$0"
    exit 2
    ;;
esac
