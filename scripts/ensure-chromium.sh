#!/usr/bin/env bash
# Make sure Debian's chromium is present for the browser tests and static images.
# Installs it with apt-get when absent and we may (root); otherwise says what to run.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "chromium not found: installing Debian's chromium package…"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
  command -v chromium >/dev/null 2>&1 && exit 0
fi
cat >&2 <<'MSG'
The browser tests need Debian's chromium at /usr/bin/chromium. Install it with:
    sudo apt-get update && sudo apt-get install -y chromium
(or run `make test-fast` to skip the browser tests).
MSG
exit 1
