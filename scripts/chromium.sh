#!/usr/bin/env bash
# Makes Debian's `chromium` available (for the HTML report's headless check) and prints its path as
# the last stdout line. Idempotent: when a chromium binary is already on PATH nothing is installed.
# Installing needs root (apt-get); concurrent callers are serialised with flock so two test files
# never run apt-get at once. Progress goes to stderr.
set -euo pipefail

find_chromium() {
  for b in "${NIWT_CHROMIUM:-}" chromium chromium-browser; do
    [[ -n "$b" ]] || continue
    if command -v "$b" >/dev/null 2>&1; then command -v "$b"; return 0; fi
  done
  return 1
}

if path="$(find_chromium)"; then
  echo "$path"
  exit 0
fi

if [[ "$(id -u)" != "0" ]]; then
  echo "chromium.sh: chromium is not installed and installing it needs root: sudo apt-get install -y chromium" >&2
  exit 1
fi

exec 9>"/tmp/niwt-apt.lock"
echo "chromium.sh: installing Debian's chromium (waits while another apt-get runs)" >&2
flock 9
if ! path="$(find_chromium)"; then
  export DEBIAN_FRONTEND=noninteractive
  # A fresh container has no package lists; update once, then install.
  if ! apt-get install -y --no-install-recommends chromium >&2 2>/dev/null; then
    apt-get update >&2
    apt-get install -y --no-install-recommends chromium fonts-dejavu-core >&2
  fi
  path="$(find_chromium)"
fi
echo "$path"
