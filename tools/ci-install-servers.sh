#!/bin/sh
# Installs what `make check-servers` and the browser check need on Debian 12:
# the servers of the matrix, a load generator, Debian's Chromium and
# playwright-core (from tests/browser/package-lock.json, no browser download).
# Idempotent: a second run installs nothing new. Run as root.
set -eu
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

# The packages' maintainer scripts would start system services on port 80
# and 8080; the matrix runs its own copies in the foreground, so keep the
# system ones from starting (exit 101 = "action forbidden", policy-rc.d(8)).
created_policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
fi

apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    nginx lighttpd apache2 busybox python3 gunicorn tomcat10 \
    default-jdk-headless chromium fonts-dejavu-core \
    wrk curl ca-certificates procps >/dev/null
# Node.js: keep whatever build is there (a NodeSource nodejs bundles npm and
# conflicts with Debian's npm package); install Debian's only when absent.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

[ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d

# playwright-core never downloads a browser by itself; the test points it at
# /usr/bin/chromium.
if [ ! -d tests/browser/node_modules/playwright-core ]; then
    (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
