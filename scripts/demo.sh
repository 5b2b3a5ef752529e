#!/usr/bin/env bash
# The demo: the whole chain on the built-in synthetic set, sized for a 2-core machine:
# synth → split → clips → encode (small seeded encoder: no released weights can be fetched
# here) → thinker cache (STAND-IN features from the instruction text, since no VLM runs
# here) → train ThinkJEPA and JEPA-only → forecast → baselines → eval → report.
# Every stage skips work already done, so a rerun (or a run after a kill) resumes.
set -euo pipefail
BIN=${THINKJEPA_BIN:-bin/thinkjepa}
OUT=${DEMO_DIR:-demo-out}
mkdir -p "$OUT"
"$BIN" version

# Data: built-in synthetic set (EgoDex layout + a small Ego-Exo4D layout), inspection,
# a split manifest, and one clip. The split is the synthetic set's own (method official):
# every sixth round of episodes is held out, so the test split has unseen episodes of all
# three tasks. ThinkJEPA v2 holds out whole tasks (--method grouped), but with three
# synthetic tasks that leaves one task the models never saw; their motions differ, so no
# model can be expected to transfer, and the demo would measure nothing.
if [ ! -f "$OUT/synth/synth.json" ]; then
  "$BIN" synth --out "$OUT/synth" --episodes "${DEMO_EPISODES:-96}" --seed 1
fi
"$BIN" data inspect "$OUT/synth"
"$BIN" data split --method official --out "$OUT/split.json" --overwrite "$OUT/synth"
"$BIN" data clip --root "$OUT/split.json" --sampler episode64 --out "$OUT/clip.npz" --overwrite part1/basic_pick_place/0
"$BIN" data inspect "$OUT/clip.npz"

# Clips: one episode64 clip per episode of the manifest, by split.
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
"$PY" -c "
import json,sys
for e in json.load(open(sys.argv[1]))['episodes']: print(e['split'], e['id'])" "$OUT/split.json" |
while read -r split id; do
  f="$OUT/clips/$split/$(echo "$id" | tr / _).npz"
  [ -f "$f" ] || "$BIN" data clip --root "$OUT/split.json" --sampler episode64 --out "$f" "$id" 2>/dev/null
done

# Dense JEPA branch: a small V-JEPA 2-style encoder (seeded init), observed and target
# halves encoded separately (ThinkJEPA v2 layout).
[ -f "$OUT/encoder.safetensors" ] || "$BIN" weights init --arch demo --seed 1 --out "$OUT/encoder.safetensors"
for split in train test; do
  "$BIN" encode --weights "$OUT/encoder.safetensors" --input "$OUT/clips/$split" --out "$OUT/feats/$split" --split-clips
  "$BIN" thinker standin --data "$OUT/clips/$split" --out "$OUT/thinker/$split"
done
"$BIN" thinker check --hidden 64 "$OUT/thinker/train" > /dev/null

# Train ThinkJEPA and the JEPA-only ablation (same config, guidance off). Demo choices
# (README, "The demo"): targets are offsets from each hand's last observed middle
# metacarpal (ref_mode perhand, an upstream option); the guidance bank gets its own AdamW
# group (film_lr): its tanh gates start at 0, which holds back the FiLM MLPs' gradients,
# and a few hundred steps at the predictor's lr would leave it shut; lrs are raised for
# the same reason (upstream trains 200 epochs on 1800 clips). Loss, head, FiLM and the
# head's MultiStepLR are upstream's; head dropout is upstream's 0.1. The predictor's dropout
# and drop path (upstream 0.1/0.1, our default) are off: in 500 steps they only add noise
# (with them on, ThinkJEPA's held-out latent MSE came out above JEPA-only's).
cat > "$OUT/run.json" <<JSON
{"mode": "thinkjepa", "out": "$OUT/runs/thinkjepa",
 "train": {"clips": "$OUT/clips/train", "features": "$OUT/feats/train", "thinker": "$OUT/thinker/train"},
 "val":   {"clips": "$OUT/clips/test", "features": "$OUT/feats/test", "thinker": "$OUT/thinker/test"},
 "sample": {"camera": "last", "ref_mode": "perhand"},
 "predictor": {"embed_dim": 128, "predictor_embed_dim": 64, "depth": 4, "num_heads": 4, "mlp_ratio": 2,
               "tokens_per_frame": 16, "num_frames": 64, "past_frames": 32, "causal": true,
               "drop_rate": 0, "drop_path_rate": 0},
 "film": {"hidden": 64}, "head": {"hidden": 64, "heads": 4, "dropout": 0.1},
 "loop": {"seed": 42, "epochs": ${DEMO_EPOCHS:-24}, "batch_size": 4, "head_lr": 5e-3, "pred_lr": 5e-3, "film_lr": 3e-2, "clip_norm": 5}}
JSON
"$BIN" train --config "$OUT/run.json"
"$BIN" train --config "$OUT/run.json" --mode jepa-only --out "$OUT/runs/jepa-only"

# Forecast the held-out split with both models, and the two classical baselines.
for m in thinkjepa jepa-only; do
  "$BIN" forecast --ckpt "$OUT/runs/$m/best.safetensors" --data "$OUT/clips/test" \
    --features "$OUT/feats/test" --thinker "$OUT/thinker/test" --out "$OUT/pred/$m"
done
"$BIN" baseline --kind constant-velocity --data "$OUT/clips/test" --out "$OUT/pred/constant-velocity"
"$BIN" baseline --kind stationary --data "$OUT/clips/test" --out "$OUT/pred/stationary"

# Evaluate and report.
for m in thinkjepa jepa-only constant-velocity stationary; do
  "$BIN" eval --pred "$OUT/pred/$m" --json "$OUT/eval-$m.json" -overwrite > "$OUT/eval-$m.md"
done
"$BIN" report --out "$OUT/report" -overwrite \
  --run ThinkJEPA="$OUT/pred/thinkjepa" --run JEPA-only="$OUT/pred/jepa-only" \
  --run constant-velocity="$OUT/pred/constant-velocity" --run stationary="$OUT/pred/stationary" \
  --metrics ThinkJEPA="$OUT/runs/thinkjepa/metrics.jsonl" --metrics JEPA-only="$OUT/runs/jepa-only/metrics.jsonl"
echo
cat "$OUT/report/results.md"
echo
# The guidance's effect on the predictor: latent MSE on the held-out episodes after the last
# epoch (the trajectory table above scores each run's best-ADE checkpoint).
"$PY" -c "
import json,sys
for name,path in zip(['ThinkJEPA','JEPA-only'],sys.argv[1:]):
    last=[json.loads(l) for l in open(path)][-1]
    print('%-10s held-out latent MSE %.3f (epoch %d)'%(name,last['val_latent_loss'],last['epoch']+1))
" "$OUT/runs/thinkjepa/metrics.jsonl" "$OUT/runs/jepa-only/metrics.jsonl"
echo
echo "report: $OUT/report (results.md, results.json, PNG plots)"
