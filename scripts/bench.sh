#!/usr/bin/env bash
# Throughput of durable, locked booking end to end over HTTP, against the
# reference peers, in one run on this machine (compare ratios, not
# absolute figures: machines here are shared and noisy).
#
#   scripts/bench.sh [--quick]
#
# 1. headline: booker (locked, fsync, 4 sellers, 64 clients, every request
#    a successful booking) and the peers of ../shared/peers (SQLite WAL
#    synchronous=FULL, and the classic Python demo with lock + fsync, 4
#    worker processes each), run in turns, 3 rounds; ratios of medians;
# 2. booker at concurrency 16/64 and 1, 2, 4, 8 sellers, with each
#    dispatch policy (event: an event's requests go to one seller; shared:
#    all sellers contend for the event's lock);
# 3. event size: 200,000 bookings into one event, the rate per tenth.
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
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

buyers=20000; $quick && buyers=5000
run=0
# booker_run SELLERS CONCURRENCY ARGS...: one fresh booker, one load run;
# prints "throughput p50 p99 confirmed".
booker_run() {
  local sellers=$1 c=$2; shift 2
  run=$((run + 1))
  start_booker "$work/d-$run" --sellers "$sellers" "$@"
  local json
  json=$("$bin/booker" load --url "$url" --event bench --buyers "$buyers" --concurrency "$c" --json)
  stop_booker
  rm -rf "$work/d-$run"
  echo "$json" | field '"%.0f %.2f %.2f %d" % (d["throughput"], d["latency_ms"]["p50"], d["latency_ms"]["p99"], d["confirmed"])'
}

peers=../shared/peers
rounds=3; $quick && rounds=1
echo "== headline, $rounds rounds in turns: booker (locked, fsync, 4 sellers, 64 clients, $buyers buyers) and the peers (4 workers)"
printf "%-6s %12s %8s %14s %14s\n" round booker p99_ms sqlite_full python_lock
b_rates=(); b_p99=(); s_rates=(); d_rates=()
for r in $(seq "$rounds"); do
  read -r tput _ p99 confirmed <<< "$(booker_run 4 64)"
  [ "$confirmed" = "$buyers" ] || { echo "booker confirmed $confirmed of $buyers"; exit 1; }
  b_rates+=("$tput"); b_p99+=("$p99")
  sq=- sd=-
  if [ -d "$peers" ]; then
    sq=$(python3 "$peers/sqlite_py.py" --workers 4 --tickets "$buyers" --buyers "$buyers" --dir "$work" | field 'd["requests_per_s"]')
    sd=$(python3 "$peers/seed_py.py" --mode locked --fsync --tickets 5000 --buyers 5000 --dir "$work" | field 'd["requests_per_s"]')
    s_rates+=("$sq"); d_rates+=("$sd")
    rm -rf "${work:?}"/*.db* "${work:?}"/*.json 2>/dev/null || true
  fi
  printf "%-6s %12.0f %8.2f %14.0f %14.0f\n" "$r" "$tput" "$p99" "$sq" "$sd"
done
bm=$(median "${b_rates[@]}"); bp=$(median "${b_p99[@]}")
if [ ${#s_rates[@]} -gt 0 ]; then
  sm=$(median "${s_rates[@]}"); dm=$(median "${d_rates[@]}")
  python3 -c "import sys; b,p,s,d=map(float,sys.argv[1:]); print('medians: booker %.0f/s (p99 %.1f ms), SQLite FULL %.0f/s, Python lock+fsync %.0f/s\nbooker / SQLite FULL = %.2fx; booker / Python lock+fsync = %.2fx' % (b,p,s,d,b/s,b/d))" "$bm" "$bp" "$sm" "$dm"
else
  echo "no $peers: peers skipped; booker median $bm/s, p99 $bp ms"
fi

echo
echo "== booker, locked, fsync, every request a booking ($buyers buyers per run)"
printf "%-9s %-8s %-12s %12s %10s %10s %10s\n" dispatch sellers concurrency bookings/s p50_ms p99_ms confirmed
for dispatch in event shared; do
  for sellers in 1 2 4 8; do
    for c in 16 64; do
      if $quick && { [ "$c" != 64 ] || { [ "$sellers" != 1 ] && [ "$sellers" != 4 ]; }; }; then continue; fi
      [ "$dispatch" = shared ] && [ "$sellers" = 1 ] && continue # same as event
      read -r tput p50 p99 confirmed <<< "$(booker_run "$sellers" "$c" --dispatch "$dispatch")"
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
    r=$(echo "$json" | field 'd["throughput"]'); rates+=("$r")
    printf "tenth %2d: %8.0f bookings/s, p99 %6.2f ms (confirmed %s)\n" "$tenth" "$r" \
      "$(echo "$json" | field 'd["latency_ms"]["p99"]')" "$(echo "$json" | field 'd["confirmed"]')"
  done
  curl -s "$url/v1/events/bench"; echo
  stop_booker
  python3 -c "import sys; a=float(sys.argv[1]); b=float(sys.argv[2]); print('first tenth / last tenth: %.2fx' % (a/b))" "${rates[0]}" "${rates[9]}"
fi
