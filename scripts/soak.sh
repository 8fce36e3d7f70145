#!/usr/bin/env bash
# Soaks: the store's schedule explorer for a long time, and/or booker on
# real processes killed with SIGKILL at random times, every answer the
# clients got checked against the ticket files afterwards. Needs only Go.
#
#   scripts/soak.sh --store-schedules 1000000     # the explorer (go test ./ticket -run Explore)
#   scripts/soak.sh --kills 1000 [--clients 16] [--capacity 2000] [--seed 1] [--booker-share 0.05]
#
# --kills runs `booker soak` (4 sellers, locked mode, shared dispatch so
# that every seller writes the event: pass other booker flags after --)
# and then `booker check-history --data-dir` on what the clients were
# told: it exits non-zero on any confirmation lost, cancel undone, seat
# given twice or ticket oversold.
set -euo pipefail
cd "$(dirname "$0")/.."
schedules='' kills='' seed=1 rest=() extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; extra=("$@"); break ;;
    --store-schedules) schedules=$2; shift 2 ;;
    --kills) kills=$2; shift 2 ;;
    --seed) seed=$2; rest+=("$1" "$2"); shift 2 ;;
    *) rest+=("$1"); shift ;;
  esac
done
if [ -z "$schedules" ] && [ -z "$kills" ]; then
  sed -n '2,14p' "$0"; exit 2
fi
if [ -n "$schedules" ]; then
  echo "== exploring $schedules store schedules (seed-base $seed)"
  go test ./ticket -count=1 -timeout 0 -run 'TestExplore$' -schedules="$schedules" -seed-base="$seed" -v | grep -v '^ \{8\}'
fi
if [ -n "$kills" ]; then
  bin=$(mktemp -d)
  data=$(mktemp -d)
  trap 'rm -rf "$bin"' EXIT
  echo "== building booker"
  go build -o "$bin/" ./cmd/booker ./cmd/seller
  echo "== soak: $kills kills, data in $data"
  "$bin/booker" soak --data-dir "$data/data" --kills "$kills" ${rest[@]+"${rest[@]}"} -- --sellers 4 --dispatch shared --booking-timeout 2s ${extra[@]+"${extra[@]}"}
  echo "== checking every answer against the files"
  "$bin/booker" check-history --timeout 20s --data-dir "$data/data" "$data/data/clients.history.jsonl"
  echo "== the data dir is kept in $data"
fi
