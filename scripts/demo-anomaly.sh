#!/usr/bin/env bash
# The anomaly demo (model-spec §4.12), sized for a 2-core machine: a world model's surprise
# as a per-frame anomaly score. synth with labelled anomalous held-out episodes → clips →
# encode (the demo's small seeded encoder) → train predictors on normal episodes only
# (task latent_anomaly: ThinkJEPA, guided by stand-in thinker features, and JEPA-only) →
# score the held-out episodes (normal and anomalous) with each predictor and with two
# baselines that need no training (frame difference, copy-last) → table and goal check.
# Every stage skips work already done, so a rerun (or a run after a kill) resumes.
set -euo pipefail
. "$(dirname "$0")/demo-lib.sh"
BIN=${THINKJEPA_BIN:-bin/thinkjepa}
OUT=${DEMO_DIR:-demo-anomaly-out}
SEED=${DEMO_SEED:-42}
EPOCHS=${DEMO_EPOCHS:-50}
PAST=${DEMO_PAST:-16}
FUTURE=${DEMO_FUTURE:-16}
EPISODES=${DEMO_EPISODES:-192}
RATE=${DEMO_ANOMALY_RATE:-0.125}
mkdir -p "$OUT"
"$BIN" version
t0=$(date +%s)

# Data: the built-in synthetic set (192 episodes: 162 training, 30 held out) plus
# ceil(0.125 × 192) = 24 held-out episodes with one anomalous event each (6 each of: the
# held object jumps with the hands, the hands freeze, two runs of frames swapped, a
# stalled frame; labels in $OUT/synth/labels, one .npy per held-out episode, all-zero for
# the normal ones).
if [ ! -f "$OUT/synth/synth.json" ]; then
  "$BIN" synth --out "$OUT/synth" --episodes "$EPISODES" --egoexo 0 --seed 1 --anomalies "$RATE"
fi
"$BIN" data split --method official --out "$OUT/split.json" --overwrite "$OUT/synth"

# One episode64 clip per episode. Every ninth training episode is held out as the
# validation split (normal episodes: the best checkpoint is the lowest validation latent
# MSE, upstream's rule, and the anomalous test episodes must not choose it).
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
"$PY" -c "
import json,sys
n = 0
for e in json.load(open(sys.argv[1]))['episodes']:
    split = e['split']
    if split == 'train':
        n += 1
        if n % 9 == 0: split = 'val'
    print(split, e['id'])" "$OUT/split.json" |
while read -r split id; do
  f="$OUT/clips/$split/$(echo "$id" | tr / _).npz"
  [ -f "$f" ] || echo "$id $f"
done | xargs -r -P 2 -n 2 sh -c '"$0" data clip --root "$1" --sampler episode64 --out "$3" "$2" 2>/dev/null' "$BIN" "$OUT/split.json"

[ -f "$OUT/encoder.safetensors" ] || "$BIN" weights init --arch demo32 --seed 1 --out "$OUT/encoder.safetensors"
for split in train val test; do
  "$BIN" encode --weights "$OUT/encoder.safetensors" --input "$OUT/clips/$split" --out "$OUT/feats/$split" --split-clips
  "$BIN" thinker standin --data "$OUT/clips/$split" --out "$OUT/thinker/$split"
done
t_data=$(date +%s)

# Train the two predictors side by side on one core each, on normal episodes only.
run_json() { # run_json MODE
  cat <<JSON
{"mode": "$1", "task": "latent_anomaly", "anomaly": {"past": $PAST, "future": $FUTURE, "stride": 4},
 "out": "$OUT/runs/$1-s$SEED",
 "train": {"clips": "$OUT/clips/train", "features": "$OUT/feats/train", "thinker": "$OUT/thinker/train"},
 "val":   {"clips": "$OUT/clips/val", "features": "$OUT/feats/val", "thinker": "$OUT/thinker/val"},
 "predictor": {"embed_dim": 128, "predictor_embed_dim": 64, "depth": 4, "num_heads": 2, "mlp_ratio": 2,
               "causal": true, "drop_rate": 0, "drop_path_rate": 0},
 "film": {"hidden": 64},
 "loop": {"seed": $SEED, "epochs": $EPOCHS, "batch_size": 8, "pred_lr": 5e-3, "film_lr": 3e-3,
          "clip_norm": 5, "clip_per_group": true}}
JSON
}
echo "training ThinkJEPA and JEPA-only predictors (task latent_anomaly, seed $SEED, $EPOCHS epochs, one core each; logs: $OUT/runs/*-s$SEED.log)"
train_pair
t_train=$(date +%s)

# Score the held-out episodes: both predictors (eval mode), then the baselines over the
# same windows (so the same frames).
score() { # score NAME FLAGS...
  local name=$1; shift
  "$BIN" anomaly --features "$OUT/feats/test" --labels "$OUT/synth/labels" --out "$OUT/scores/$name" --overwrite --stride 2 "$@"
}
score "thinkjepa-s$SEED" --ckpt "$OUT/runs/thinkjepa-s$SEED/best.safetensors" --thinker "$OUT/thinker/test"
score "jepa-only-s$SEED" --ckpt "$OUT/runs/jepa-only-s$SEED/best.safetensors"
for b in frame-diff copy-last; do
  score "$b" --baseline "$b" --ckpt "$OUT/runs/jepa-only-s$SEED/best.safetensors" --embed none
done
t_score=$(date +%s)

# The table: pooled frame-level ROC AUC and AP (upstream's rules, from each summary.json),
# per-kind ROC AUC (that kind's anomalous episodes + all normal ones), and chance.
"$PY" - "$OUT" "$SEED" "$((t_data - t0))" "$((t_train - t_data))" "$((t_score - t_train))" <<'PYEOF'
import csv, json, os, sys
out, seed, t_data, t_train, t_score = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
meta = json.load(open(os.path.join(out, "synth", "synth.json")))
kind = {a["id"].replace("/", "_"): a["events"][0]["kind"] for a in meta["anomalies"]}
kinds = ["jump", "freeze", "swap", "repeat"]

def auc(s, l):  # upstream's rule: ties get their average 1-based rank
    o = sorted(range(len(s)), key=lambda i: s[i]); r = [0.0] * len(s); i = 0
    while i < len(o):
        j = i
        while j + 1 < len(o) and s[o[j + 1]] == s[o[i]]:
            j += 1
        for k in range(i, j + 1):
            r[o[k]] = (i + 1 + j + 1) / 2
        i = j + 1
    P = sum(l); N = len(l) - P
    if P == 0 or N == 0:
        return float("nan")  # undefined without both classes
    return (sum(r[i] for i in range(len(l)) if l[i]) - P * (P + 1) / 2) / (P * N)

def frames(name):
    d = os.path.join(out, "scores", name, "clips")
    rows = {}
    for cid in sorted(os.listdir(d)):
        for r in csv.DictReader(open(os.path.join(d, cid, "scores.csv"))):
            if r["valid"] == "1" and r["gt"] != "":
                rows.setdefault(cid, []).append((float(r["score"]), r["gt"] == "1"))
    return rows

names = [("ThinkJEPA predictor", f"thinkjepa-s{seed}"), ("JEPA-only predictor", f"jepa-only-s{seed}"),
         ("frame difference", "frame-diff"), ("copy last frame", "copy-last")]
res = {}
print("Held-out episodes: %d normal + %d anomalous; frame-level scores (seed %s)" % (
    sum(1 for c in frames(names[0][1]) if c not in kind), len(kind), seed))
print()
print("| score | ROC AUC | AP | " + " | ".join("AUC %s" % k for k in kinds) + " |")
print("|---|---|---|" + "---|" * len(kinds))
for label, name in names:
    s = json.load(open(os.path.join(out, "scores", name, "summary.json")))
    rows = frames(name)
    per = []
    for k in kinds:
        sc, lb = [], []
        for cid, v in rows.items():
            if kind.get(cid) in (None, k):
                sc += [x for x, _ in v]; lb += [y for _, y in v]
        per.append(auc(sc, lb))
    a, ap = s["roc_auc"], s["average_precision"]
    if a is None or ap is None:
        sys.exit("%s: ROC AUC undefined (no anomalous or no normal frames scored)" % name)
    res[name] = (a, ap)
    print("| %s | %.3f | %.3f | %s |" % (label, a, ap, " | ".join("%.3f" % x for x in per)))
pos = json.load(open(os.path.join(out, "scores", names[0][1], "summary.json")))
rate = pos["anomalous_frames"] / pos["frames"]
print("| chance | 0.500 | %.3f | %s |" % (rate, " | ".join("0.500" for _ in kinds)))
print()
tj, fd = res[names[0][1]][0], res["frame-diff"][0]
checks = [("ThinkJEPA predictor ROC AUC %.3f >= 0.85" % tj, tj >= 0.85),
          ("ThinkJEPA predictor ROC AUC %.3f > frame difference %.3f" % (tj, fd), tj > fd)]
print("Goal checks:")
for text, ok in checks:
    print("  [%s] %s" % ("ok" if ok else "FAILED", text))
print("goal %s" % ("met" if all(ok for _, ok in checks) else "NOT met"))
print("wall time: data %d s, training %d s, scoring %d s" % (t_data, t_train, t_score))
PYEOF
echo
echo "per-clip scores and plots: $OUT/scores/*/clips/<clip>/; summaries: $OUT/scores/*/summary.md; embedding: $OUT/scores/thinkjepa-s$SEED/embedding.png"
