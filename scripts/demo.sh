#!/usr/bin/env bash
# The demo: the whole chain on the built-in synthetic set. Stages are added here as they land.
set -euo pipefail
BIN=${THINKJEPA_BIN:-bin/thinkjepa}
OUT=${DEMO_DIR:-demo-out}
mkdir -p "$OUT"
"$BIN" version
