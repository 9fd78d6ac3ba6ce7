#!/bin/sh
# nginx under the shim against nginx adding the same headers itself and
# against a HAProxy hop setting them (issue 4 item 7). Figures only: this
# never fails a build. Results and discussion: docs/performance.md.
#
#   HS_BUILD=build sh bench/servers/run.sh [callgrind] [strace] [wrk]
#
# With no argument all three phases run (about 10 minutes on 2 loaded cores):
#
#   callgrind  user-space instructions per request, the deciding figure:
#              each server runs under valgrind --tool=callgrind, once for
#              BENCH_N1 and once for BENCH_N2 keep-alive requests (default
#              1000 and 4000, over BENCH_CONNS=4 connections, one request
#              outstanding); (Ir(N2) - Ir(N1)) / (N2 - N1) cancels start-up.
#              Both request shapes (request-wrk.txt, request-browser.txt)
#              and both files (www/index.html, www/api.json).
#   strace     system calls per keep-alive request and per new connection,
#              nginx alone and under the shim, from `strace -f -c`, by the
#              same difference of two runs.
#   wrk        throughput from one interleaved run: every server pinned to
#              CPU 0, wrk pinned to CPU 1, WRK_ROUNDS rounds (default 5) of
#              WRK_SECONDS (default 8) per setup, the setups' order rotating
#              each round; median, minimum and maximum requests per second.
#
# The setups (nginx: one process, master_process off, daemon off, keep-alive,
# access_log off, sendfile on; see nginx.conf.in):
#   plain       nginx adds nothing
#   add_header  nginx adds the api preset's six headers (headers-add_header.conf)
#   shim        plain nginx under libheadershim.so with HEADERSHIM_POLICY=api
#   haproxy     plain nginx behind HAProxy 2.6, which sets the six headers and
#               deletes Server (haproxy.cfg.in); both processes are counted
# "shim" is left out, with a note, when the library or the launcher is not
# usable (`$HS_BUILD/headershim -p api -- /bin/true` must succeed).
#
# Only loopback ports BENCH_PORT..BENCH_PORT+4 (default 18181) are used.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${HS_BUILD:-build}" 2>/dev/null && pwd) || { echo "servers: no build directory ${HS_BUILD:-build}"; exit 0; }
N1=${BENCH_N1:-1000}
N2=${BENCH_N2:-4000}
CONNS=${BENCH_CONNS:-4}
WRK_ROUNDS=${WRK_ROUNDS:-5}
WRK_SECONDS=${WRK_SECONDS:-8}
WRK_CONNS=${WRK_CONNS:-16}
WRK_PATH=${WRK_PATH:-/api.json}
# strace: requests on one keep-alive connection, and new connections with
# one request each, twice each.
KA1=${STRACE_KA1:-200}
KA2=${STRACE_KA2:-1200}
NC1=${STRACE_NC1:-20}
NC2=${STRACE_NC2:-120}
base=${BENCH_PORT:-18181}
P_PLAIN=$base
P_ADD=$((base + 1))
P_SHIM=$((base + 2))
P_HAPROXY=$((base + 3))
P_UPSTREAM=$((base + 4))
CC=${CC:-cc}
MARKER="X-Frame-Options: DENY"

phases=${*:-callgrind strace wrk}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hsservers.XXXXXX") || exit 0
run=$tmp/run
mkdir -p "$run"
pids=
cleanup() {
    for p in $pids; do kill -TERM "$p" 2>/dev/null; done
    sleep 0.2
    for p in $pids; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

client=$build/bench/servers/hsclient
mkdir -p "$build/bench/servers"
$CC -std=c11 -D_GNU_SOURCE -O2 -o "$client" "$here/hsclient.c" || { echo "servers: cannot compile hsclient.c"; exit 0; }
command -v nginx >/dev/null 2>&1 || { echo "servers: nginx is not installed (apt-get install nginx)"; exit 0; }

# Is the shim usable? The launcher must run a command under the api preset.
lib=$build/libheadershim.so
have_shim=0
if [ -f "$lib" ] && [ -x "$build/headershim" ] && "$build/headershim" -p api -- /bin/true 2>"$tmp/shimcheck"; then
    have_shim=1
    # valgrind 3.19 (Debian 12) gives up on some DWARF 5 forms in the
    # library's debug sections and kills the process; same code without them.
    vglib=$tmp/libheadershim.so
    objcopy --strip-debug "$lib" "$vglib" 2>/dev/null || cp "$lib" "$vglib"
else
    echo "servers: the shim is not usable ($build/headershim -p api -- /bin/true failed): setup 'shim' left out"
    sed 's/^/  /' "$tmp/shimcheck" 2>/dev/null
fi
setups="plain add_header"
[ $have_shim = 1 ] && setups="$setups shim"
command -v haproxy >/dev/null 2>&1 && setups="$setups haproxy" || echo "servers: haproxy is not installed: setup 'haproxy' left out"

nginx_conf() { # PORT HEADERS-FILE -> prints the path of a ready nginx.conf
    sed -e "s|@RUN@|$run|g; s|@WWW@|$here/www|g; s|@PORT@|$1|g; s|@HEADERS@|$here/$2|g" \
        "$here/nginx.conf.in" > "$run/nginx-$1.conf"
    echo "$run/nginx-$1.conf"
}
haproxy_conf() { # PORT UPSTREAM -> prints the path of a ready haproxy.cfg
    sed -e "s|@PORT@|$1|g; s|@UPSTREAM@|$2|g" "$here/haproxy.cfg.in" > "$run/haproxy-$1.cfg"
    echo "$run/haproxy-$1.cfg"
}

# start WRAPPER... -- COMMAND: runs it in the background, remembers its pid.
started=
nstarted=0
start() {
    nstarted=$((nstarted + 1))
    "$@" > "$run/process-$nstarted.log" 2>&1 &
    started=$!
    pids="$pids $started"
}
reap() { # PID...: waits for processes that are ending
    for p in "$@"; do
        wait "$p" 2>/dev/null
        pids=$(echo "$pids" | tr ' ' '\n' | grep -vx "$p" | tr '\n' ' ')
    done
}
alive() { # PID: running (a process that exited but is not reaped yet is not)
    st=$(ps -o stat= -p "$1" 2>/dev/null)
    [ -n "$st" ] && [ "${st#Z}" = "$st" ]
}
stop() { # PID...: SIGTERM (nginx and HAProxy both exit cleanly, so
    # callgrind writes its totals), then wait. Now and then nginx under
    # valgrind misses the signal and waits forever in epoll_wait (seen
    # twice in one session): it is sent again every 5 s, for up to 2 min.
    for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
    for p in "$@"; do
        tries=0
        while alive "$p" && [ $tries -lt 240 ]; do
            sleep 0.5
            tries=$((tries + 1))
            [ $((tries % 10)) = 0 ] && kill -TERM "$p" 2>/dev/null
        done
    done
    reap "$@"
}
wait_port() { "$client" -p "$1" -w 60 || echo "servers: port $1 never opened" >&2; }

port_of() {
    case $1 in
    plain) echo $P_PLAIN ;; add_header) echo $P_ADD ;; shim) echo $P_SHIM ;; haproxy) echo $P_HAPROXY ;;
    esac
}

irtotal() { # CALLGRIND-FILE -> Ir total
    sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$1" 2>/dev/null | head -n 1
}

# ---------------------------------------------------------------- callgrind
VG="valgrind --tool=callgrind --trace-children=no"

# cg_run SETUP REQUEST-FILE PATH N -> sets ir to the summed Ir of the
# setup's server processes (or "-") and hap_ir to HAProxy's share; the
# client's line goes to $tmp/client. Runs in this shell (not in a $(...))
# so that the cleanup trap knows every process it started.
cg_run() {
    ir=- hap_ir=
    setup=$1 req=$2 path=$3 n=$4
    rm -f "$tmp"/cg.*
    procs=
    case $setup in
    plain) start $VG --callgrind-out-file="$tmp/cg.nginx" nginx -p "$run" -c "$(nginx_conf $P_PLAIN headers-none.conf)"
        procs=$started ;;
    add_header) start $VG --callgrind-out-file="$tmp/cg.nginx" nginx -p "$run" -c "$(nginx_conf $P_ADD headers-add_header.conf)"
        procs=$started ;;
    shim) start env LD_PRELOAD="$vglib" HEADERSHIM_POLICY=api $VG --callgrind-out-file="$tmp/cg.nginx" \
            nginx -p "$run" -c "$(nginx_conf $P_SHIM headers-none.conf)"
        procs=$started ;;
    haproxy) start $VG --callgrind-out-file="$tmp/cg.nginx" nginx -p "$run" -c "$(nginx_conf $P_UPSTREAM headers-none.conf)"
        procs=$started
        wait_port $P_UPSTREAM
        start $VG --callgrind-out-file="$tmp/cg.haproxy" haproxy -db -f "$(haproxy_conf $P_HAPROXY $P_UPSTREAM)"
        procs="$procs $started" ;;
    esac
    port=$(port_of "$setup")
    wait_port "$port"
    # The steady state: a long-running server's Date is never its first
    # response's second. One response first, then a pause past the second,
    # so that no measured response repeats the shim's plan block (made from
    # the first response) byte for byte; without it the share that does
    # depends on where the seconds fall in each run, and the difference of
    # the two runs moves by up to 100 instructions per request.
    "$client" -p "$port" -r "$here/$req" -u "$path" -n 1 -c 1 > /dev/null
    sleep 1.1
    "$client" -p "$port" -r "$here/$req" -u "$path" -n "$n" -c "$CONNS" -e "$MARKER" -v \
        > "$tmp/client" 2> "$tmp/head"
    ok=$?
    # shellcheck disable=SC2086
    stop $procs
    [ $ok = 0 ] || return
    sum=0
    for f in "$tmp"/cg.*; do
        [ -f "$f" ] || return
        t=$(irtotal "$f")
        [ -n "$t" ] || return
        sum=$((sum + t))
        [ "$f" = "$tmp/cg.haproxy" ] && hap_ir=$t
    done
    ir=$sum
}

phase_callgrind() {
    command -v valgrind >/dev/null 2>&1 || { echo "servers: valgrind is not installed: no instruction counts"; return; }
    echo "== user-space instructions per request (callgrind; (Ir($N2)-Ir($N1))/$((N2 - N1)), $CONNS keep-alive connections)"
    printf '%-11s %14s %14s %14s %14s   %s\n' setup "wrk html" "wrk json" "browser html" "browser json" "responses with the headers / with Server"
    for setup in $setups; do
        line=$(printf '%-11s' "$setup")
        checks=
        hap=
        for case in "request-wrk.txt /index.html" "request-wrk.txt /api.json" \
                    "request-browser.txt /index.html" "request-browser.txt /api.json"; do
            # shellcheck disable=SC2086
            set -- $case
            cg_run "$setup" "$1" "$2" "$N1"
            a=$ir ha=$hap_ir
            cg_run "$setup" "$1" "$2" "$N2"
            b=$ir hb=$hap_ir
            m=$(sed -n 's/.*marker=\([0-9]*\).*/\1/p' "$tmp/client")
            s=$(sed -n 's/.*server_header=\([0-9]*\).*/\1/p' "$tmp/client")
            checks="$checks ${m:-?}/${s:-?}"
            { echo "--- $setup, $1 $2: first response head"; cat "$tmp/head"; } >> "$tmp/heads"
            if [ "$a" = - ] || [ "$b" = - ]; then
                line="$line $(printf '%14s' failed)"
            else
                line="$line $(awk -v a="$a" -v b="$b" -v n1="$N1" -v n2="$N2" 'BEGIN { printf "%14.0f", (b - a) / (n2 - n1) }')"
                [ -n "$ha" ] && [ -n "$hb" ] && hap="$hap $(awk -v a="$ha" -v b="$hb" -v n1="$N1" -v n2="$N2" 'BEGIN { printf "%.0f", (b - a) / (n2 - n1) }')"
            fi
        done
        echo "$line  $checks (of $N2)"
        echo "$line" >> "$tmp/cg_rows"
        [ -n "$hap" ] && echo "            (HAProxy's own share of the haproxy row:$hap)"
    done
    # The targets compare the shim with nginx's own add_header.
    awk '$1 == "add_header" { for (i = 2; i <= 5; i++) a[i] = $i }
         $1 == "shim" { for (i = 2; i <= 5; i++) s[i] = $i; have = 1 }
         END { if (have && a[2] > 0) {
                   printf "shim vs add_header:"
                   for (i = 2; i <= 5; i++) printf " %+.1f%%", (s[i] - a[i]) * 100 / a[i]
                   printf "   (target: within 3%%)\n" } }' "$tmp/cg_rows" 2>/dev/null
    echo
    echo "== what each setup sent (first response of each run with $N2 requests)"
    cat "$tmp/heads" | tr -d '\r'
    echo
}

# ---------------------------------------------------------------- strace
# st_run SETUP MODE COUNT FILE: "syscall calls" lines of `strace -c` into FILE
st_run() {
    setup=$1 mode=$2 count=$3 out=$4
    # nginx mkdirs and chowns its temp paths when they are missing: make
    # every run do it, so that it cancels out like the rest of start-up.
    for d in body proxy fastcgi uwsgi scgi; do rm -rf "$run/$d-$P_PLAIN" "$run/$d-$P_SHIM"; done
    case $setup in
    plain) start strace -f -c -o "$out.raw" nginx -p "$run" -c "$(nginx_conf $P_PLAIN headers-none.conf)"; port=$P_PLAIN ;;
    shim) start strace -f -c -o "$out.raw" -E LD_PRELOAD="$lib" -E HEADERSHIM_POLICY=api \
            nginx -p "$run" -c "$(nginx_conf $P_SHIM headers-none.conf)"; port=$P_SHIM ;;
    esac
    p=$started
    wait_port "$port"
    if [ "$mode" = keepalive ]; then
        "$client" -p "$port" -r "$here/request-wrk.txt" -u /api.json -n "$count" -c 1 > /dev/null
    else
        i=0
        while [ $i -lt "$count" ]; do
            "$client" -p "$port" -r "$here/request-wrk.txt" -u /api.json -n 1 -c 1 > /dev/null
            i=$((i + 1))
        done
    fi
    # SIGTERM to nginx itself (its pid file): strace then prints the
    # summary and exits when its tracee does.
    kill -TERM "$(cat "$run/nginx-$port.pid" 2>/dev/null)" 2>/dev/null
    reap "$p"
    # Rows: "% time seconds usecs/call calls [errors] syscall".
    awk '$NF != "total" && $NF != "syscall" && $4 ~ /^[0-9]+$/ { print $NF, $4 }' "$out.raw" > "$out"
}

st_diff() { # FILE1 FILE2 DELTA -> "syscall per-unit" lines
    awk -v d="$3" 'FNR == NR { a[$1] = $2; next } { b[$1] = $2 }
        END { for (k in b) { x = (b[k] - a[k]) / d; if (x > 0.004 || x < -0.004) printf "%s %.2f\n", k, x }
              for (k in a) if (!(k in b)) printf "%s %.2f\n", k, -a[k] / d }' "$1" "$2" | sort
}

phase_strace() {
    command -v strace >/dev/null 2>&1 || { echo "servers: strace is not installed: no system call counts"; return; }
    st_setups=plain
    [ $have_shim = 1 ] && st_setups="plain shim"
    echo "== system calls (strace -f -c; keep-alive: ($KA2-$KA1 requests on one connection), new connections: ($NC2-$NC1 connections, one request each))"
    for setup in $st_setups; do
        st_run "$setup" keepalive "$KA1" "$tmp/st.$setup.ka1"
        st_run "$setup" keepalive "$KA2" "$tmp/st.$setup.ka2"
        st_run "$setup" newconn "$NC1" "$tmp/st.$setup.nc1"
        st_run "$setup" newconn "$NC2" "$tmp/st.$setup.nc2"
        st_diff "$tmp/st.$setup.ka1" "$tmp/st.$setup.ka2" $((KA2 - KA1)) > "$tmp/st.$setup.ka"
        st_diff "$tmp/st.$setup.nc1" "$tmp/st.$setup.nc2" $((NC2 - NC1)) > "$tmp/st.$setup.nc"
    done
    for unit in ka nc; do
        [ $unit = ka ] && echo "per keep-alive request:" || echo "per new connection (with its one request):"
        printf '  %-16s' syscall
        for setup in $st_setups; do printf ' %10s' "$setup"; done
        echo
        for setup in $st_setups; do awk '{ print $1 }' "$tmp/st.$setup.$unit"; done | sort -u > "$tmp/names"
        while read -r name; do
            printf '  %-16s' "$name"
            for setup in $st_setups; do
                v=$(awk -v k="$name" '$1 == k { print $2 }' "$tmp/st.$setup.$unit")
                printf ' %10s' "${v:-0}"
            done
            echo
        done < "$tmp/names"
        printf '  %-16s' total
        for setup in $st_setups; do
            printf ' %10s' "$(awk '{ s += $2 } END { printf "%.2f", s }' "$tmp/st.$setup.$unit")"
        done
        echo
    done
    echo
}

# ---------------------------------------------------------------- wrk
phase_wrk() {
    command -v wrk >/dev/null 2>&1 || { echo "servers: wrk is not installed: no throughput"; return; }
    srv="taskset -c 0"
    procs=
    for setup in $setups; do
        case $setup in
        plain) start $srv nginx -p "$run" -c "$(nginx_conf $P_PLAIN headers-none.conf)"; procs="$procs $started" ;;
        add_header) start $srv nginx -p "$run" -c "$(nginx_conf $P_ADD headers-add_header.conf)"; procs="$procs $started" ;;
        shim) start $srv "$build/headershim" -p api -- nginx -p "$run" -c "$(nginx_conf $P_SHIM headers-none.conf)"
            procs="$procs $started" ;;
        haproxy) start $srv nginx -p "$run" -c "$(nginx_conf $P_UPSTREAM headers-none.conf)"; procs="$procs $started"
            start $srv haproxy -db -f "$(haproxy_conf $P_HAPROXY $P_UPSTREAM)"; procs="$procs $started" ;;
        esac
    done
    for setup in $setups; do wait_port "$(port_of "$setup")"; done
    echo "== wrk throughput, requests/s (GET $WRK_PATH, wrk -t1 -c$WRK_CONNS -d${WRK_SECONDS}s on CPU 1, servers on CPU 0; $WRK_ROUNDS interleaved rounds)"
    order=$setups
    r=1
    while [ $r -le "$WRK_ROUNDS" ]; do
        for setup in $order; do
            taskset -c 1 wrk -t1 -c"$WRK_CONNS" -d"${WRK_SECONDS}s" "http://127.0.0.1:$(port_of "$setup")$WRK_PATH" > "$tmp/wrk" 2>&1
            rps=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk")
            bad=$(awk '/Non-2xx|Socket errors/ { print }' "$tmp/wrk")
            [ -n "$bad" ] && echo "  round $r $setup: $bad"
            echo "$setup ${rps:-0}" >> "$tmp/rps"
        done
        # Rotate, so that no setup always runs first or last in a round.
        first=${order%% *}
        order="${order#* } $first"
        r=$((r + 1))
    done
    # shellcheck disable=SC2086
    stop $procs
    printf '  %-11s %10s %10s %10s   %s\n' setup median min max "all rounds"
    for setup in $setups; do
        awk -v s="$setup" '$1 == s { print $2 }' "$tmp/rps" | sort -n > "$tmp/v"
        n=$(wc -l < "$tmp/v")
        med=$(awk -v n="$n" 'NR == int((n + 1) / 2) { print }' "$tmp/v")
        printf '  %-11s %10s %10s %10s   %s\n' "$setup" "$med" "$(head -n 1 "$tmp/v")" "$(tail -n 1 "$tmp/v")" \
            "$(awk -v s="$setup" '$1 == s { printf "%s ", $2 }' "$tmp/rps")"
        echo "$setup $med" >> "$tmp/medians"
    done
    if grep -q '^shim ' "$tmp/medians" && grep -q '^haproxy ' "$tmp/medians"; then
        awk '$1 == "shim" { s = $2 } $1 == "haproxy" { h = $2 } END { if (h > 0) printf "  shim / haproxy (medians): %.2fx (target: at least 1.5x)\n", s / h }' "$tmp/medians"
    fi
    echo
}

echo "headershim server benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
echo "nginx $(nginx -v 2>&1 | sed 's|.*/||'), $(haproxy -v 2>/dev/null | head -n 1 | cut -d' ' -f1-3), $(valgrind --version 2>/dev/null), kernel $(uname -r)"
echo "commit $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
for phase in $phases; do
    case $phase in
    callgrind) phase_callgrind ;;
    strace) phase_strace ;;
    wrk) phase_wrk ;;
    *) echo "servers: unknown phase $phase (callgrind, strace, wrk)" ;;
    esac
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit 0
