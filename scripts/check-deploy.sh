#!/usr/bin/env bash
# Checks the files under deploy/: Prometheus config, alert rules and their
# unit tests (promtool), Grafana JSON (go test ./deploy), and the systemd
# unit (systemd-analyze verify). Needs Go; installs promtool (Debian
# package prometheus) when missing and run as root with apt-get, and
# skips, saying so, what it has no tool for.
set -euo pipefail
cd "$(dirname "$0")/.."
skipped=()

if ! command -v promtool >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null ||
    echo "check-deploy: could not install prometheus (promtool)" >&2
fi
if command -v promtool >/dev/null; then
  promtool check config deploy/prometheus/prometheus.yml
  promtool check rules deploy/prometheus/booker.rules.yml
  promtool test rules deploy/prometheus/booker.rules.test.yml
else
  echo "skip: promtool not installed (apt-get install prometheus): Prometheus config and rules not checked"
  skipped+=(promtool)
fi

go test -count=1 ./deploy
echo "ok: the Grafana JSON parses and the dashboard covers the required series"

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
  echo "skip: systemd-analyze not available: the systemd unit not checked"
  skipped+=(systemd-analyze)
fi
if [ ${#skipped[@]} -gt 0 ]; then
  echo "check-deploy: the checks that ran passed (skipped for want of a tool: ${skipped[*]})"
else
  echo "check-deploy: all deploy checks passed"
fi
