#!/usr/bin/env bash
# Throughput of durable, locked booking end to end over HTTP, against the
# reference peers, in one run on this machine (compare ratios, not
# absolute figures: machines here are shared and noisy). Needs only Go
# and bash; the peer comparison also needs python3 (with sqlite3) and the
# peers' scripts, and is skipped, saying so, without them.
#
#   scripts/bench.sh [--quick] [--peers DIR]     (DIR: ../shared/peers)
#   scripts/bench.sh --store postgres [--quick] [--rounds N] [DSN]
#
# --store postgres runs scripts/bench-postgres.sh instead: booker on the
# PostgreSQL store (--lock event, --lock seat, three hosts) and on files
# against the gohttp peer on the same database (a throwaway cluster
# unless DSN is given).
#
# 1. headline: booker (locked, fsync, 4 sellers, 64 clients, every request
#    a successful booking) and the peers of DIR (SQLite WAL
#    synchronous=FULL, and the classic Python demo with lock + fsync, 4
#    worker processes each), run in turns, 3 rounds; ratios of medians;
# 2. booker at concurrency 16/64 and 1, 2, 4, 8 sellers, with each
#    dispatch policy (event: an event's requests go to one seller; shared:
#    all sellers contend for the event's lock);
# 3. event size: 200,000 bookings into one event, the rate per tenth.
#
# --quick (what CI runs): one headline round, booker with 1 and 4 sellers
# under each policy, 2,000 bookings a run, and no event-size run.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=false
peers=../shared/peers
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=true; shift ;;
    --peers) peers=$2; shift 2 ;;
    --store)
      case "$2" in
        postgres) shift 2; if $quick; then set -- --quick "$@"; fi; exec scripts/bench-postgres.sh "$@" ;;
        file) shift 2 ;;
        *) echo "--store: file or postgres" >&2; exit 2 ;;
      esac ;;
    *) sed -n '2,26p' "$0"; exit 2 ;;
  esac
done
bin=$(mktemp -d)
work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$bin" "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
go build -o "$bin/" ./cmd/booker ./cmd/seller

# ready URL: whether booker at URL answers 200 on /readyz (bash only).
ready() {
  local hostport=${1#http://}
  exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}" || return 1
  printf 'GET /readyz HTTP/1.0\r\nHost: %s\r\n\r\n' "$hostport" >&3
  local status=
  read -r _ status _ <&3 || true
  exec 3<&- 3>&-
  [ "$status" = 200 ]
}

# start_booker DIR ARGS...: runs booker, sets $pid and $url, waits for /readyz.
start_booker() {
  local dir=$1; shift
  "$bin/booker" --data-dir "$dir" --listen 127.0.0.1:0 --event bench --tickets 10000000 "$@" \
    > "$work/out" 2> "$work/log" &
  pid=$!
  for _ in $(seq 100); do
    url=$(sed -n 's/^booker listening on //p' "$work/out")
    [ -n "$url" ] && ready "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "booker did not start:" >&2; cat "$work/log" >&2; exit 1
}
stop_booker() { kill -TERM "$pid"; wait "$pid" || true; pid=; }

# num KEY [INDENT]: the number KEY of the indented JSON on stdin (`booker
# load --json`): a top-level key, or with INDENT 4 one of latency_ms.
num() { sed -n "s/^ \{${2:-2}\}\"$1\": \([-0-9.e+]*\),\{0,1\}\$/\1/p" | head -n 1; }
# peer_rate: requests_per_s of a peer's one-line JSON on stdin.
peer_rate() { sed -n 's/.*"requests_per_s": *\([-0-9.e+]*\).*/\1/p'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

buyers=20000; $quick && buyers=2000
run=0
# booker_run SELLERS CONCURRENCY ARGS...: one fresh booker, one load run;
# writes "throughput p50 p99 confirmed" to $work/r. (Not printed for
# $(...): in a subshell booker's pid would not reach the cleanup.)
booker_run() {
  local sellers=$1 c=$2; shift 2
  run=$((run + 1))
  start_booker "$work/d-$run" --sellers "$sellers" "$@"
  local json
  json=$("$bin/booker" load --url "$url" --event bench --buyers "$buyers" --concurrency "$c" --json)
  stop_booker
  rm -rf "$work/d-$run"
  echo "$(echo "$json" | num throughput) $(echo "$json" | num p50 4) $(echo "$json" | num p99 4) $(echo "$json" | num confirmed)" > "$work/r"
}

use_peers=true why=
if [ ! -f "$peers/sqlite_py.py" ] || [ ! -f "$peers/seed_py.py" ]; then
  use_peers=false why="no sqlite_py.py and seed_py.py in $peers (--peers DIR)"
elif ! command -v python3 >/dev/null || ! python3 -c 'import sqlite3' 2>/dev/null; then
  use_peers=false why="the peers need python3 with sqlite3"
fi
$use_peers || echo "skip: peers not compared: $why"

rounds=3; $quick && rounds=1
against="and the peers (4 workers)"; $use_peers || against="(no peers)"
echo "== headline, $rounds rounds in turns: booker (locked, fsync, 4 sellers, 64 clients, $buyers buyers) $against"
printf "%-6s %12s %8s %14s %14s\n" round booker p99_ms sqlite_full python_lock
b_rates=(); b_p99=(); s_rates=(); d_rates=()
for r in $(seq "$rounds"); do
  booker_run 4 64
  read -r tput _ p99 confirmed < "$work/r"
  [ "$confirmed" = "$buyers" ] || { echo "booker confirmed $confirmed of $buyers"; exit 1; }
  b_rates+=("$tput"); b_p99+=("$p99")
  sq=- sd=-
  if $use_peers; then
    sq=$(python3 "$peers/sqlite_py.py" --workers 4 --tickets "$buyers" --buyers "$buyers" --dir "$work" | peer_rate)
    sd=$(python3 "$peers/seed_py.py" --mode locked --fsync --tickets 5000 --buyers 5000 --dir "$work" | peer_rate)
    s_rates+=("$sq"); d_rates+=("$sd")
    rm -rf "${work:?}"/*.db* "${work:?}"/*.json 2>/dev/null || true
    sq=$(printf '%.0f' "$sq") sd=$(printf '%.0f' "$sd")
  fi
  printf "%-6s %12.0f %8.2f %14s %14s\n" "$r" "$tput" "$p99" "$sq" "$sd"
done
bm=$(median "${b_rates[@]}"); bp=$(median "${b_p99[@]}")
if [ ${#s_rates[@]} -gt 0 ]; then
  sm=$(median "${s_rates[@]}"); dm=$(median "${d_rates[@]}")
  awk -v b="$bm" -v p="$bp" -v s="$sm" -v d="$dm" 'BEGIN {
    printf "medians: booker %.0f/s (p99 %.1f ms), SQLite FULL %.0f/s, Python lock+fsync %.0f/s\n", b, p, s, d
    printf "booker / SQLite FULL = %.2fx; booker / Python lock+fsync = %.2fx\n", b / s, b / d }'
else
  printf "median: booker %.0f/s (p99 %.1f ms); no peer ran\n" "$bm" "$bp"
fi

echo
echo "== booker, locked, fsync, every request a booking ($buyers buyers per run)"
printf "%-9s %-8s %-12s %12s %10s %10s %10s\n" dispatch sellers concurrency bookings/s p50_ms p99_ms confirmed
for dispatch in event shared; do
  for sellers in 1 2 4 8; do
    for c in 16 64; do
      if $quick && { [ "$c" != 64 ] || { [ "$sellers" != 1 ] && [ "$sellers" != 4 ]; }; }; then continue; fi
      [ "$dispatch" = shared ] && [ "$sellers" = 1 ] && continue # same as event
      booker_run "$sellers" "$c" --dispatch "$dispatch"
      read -r tput p50 p99 confirmed < "$work/r"
      printf "%-9s %-8s %-12s %12.0f %10.2f %10.2f %10s\n" "$dispatch" "$sellers" "$c" "$tput" "$p50" "$p99" "$confirmed"
    done
  done
done

if ! $quick; then
  echo
  echo "== event size: 200,000 bookings into one event (4 sellers, 64 clients), rate per tenth"
  start_booker "$work/flat" --sellers 4
  rates=()
  for tenth in $(seq 1 10); do
    json=$("$bin/booker" load --url "$url" --event bench --buyers 20000 --concurrency 64 --seed "$tenth" --json)
    r=$(echo "$json" | num throughput); rates+=("$r")
    printf "tenth %2d: %8.0f bookings/s, p99 %6.2f ms (confirmed %s)\n" "$tenth" "$r" \
      "$(echo "$json" | num p99 4)" "$(echo "$json" | num confirmed)"
  done
  stop_booker
  "$bin/booker" inspect --data-dir "$work/flat"
  awk -v a="${rates[0]}" -v b="${rates[9]}" 'BEGIN { printf "first tenth / last tenth: %.2fx\n", a / b }'
fi
