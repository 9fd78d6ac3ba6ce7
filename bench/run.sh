#!/bin/sh
# Runs every benchmark binary given and prints one table: wall-clock
# nanoseconds per item (median of 31 batches) and instructions per item
# under callgrind. Figures only: this never fails a build.
#
# Instructions per item = (Ir for N2 iterations - Ir for N1 iterations) /
# (N2 - N1): start-up (loading presets, the dynamic loader) is the same in
# both runs and cancels out. Wall-clock time on shared machines is noisy;
# instruction counts are not.
# Usage: bench/run.sh BENCH_BINARY...   (BENCH_N1, BENCH_N2 override 1000/11000)
N1=${BENCH_N1:-1000}
N2=${BENCH_N2:-11000}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hsbench.XXXXXX") || exit 0
trap 'rm -rf "$tmp"' EXIT INT TERM

have_valgrind=0
command -v valgrind >/dev/null 2>&1 && have_valgrind=1

instructions() { # BINARY ID N -> total Ir of one run
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$1" --count "$2" "$3" \
        >/dev/null 2>&1 || { echo -; return; }
    sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$tmp/cg.out" | head -n 1
}

printf '%-34s %8s %8s %10s %12s\n' case bytes-in out ns/item instr/item
for bin in "$@"; do
    "$bin" --list > "$tmp/list" || { echo "$bin --list failed"; continue; }
    "$bin" --time > "$tmp/time" || { echo "$bin --time failed"; continue; }
    while read -r id bytes_in bytes_out; do
        ns=$(awk -v id="$id" '$1 == id { print $2 }' "$tmp/time")
        ir=-
        if [ $have_valgrind = 1 ]; then
            a=$(instructions "$bin" "$id" "$N1"); b=$(instructions "$bin" "$id" "$N2")
            if [ "$a" != - ] && [ "$b" != - ] && [ -n "$a" ] && [ -n "$b" ]; then
                ir=$(( (b - a) / (N2 - N1) ))
            fi
        fi
        printf '%-34s %8s %8s %10s %12s\n' "$id" "$bytes_in" "$bytes_out" "$ns" "$ir"
    done < "$tmp/list"
done
[ $have_valgrind = 1 ] || echo "(valgrind not installed: no instruction counts)"
exit 0
