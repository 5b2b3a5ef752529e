#!/usr/bin/env bash
# The GPU check of the CUDA engine (issue 11), one prepared run for a lent GPU machine
# that has no Go: run it from an unpacked `make gpu-bundle` (or from a checkout holding
# gpu-bundle.tar.xz, which it unpacks into /tmp). Budget: about 8 minutes on one H100/H200.
#
#   scripts/gpu-check.sh            # on the GPU machine; results under $OUT (default ./gpu-out)
#   scripts/gpu-check.sh --dry-run  # here, without a GPU: the same steps on the CUDA emulator
#
# Steps: device query; the engine conformance suite on the GPU (fp32 GEMMs at the CPU's
# tolerances, TF32 at about 1e-3); the golden PyTorch parity fixtures and whole-model
# gradients + training on the GPU engine (fp32); throughput of the ViT-L encoder forward
# and the ThinkJEPA predictor fwd+bwd against PyTorch eager on the same GPU. Writes
# $OUT/gpu-check.log, $OUT/go_bench.json, $OUT/torch_bench.json, $OUT/summary.json.
set -uo pipefail
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
here=$(cd "$(dirname "$0")/.." && pwd)
B=$here
if [ ! -x "$B/bin/thinkjepa" ]; then
	if [ -x "$here/gpu-bundle/bin/thinkjepa" ]; then
		B=$here/gpu-bundle
	elif [ -f "$here/gpu-bundle.tar.xz" ]; then
		B=/tmp/thinkjepa-gpu-bundle
		rm -rf "$B" && mkdir -p "$B" && tar -xJf "$here/gpu-bundle.tar.xz" -C "$B" || { echo "cannot unpack gpu-bundle.tar.xz"; exit 1; }
	else
		echo "no bundle: run make gpu-bundle first (bin/thinkjepa, or gpu-bundle/, or gpu-bundle.tar.xz)"; exit 1
	fi
fi
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
LOG=$OUT/gpu-check.log
: > "$LOG"
declare -A RESULT
FAILED=0
say() { echo "$*" | tee -a "$LOG"; }
# step NAME TIMEOUT DIR CMD...: runs CMD in DIR with a time limit, logs it, records pass/fail.
step() {
	local name=$1 limit=$2 dir=$3
	shift 3
	say "== $name: $*"
	local t0=$SECONDS
	(cd "$dir" && timeout "$limit" "$@") >>"$LOG" 2>&1
	local rc=$?
	local dt=$((SECONDS - t0))
	if [ $rc = 0 ]; then RESULT[$name]="pass (${dt}s)"; else RESULT[$name]="FAIL rc=$rc (${dt}s)"; FAILED=1; fi
	say "   -> ${RESULT[$name]}"
}

if [ $DRY = 1 ]; then
	say "gpu-check: DRY RUN on $(hostname) (no GPU: the CUDA kernels run on the emulator)"
	GPU_ENV=()
	DEVICE=cuda-emu
	SMALL=(--gpu-workloads-small)
	RUN_CONF='TestConformanceEmu|TestNoDriverIsAnError|TestPlantedMissingSyncIsCaught|TestKernelList'
else
	say "gpu-check on $(hostname)"
	step device-query 30 "$B" nvidia-smi
	# cuBLAS 13 lives in PyTorch's nvidia-cublas wheel.
	CUBLAS_DIR=$(python3 -c "import nvidia.cublas, os; print(os.path.join(os.path.dirname(nvidia.cublas.__file__), 'lib'))" 2>/dev/null \
		|| python3 -c "import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], 'lib'))" 2>/dev/null || true)
	[ -n "$CUBLAS_DIR" ] && export LD_LIBRARY_PATH="$CUBLAS_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
	say "cuBLAS directory: ${CUBLAS_DIR:-not found}"
	GPU_ENV=(env THINKJEPA_GPU_TESTS=1 THINKJEPA_REQUIRE_GPU=1)
	DEVICE=cuda
	SMALL=()
	RUN_CONF='TestConformanceGPU|TestConformanceEmu'
fi
step version 30 "$B" ./bin/thinkjepa version
step conformance 240 "$B/nn/cuda" "${GPU_ENV[@]}" ./cuda.test -test.v -test.count=1 -test.run "$RUN_CONF"
for p in jepa film rollout; do
	step "golden-$p" 180 "$B/$p" "${GPU_ENV[@]}" "./$p.test" -test.v -test.count=1 -test.run Golden
done
step train 180 "$B/train" "${GPU_ENV[@]}" ./train.test -test.v -test.count=1 -test.run CUDAEngine
for prec in fp32 tf32; do
	step "go-bench-$prec" 240 "$B" ./bin/thinkjepa bench --gpu-workloads "${SMALL[@]}" --device "$DEVICE" --precision "$prec" --repeats 3 --json "$OUT/go_bench_$prec.json"
done
if [ $DRY = 1 ]; then
	step torch-bench 60 "$B" python3 tools/gpu/torch_bench.py --dry-run
else
	step torch-bench 300 "$B" python3 tools/gpu/torch_bench.py --repeats 5 --json "$OUT/torch_bench.json"
fi

# The tables of the conformance run are in the log; the summary has each step's outcome
# and the throughput side by side.
python3 - "$OUT" "$DRY" <<'PY' 2>&1 | tee -a "$LOG"
import json, os, sys
out, dry = sys.argv[1], sys.argv[2] == "1"
def load(n):
    p = os.path.join(out, n)
    return json.load(open(p)) if os.path.exists(p) else {}
go = {k: load(f"go_bench_{k}.json") for k in ("fp32", "tf32")}
th = load("torch_bench.json")
rows = []
for prec in ("fp32", "tf32"):
    for w in ("vitl_encoder_fwd", "vitl_predictor_fwd_bwd"):
        g, t = go[prec].get(w, {}), th.get(f"{prec}.{w}", {})
        rows.append({"precision": prec, "workload": w, "go_per_s": g.get("per_second"), "torch_per_s": t.get("per_second"),
                     "go_over_torch": (g["per_second"] / t["per_second"]) if g and t else None})
print("throughput (clips/s)%s:" % (" [dry run: tiny shapes on the emulator, no PyTorch]" if dry else ""))
print("%-6s %-24s %10s %10s %8s" % ("prec", "workload", "go", "torch", "go/torch"))
for r in rows:
    f = lambda v: "-" if v is None else "%.3g" % v
    print("%-6s %-24s %10s %10s %8s" % (r["precision"], r["workload"], f(r["go_per_s"]), f(r["torch_per_s"]), f(r["go_over_torch"])))
json.dump({"dry_run": dry, "throughput": rows, "torch": {k: v for k, v in th.items() if not isinstance(v, dict)}},
          open(os.path.join(out, "summary.json"), "w"), indent=2)
PY
say "== steps"
for k in "${!RESULT[@]}"; do say "$(printf '%-18s %s' "$k" "${RESULT[$k]}")"; done
if [ $FAILED = 1 ]; then say "gpu-check: FAILED (see $LOG)"; exit 1; fi
say "gpu-check: all steps passed ($LOG)"
