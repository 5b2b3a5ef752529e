"""Cross-check the golden fixtures against the upstream V-JEPA 2 code (optional).

Usage: /usr/bin/python3 tools/reference/check_upstream.py /path/to/vjepa2-checkout

Loads encoder_tiny, encoder_hd80, encoder_outlayers and vjepa_predictor_tiny weights into
facebookresearch/vjepa2's own VisionTransformer / VisionTransformerPredictor (use_rope,
use_sdpa=False: PyTorch 1.13 has no SDPA) in float64, runs them on the stored inputs, and
compares with (a) our reference (reference.py) recomputed in float64 from the same stored
weights and inputs: must agree to 1e-10; (b) the stored `out` of io.npz, which is that float64
result rounded to float32: must agree to 1e-6 (float32 rounding is ≤ 6e-8).
Nothing from upstream is copied into this repository; it is imported from the checkout.
"""
import json
import os
import sys

from functools import partial

import numpy as np
import torch
import torch.nn as nn

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
G = os.path.join(ROOT, "testdata", "golden")


def load(case):
    """config, float64 weights, and io.npz with every float array as a float64 tensor (the
    stored float32 values are exact in float64), integer arrays as int64 tensors."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from make_golden import read_safetensors  # noqa: E402
    cfg = json.load(open(os.path.join(G, case, "config.json")))
    wcase = cfg.get("weights_from", case)
    w = read_safetensors(os.path.join(G, wcase, "weights.safetensors"))
    z = np.load(os.path.join(G, case, "io.npz"))
    io = {}
    for k in z.files:
        a = torch.from_numpy(z[k])
        io[k] = a.double() if a.is_floating_point() else a
    return cfg, {k: torch.from_numpy(v).double() for k, v in w.items()}, io


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


class Tally:
    """Worst relative difference against the float64 reference and against the stored file."""

    def __init__(self):
        self.ref, self.stored = 0.0, 0.0

    def add(self, what, up, ref, stored=None):
        r = rel(up, ref)
        self.ref = max(self.ref, r)
        msg = f"{what}: upstream vs reference {r:.2e}"
        if stored is not None:
            q = rel(up, stored)
            self.stored = max(self.stored, q)
            msg += f", vs stored float32 {q:.2e}"
        print(msg)

    def ok(self):
        return self.ref < 1e-10 and self.stored < 1e-6


def stub_missing_modules():
    """timm and einops are not in Debian's python3-torch setup; the paths we run need only
    drop_path (identity at p = 0) and einops is unused by PatchEmbed3D's forward."""
    import types
    if "timm" not in sys.modules:
        timm = types.ModuleType("timm")
        timm.models = types.ModuleType("timm.models")
        timm.models.layers = types.ModuleType("timm.models.layers")
        timm.models.layers.drop_path = lambda x, drop_prob=0.0, training=False: x
        sys.modules.update({"timm": timm, "timm.models": timm.models, "timm.models.layers": timm.models.layers})
    import torch.nn.functional as F
    if not hasattr(F, "scaled_dot_product_attention"):  # PyTorch < 2.0
        def sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False):
            assert dropout_p == 0.0 and not is_causal
            att = (q @ k.transpose(-2, -1)) / q.shape[-1] ** 0.5
            if attn_mask is not None:
                att = att.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else att + attn_mask
            return att.softmax(-1) @ v
        F.scaled_dot_product_attention = sdpa
    try:
        import einops  # noqa: F401
    except ImportError:
        e = types.ModuleType("einops")
        e.rearrange = None
        sys.modules["einops"] = e


def main():
    stub_missing_modules()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, sys.argv[1])
    from src.models.vision_transformer import VisionTransformer
    from src.models.predictor import VisionTransformerPredictor
    import reference as R
    tally = Tally()
    for case in ["encoder_tiny", "encoder_hd80", "encoder_outlayers"]:
        cfg, w, io = load(case)
        m = VisionTransformer(img_size=cfg["img_size"], patch_size=cfg["patch_size"], num_frames=cfg["num_frames"],
                              tubelet_size=cfg["tubelet_size"], embed_dim=cfg["embed_dim"], depth=cfg["depth"],
                              num_heads=cfg["num_heads"], mlp_ratio=cfg["mlp_ratio"], use_rope=True, use_sdpa=False,
                              out_layers=cfg["out_layers"], norm_layer=partial(nn.LayerNorm, eps=1e-6)).double().eval()
        m.load_state_dict(w)
        ours = R.Encoder(cfg).double().eval()
        ours.load_state_dict(w)
        with torch.no_grad():
            out, ref = m(io["x"]), ours(io["x"])
        if cfg["out_layers"] is not None:
            for i, o, r in zip(cfg["out_layers"], out, ref):
                tally.add(f"{case} out.{i}", o, r, io[f"out.{i}"])
        else:
            tally.add(case, out, ref, io["out"])
    cfg, w, io = load("vjepa_predictor_tiny")
    m = VisionTransformerPredictor(img_size=(cfg["img_size"], cfg["img_size"]), patch_size=cfg["patch_size"],
                                   num_frames=cfg["num_frames"], tubelet_size=cfg["tubelet_size"],
                                   embed_dim=cfg["embed_dim"], predictor_embed_dim=cfg["predictor_embed_dim"],
                                   depth=cfg["depth"], num_heads=cfg["num_heads"], mlp_ratio=cfg["mlp_ratio"],
                                   use_mask_tokens=True, num_mask_tokens=cfg["num_mask_tokens"], use_rope=True,
                                   use_sdpa=False, norm_layer=partial(nn.LayerNorm, eps=1e-6)).double().eval()
    m.load_state_dict(w)
    ours = R.VJEPAPredictor(cfg).double().eval()
    ours.load_state_dict(w)
    with torch.no_grad():
        out = m(io["x"], io["masks_x"], io["masks_y"], mask_index=int(io["mask_index"]))
        ref = ours(io["x"], io["masks_x"], io["masks_y"], io["mask_index"])
    tally.add("vjepa_predictor_tiny", out, ref, io["out"])

    # ThinkJEPA predictor = upstream predictor over a fake (P x 1) image, patch 1, tubelet 1
    # (model-spec §4.4); with zero FiLM our reference must equal it (RoPE position quirk).
    cfg, w, io = load("thinkjepa_predictor_tiny")
    p = cfg["tokens_per_frame"]
    up = VisionTransformerPredictor(img_size=(p, 1), patch_size=1, num_frames=cfg["num_frames"], tubelet_size=1,
                                    embed_dim=cfg["embed_dim"], predictor_embed_dim=cfg["predictor_embed_dim"],
                                    depth=cfg["depth"], num_heads=cfg["num_heads"], mlp_ratio=cfg["mlp_ratio"],
                                    use_mask_tokens=True, num_mask_tokens=cfg["num_query_templates"], use_rope=True,
                                    use_sdpa=False, norm_layer=partial(nn.LayerNorm, eps=1e-6)).double().eval()
    legacy = {"context_adapter.": "predictor_embed.", "query_templates.": "mask_tokens.",
              "rollout_layers.": "predictor_blocks.", "rollout_norm.": "predictor_norm.",
              "output_adapter.": "predictor_proj."}
    renamed = {}
    for k, v in w.items():
        for a, b in legacy.items():
            if k.startswith(a):
                k = b + k[len(a):]
        renamed[k] = v
    up.load_state_dict(renamed)
    ours = R.ThinkJEPAPredictor(cfg).double().eval()
    ours.load_state_dict(w)
    b, nc = io["x_ctx"].shape[:2]
    n = cfg["num_frames"] * p
    x = io["x_ctx"]
    zero = torch.zeros(cfg["depth"], b, cfg["predictor_embed_dim"], dtype=torch.float64)
    with torch.no_grad():
        a = up(x, torch.arange(nc).repeat(b, 1), torch.arange(nc, n).repeat(b, 1), mask_index=cfg["query_index"])
        o = ours(x, zero, zero)
    tally.add("thinkjepa_predictor_tiny (zero FiLM, no stored output)", a, o)
    print(f"worst: vs reference {tally.ref:.2e} (limit 1e-10), vs stored float32 {tally.stored:.2e} (limit 1e-6)")
    print("OK" if tally.ok() else "MISMATCH")
    sys.exit(0 if tally.ok() else 1)


if __name__ == "__main__":
    main()
