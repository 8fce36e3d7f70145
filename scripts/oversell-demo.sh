#!/usr/bin/env bash
# The oversell demonstration: builds booker, runs it in race mode (with a
# race window) and then in locked mode on the same workload, and prints
# one side-by-side table of what clients were told against what the
# ticket file holds. Exits 0 only when race mode shows anomalies and
# locked mode none. Needs only Go.
#
#   scripts/oversell-demo.sh [--capacity 50] [--buyers 400] [--sellers 4]
#                            [--window 3ms] [--seed 1] [--concurrency 32]
#                            [--seats any|hot:K] [--dir DIR] [--verbose]
#   scripts/oversell-demo.sh --quick     # what CI runs: 200 buyers, 30 tickets
#
# It writes reports/oversell-demo.html: the timelines of both runs and the
# story of the first seats sold twice and bookings lost.
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
for a in "$@"; do
  if [ "$a" = --quick ]; then args+=(--capacity 30 --buyers 200); else args+=("$a"); fi
done
bin=$(mktemp -d)
pid=
cleanup() {
  # Ctrl-C reaches booker demo and its bookers (same process group); make
  # sure nothing outlives the script either way.
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$bin"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
echo "building booker..."
go build -o "$bin/" ./cmd/booker ./cmd/seller
"$bin/booker" demo "${args[@]}" &
pid=$!
wait "$pid"
status=$?
pid=
exit $status
