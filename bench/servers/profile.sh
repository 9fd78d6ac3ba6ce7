#!/bin/sh
# Where the instructions of one request go, function by function: nginx
# under the shim (or plain nginx) under callgrind, two runs of BENCH_N1 and
# BENCH_N2 requests (default 1000 and 4000), and the per-request difference
# of each function's own instructions (callgrind_annotate's exclusive
# counts). Not part of `make bench`; a tool for working on the shim.
#
#   HS_BUILD=build sh bench/servers/profile.sh [shim|plain] [request-wrk.txt|request-browser.txt] [/api.json]
#
# Prints instructions per request by object (the shim, nginx, libc, the
# rest) and the functions above 5 instructions per request. Functions that
# callgrind_annotate puts below its 0.01% threshold are left out, so the
# per-object sums come out slightly under run.sh's totals.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${HS_BUILD:-build}" 2>/dev/null && pwd) || { echo "profile: no build directory ${HS_BUILD:-build}"; exit 1; }
setup=${1:-shim}
req=${2:-request-wrk.txt}
path=${3:-/api.json}
N1=${BENCH_N1:-1000}
N2=${BENCH_N2:-4000}
port=${BENCH_PORT:-18191}
for tool in valgrind callgrind_annotate nginx objcopy; do
    command -v $tool >/dev/null 2>&1 || { echo "profile: $tool is not installed"; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hsprofile.XXXXXX") || exit 1
server=
trap '[ -n "$server" ] && kill -TERM "$server" 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

client=$build/bench/servers/hsclient
mkdir -p "$build/bench/servers"
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -o "$client" "$here/hsclient.c" || exit 1
sed -e "s|@RUN@|$tmp|g; s|@WWW@|$here/www|g; s|@PORT@|$port|g; s|@HEADERS@|$here/headers-none.conf|g" \
    "$here/nginx.conf.in" > "$tmp/nginx.conf"
preload=
if [ "$setup" = shim ]; then
    # Without debug sections: valgrind 3.19 rejects some DWARF 5 forms.
    objcopy --strip-debug "$build/libheadershim.so" "$tmp/libheadershim.so" || exit 1
    preload=$tmp/libheadershim.so
fi

for n in $N1 $N2; do
    LD_PRELOAD=$preload HEADERSHIM_POLICY=api valgrind --tool=callgrind --trace-children=no \
        --callgrind-out-file="$tmp/cg.$n" nginx -p "$tmp" -c "$tmp/nginx.conf" > "$tmp/vg.$n" 2>&1 &
    server=$!
    "$client" -p "$port" -w 60 || exit 1
    # The steady state: a long-running server's Date is never its first
    # response's second. One response first, then a pause past the second,
    # so that no measured response repeats the shim's plan block (made from
    # the first response) byte for byte; without it the share that does
    # depends on where the seconds fall in each run, and the difference of
    # the two runs moves by up to 100 instructions per request.
    "$client" -p "$port" -r "$here/$req" -u "$path" -n 1 -c 1 > /dev/null || exit 1
    sleep 1.1
    "$client" -p "$port" -r "$here/$req" -u "$path" -n "$n" -c 4 > /dev/null || exit 1
    # A TERM nginx under valgrind missed (it happens) is sent again.
    kill -TERM "$server"
    tries=0
    while st=$(ps -o stat= -p "$server" 2>/dev/null) && [ -n "$st" ] &&
          [ "${st#Z}" = "$st" ] && [ $tries -lt 240 ]; do
        sleep 0.5
        tries=$((tries + 1))
        [ $((tries % 10)) = 0 ] && kill -TERM "$server" 2>/dev/null
    done
    wait "$server"
    server=
    # "  1,234,567 (12.34%)  file:function [object]" -> "1234567<TAB>file:function [object]"
    callgrind_annotate --threshold=99.99 "$tmp/cg.$n" 2>/dev/null | sed -n '/file:function/,$p' |
        awk 'NR > 2 && $1 ~ /^[0-9,]+$/ { n = $1; gsub(",", "", n); f = $0; sub(/^ *[0-9,]+ +\([^)]*\) +/, "", f); print n "\t" f }' \
        > "$tmp/fn.$n"
done

awk -F'\t' -v d=$((N2 - N1)) 'FNR == NR { a[$2] = $1; next } { x = ($1 - a[$2]) / d; if (x >= 0.5) printf "%.0f\t%s\n", x, $2 }' \
    "$tmp/fn.$N1" "$tmp/fn.$N2" | sort -rn > "$tmp/diff"
echo "instructions per request, $setup, $req $path, (Ir($N2)-Ir($N1))/$((N2 - N1)), by object:"
awk -F'\t' '{ if ($2 ~ /libheadershim/) s += $1; else if ($2 ~ /\/nginx\]/) n += $1; else if ($2 ~ /libc\.so/) c += $1; else o += $1 }
    END { printf "  shim %d  nginx %d  libc %d  other %d  total %d\n", s, n, c, o, s + n + c + o }' "$tmp/diff"
echo "functions above 5 instructions per request:"
awk -F'\t' '$1 > 5 { printf "  %6d  %s\n", $1, $2 }' "$tmp/diff"
exit 0
