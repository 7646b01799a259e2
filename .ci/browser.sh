#!/usr/bin/env bash
# What tests/test_app_browser.py needs on a fresh Debian machine: the system's Chromium
# (Playwright drives it with executable_path=/usr/bin/chromium and downloads no browser).
# Idempotent and quiet: does nothing when /usr/bin/chromium is already there.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
/usr/bin/chromium --version >/dev/null  # fail here, not in the tests, if it cannot start
