#!/bin/sh
# Runs libFuzzer harnesses, each for SECONDS on a scratch copy of its seed
# corpus (tests/fuzz/corpus/NAME/ for build-fuzz/fuzz_NAME) in a fresh
# temporary directory, so seeds stay as committed and two runs at once do
# not share one. One line per fuzzer, then "N passed, N failed"; exits
# non-zero when any fuzzer found a crash (the reproducer is kept under
# build-fuzz/artifacts/NAME/).
# Usage: tests/fuzz/run.sh SECONDS BIN...
secs=${1:?usage: run.sh SECONDS BIN...}; shift
root=$(cd "$(dirname "$0")/../.." && pwd)
pass=0; fail=0
for bin in "$@"; do
    name=$(basename "$bin"); name=${name#fuzz_}
    seeds=$root/tests/fuzz/corpus/$name
    art=$root/build-fuzz/artifacts/$name
    mkdir -p "$seeds" "$art"
    work=$(mktemp -d "${TMPDIR:-/tmp}/headershim-fuzz-$name.XXXXXX") || exit 1
    cp -R "$seeds"/. "$work"/ 2>/dev/null
    log=$art/log.txt
    "$bin" -max_total_time="$secs" -artifact_prefix="$art/" "$work" >"$log" 2>&1
    rc=$?
    rm -rf "$work"
    runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1))
        echo "fuzz_$name: ok, ${runs:-?} runs in ${secs}s"
    else
        fail=$((fail + 1))
        echo "fuzz_$name: FAILED (exit $rc), log $log"
        # From the first report on: the stack (or, for out-of-memory, the
        # allocation profile) names where it happened.
        sed -n '/ERROR/,$p' "$log" | grep -vE '^(#|INFO|MS:|base unit|0x)' |
            head -n 30 | sed 's/^/    /'
    fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
