#!/bin/sh
# The browser check: HS_BUILD=build sh tests/browser/run.sh
# Needs Debian's chromium and playwright-core in tests/browser/node_modules
# (tools/ci-install-servers.sh installs both). Ends with "N passed, N failed".
cd "$(dirname "$0")" || exit 2
HS_BUILD=${HS_BUILD:-build}
case $HS_BUILD in /*) ;; *) HS_BUILD=../../$HS_BUILD ;; esac
if [ ! -d node_modules/playwright-core ]; then
    echo "FAIL browser/setup: playwright-core missing: run tools/ci-install-servers.sh"
    echo "0 passed, 1 failed"
    exit 1
fi
exec node browser_check.js "$HS_BUILD"
