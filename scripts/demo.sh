#!/usr/bin/env bash
# The demo: the whole chain on the built-in synthetic set. Stages are added here as they land.
set -euo pipefail
BIN=${THINKJEPA_BIN:-bin/thinkjepa}
OUT=${DEMO_DIR:-demo-out}
mkdir -p "$OUT"
"$BIN" version

# Data: built-in synthetic set (EgoDex layout + a small Ego-Exo4D layout), inspection,
# a ThinkJEPA-style grouped split manifest, and one clip.
if [ ! -f "$OUT/synth/synth.json" ]; then
  "$BIN" synth --out "$OUT/synth" --episodes 48 --seed 1
fi
"$BIN" data inspect "$OUT/synth"
"$BIN" data split --method grouped --seed 42 --train-ratio 0.9 --out "$OUT/split.json" --overwrite "$OUT/synth"
"$BIN" data clip --root "$OUT/split.json" --sampler episode64 --out "$OUT/clip.npz" --overwrite part1/basic_pick_place/0
"$BIN" data inspect "$OUT/clip.npz"
