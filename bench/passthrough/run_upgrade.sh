#!/bin/sh
# What a write() costs on a connection the engine has declared pass-through
# (after "101 Switching Protocols"), in user-space instructions per write
# (valgrind --tool=callgrind), with and without the library preloaded.
# Figures only: this never fails a build. A companion of run.sh (same
# method): Ir(N2) - Ir(N1) over N2 - N1 writes, start-up cancelling out.
#
#   HS_BUILD=build sh bench/passthrough/run_upgrade.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${HS_BUILD:-build}" 2>/dev/null && pwd) || { echo "passthrough: no build directory ${HS_BUILD:-build}"; exit 0; }
N1=${PT_N1:-2000}
N2=${PT_N2:-12000}
CC=${CC:-cc}
lib=$build/libheadershim.so

command -v valgrind >/dev/null 2>&1 || { echo "passthrough: valgrind is not installed"; exit 0; }
[ -f "$lib" ] || { echo "passthrough: $lib is not built"; exit 0; }
mkdir -p "$build/bench/passthrough"
bin=$build/bench/passthrough/ptupgrade
$CC -std=c11 -D_GNU_SOURCE -O2 -g -o "$bin" "$here/ptupgrade.c" || { echo "passthrough: cannot compile ptupgrade.c"; exit 0; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hsptu.XXXXXX") || exit 0
trap 'rm -rf "$tmp"' EXIT INT TERM
# valgrind 3.19 and DWARF 5: a copy without debug sections (see run.sh).
shim=$tmp/libheadershim.so
objcopy --strip-debug "$lib" "$shim" 2>/dev/null || cp "$lib" "$shim"

instructions() { # PRELOAD N -> the Ir total of the server process
    rm -f "$tmp"/cg.*
    if [ -n "$1" ]; then
        LD_PRELOAD=$1 HEADERSHIM_POLICY=api valgrind --tool=callgrind \
            --callgrind-out-file="$tmp/cg.%p" "$bin" "$2" > "$tmp/out" 2> "$tmp/err"
    else
        valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.%p" "$bin" "$2" \
            > "$tmp/out" 2> "$tmp/err"
    fi
    pid=$(sed -n 's/^pid=\([0-9]*\) ok$/\1/p' "$tmp/out")
    if [ -z "$pid" ] || [ ! -f "$tmp/cg.$pid" ]; then
        echo -
        return
    fi
    sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$tmp/cg.$pid" | head -n 1
}

per_write() {
    a=$(instructions "$1" "$N1")
    b=$(instructions "$1" "$N2")
    case "$a$b" in
    *-* | "") echo - ;;
    *) awk -v a="$a" -v b="$b" -v n1="$N1" -v n2="$N2" 'BEGIN { printf "%.1f", (b - a) / (n2 - n1) }' ;;
    esac
}

plain=$(per_write "")
with=$(per_write "$shim")
added=-
case "$plain$with" in
*-*) ;;
*) added=$(awk -v a="$plain" -v b="$with" 'BEGIN { printf "%+.1f", b - a }') ;;
esac
printf '%-44s %10s %10s %8s\n' case "no shim" shim added
printf '%-44s %10s %10s %8s\n' "write() after 101 (engine: pass-through)" "$plain" "$with" "$added"
exit 0
