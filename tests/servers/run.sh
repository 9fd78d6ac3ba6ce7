#!/bin/sh
# `make check-servers`: the real-server matrix (matrix.py), run as
#   HS_BUILD=build sh tests/servers/run.sh [--only NAME,...] [--no-load]
# Ends with "N passed, N failed"; exits non-zero on any failure. Under CI
# (CI=true) a server that is not installed is a failure, not a skip.
cd "$(dirname "$0")/../.." || exit 2
HS_BUILD=${HS_BUILD:-build}
export HS_BUILD
PY=$(command -v python3 || echo /usr/bin/python3)
exec "$PY" tests/servers/matrix.py "$@"
