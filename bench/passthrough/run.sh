#!/bin/sh
# The shim's pass-through path in user-space instructions per write()
# (valgrind --tool=callgrind), with and without the library preloaded.
# Figures only: this never fails a build. Results: docs/performance.md.
#
#   HS_BUILD=build sh bench/passthrough/run.sh
#
# Each case runs twice, with PT_N1 and PT_N2 writes (default 2000 and
# 12000); instructions per write = (Ir(N2) - Ir(N1)) / (N2 - N1), so
# start-up, the policy load and the one-off classification of the
# descriptor cancel out. Target (issue 4 item 7): the shim adds at most 40
# instructions to each.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${HS_BUILD:-build}" 2>/dev/null && pwd) || { echo "passthrough: no build directory ${HS_BUILD:-build}"; exit 0; }
N1=${PT_N1:-2000}
N2=${PT_N2:-12000}
CC=${CC:-cc}
lib=$build/libheadershim.so

command -v valgrind >/dev/null 2>&1 || { echo "passthrough: valgrind is not installed (apt-get install valgrind)"; exit 0; }
mkdir -p "$build/bench/passthrough"
bin=$build/bench/passthrough/ptwrite
$CC -std=c11 -D_GNU_SOURCE -O2 -g -o "$bin" "$here/ptwrite.c" || { echo "passthrough: cannot compile ptwrite.c"; exit 0; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hspt.XXXXXX") || exit 0
trap 'rm -rf "$tmp"' EXIT INT TERM

# instructions PRELOAD CASE N -> the Ir total of the ptwrite process itself
# (the forked client of "body" writes its own file, which is ignored).
instructions() {
    rm -f "$tmp"/cg.*
    if [ -n "$1" ]; then
        LD_PRELOAD=$1 HEADERSHIM_POLICY=api valgrind --tool=callgrind \
            --callgrind-out-file="$tmp/cg.%p" "$bin" "$2" "$3" > "$tmp/out" 2> "$tmp/err"
    else
        valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.%p" "$bin" "$2" "$3" \
            > "$tmp/out" 2> "$tmp/err"
    fi
    pid=$(sed -n 's/^pid=\([0-9]*\) ok$/\1/p' "$tmp/out")
    if [ -z "$pid" ] || [ ! -f "$tmp/cg.$pid" ]; then
        echo -
        return
    fi
    sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$tmp/cg.$pid" | head -n 1
}

per_write() { # PRELOAD CASE -> instructions per write, or -
    a=$(instructions "$1" "$2" "$N1")
    b=$(instructions "$1" "$2" "$N2")
    case "$a$b" in
    *-* | "") echo - ;;
    *) awk -v a="$a" -v b="$b" -v n1="$N1" -v n2="$N2" 'BEGIN { printf "%.1f", (b - a) / (n2 - n1) }' ;;
    esac
}

# valgrind 3.19 (Debian 12) gives up on some DWARF 5 forms ("unhandled
# dwarf2 abbrev form code 0x25", then "Possibly corrupted debuginfo file")
# and kills the process; a copy without debug sections has the same code.
shim=
# The launcher running a command under the library is the test that the
# library loads at all (a sanitizer build, for one, cannot be preloaded).
if [ -f "$lib" ] && ! "$build/headershim" -p api -- /bin/true > /dev/null 2>&1; then
    echo "passthrough: $build/headershim -p api -- /bin/true failed: figures without the shim only"
elif [ -f "$lib" ]; then
    shim=$tmp/libheadershim.so
    objcopy --strip-debug "$lib" "$shim" 2>/dev/null || cp "$lib" "$shim"
else
    echo "passthrough: $lib is not built: figures without the shim only"
fi

echo "pass-through cost per write() of 64 bytes, user-space instructions (callgrind, Ir($N2)-Ir($N1) over $((N2 - N1)) writes)"
printf '%-44s %10s %10s %8s\n' case "no shim" shim added
for c in devnull body upgrade; do
    case $c in
    devnull) label="write() to /dev/null (not a socket)" ;;
    body) label="body write() on a tracked HTTP connection" ;;
    upgrade) label="write() after 101 (engine: pass-through)" ;;
    esac
    plain=$(per_write "" "$c")
    with=-
    [ -n "$shim" ] && with=$(per_write "$shim" "$c")
    added=-
    case "$plain$with" in
    *-*) ;;
    *) added=$(awk -v a="$plain" -v b="$with" 'BEGIN { printf "%+.1f", b - a }') ;;
    esac
    printf '%-44s %10s %10s %8s\n' "$label" "$plain" "$with" "$added"
done
echo "(target: at most +40 instructions per write)"
exit 0
