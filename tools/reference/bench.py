"""Time the PyTorch reference on the shared benchmark configs (see README.md).

Prints one JSON object {"<config>.<workload>": {"<threads>": seconds}} (median of --repeats
runs after one warm-up), fp32 on CPU.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as R  # noqa: E402

CONFIGS = {
    "small": {
        "encoder": dict(embed_dim=192, depth=4, num_heads=3, mlp_ratio=4.0, patch_size=16,
                        tubelet_size=2, img_size=128, num_frames=8),
        "predictor": dict(embed_dim=192, predictor_embed_dim=384, depth=12, num_heads=6,
                          mlp_ratio=4.0, tokens_per_frame=64, num_frames=8, past_frames=4,
                          num_query_templates=2, query_index=1, causal=False),
    },
    "vitl_width": {
        "encoder": dict(embed_dim=1024, depth=2, num_heads=16, mlp_ratio=4.0, patch_size=16,
                        tubelet_size=2, img_size=256, num_frames=16),
        "predictor": dict(embed_dim=1024, predictor_embed_dim=384, depth=12, num_heads=6,
                          mlp_ratio=4.0, tokens_per_frame=64, num_frames=16, past_frames=8,
                          num_query_templates=2, query_index=1, causal=False),
    },
}


def timeit(fn, repeats):
    fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def workloads(cfg):
    torch.manual_seed(0)
    enc = R.Encoder(cfg["encoder"]).eval()
    ec = cfg["encoder"]
    x = torch.randn(1, 3, ec["num_frames"], ec["img_size"], ec["img_size"])

    def encoder_fwd():
        with torch.no_grad():
            enc(x)

    pc = cfg["predictor"]
    pred = R.ThinkJEPAPredictor(pc)
    p = pc["tokens_per_frame"]
    x_ctx = torch.randn(1, pc["past_frames"] * p, pc["embed_dim"])
    gammas = 0.1 * torch.randn(pc["depth"], 1, pc["predictor_embed_dim"])
    betas = 0.1 * torch.randn(pc["depth"], 1, pc["predictor_embed_dim"])
    g = torch.randn(1, (pc["num_frames"] - pc["past_frames"]) * p, pc["embed_dim"])

    def predictor_fwd_bwd():
        pred.zero_grad(set_to_none=True)
        out = pred(x_ctx, gammas, betas)
        (out * g).sum().backward()

    return {"encoder_fwd": encoder_fwd, "predictor_fwd_bwd": predictor_fwd_bwd}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--configs", default="small,vitl_width")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    result = {}
    for name in args.configs.split(","):
        if name not in CONFIGS:
            sys.exit(f"bench.py: unknown config {name!r} (known: {', '.join(CONFIGS)})")
        for wl, fn in workloads(CONFIGS[name]).items():
            per = {}
            for n in (int(s) for s in args.threads.split(",")):
                torch.set_num_threads(n)
                per[str(n)] = timeit(fn, args.repeats)
            result[f"{name}.{wl}"] = per
    print(json.dumps(result))


if __name__ == "__main__":
    main()
