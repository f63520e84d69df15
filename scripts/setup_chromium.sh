#!/usr/bin/env bash
# Headless Chromium for the report test (tests/test_report.py): Debian's `chromium` package.
# Does nothing when a Chromium is already on PATH; needs root (or sudo) and apt-get otherwise.
set -euo pipefail
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
  echo "setup_chromium: $(command -v chromium || command -v chromium-browser) present"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "setup_chromium: no apt-get here; install Chromium yourself (the report test needs it)" >&2
  exit 1
fi
sudo_prefix=""
if [ "$(id -u)" -ne 0 ]; then sudo_prefix="sudo"; fi
$sudo_prefix apt-get install -y -qq chromium >/dev/null
echo "setup_chromium: installed $(chromium --version 2>/dev/null | head -1)"
