#!/usr/bin/env bash
# The demo: the whole chain on the built-in synthetic set, sized for a 2-core machine:
# synth → split → clips → encode (small seeded encoder: no released weights can be fetched
# here) → thinker cache (STAND-IN features from the instruction text, since no VLM runs
# here) → train ThinkJEPA and JEPA-only → forecast → baselines → eval → report.
# Every stage skips work already done, so a rerun (or a run after a kill) resumes.
set -euo pipefail
. "$(dirname "$0")/demo-lib.sh"
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

# Clips: one episode64 clip per episode of the manifest, by split (two at a time: decoding
# runs in an ffmpeg subprocess per clip).
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
"$PY" -c "
import json,sys
for e in json.load(open(sys.argv[1]))['episodes']: print(e['split'], e['id'])" "$OUT/split.json" |
while read -r split id; do
  f="$OUT/clips/$split/$(echo "$id" | tr / _).npz"
  [ -f "$f" ] || echo "$id $f"
done | xargs -r -P 2 -n 2 sh -c '"$0" data clip --root "$1" --sampler episode64 --out "$3" "$2" 2>/dev/null' "$BIN" "$OUT/split.json"

# Dense JEPA branch: a small V-JEPA 2-style encoder (seeded init, 32² px, 2×2 patches per
# tubelet), observed and target halves encoded separately (ThinkJEPA v2 layout).
[ -f "$OUT/encoder.safetensors" ] || "$BIN" weights init --arch demo32 --seed 1 --out "$OUT/encoder.safetensors"
for split in train test; do
  "$BIN" encode --weights "$OUT/encoder.safetensors" --input "$OUT/clips/$split" --out "$OUT/feats/$split" --split-clips
  "$BIN" thinker standin --data "$OUT/clips/$split" --out "$OUT/thinker/$split"
done
"$BIN" thinker check --hidden 64 "$OUT/thinker/train" > /dev/null

# Train ThinkJEPA and the JEPA-only ablation (same config, guidance off), side by side on
# one core each (two single-threaded runs do twice the work of one two-threaded run at
# these sizes). Demo choices (README, "The demo"):
# - layout future (upstream TJ1 --trajmode traj / TJ2 JOINT_PRED=0): the head reads the
#   predicted future latents, so every future step depends on the forecast (in the joint
#   layout, steps 0–15 read observed latents only, model-spec §4.6).
# - targets are offsets from each hand's last observed middle metacarpal (ref_mode perhand,
#   upstream's option), mapped with the last observed camera pose (v2).
# - the head is upstream's (hidden = 128 = D, dropout 0.1) with a constant lr: upstream's
#   MultiStepLR (×0.1 at 1/3 and 2/3) cuts it before the predicted latents carry anything.
# - the guidance bank has its own AdamW group (film_lr); gradients are clipped per group so
#   the head's early large gradients do not shrink the predictor's and the bank's steps.
# - predictor dropout and drop path are off (upstream 0.1/0.1): in a few thousand steps they
#   only add noise. 2 heads of 32 channels: RoPE then has 5 frequencies per axis, not 2.
SEED=${DEMO_SEED:-42}
EPOCHS=${DEMO_EPOCHS:-200}
run_json() { # run_json MODE → a run config for this seed
  cat <<JSON
{"mode": "$1", "out": "$OUT/runs/$1-s$SEED", "layout": "future",
 "train": {"clips": "$OUT/clips/train", "features": "$OUT/feats/train", "thinker": "$OUT/thinker/train"},
 "val":   {"clips": "$OUT/clips/test", "features": "$OUT/feats/test", "thinker": "$OUT/thinker/test"},
 "sample": {"camera": "last", "ref_mode": "perhand"},
 "predictor": {"embed_dim": 128, "predictor_embed_dim": 64, "depth": 4, "num_heads": 2, "mlp_ratio": 2,
               "causal": true, "drop_rate": 0, "drop_path_rate": 0},
 "film": {"hidden": 64}, "head": {"hidden": 128, "heads": 4, "dropout": 0.1},
 "loop": {"seed": $SEED, "epochs": $EPOCHS, "batch_size": 4, "head_lr": 3e-3, "head_milestones": [0.8],
          "pred_lr": 5e-3, "film_lr": 3e-3, "clip_norm": 5, "clip_per_group": true}}
JSON
}
echo "training ThinkJEPA and JEPA-only (seed $SEED, $EPOCHS epochs, one core each; logs: $OUT/runs/*-s$SEED.log)"
train_pair

# Forecast the held-out split with both models, and the two classical baselines.
for m in thinkjepa jepa-only; do
  "$BIN" forecast --ckpt "$OUT/runs/$m-s$SEED/best.safetensors" --data "$OUT/clips/test" \
    --features "$OUT/feats/test" --thinker "$OUT/thinker/test" --out "$OUT/pred/$m-s$SEED"
done
"$BIN" baseline --kind constant-velocity --data "$OUT/clips/test" --out "$OUT/pred/constant-velocity"
"$BIN" baseline --kind stationary --data "$OUT/clips/test" --out "$OUT/pred/stationary"

# Evaluate and report.
for m in thinkjepa-s$SEED jepa-only-s$SEED constant-velocity stationary; do
  "$BIN" eval --pred "$OUT/pred/$m" --json "$OUT/eval-$m.json" -overwrite > "$OUT/eval-$m.md"
done
"$BIN" report --out "$OUT/report-s$SEED" -overwrite \
  --run ThinkJEPA="$OUT/pred/thinkjepa-s$SEED" --run JEPA-only="$OUT/pred/jepa-only-s$SEED" \
  --run constant-velocity="$OUT/pred/constant-velocity" --run stationary="$OUT/pred/stationary" \
  --metrics ThinkJEPA="$OUT/runs/thinkjepa-s$SEED/metrics.jsonl" --metrics JEPA-only="$OUT/runs/jepa-only-s$SEED/metrics.jsonl"
echo
cat "$OUT/report-s$SEED/results.md"
echo
# The demo's goal (README, "The demo"): on the held-out episodes, ThinkJEPA < JEPA-only <
# both baselines in ADE and FDE, ThinkJEPA's FDE ≤ 0.85 × JEPA-only's, and ThinkJEPA's
# latent MSE below JEPA-only's (each run's evaluated checkpoint: its best validation epoch).
"$PY" - "$OUT" "$SEED" <<'PYEOF'
import json, sys
out, seed = sys.argv[1], sys.argv[2]
def ev(m):
    r = json.load(open(f"{out}/eval-{m}.json"))["result"]["thinkjepa"]
    return r["ade"] * 100, r["fde"] * 100
def run(m):
    lines = [json.loads(l) for l in open(f"{out}/runs/{m}-s{seed}/metrics.jsonl")]
    best = min(lines, key=lambda d: d["val_ade"])
    return best, lines[-1]
tj, jo = ev(f"thinkjepa-s{seed}"), ev(f"jepa-only-s{seed}")
st, cv = ev("stationary"), ev("constant-velocity")
(tjb, tjl), (job, jol) = run("thinkjepa"), run("jepa-only")
checks = [
    ("ADE: ThinkJEPA %.2f < JEPA-only %.2f < min(stationary %.2f, constant velocity %.2f)" % (tj[0], jo[0], st[0], cv[0]),
     tj[0] < jo[0] < min(st[0], cv[0])),
    ("FDE: ThinkJEPA %.2f < JEPA-only %.2f < min(stationary %.2f, constant velocity %.2f)" % (tj[1], jo[1], st[1], cv[1]),
     tj[1] < jo[1] < min(st[1], cv[1])),
    ("FDE ratio ThinkJEPA / JEPA-only = %.2f <= 0.85" % (tj[1] / jo[1]), tj[1] <= 0.85 * jo[1]),
    ("held-out latent MSE: ThinkJEPA %.3f (epoch %d) < JEPA-only %.3f (epoch %d)" % (tjb["val_latent_loss"], tjb["epoch"] + 1, job["val_latent_loss"], job["epoch"] + 1),
     tjb["val_latent_loss"] < job["val_latent_loss"]),
]
print("Goal checks (held-out episodes, cm; seed %s):" % seed)
for text, ok in checks:
    print("  [%s] %s" % ("ok" if ok else "FAILED", text))
for name, last in (("ThinkJEPA", tjl), ("JEPA-only", jol)):
    print("  %-9s last epoch: latent MSE %.3f (repeating the last observed frame: %.3f), predicted-latent spread %.2f%s" % (
        name, last["val_latent_loss"], last.get("val_latent_copy_last", float("nan")), last.get("val_latent_spread", float("nan")),
        "; COLLAPSED: " + last["collapse"] if last.get("collapse") else ""))
print("goal %s" % ("met" if all(ok for _, ok in checks) else "NOT met"))
PYEOF
echo
echo "report: $OUT/report-s$SEED (results.md, results.json, PNG plots)"
