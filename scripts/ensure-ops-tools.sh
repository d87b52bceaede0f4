#!/usr/bin/env bash
# Make sure the Debian tools the operations tests drive are present:
#   redis-server  (package redis-server) — the shared-cache tests start and kill a real one;
#   promtool      (package prometheus)   — checks and unit-tests deploy/prometheus/alerts.yml.
# Installs what is absent with apt-get when we may (root); otherwise says what to run.
# Neither package's service is started here: the tests run their own redis-server on a free port.
set -euo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages for the operations tests: ${missing[*]}…"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Don't let the packages start their services (a redis on 6379, a prometheus on 9090):
  # invoke-rc.d asks policy-rc.d, and 101 means "not now". Ours is removed afterwards.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  command -v redis-server >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 && exit 0
fi
cat >&2 <<MSG
The operations tests need Debian's ${missing[*]}. Install with:
    sudo apt-get update && sudo apt-get install -y ${missing[*]}
(or run \`make test-fast\`, which skips them when absent).
MSG
exit 1
