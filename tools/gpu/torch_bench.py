"""PyTorch eager reference timings for the GPU check (scripts/gpu-check.sh).

The same workloads and shapes as `thinkjepa bench --gpu-workloads` (cmd/thinkjepa/cmd_bench_gpu.go),
built from tools/reference/reference.py (our PyTorch re-implementation of the models):

- vitl_encoder_fwd: V-JEPA 2 ViT-L encoder (depth 24, width 1024, 16 heads) inference forward
  on 8 clips of 16 frames at 256², no_grad.
- vitl_predictor_fwd_bwd: ThinkJEPA predictor at ViT-L width (vitl_width in bench.py), batch
  16, forward + backward of sum(out * g).

Each runs in fp32 and with TF32 matmuls, median of --repeats timed runs after a warm-up,
timed with CUDA events on random inputs. Writes JSON to --json (and stdout).

--dry-run checks the script and its imports without torch or a GPU (for the CPU machines).
"""
import argparse
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "..", "reference")

ENCODER = dict(embed_dim=1024, depth=24, num_heads=16, mlp_ratio=4.0, patch_size=16,
               tubelet_size=2, img_size=256, num_frames=16)
PREDICTOR = dict(embed_dim=1024, predictor_embed_dim=384, depth=12, num_heads=6, mlp_ratio=4.0,
                 tokens_per_frame=64, num_frames=16, past_frames=8, num_query_templates=2,
                 query_index=1, causal=False)
ENC_BATCH, PRED_BATCH = 8, 16


def timed(torch, fn, repeats):
    fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(repeats):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b) / 1000.0)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", default="")
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    if args.dry_run:
        src = open(os.path.join(REF, "reference.py")).read()
        for name in ("class Encoder", "class ThinkJEPAPredictor"):
            if name not in src:
                sys.exit(f"torch_bench.py: {name} missing from tools/reference/reference.py")
        print(json.dumps({"dry_run": True, "encoder": ENCODER, "predictor": PREDICTOR}))
        return
    import torch
    sys.path.insert(0, REF)
    import reference as R

    if not torch.cuda.is_available():
        sys.exit("torch_bench.py: no CUDA device visible to PyTorch")
    dev = torch.device("cuda")
    torch.manual_seed(0)
    enc = R.Encoder(ENCODER).to(dev).eval()
    x = torch.randn(ENC_BATCH, 3, ENCODER["num_frames"], ENCODER["img_size"], ENCODER["img_size"], device=dev)
    pred = R.ThinkJEPAPredictor(PREDICTOR).to(dev)
    p = PREDICTOR["tokens_per_frame"]
    x_ctx = torch.randn(PRED_BATCH, PREDICTOR["past_frames"] * p, PREDICTOR["embed_dim"], device=dev)
    gammas = 0.1 * torch.randn(PREDICTOR["depth"], PRED_BATCH, PREDICTOR["predictor_embed_dim"], device=dev)
    betas = 0.1 * torch.randn(PREDICTOR["depth"], PRED_BATCH, PREDICTOR["predictor_embed_dim"], device=dev)
    g = torch.randn(PRED_BATCH, (PREDICTOR["num_frames"] - PREDICTOR["past_frames"]) * p, PREDICTOR["embed_dim"], device=dev)

    def encoder_fwd():
        with torch.no_grad():
            enc(x)

    def predictor_fwd_bwd():
        pred.zero_grad(set_to_none=True)
        (pred(x_ctx, gammas, betas) * g).sum().backward()

    out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    for prec in ("fp32", "tf32"):
        torch.backends.cuda.matmul.allow_tf32 = prec == "tf32"
        torch.backends.cudnn.allow_tf32 = prec == "tf32"
        for name, fn, b in (("vitl_encoder_fwd", encoder_fwd, ENC_BATCH),
                            ("vitl_predictor_fwd_bwd", predictor_fwd_bwd, PRED_BATCH)):
            s = timed(torch, fn, args.repeats)
            out[f"{prec}.{name}"] = {"seconds": s, "batch": b, "per_second": b / s}
            print(f"torch {prec} {name:24s} batch {b:3d} {s:9.4f} s {b / s:9.2f} clips/s", file=sys.stderr)
    js = json.dumps(out, indent=2)
    if args.json:
        with open(args.json, "w") as f:
            f.write(js + "\n")
    print(js)


if __name__ == "__main__":
    main()
