#!/usr/bin/env bash
# Checks the files under deploy/: Prometheus config, alert rules and their
# unit tests (promtool), Grafana JSON, and the systemd unit
# (systemd-analyze verify, where available). Installs promtool (Debian
# package prometheus) when missing and allowed to.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  else
    echo "check-deploy: promtool missing (apt-get install prometheus)" >&2
    exit 1
  fi
fi

promtool check config deploy/prometheus/prometheus.yml
promtool check rules deploy/prometheus/booker.rules.yml
promtool test rules deploy/prometheus/booker.rules.test.yml

for f in $(find deploy/grafana -name '*.json'); do
  python3 -m json.tool "$f" >/dev/null
  echo "ok: $f is valid JSON"
done
python3 - <<'PY'
import json
d = json.load(open("deploy/grafana/dashboards/booker.json"))
exprs = " ".join(t["expr"] for p in d["panels"] for t in p["targets"])
for name in ["booker_bookings_total", "booker_oversold_tickets", "booker_double_booked_seats",
             "booker_lost_bookings", "booker_lock_wait_seconds_bucket", "booker_lock_hold_seconds_bucket",
             "booker_queue_depth", "booker_sellers_ready", "booker_seller_restarts_total"]:
    assert name in exprs, "dashboard lacks " + name
print("ok: dashboard covers the required series")
PY

if command -v systemd-analyze >/dev/null; then
  # Verify the unit as shipped, but with an ExecStart binary that exists
  # here: a missing /usr/local/bin/booker is not a defect of the unit.
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  sed "s|/usr/local/bin/booker|$(command -v true)|" deploy/systemd/booker.service > "$tmp/booker.service"
  out=$(systemd-analyze verify "$tmp/booker.service" 2>&1 || true)
  # Lines about the host (no systemd running, other units) are not ours.
  bad=$(echo "$out" | grep -F "booker.service" | grep -v -i "not running\|Failed to connect" || true)
  if [ -n "$bad" ]; then
    echo "$bad" >&2
    echo "check-deploy: systemd-analyze verify found problems in booker.service" >&2
    exit 1
  fi
  echo "ok: systemd-analyze verify deploy/systemd/booker.service"
else
  echo "skip: systemd-analyze not available"
fi
echo "check-deploy: all deploy checks passed"
