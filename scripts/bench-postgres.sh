#!/usr/bin/env bash
# booker on the PostgreSQL store against the service a Go team would
# write instead (../shared/peers/gohttp: net/http and one autocommitted
# statement per booking on the same database), driven by the same client
# (wrk -t2 -c64, a POST script: every request a successful booking), in
# turns, several rounds; ratios of medians (this machine is shared and
# noisy). Needs Go and bash; wrk and PostgreSQL are installed with
# apt-get when missing and run as root, and a throwaway cluster is
# started (scripts/postgres.sh) unless a DSN is given.
#
#   scripts/bench-postgres.sh [--quick] [--rounds N] [--duration 10s] [--peer DIR] [DSN]
#
# Each round: the peer; booker on files (locked, 4 sellers: the
# reference); booker on the database (locked, 4 sellers) with --lock event
# and with --lock seat; three booker hosts (2 sellers each) on one
# database with --lock event and with --lock seat, each host driven by
# its own wrk (-c21, together 63 connections). Every booker creates a
# fresh event of 300,000 seats (in a fresh schema). --quick: one round of
# 3 s runs (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3 duration=10s peer=../shared/peers/gohttp dsn=
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) rounds=1 duration=3s; shift ;;
    --rounds) rounds=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --peer) peer=$2; shift 2 ;;
    postgres://*|postgresql://*) dsn=$1; shift ;;
    *) sed -n '2,17p' "$0"; exit 2 ;;
  esac
done
need() {
  command -v "$1" >/dev/null && return 0
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || { echo "skip: $1 is not installed (apt-get install $2)"; exit 0; }
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}
need wrk wrk
need psql postgresql-client
need curl curl
work=$(mktemp -d) pids=() pgdir=
# This run's schemas are bench_<runid>_*; dropped at the end.
runid=$$_$(date +%s)
# stop_all stops the bookers and the peer started so far.
stop_all() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  stop_all
  if [ -n "$pgdir" ]; then
    scripts/postgres.sh --stop "$pgdir" || true
  elif [ -n "$dsn" ]; then
    psql -qAt "$dsn" -c "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench\_${runid}\_%'" 2>/dev/null |
      while read -r schema; do psql -q "$dsn" -c "DROP SCHEMA $schema CASCADE" >/dev/null 2>&1 || true; done
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ -z "$dsn" ]; then
  pgenv=$(scripts/postgres.sh --env)
  eval "$pgenv"
  dsn=$BOOKER_TEST_POSTGRES pgdir=$BOOKER_TEST_POSTGRES_DIR
fi
go build -o "$work/" ./cmd/booker ./cmd/seller
havepeer=false
if [ -f "$peer/main.go" ] && (cd "$peer" && go build -o "$work/gohttp" . 2>"$work/peer-build.log"); then
  havepeer=true
else
  echo "skip: the peer is not compared ($peer does not build; see its README)"
fi
cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"buyer":"wrk"}'
wrk.headers["Content-Type"] = "application/json"
LUA

# scratch: a DSN on a fresh schema of the database.
scratch() {
  local schema; schema="bench_${runid}_$(date +%s%N)"
  psql -q "$dsn" -c "CREATE SCHEMA $schema" >/dev/null
  case "$dsn" in *\?*) echo "$dsn&search_path=$schema" ;; *) echo "$dsn?search_path=$schema" ;; esac
}
# wait_ready URL: polls /readyz.
wait_ready() {
  for _ in $(seq 300); do
    curl -sf "$1/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "not ready: $1" >&2; cat "$work"/*.log >&2; return 1
}
# start_booker DSN ARGS...: runs a booker on a free port and sets url to
# its address (not in a subshell: its pid must reach pids, for stop_all).
start_booker() {
  local store=$1; shift
  local d; d=$(mktemp -d "$work/b.XXXX")
  "$work/booker" --data-dir "$d" --listen 127.0.0.1:0 --store "$store" --event demo --tickets 300000 "$@" \
    >"$d/out" 2>"$work/booker-$(basename "$d").log" &
  pids+=($!)
  url=
  for _ in $(seq 300); do
    url=$(sed -n 's/^booker listening on //p' "$d/out")
    [ -n "$url" ] && break
    sleep 0.1
  done
  wait_ready "$url" >&2
}
# drive CONNS URL...: wrk on each URL at once; prints "bookings/s p99ms"
# (rates summed, the worst p99).
drive() {
  local c=$1; shift
  local i=0 outs=()
  for u in "$@"; do
    i=$((i + 1))
    wrk -t$(( $# == 1 ? 2 : 1 )) -c"$c" -d"$duration" --latency -s "$work/post.lua" "$u/v1/events/demo/bookings" >"$work/wrk.$i" 2>&1 &
    outs+=($!)
  done
  wait "${outs[@]}"
  cat "$work"/wrk.* | awk '
    /Requests\/sec:/ { rate += $2 }
    /^ +99%/ { v = $2; if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0; else if (v ~ /s$/) v = v * 1000; if (v > p99) p99 = v }
    /Non-2xx/ { bad += $NF }
    END { printf "%.0f %.1f %d\n", rate, p99, bad }'
  rm -f "$work"/wrk.*
}
# batch URL...: the mean group-commit batch of the bookers at URL...
# (booker_commit_batch_size, summed over their sellers).
batch() {
  for u in "$@"; do curl -s "$u/metrics"; done | awk '
    /^booker_commit_batch_size_sum/ { s += $2 } /^booker_commit_batch_size_count/ { n += $2 }
    END { if (n) printf "%.1f", s / n; else printf "-" }'
}
declare -A res p99
run() { # NAME: one run of a configuration, its result kept
  local name=$1 r bt=-
  case $name in
    peer)
      local store; store=$(scratch)
      "$work/gohttp" --db postgres --dsn "$store" --listen 127.0.0.1:18093 --event demo --tickets 100000000 >"$work/peer.log" 2>&1 &
      pids+=($!)
      wait_ready http://127.0.0.1:18093
      r=$(drive 64 http://127.0.0.1:18093) ;;
    files)
      start_booker file --sellers 4
      r=$(drive 64 "$url") bt=$(batch "$url") ;;
    event|seat)
      start_booker "$(scratch)" --sellers 4 --lock "$name"
      r=$(drive 64 "$url") bt=$(batch "$url") ;;
    hosts3|hosts3seat)
      local store lock=event; store=$(scratch)
      [ "$name" = hosts3seat ] && lock=seat
      local urls=()
      for _ in 1 2 3; do start_booker "$store" --sellers 2 --lock "$lock"; urls+=("$url"); done
      r=$(drive 21 "${urls[@]}") bt=$(batch "${urls[@]}") ;;
  esac
  stop_all
  set -- $r
  [ "$3" = 0 ] || echo "warning: $name: $3 answers were not 201" >&2
  res[$name]+="$1 "
  p99[$name]+="$2 "
  printf '  %-10s %8s bookings/s  p99 %6s ms  mean batch %s\n' "$name" "$1" "$2" "$bt"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
configs="files event seat hosts3 hosts3seat"
$havepeer && configs="peer $configs"
for round in $(seq "$rounds"); do
  echo "round $round of $rounds ($duration each, wrk -c64)"
  for c in $configs; do run "$c"; done
done
echo
echo "medians of $rounds rounds (bookings/s, p99 ms):"
peer_m=
$havepeer && peer_m=$(median ${res[peer]})
for c in $configs; do
  m=$(median ${res[$c]}) p=$(median ${p99[$c]})
  if [ -n "$peer_m" ] && [ "$c" != peer ]; then
    printf '  %-10s %8s  p99 %6s  (%.1fx the peer)\n' "$c" "$m" "$p" "$(awk -v a="$m" -v b="$peer_m" 'BEGIN { print a / b }')"
  else
    printf '  %-10s %8s  p99 %6s\n' "$c" "$m" "$p"
  fi
done
