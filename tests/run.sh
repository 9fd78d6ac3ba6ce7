#!/bin/sh
# Runs test binaries (each a Check suite, or any program that exits 0 on
# success) and closes with one line "N passed, N failed" over all of them.
# Usage: tests/run.sh LABEL BINARY...
label=$1; shift
pass=0; fail=0; failed=""
for t in "$@"; do
    out=$( "$t" 2>&1 ); rc=$?
    printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks' | sed "s|^|$(basename "$t"): |"
    # Count individual checks from Check's summary line when present.
    n=$(printf '%s\n' "$out" | sed -n 's/^[0-9]*%: Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' | tail -n 1)
    if [ -n "$n" ]; then
        total=${n%% *}; rest=${n#* }
        f=$(( ${rest%% *} + ${rest#* } ))
        pass=$(( pass + total - f )); fail=$(( fail + f ))
    else
        if [ $rc -eq 0 ]; then pass=$(( pass + 1 )); else fail=$(( fail + 1 )); fi
    fi
    if [ $rc -ne 0 ]; then
        failed="$failed $(basename "$t")"
        printf '%s\n' "$out" | grep -vE '^[0-9]+%: Checks' | tail -n 40
    fi
done
[ -n "$failed" ] && echo "FAILED ($label):$failed"
echo "$label: $pass passed, $fail failed"
[ $fail -eq 0 ] && [ -z "$failed" ]
