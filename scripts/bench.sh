#!/usr/bin/env bash
# Throughput of durable, locked booking end to end over HTTP, against the
# reference peers, in one run on this machine (compare ratios, not
# absolute figures: machines here are shared and noisy).
#
#   scripts/bench.sh [--quick]
#
# 1. booker (locked, fsync) with `booker load` at concurrency 16/64 and
#    1, 2, 4, 8 sellers, every request a successful booking;
# 2. flat cost: 200,000 bookings into one event, rate per tenth;
# 3. the peers of ../shared/peers (SQLite WAL synchronous=FULL, and the
#    classic Python demo with lock + fsync), 4 worker processes each.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=false
[ "${1:-}" = --quick ] && quick=true
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

# start_booker DIR ARGS...: runs booker, sets $pid and $url, waits for /readyz.
start_booker() {
  local dir=$1; shift
  "$bin/booker" --data-dir "$dir" --listen 127.0.0.1:0 --event bench --tickets 10000000 "$@" \
    > "$work/out" 2> "$work/log" &
  pid=$!
  for _ in $(seq 100); do
    url=$(sed -n 's/^booker listening on //p' "$work/out")
    [ -n "$url" ] && curl -sf "$url/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "booker did not start:"; cat "$work/log"; exit 1
}
stop_booker() { kill -TERM "$pid"; wait "$pid" || true; pid=; }

field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

buyers=20000; $quick && buyers=5000
echo "== booker, locked, fsync, every request a booking ($buyers buyers per run)"
printf "%-8s %-12s %12s %10s %10s %12s\n" sellers concurrency bookings/s p50_ms p99_ms confirmed
for sellers in 1 2 4 8; do
  for c in 16 64; do
    $quick && [ "$sellers" != 4 ] && continue
    start_booker "$work/d-$sellers-$c" --sellers "$sellers"
    json=$("$bin/booker" load --url "$url" --event bench --buyers "$buyers" --concurrency "$c" --json)
    stop_booker
    printf "%-8s %-12s %12.0f %10.2f %10.2f %12s\n" "$sellers" "$c" \
      "$(echo "$json" | field 'd["throughput"]')" "$(echo "$json" | field 'd["latency_ms"]["p50"]')" \
      "$(echo "$json" | field 'd["latency_ms"]["p99"]')" "$(echo "$json" | field 'd["confirmed"]')"
    [ "$sellers" = 4 ] && [ "$c" = 64 ] && booker_rate=$(echo "$json" | field 'd["throughput"]')
  done
done

if ! $quick; then
  echo
  echo "== flat cost: 200,000 bookings into one event (4 sellers, 64 clients), rate per tenth"
  start_booker "$work/flat" --sellers 4
  rates=()
  for tenth in $(seq 1 10); do
    json=$("$bin/booker" load --url "$url" --event bench --buyers 20000 --concurrency 64 --seed "$tenth" --json)
    r=$(echo "$json" | field 'd["throughput"]'); rates+=("$r")
    printf "tenth %2d: %8.0f bookings/s (confirmed %s)\n" "$tenth" "$r" "$(echo "$json" | field 'd["confirmed"]')"
  done
  curl -s "$url/v1/events/bench"; echo
  stop_booker
  python3 -c "import sys; a=float(sys.argv[1]); b=float(sys.argv[2]); print('first/last tenth: %.2fx' % (a/b))" "${rates[0]}" "${rates[9]}"
fi

echo
echo "== peers, 4 worker processes each"
peers=../shared/peers
if [ -d "$peers" ]; then
  n=20000; $quick && n=5000
  sqlite=$(python3 "$peers/sqlite_py.py" --workers 4 --tickets "$n" --buyers "$n" --dir "$work" 2>/dev/null || python3 "$peers/sqlite_py.py" --workers 4 --tickets "$n" --buyers "$n")
  seed=$(python3 "$peers/seed_py.py" --mode locked --fsync --tickets 5000 --buyers 5000 --dir "$work")
  sq=$(echo "$sqlite" | field 'd["requests_per_s"]')
  sd=$(echo "$seed" | field 'd["requests_per_s"]')
  printf "%-40s %10.0f bookings/s\n" "SQLite WAL synchronous=FULL" "$sq" "Python demo, lock + fsync" "$sd"
  if [ -n "${booker_rate:-}" ]; then
    python3 -c "import sys; b,s,d=map(float,sys.argv[1:]); print('booker (4 sellers, 64 clients) / SQLite FULL = %.2fx; / Python lock+fsync = %.2fx' % (b/s, b/d))" "$booker_rate" "$sq" "$sd"
  fi
else
  echo "no $peers: skipped"
fi
