#!/bin/sh
# make demo: a leaky legacy server on loopback, fetched without and then
# with headershim (the default `auto` policy), the header blocks side by
# side with what changed and why, then report mode on the same server.
# Usage: sh tools/demo.sh BUILD_DIR   (needs curl; the Makefile builds the rest)
set -u
B=${1:-build}
SERVER=$B/progs/legacy_server
SHIM=$B/headershim

if ! command -v curl >/dev/null 2>&1; then
    echo "make demo: curl is missing; install it (Debian/Ubuntu: apt-get install curl)" >&2
    exit 1
fi
for f in "$SERVER" "$SHIM" "$B/libheadershim.so"; do
    [ -e "$f" ] || { echo "make demo: $f is missing; run 'make $f' first" >&2; exit 1; }
done

# The demo shows the defaults: no HEADERSHIM_* setting of the caller's.
for v in $(env | sed -n 's/^\(HEADERSHIM_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/headershim-demo.XXXXXX") || exit 1
pid=
cleanup() {
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start LABEL CMD...: runs the server, waits for the port it prints.
start() {
    label=$1; shift
    : > "$tmp/port"
    "$@" 0 > "$tmp/port" 2> "$tmp/$label.stderr" &
    pid=$!
    i=0
    while [ ! -s "$tmp/port" ]; do
        i=$((i + 1))
        if [ $i -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
            echo "make demo: the server did not start ($label):" >&2
            cat "$tmp/$label.stderr" >&2
            exit 1
        fi
        sleep 0.05
    done
    port=$(head -n 1 "$tmp/port")
}

stop() {
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=
}

# fetch LABEL: both URLs on one keep-alive connection (curl reuses it), each
# response's header block into $tmp/LABEL.page and $tmp/LABEL.api.
fetch() {
    curl -s --max-time 5 -o /dev/null -D "$tmp/$1.page" "http://127.0.0.1:$port/" \
        --next -s --max-time 5 -o /dev/null -D "$tmp/$1.api" "http://127.0.0.1:$port/api/users" || {
        echo "make demo: curl could not fetch from the server ($1)" >&2
        cat "$tmp/$1.stderr" >&2
        exit 1
    }
    for f in "$tmp/$1.page" "$tmp/$1.api"; do
        tr -d '\r' < "$f" | sed '/^$/d' > "$f.txt"
    done
}

# side_by_side BEFORE AFTER: one row per header name, before on the left,
# after on the right; '-' removed, '+' added, '~' value changed. Long
# values are cut in the table and listed in full below it.
side_by_side() {
    awk -v W="${COLUMNS:-120}" '
    function cut(s, n) { return length(s) > n ? substr(s, 1, n - 3) "..." : s }
    function name(l) { return tolower(substr(l, 1, index(l, ":") - 1)) }
    NR == FNR { b[++nb] = $0; if (FNR > 1) bn[name($0)] = $0; next }
    { a[++na] = $0; if (FNR > 1) { an[name($0)] = $0; order[++no] = name($0) } }
    END {
        col = int((W - 6) / 2); if (col < 30) col = 30
        printf "    %-" col "s  %s\n", "WITHOUT headershim", "WITH headershim (policy auto)"
        printf "    %-" col "s  %s\n", cut(b[1], col), cut(a[1], col)
        for (i = 2; i <= nb; i++) {
            n = name(b[i])
            if (n in an) {
                # Date differs only because the two fetches were not in the same second.
                mark = (an[n] == b[i] || n == "date") ? " " : "~"
                printf "  %s %-" col "s  %s\n", mark, cut(b[i], col), cut(an[n], col)
            } else {
                printf "  - %-" col "s  %s\n", cut(b[i], col), "(removed)"
            }
        }
        for (i = 1; i <= no; i++)
            if (!(order[i] in bn)) {
                printf "  + %-" col "s  %s\n", "", cut(an[order[i]], col)
                added[++nadd] = an[order[i]]
            }
        if (nadd) {
            print "\n    added, in full:"
            for (i = 1; i <= nadd; i++) print "      " added[i]
        }
    }
    ' "$1" "$2"
}

echo "== headershim demo: a legacy server that leaks its versions and sends no security headers"
echo

start plain "$SERVER"
fetch plain
stop

start shim "$SHIM" -- "$SERVER"
fetch shim
stop

echo "-- GET /          (Content-Type text/html: auto applies the website rules)"
side_by_side "$tmp/plain.page.txt" "$tmp/shim.page.txt"
echo
echo "-- GET /api/users (Content-Type application/json: auto applies the api rules)"
side_by_side "$tmp/plain.api.txt" "$tmp/shim.api.txt"
echo
cat <<'EOF'
-- why
  both   Server, X-Powered-By removed (strip): version banners tell an attacker
         which exploits to try; nothing reads them. nosniff: the browser must
         trust Content-Type, not guess.
  page   website rules: a CSP that allows the site's own scripts, styles and
         images; X-Frame-Options SAMEORIGIN and frame-ancestors 'self'
         against clickjacking; a Referrer-Policy; Permissions-Policy turning
         off camera, microphone, geolocation...; X-XSS-Protection 0 (the old
         auditor could itself create XSS). Cache-Control is left alone.
  api    api rules: data is never a document, so CSP default-src 'none',
         X-Frame-Options DENY, Cache-Control no-store (personal data must not
         sit in caches), Referrer-Policy no-referrer, CORP same-origin.
  none   No Strict-Transport-Security: this is plain HTTP (RFC 6797 forbids it
         there). Behind a TLS proxy, run with --tls. Headers the application
         sets itself (its own CSP or Cache-Control) are never overridden.
EOF
echo

# Report mode: the server runs unchanged and the log says what would change.
start report "$SHIM" --report --log info --log-file "$tmp/report.log" -- "$SERVER"
fetch report
stop
echo "-- report mode: headershim --report --log info --log-file FILE -- legacy_server"
same=yes
for r in page api; do
    [ "$(grep -v '^Date:' "$tmp/plain.$r.txt")" = "$(grep -v '^Date:' "$tmp/report.$r.txt")" ] || same=no
done
if [ $same = yes ]; then
    echo "  responses went out unchanged (Server: $(sed -n 's/^Server: //p' "$tmp/report.page.txt")); the log says what the policy would do:"
else
    echo "  warning: in report mode the responses changed:" >&2
    cat "$tmp/report.page.txt" >&2
fi
if [ -s "$tmp/report.log" ]; then
    grep '"event":"report"' "$tmp/report.log" | sed 's/^/  /'
    grep -q '"event":"report"' "$tmp/report.log" || {
        echo "  (no report lines; the whole log:)"
        sed 's/^/  /' "$tmp/report.log"
    }
else
    echo "  (the log file is empty: the library wrote no report lines)"
fi
echo
echo "== done: the server was stopped. Try: $SHIM apply -p api < a-captured-response"
