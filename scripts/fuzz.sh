#!/usr/bin/env bash
# Runs every Go fuzz target of the module for FUZZTIME each (default 8s; `make fuzz` sets
# a longer time). The committed corpora (testdata/fuzz/) already run in plain `go test`;
# this explores beyond them. A crash makes go test write the input under the package's
# testdata/fuzz/<Target>/ and exit non-zero: keep that file with the fix.
#
# Go before 1.27 can end a duration-bounded fuzz run with a bare "context deadline
# exceeded" and no input written (a race in its fuzzing coordinator, golang/go#75804).
# That is reported as a flake, not a failure; any run that writes a failing input fails.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
t=${FUZZTIME:-8s}
only=${FUZZ_ONLY:-}
count() { if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi; }
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
  pkg=./$(dirname "${file#./}")
  for fn in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
    [ -z "$only" ] || [[ "$fn" == $only ]] || continue
    corpus="$pkg/testdata/fuzz/$fn"
    before=$(count "$corpus")
    if out=$("$GO" test -run '^$' -fuzz "^${fn}\$" -fuzztime "$t" -fuzzminimizetime 100x "$pkg" 2>&1); then
      status=ok
    else
      after=$(count "$corpus")
      if [ "$after" = "$before" ] && echo "$out" | grep -q "context deadline exceeded"; then
        status="flake (Go fuzz coordinator deadline race, golang/go#75804; no failing input)"
      else
        echo "$out"
        echo "FAIL fuzz $pkg $fn"
        exit 1
      fi
    fi
    execs=$(echo "$out" | sed -n 's/.*execs: \([0-9]*\).*/\1/p' | tail -1)
    echo "fuzz $pkg $fn: $status, $t, ${execs:-?} execs"
  done
done
