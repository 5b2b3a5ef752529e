"""Write the golden fixtures under testdata/golden/ (see README.md for the contract).

Deterministic: every case seeds its own generator from its name.
"""
import argparse
import collections
import copy
import json
import math
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as R  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "testdata", "golden")

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64"}


def write_safetensors(path, tensors, metadata=None):
    """Minimal safetensors writer: 8-byte LE header length, JSON header, raw LE data."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().tobytes()
        else:
            raw = t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Read a safetensors file written by write_safetensors (F32/F16/F64) into numpy arrays."""
    np_types = {"F32": np.float32, "F16": np.float16, "F64": np.float64}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        out[name] = np.frombuffer(data[b:en], dtype=np_types[e["dtype"]]).reshape(e["shape"]).copy()
    return out


def seed_for(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def randomize(module, gen):
    """Non-init-like random weights, rounded to float32 (the module stays float32)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            leaf = name.split(".")[-1]
            parent = module.get_submodule(name.rsplit(".", 1)[0]) if "." in name else module
            if isinstance(parent, nn.LayerNorm) and leaf == "weight":
                v = 1 + 0.1 * torch.randn(p.shape, generator=gen, dtype=torch.float64)
            elif leaf == "bias" or leaf.endswith("_bias"):
                v = 0.1 * torch.randn(p.shape, generator=gen, dtype=torch.float64)
            elif name == "guidance_layer_scale":
                v = 0.5 + 0.3 * torch.randn(p.shape, generator=gen, dtype=torch.float64)
            elif p.dim() >= 2 and not name.startswith(("mask_tokens", "query_templates", "token_query")):
                fan_in = p[0].numel()
                v = torch.randn(p.shape, generator=gen, dtype=torch.float64) / math.sqrt(fan_in)
            else:
                v = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            p.copy_(v.float())


def state_f32(module):
    return collections.OrderedDict((k, v.detach().clone().float()) for k, v in module.state_dict().items())


def as_f32_values(t):
    """Round a float64 tensor to float32 values (dtype stays float64): every input the
    reference computes with is then exactly what the Go side reads from the float32 file."""
    return t.float().double()


def stored(v):
    """What io.npz holds: floats as float32 (the reference's float64 result rounded once,
    relative error <= 2^-24, far below the 1e-5 / 1e-4 parity tolerances), ints as int64."""
    v = v.detach()
    return v.float().numpy() if v.is_floating_point() else v.numpy()


def run_case(name, module, cfg, inputs, call, grad_inputs, forward_only=False, write_weights=True,
             lowvar=None):
    """Save config, float32 weights and float32 io for one case (the computation is float64).

    write_weights=False: the case reuses another case's weights.safetensors (named by
    cfg["weights_from"]), so they are stored once.
    lowvar: a LowVar (below): a second, small-variance run of the same weights stored under
    the "lowvar." prefix of io.npz and described in config.json's "lowvar"."""
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    gen = torch.Generator().manual_seed(seed_for(name + "/grad"))
    wpath = os.path.join(d, "weights.safetensors")
    if write_weights:
        write_safetensors(wpath, state_f32(module))
    elif os.path.exists(wpath):
        os.remove(wpath)
    m = module.double()
    params = dict(m.named_parameters())
    inputs = {k: as_f32_values(v) if v.is_floating_point() else v for k, v in inputs.items()}
    for t in grad_inputs:
        inputs[t].requires_grad_(True)
    out = call(m, inputs)
    outs = out if isinstance(out, dict) else {"": out}
    io = {}
    for k, v in inputs.items():
        io[k] = stored(v)
    loss = 0
    for k, v in outs.items():
        key = "out" + ("." + k if k else "")
        io[key] = stored(v)
        if not forward_only:
            g = as_f32_values(torch.randn(v.shape, generator=gen, dtype=torch.float64))
            io["grad_out" + ("." + k if k else "")] = stored(g)
            loss = loss + (v * g).sum()
    if not forward_only:
        names = list(grad_inputs) + list(params)
        tensors = [inputs[t] for t in grad_inputs] + list(params.values())
        grads = torch.autograd.grad(loss, tensors, allow_unused=True)
        for n, t, g in zip(names, tensors, grads):
            io["grad." + n] = stored(torch.zeros_like(t) if g is None else g)
    if lowvar is not None:
        cfg = dict(cfg, lowvar=lowvar.run(name, m, call, grad_inputs, io))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    np.savez(os.path.join(d, "io.npz"), **io)
    return io


# ---------------------------------------------------------------------------------------
# small-variance runs: LayerNorm eps must matter
#
# With the ordinary weights every LayerNorm input has per-row variance ~0.1..1, so a wrong eps
# (1e-5 for 1e-6 or the other way round, or ×10) moves the outputs by only ~5e-6 relative,
# under the 1e-5 parity tolerance. The low-variance run multiplies the weights that write into
# the normed stream (the embeddings, every residual branch's last Linear, the head's pre-norm
# Linears) and/or the inputs by a power of two, so the stream stays at ~scale² variance
# (~1e-5..1e-4) through every norm and eps changes the outputs at the 1e-2 level. A power of
# two keeps the scaled float32 weights exact, so the Go side scales the stored weights itself
# and both sides compute with the same numbers; the weights are stored once.

# every LayerNorm's eps ×10 and ÷10 must move the low-variance outputs by at least this
# (relative), i.e. 50× the 1e-5 output tolerance.
EPS_CHECK_MIN = 5e-4


class LowVar:
    def __init__(self, name, scale, weights, draw):
        """weights: parameter keys multiplied by scale; draw(gen, scale): the inputs (float64,
        drawn from the case's own "/lowvar" generator, so the main run's arrays do not move)."""
        assert scale == 2.0 ** round(math.log2(scale)), "scale must be a power of two"
        self.scale, self.weights = scale, list(weights)
        self.inputs = draw(torch.Generator().manual_seed(seed_for(name + "/lowvar")), scale)

    def run(self, name, m, call, grad_inputs, io):
        """Add the "lowvar." arrays to io (inputs, outputs, grad_out and the input gradients;
        no parameter gradients, to keep the files small) and return config.json's "lowvar"."""
        lm = copy.deepcopy(m)
        params = dict(lm.named_parameters())
        with torch.no_grad():
            for k in self.weights:
                p = params[k]
                p.mul_(self.scale)
                assert torch.equal(p.float().double(), p), f"{k}: scaled weight not exact in float32"
        gen = torch.Generator().manual_seed(seed_for(name + "/lowvar/grad"))
        inputs = {k: as_f32_values(v) if v.is_floating_point() else v for k, v in self.inputs.items()}
        for t in grad_inputs:
            inputs[t].requires_grad_(True)
        out = call(lm, inputs)
        outs = out if isinstance(out, dict) else {"": out}
        for k, v in inputs.items():
            io["lowvar." + k] = stored(v)
        loss = 0
        for k, v in outs.items():
            sfx = "." + k if k else ""
            io["lowvar.out" + sfx] = stored(v)
            g = as_f32_values(torch.randn(v.shape, generator=gen, dtype=torch.float64))
            io["lowvar.grad_out" + sfx] = stored(g)
            loss = loss + (v * g).sum()
        grads = torch.autograd.grad(loss, [inputs[t] for t in grad_inputs])
        for t, g in zip(grad_inputs, grads):
            io["lowvar.grad." + t] = stored(g)
        return {"scale": self.scale, "scaled_weights": self.weights,
                "eps_check": eps_check(name, lm, call, inputs)}


def eps_check(name, m, call, inputs):
    """Per LayerNorm: relative change of all outputs when its eps alone is ×10 and ÷10 (two
    significant digits), plus the median per-row variance of its input; None for a norm whose
    input is all zero (eps cannot matter there: LN(0) = bias)."""
    def flat(o):
        return torch.cat([v.reshape(-1) for v in (o.values() if isinstance(o, dict) else [o])])

    def sig2(v):
        return float(f"{v:.1e}")
    inputs = {k: v.detach() for k, v in inputs.items()}
    res = {}
    with torch.no_grad():
        base = flat(call(m, inputs))
        for n, mod in m.named_modules():
            if not isinstance(mod, nn.LayerNorm):
                continue
            seen = []
            h = mod.register_forward_hook(lambda _m, i, _o: seen.append(i[0]))
            call(m, inputs)
            h.remove()
            x = torch.cat([s.reshape(-1, s.shape[-1]) for s in seen])
            if not x.abs().max() > 0:
                res[n] = None
                continue
            eps0, rel = mod.eps, []
            for f in (10.0, 0.1):
                mod.eps = eps0 * f
                rel.append(sig2(((flat(call(m, inputs)) - base).norm() / base.norm()).item()))
            mod.eps = eps0
            assert min(rel) >= EPS_CHECK_MIN, f"{name} {n}: eps x10 / /10 moves the outputs by only {rel}"
            res[n] = {"eps": eps0, "input_var": sig2(x.var(-1, unbiased=False).median().item()),
                      "x10": rel[0], "div10": rel[1]}
    return res


def randn(gen, *shape):
    return torch.randn(shape, generator=gen, dtype=torch.float64)


# ---------------------------------------------------------------------------------------
# cases

def encoder_cfg(**kw):
    cfg = {"kind": "vjepa_encoder", "in_chans": 3, "norm_eps": 1e-6, "out_layers": None}
    cfg.update(kw)
    return cfg


# Sizes are as small as the features under test allow (the fixtures are committed); each
# case's comment says which RoPE split it covers: head_dim hd gives d_sub = 2·((hd//3)//2)
# rotated channels per axis (M = d_sub/2 frequencies) and an unrotated tail hd − 3·d_sub.
# Every token grid has more than one position on each of t, h, w.

# hd 16: d_sub 4 (M 2), tail 4; two heads; grid 2×3×3.
ENCODER_TINY = encoder_cfg(embed_dim=32, depth=2, num_heads=2, mlp_ratio=1.0, patch_size=4,
                           tubelet_size=2, img_size=12, num_frames=4, batch=2)
# hd 80 (ViT-H/16's head): d_sub 26 (M 13, odd), tail 2; MLP hidden 40 ≠ width.
ENCODER_HD80 = encoder_cfg(embed_dim=80, depth=1, num_heads=1, mlp_ratio=0.5, patch_size=2,
                           tubelet_size=2, img_size=6, num_frames=4, batch=1)
# hd 64 (ViT-L/g and the ThinkJEPA predictor): d_sub 20 (M 10), tail 4; forward only.
ENCODER_OUTLAYERS = encoder_cfg(embed_dim=64, depth=2, num_heads=1, mlp_ratio=0.5, patch_size=4,
                                tubelet_size=2, img_size=8, num_frames=4, batch=2, out_layers=[0, 1])
# hd 16 with an odd head count (3).
PREDICTOR_TINY = {"kind": "vjepa_predictor", "embed_dim": ENCODER_TINY["embed_dim"], "predictor_embed_dim": 48,
                  "depth": 2, "num_heads": 3, "mlp_ratio": 1.0, "num_mask_tokens": 3,
                  "img_size": ENCODER_TINY["img_size"], "patch_size": ENCODER_TINY["patch_size"],
                  "num_frames": ENCODER_TINY["num_frames"], "tubelet_size": ENCODER_TINY["tubelet_size"],
                  "grid_size": ENCODER_TINY["img_size"] // ENCODER_TINY["patch_size"], "norm_eps": 1e-6,
                  "batch": 2}
# hd 20: d_sub 6 (M 3, odd), tail 2. 8 frames of P = 4 tokens: 32 tokens > P² = 16, so
# t = n div P² takes 0 and 1 (production has num_frames < P, t always 0; this is the
# general formula), h and w range over 0..3.
TJ_TINY = {"kind": "thinkjepa_predictor", "embed_dim": 16, "predictor_embed_dim": 40, "depth": 2,
           "num_heads": 2, "mlp_ratio": 1.0, "tokens_per_frame": 4, "num_frames": 8, "past_frames": 4,
           "num_query_templates": 2, "query_index": 1, "norm_eps": 1e-6, "causal": False, "batch": 2}
# the causal case runs the same weights (stored once, in thinkjepa_predictor_tiny)
TJ_CAUSAL = dict(TJ_TINY, causal=True, weights_from="thinkjepa_predictor_tiny")
# width C = the ThinkJEPA predictor's width; depth 3 > 2 pyramid layers covers the zero
# signature of layers past the pyramid.
GUIDANCE_TINY = {"kind": "guidance_bank", "embed_dim": TJ_TINY["predictor_embed_dim"], "vlm_dim": 16,
                 "num_pyramid_layers": 2, "depth": 3, "fusion_hidden_dim": 16, "fusion_norm_eps": 1e-5,
                 "s_old": 5, "s_new": 3, "batch": 2}
HEAD_TINY = {"kind": "trajectory_head", "embed_dim": 32, "num_heads": 2, "num_frames": 8,
             "tokens_per_frame": 4, "num_joints": 5, "norm_eps": 1e-5, "pool": 2, "batch": 2}


# low-variance runs (see LowVar): transformer streams at ~2^-14 ≈ 6e-5 variance; the head's
# pooled features carry an extra mean over tokens, so it needs less scaling.
LOWVAR_SCALE = 2.0 ** -7
HEAD_LOWVAR_SCALE = 2.0 ** -6


def residual_writers(state, embed):
    """Keys of the weights that write into a transformer's residual stream: the embedding
    (prefixes in embed) and each block's attn.proj and mlp.fc2."""
    return [k for k in state if k.startswith(embed) or ".attn.proj." in k or ".mlp.fc2." in k]


def encoder_tokens(cfg):
    return (cfg["num_frames"] // cfg["tubelet_size"]) * (cfg["img_size"] // cfg["patch_size"]) ** 2


def make_encoder(name, cfg, forward_only=False, lowvar=False):
    gen = torch.Generator().manual_seed(seed_for(name))
    m = R.Encoder(cfg)
    randomize(m, gen)
    shape = (cfg["batch"], 3, cfg["num_frames"], cfg["img_size"], cfg["img_size"])
    x = randn(gen, *shape)
    if cfg.get("out_layers") is not None:
        call = lambda mod, inp: {str(i): o for i, o in zip(cfg["out_layers"], mod(inp["x"]))}  # noqa: E731
    else:
        call = lambda mod, inp: mod(inp["x"])  # noqa: E731
    state = state_f32(m)
    lv = None
    if lowvar:
        # the input stays N(0,1): the scaled patch embedding makes the stream small
        lv = LowVar(name, LOWVAR_SCALE, residual_writers(state, ("patch_embed.",)),
                    lambda g, s: {"x": randn(g, *shape)})
    io = run_case(name, m, cfg, {"x": x}, call, ["x"], forward_only, lowvar=lv)
    return state, io


def make_vjepa_predictor(name, cfg):
    gen = torch.Generator().manual_seed(seed_for(name))
    m = R.VJEPAPredictor(cfg)
    randomize(m, gen)
    b = cfg["batch"]
    n = (cfg["num_frames"] // cfg["tubelet_size"]) * cfg["grid_size"] ** 2
    nc, nt = 7, 5
    mx, my = [], []
    for _ in range(b):
        perm = torch.randperm(n, generator=gen)
        mx.append(perm[:nc])
        my.append(perm[nc:nc + nt])
    inputs = {"x": randn(gen, b, nc, cfg["embed_dim"]), "masks_x": torch.stack(mx).long(),
              "masks_y": torch.stack(my).long(), "mask_index": torch.tensor(4, dtype=torch.int64)}
    state = state_f32(m)
    # same masks, new context features; predictor_embed and the mask tokens scaled
    lv = LowVar(name, LOWVAR_SCALE, residual_writers(state, ("predictor_embed.", "mask_tokens.")),
                lambda g, s: dict(inputs, x=randn(g, *inputs["x"].shape)))
    run_case(name, m, cfg, inputs,
             lambda mod, inp: mod(inp["x"], inp["masks_x"], inp["masks_y"], inp["mask_index"]), ["x"],
             lowvar=lv)
    return state


def make_thinkjepa(name, cfg, state=None):
    """state: reuse these weights (and do not store them again) instead of drawing new ones."""
    gen = torch.Generator().manual_seed(seed_for(name))
    m = R.ThinkJEPAPredictor(cfg)
    if state is None:
        randomize(m, gen)
    else:
        m.load_state_dict(state)
    b, p, c = cfg["batch"], cfg["tokens_per_frame"], cfg["predictor_embed_dim"]
    inputs = {"x_ctx": randn(gen, b, cfg["past_frames"] * p, cfg["embed_dim"]),
              "gammas": 0.3 * randn(gen, cfg["depth"], b, c),
              "betas": 0.3 * randn(gen, cfg["depth"], b, c)}
    state = state_f32(m)
    lv = None
    if "weights_from" not in cfg:
        # FiLM adds betas to the stream before every layer, so they are scaled with it;
        # gammas multiply it and stay O(0.3).
        lv = LowVar(name, LOWVAR_SCALE, residual_writers(state, ("context_adapter.", "query_templates.")),
                    lambda g, s: {"x_ctx": randn(g, *inputs["x_ctx"].shape),
                                  "gammas": 0.3 * randn(g, *inputs["gammas"].shape),
                                  "betas": s * 0.3 * randn(g, *inputs["betas"].shape)})
    run_case(name, m, cfg, inputs, lambda mod, inp: mod(inp["x_ctx"], inp["gammas"], inp["betas"]),
             ["x_ctx", "gammas", "betas"], write_weights="weights_from" not in cfg, lowvar=lv)
    return state


def make_guidance(name, cfg):
    gen = torch.Generator().manual_seed(seed_for(name))
    m = R.GuidanceBank(cfg)
    randomize(m, gen)
    b, lp, so, sn, dv = cfg["batch"], cfg["num_pyramid_layers"], cfg["s_old"], cfg["s_new"], cfg["vlm_dim"]
    mo = torch.ones(b, lp, so, dtype=torch.float64)
    mn = torch.ones(b, lp, sn, dtype=torch.float64)
    mo[1, 0, 3:] = 0
    mo[1, 1, 0] = 0
    mn[1, 0, 2] = 0
    mn[1, 1, 1:] = 0
    inputs = {"vlm_old": randn(gen, b, lp, so, dv), "vlm_old_mask": mo,
              "vlm_new": randn(gen, b, lp, sn, dv), "vlm_new_mask": mn}

    def call(mod, inp):
        g, bt = mod(inp["vlm_old"], inp["vlm_old_mask"], inp["vlm_new"], inp["vlm_new_mask"])
        return {"gammas": g, "betas": bt}
    state = state_f32(m)
    # no weights scaled: small VLM features give a small signature (the LN input); same masks.
    # The layer past the pyramid has a zero signature, where eps cannot matter.
    lv = LowVar(name, LOWVAR_SCALE, [],
                lambda g, s: dict(inputs, vlm_old=s * randn(g, *inputs["vlm_old"].shape),
                                  vlm_new=s * randn(g, *inputs["vlm_new"].shape)))
    run_case(name, m, cfg, inputs, call, ["vlm_old", "vlm_new"], lowvar=lv)
    return state


def make_head(name, cfg):
    gen = torch.Generator().manual_seed(seed_for(name))
    m = R.TrajectoryHead(cfg)
    randomize(m, gen)
    b, t, p, c = cfg["batch"], cfg["num_frames"], cfg["tokens_per_frame"], cfg["embed_dim"]
    x = randn(gen, b, t, p, c)
    # self-check: the written-out attention pooling equals nn.MultiheadAttention
    md = m.double()
    xx = x.reshape(b * t, p, c)
    ref, _ = md.token_attn(md.token_query.expand(b * t, 1, c), xx, xx, need_weights=False)
    assert torch.allclose(ref.reshape(b * t, c), md.attend(xx), atol=1e-12), "attention pooling mismatch"
    m.float()
    state = state_f32(m)
    # out_proj feeds ln_in; mlp_in.0 and temporal_mlp.3 write the stream ln_out reads
    # (GELU is ~linear near 0, so it stays small)
    lv = LowVar(name, HEAD_LOWVAR_SCALE,
                [k for k in state if k.startswith(("token_attn.out_proj.", "mlp_in.0.", "temporal_mlp.3."))],
                lambda g, s: {"x": randn(g, *x.shape)})
    run_case(name, m, cfg, {"x": x}, lambda mod, inp: mod(inp["x"]), ["x"], lowvar=lv)
    return state


# ---------------------------------------------------------------------------------------
# released-layout files

HF_BLOCK = [("norm1.", "norm1."), ("attn.proj.", "attention.proj."), ("norm2.", "norm2."),
            ("mlp.fc1.", "mlp.fc1."), ("mlp.fc2.", "mlp.fc2.")]


def hf_blocks(state, src, dst, out):
    for k, v in state.items():
        if not k.startswith(src):
            continue
        i, rest = k[len(src):].split(".", 1)
        if rest.startswith("attn.qkv."):
            kind = rest.split(".")[-1]
            for part, name in zip(v.chunk(3, dim=0), ("query", "key", "value")):
                out[f"{dst}{i}.attention.{name}.{kind}"] = part.clone()
            continue
        for a, b in HF_BLOCK:
            if rest.startswith(a):
                out[f"{dst}{i}.{b}{rest[len(a):]}"] = v
                break
        else:
            raise KeyError(k)


def make_released(enc_state, pred_state, tj_state, guid_state, head_state, enc_io):
    name = "released_tiny"
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    gen = torch.Generator().manual_seed(seed_for(name))
    prefix = "module.backbone."
    enc = collections.OrderedDict((prefix + k, v) for k, v in enc_state.items())
    n_tok = encoder_tokens(ENCODER_TINY)
    d_enc, d_pred = ENCODER_TINY["embed_dim"], PREDICTOR_TINY["predictor_embed_dim"]
    enc[prefix + "pos_embed"] = torch.randn(1, n_tok, d_enc, generator=gen)
    tgt_state = collections.OrderedDict(
        (k, (v.double() + 0.01 * torch.randn(v.shape, generator=gen, dtype=torch.float64)).float())
        for k, v in enc_state.items())
    tgt = collections.OrderedDict((prefix + k, v) for k, v in tgt_state.items())
    pred = collections.OrderedDict((prefix + k, v) for k, v in pred_state.items())
    pred[prefix + "predictor_pos_embed"] = torch.zeros(1, n_tok, d_pred)
    first = enc_state["norm.weight"]  # a small stand-in for optimizer moments
    opt = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros_like(first),
                         "exp_avg_sq": torch.zeros_like(first)}},
           "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "weight_decay": 0.04, "params": [0]}]}
    ckpt = {"encoder": enc, "predictor": pred, "target_encoder": tgt, "opt": opt, "scaler": None,
            "epoch": 3, "loss": 0.25, "batch_size": 2, "world_size": 1, "lr": 1e-4}
    torch.save(ckpt, os.path.join(d, "vjepa2_tiny.pt"))

    half = {"encoder": collections.OrderedDict((k, v.half()) for k, v in enc.items()),
            "predictor": collections.OrderedDict((k, v.bfloat16()) for k, v in pred.items()),
            "epoch": 3}
    torch.save(half, os.path.join(d, "vjepa2_tiny_half.pt"))

    hf = {}
    for k, v in enc_state.items():
        if k.startswith("patch_embed.proj."):
            hf["encoder.embeddings.patch_embeddings.proj." + k.split(".")[-1]] = v
        elif k.startswith("norm."):
            hf["encoder.layernorm." + k.split(".")[-1]] = v
    hf_blocks(enc_state, "blocks.", "encoder.layer.", hf)
    for k, v in pred_state.items():
        if k.startswith("predictor_embed."):
            hf["predictor.embeddings.predictor_embeddings." + k.split(".")[-1]] = v
        elif k.startswith("predictor_norm."):
            hf["predictor.layernorm." + k.split(".")[-1]] = v
        elif k.startswith("predictor_proj."):
            hf["predictor.proj." + k.split(".")[-1]] = v
    nmt = PREDICTOR_TINY["num_mask_tokens"]
    hf["predictor.embeddings.mask_tokens"] = torch.stack([pred_state[f"mask_tokens.{i}"] for i in range(nmt)])
    hf_blocks(pred_state, "predictor_blocks.", "predictor.layer.", hf)
    write_safetensors(os.path.join(d, "hf_tiny.safetensors"), hf, {"format": "pt"})

    legacy = [("context_adapter.", "predictor_embed."), ("query_templates.", "mask_tokens."),
              ("rollout_layers.0.", "predictor_blocks.0."), ("rollout_norm.", "predictor_norm."),
              ("output_adapter.", "predictor_proj."), ("guidance_old_adapter.", "vlm_old_proj."),
              ("guidance_fusion_mlps.", "vlm_adapters."), ("guidance_layer_scale", "vlm_gate")]
    tjp = collections.OrderedDict()
    for k, v in list(tj_state.items()) + list(guid_state.items()):
        for new, old in legacy:
            if k.startswith(new):
                k = old + k[len(new):]
                break
        tjp[k] = v
    tj = {"epoch": 7, "cls_model": head_state, "predictor": tjp,
          "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3, "params": []}]},
          "args": {"predictor_depth": TJ_TINY["depth"], "thinkjepa_vlm_layer_selector": "all", "seed": 42,
                   "causal_attention": False},
          "best": 0.1}
    torch.save(tj, os.path.join(d, "thinkjepa_ckpt.pt"))
    # a bare state dict (what torch.save(model.state_dict()) gives), DDP-prefixed
    torch.save(collections.OrderedDict(("module." + k, v) for k, v in head_state.items()),
               os.path.join(d, "head_state_dict.pt"))

    # expected encoder outputs for both encoder weight sets
    m = R.Encoder(ENCODER_TINY).double()
    x = torch.from_numpy(enc_io["x"]).double()
    with torch.no_grad():
        m.load_state_dict({k: v.double() for k, v in tgt_state.items()})
        out_tgt = m(x).numpy()
        m.load_state_dict({k: v.double() for k, v in enc_state.items()})
        out = m(x).numpy()
    assert np.allclose(out, enc_io["out"], rtol=1e-6, atol=0)
    np.savez(os.path.join(d, "io.npz"), x=enc_io["x"], out=out.astype(np.float32),
             out_target_encoder=out_tgt.astype(np.float32))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"kind": "released_tiny", "encoder": ENCODER_TINY, "predictor": PREDICTOR_TINY}, f, indent=2)
        f.write("\n")


# ---------------------------------------------------------------------------------------
# README: the generated part (sizes read back from the files on disk, so it cannot drift)

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "README.md")
BEGIN, END = "<!-- BEGIN fixture sizes (generated by make_golden.py) -->", "<!-- END fixture sizes -->"


def rope_split(hd):
    ds = 2 * ((hd // 3) // 2)
    return f"head_dim {hd}: d_sub {ds} (M {ds // 2}), tail {hd - 3 * ds}"


def derived(cfg):
    k = cfg.get("kind")
    if k == "vjepa_encoder":
        t, g = cfg["num_frames"] // cfg["tubelet_size"], cfg["img_size"] // cfg["patch_size"]
        hid = int(cfg["embed_dim"] * cfg["mlp_ratio"])
        return [rope_split(cfg["embed_dim"] // cfg["num_heads"]), f"MLP hidden {hid}",
                f"token grid {t}×{g}×{g} = {t * g * g}"]
    if k == "vjepa_predictor":
        t, g = cfg["num_frames"] // cfg["tubelet_size"], cfg["grid_size"]
        pd = cfg["predictor_embed_dim"]
        return [rope_split(pd // cfg["num_heads"]), f"MLP hidden {int(pd * cfg['mlp_ratio'])}",
                f"token grid {t}×{g}×{g} = {t * g * g}"]
    if k == "thinkjepa_predictor":
        pd, p = cfg["predictor_embed_dim"], cfg["tokens_per_frame"]
        return [rope_split(pd // cfg["num_heads"]), f"MLP hidden {int(pd * cfg['mlp_ratio'])}",
                f"{cfg['num_frames'] * p} tokens ({cfg['past_frames'] * p} context), RoPE F = {p * p}, R = {p}"]
    return []


def lowvar_lines(lv):
    sw = lv["scaled_weights"]
    lines = [f"- low-variance run (`lowvar.*`): scale 2^{round(math.log2(lv['scale']))} on "
             + (", ".join(f"`{k}`" for k in sw) if sw else "the float inputs only (no weights)")
             + "; relative change of the outputs when one norm's eps is ×10 / ÷10 "
             "(median input row variance):"]
    for n, c in lv["eps_check"].items():
        if c is None:
            lines.append(f"  - `{n}`: input all zero, eps has no effect")
        else:
            lines.append(f"  - `{n}` (eps {c['eps']:g}): {c['x10']:.1e} / {c['div10']:.1e} "
                         f"(var {c['input_var']:.1e})")
    return lines


def npz_arrays(path):
    z = np.load(path)
    return [(k, z[k].shape, str(z[k].dtype)) for k in z.files]


def write_readme_table():
    lines = [BEGIN, "",
             "Regenerated on every run of `make_golden.py` from the files in `testdata/golden/`.", ""]
    total = 0
    for case in sorted(os.listdir(OUT)):
        d = os.path.join(OUT, case)
        if not os.path.isdir(d):
            continue
        cfg = json.load(open(os.path.join(d, "config.json")))
        files = sorted(os.listdir(d))
        sizes = {f: os.path.getsize(os.path.join(d, f)) for f in files}
        total += sum(sizes.values())
        lines.append(f"#### `{case}` ({sum(sizes.values()):,} bytes)")
        lines.append("")
        shown = {k: v for k, v in cfg.items() if not isinstance(v, dict)}
        lines.append("- config: `" + json.dumps(shown, separators=(", ", ": ")) + "`")
        for sub in ("encoder", "predictor"):
            if isinstance(cfg.get(sub), dict):
                lines.append(f"- config `{sub}`: `" + json.dumps(cfg[sub], separators=(", ", ": ")) + "`")
        extra = derived(cfg)
        if extra:
            lines.append("- " + "; ".join(extra))
        if isinstance(cfg.get("lowvar"), dict):
            lines.extend(lowvar_lines(cfg["lowvar"]))
        lines.append("- files: " + ", ".join(f"`{f}` {sizes[f]:,}" for f in files))
        if "io.npz" in sizes:
            arrs = npz_arrays(os.path.join(d, "io.npz"))
            named = [a for a in arrs if not a[0].startswith("grad.") or a[0][5:] in
                     ("x", "x_ctx", "gammas", "betas", "vlm_old", "vlm_new")]
            nparam = len(arrs) - len(named)
            parts = [f"`{k}` {list(sh)} {dt}" for k, sh, dt in named]
            if nparam:
                parts.append(f"{nparam} parameter gradients `grad.<key>` (float32, shapes as in the weights)")
            lines.append("- io.npz: " + ", ".join(parts))
        lines.append("")
    lines.append(f"Total: {total:,} bytes.")
    lines.append("")
    lines.append(END)
    text = open(README).read()
    a, b = text.index(BEGIN), text.index(END) + len(END)
    with open(README, "w") as f:
        f.write(text[:a] + "\n".join(lines) + text[b:])


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", default="", help="comma-separated case names")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    want = lambda n: not only or n in only  # noqa: E731
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    enc_state, enc_io = make_encoder("encoder_tiny", ENCODER_TINY, lowvar=True)
    if want("encoder_hd80"):
        make_encoder("encoder_hd80", ENCODER_HD80)
    if want("encoder_outlayers"):
        make_encoder("encoder_outlayers", ENCODER_OUTLAYERS, forward_only=True)
    pred_state = make_vjepa_predictor("vjepa_predictor_tiny", PREDICTOR_TINY)
    tj_state = make_thinkjepa("thinkjepa_predictor_tiny", TJ_TINY)
    if want("thinkjepa_predictor_causal"):
        make_thinkjepa("thinkjepa_predictor_causal", TJ_CAUSAL, state=tj_state)
    guid_state = make_guidance("guidance_tiny", GUIDANCE_TINY)
    head_state = make_head("head_tiny", HEAD_TINY)
    if want("released_tiny"):
        make_released(enc_state, pred_state, tj_state, guid_state, head_state, enc_io)
    write_readme_table()


if __name__ == "__main__":
    main()
