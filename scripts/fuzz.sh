#!/usr/bin/env bash
# Runs every Go fuzz target of the module for FUZZTIME each (default 8s; `make fuzz` sets
# a longer time). The committed corpora (testdata/fuzz/) already run in plain `go test`;
# this explores beyond them. A crash makes go test write the input under the package's
# testdata/fuzz/<Target>/ and exit non-zero: keep that file with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
t=${FUZZTIME:-8s}
only=${FUZZ_ONLY:-}
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
  pkg=./$(dirname "${file#./}")
  for fn in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
    [ -z "$only" ] || [[ "$fn" == $only ]] || continue
    out=$("$GO" test -run '^$' -fuzz "^${fn}\$" -fuzztime "$t" -fuzzminimizetime 100x "$pkg" 2>&1) || { echo "$out"; echo "FAIL fuzz $pkg $fn"; exit 1; }
    execs=$(echo "$out" | sed -n 's/.*execs: \([0-9]*\).*/\1/p' | tail -1)
    echo "fuzz $pkg $fn: ok, $t, ${execs:-?} execs"
  done
done
