"""PyTorch reference of the V-JEPA 2 / ThinkJEPA modules the Go port must match.

Written for readability, not speed. Parameter names equal the real checkpoints' state-dict
keys (model-spec §3, §4.4, §4.6). Attention is written out (PyTorch 1.13 has no SDPA).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------------------------------
# RoPE with the upstream frequency-tiling quirk (model-spec §1.4)

def rope_sub(x, pos):
    """Rotate x[..., N, d] at positions pos (broadcastable to [..., N]) the upstream way."""
    d = x.shape[-1]
    m = d // 2
    omega = torch.arange(m, dtype=x.dtype) / m
    omega = 1.0 / (10000.0 ** omega)
    theta = pos.to(x.dtype).unsqueeze(-1) * omega  # [..., N, M]
    c = torch.cat([theta.cos(), theta.cos()], dim=-1)  # tiled: C[k] = cos(theta_{k mod M})
    s = torch.cat([theta.sin(), theta.sin()], dim=-1)
    pairs = x.unflatten(-1, (-1, 2))
    y = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
    return x * c + y * s


def rope3d(x, t, h, w):
    """x [B, H, N, hd]; t, h, w [B, N] or [N]. Unrotated tail kept as is."""
    hd = x.shape[-1]
    ds = 2 * ((hd // 3) // 2)
    if t.dim() == 2:  # per-sample positions -> broadcast over heads
        t, h, w = t[:, None], h[:, None], w[:, None]
    parts = [rope_sub(x[..., 0:ds], t), rope_sub(x[..., ds:2 * ds], h),
             rope_sub(x[..., 2 * ds:3 * ds], w)]
    if 3 * ds < hd:
        parts.append(x[..., 3 * ds:])
    return torch.cat(parts, dim=-1)


def split_positions(ids, tokens_per_frame, tokens_per_row):
    t = torch.div(ids, tokens_per_frame, rounding_mode="floor")
    rem = ids - t * tokens_per_frame
    h = torch.div(rem, tokens_per_row, rounding_mode="floor")
    w = rem - h * tokens_per_row
    return t, h, w


# ---------------------------------------------------------------------------------------
# Transformer block

class Attention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, pos, allow=None):
        b, n, d = x.shape
        hd = d // self.num_heads
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        q = rope3d(q, *pos)
        k = rope3d(k, *pos)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
        if allow is not None:  # allow [N, N] bool, True = may attend
            att = att.masked_fill(~allow, float("-inf"))
        att = att.softmax(dim=-1)
        out = (att @ v).transpose(1, 2).reshape(b, n, d)
        return self.proj(out)


class MLP(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio, eps=1e-6):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = MLP(dim, int(dim * mlp_ratio))

    def forward(self, x, pos, allow=None):
        x = x + self.attn(self.norm1(x), pos, allow)
        return x + self.mlp(self.norm2(x))


# ---------------------------------------------------------------------------------------
# V-JEPA 2 encoder (model-spec §1)

class PatchEmbed3D(nn.Module):
    def __init__(self, in_chans, dim, patch, tubelet):
        super().__init__()
        self.proj = nn.Conv3d(in_chans, dim, kernel_size=(tubelet, patch, patch),
                              stride=(tubelet, patch, patch))

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d = cfg["embed_dim"]
        self.patch_embed = PatchEmbed3D(cfg.get("in_chans", 3), d, cfg["patch_size"],
                                        cfg["tubelet_size"])
        self.blocks = nn.ModuleList(Block(d, cfg["num_heads"], cfg["mlp_ratio"])
                                    for _ in range(cfg["depth"]))
        self.norm = nn.LayerNorm(d, eps=1e-6)

    def forward(self, x):
        _, _, t, hh, ww = x.shape
        hp, wp = hh // self.cfg["patch_size"], ww // self.cfg["patch_size"]
        tp = t // self.cfg["tubelet_size"]
        x = self.patch_embed(x)
        ids = torch.arange(tp * hp * wp)
        pos = split_positions(ids, hp * wp, wp)
        outs = []
        out_layers = self.cfg.get("out_layers")
        for i, blk in enumerate(self.blocks):
            x = blk(x, pos)
            if out_layers is not None and i in out_layers:
                outs.append(self.norm(x))
        if out_layers is not None:
            return outs
        return self.norm(x)


# ---------------------------------------------------------------------------------------
# V-JEPA 2 mask-token predictor (model-spec §2.1)

class VJEPAPredictor(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d, pd = cfg["embed_dim"], cfg["predictor_embed_dim"]
        self.predictor_embed = nn.Linear(d, pd)
        self.mask_tokens = nn.ParameterList(nn.Parameter(torch.zeros(1, 1, pd))
                                            for _ in range(cfg["num_mask_tokens"]))
        self.predictor_blocks = nn.ModuleList(Block(pd, cfg["num_heads"], cfg["mlp_ratio"])
                                              for _ in range(cfg["depth"]))
        self.predictor_norm = nn.LayerNorm(pd, eps=1e-6)
        self.predictor_proj = nn.Linear(pd, d)

    def forward(self, x, masks_x, masks_y, mask_index):
        b, nc, _ = x.shape
        nt = masks_y.shape[1]
        g = self.cfg["grid_size"]
        z = self.predictor_embed(x)
        tok = self.mask_tokens[int(mask_index) % len(self.mask_tokens)]
        tgt = tok.expand(b, nt, -1)
        z = torch.cat([z, tgt], dim=1)
        ids = torch.cat([masks_x, masks_y], dim=1)
        order = torch.argsort(ids, dim=1, stable=True)
        ids = torch.gather(ids, 1, order)
        z = torch.gather(z, 1, order.unsqueeze(-1).expand(-1, -1, z.shape[-1]))
        pos = split_positions(ids, g * g, g)
        for blk in self.predictor_blocks:
            z = blk(z, pos)
        z = self.predictor_norm(z)
        inv = torch.argsort(order, dim=1)
        z = torch.gather(z, 1, inv.unsqueeze(-1).expand(-1, -1, z.shape[-1]))
        return self.predictor_proj(z[:, nc:])


# ---------------------------------------------------------------------------------------
# ThinkJEPA predictor (model-spec §4.4) with FiLM inputs given

def frame_causal_allow(n, tokens_per_frame):
    f = torch.arange(n) // tokens_per_frame
    return f[None, :] <= f[:, None]  # [query i, key j]


class ThinkJEPAPredictor(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d, pd = cfg["embed_dim"], cfg["predictor_embed_dim"]
        self.context_adapter = nn.Linear(d, pd)
        self.query_templates = nn.ParameterList(nn.Parameter(torch.zeros(1, 1, pd))
                                                for _ in range(cfg["num_query_templates"]))
        self.rollout_layers = nn.ModuleList(Block(pd, cfg["num_heads"], cfg["mlp_ratio"])
                                            for _ in range(cfg["depth"]))
        self.rollout_norm = nn.LayerNorm(pd, eps=1e-6)
        self.output_adapter = nn.Linear(pd, d)

    def forward(self, x_ctx, gammas, betas):
        cfg = self.cfg
        p = cfg["tokens_per_frame"]
        b, nc, _ = x_ctx.shape
        n = cfg["num_frames"] * p
        ctx = self.context_adapter(x_ctx)
        q = self.query_templates[cfg["query_index"]].expand(b, n - nc, -1)
        z = torch.cat([ctx, q], dim=1)  # indices 0..n-1, already in order
        pos = split_positions(torch.arange(n), p * p, p)  # t = 0, h = n div P, w = n mod P
        allow = frame_causal_allow(n, p) if cfg["causal"] else None
        for l, blk in enumerate(self.rollout_layers):
            z = z * (1 + gammas[l][:, None, :]) + betas[l][:, None, :]
            z = blk(z, pos, allow)
        z = self.rollout_norm(z)
        return self.output_adapter(z[:, nc:])


# ---------------------------------------------------------------------------------------
# Guidance bank (model-spec §4.5, per-sample v2 form)

class GuidanceBank(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        c, dv, hid = cfg["embed_dim"], cfg["vlm_dim"], cfg["fusion_hidden_dim"]
        self.guidance_old_adapter = nn.Linear(dv, c, bias=False)
        self.guidance_new_adapter = nn.Linear(dv, c, bias=False)
        self.guidance_fusion_mlps = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(4 * c, eps=1e-5), nn.Linear(4 * c, hid), nn.GELU(),
                          nn.Linear(hid, 2 * c))
            for _ in range(cfg["depth"]))
        self.guidance_layer_scale = nn.Parameter(torch.zeros(cfg["depth"], 1, 1))

    @staticmethod
    def pool(x, m):
        # as upstream _reduce_token_set: denominator clamped at 1e-6, so an all-padding row pools to 0
        return (x * m.unsqueeze(-1)).sum(1) / m.sum(1, keepdim=True).clamp(min=1e-6)

    def forward(self, vlm_old, vlm_old_mask, vlm_new, vlm_new_mask):
        c = self.cfg["embed_dim"]
        b = vlm_old.shape[0]
        lp = vlm_old.shape[1]
        gammas, betas = [], []
        for l, mlp in enumerate(self.guidance_fusion_mlps):
            if l < lp:
                o = self.pool(self.guidance_old_adapter(vlm_old[:, l]), vlm_old_mask[:, l])
                nn_ = self.pool(self.guidance_new_adapter(vlm_new[:, l]), vlm_new_mask[:, l])
                sig = torch.cat([o, nn_, (o - nn_).abs(), o * nn_], dim=-1)
            else:
                sig = torch.zeros(b, 4 * c, dtype=vlm_old.dtype)
            h = mlp(sig) * torch.tanh(self.guidance_layer_scale[l])
            gammas.append(h[:, :c])
            betas.append(h[:, c:])
        return torch.stack(gammas), torch.stack(betas)


# ---------------------------------------------------------------------------------------
# Trajectory head (model-spec §4.6), dropout off

class TrajectoryHead(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        c = cfg["embed_dim"]
        self.token_query = nn.Parameter(torch.zeros(1, 1, c))
        self.token_attn = nn.MultiheadAttention(c, cfg["num_heads"], batch_first=True)
        self.ln_in = nn.LayerNorm(c, eps=1e-5)
        self.mlp_in = nn.Sequential(nn.Linear(c, c), nn.GELU(), nn.Dropout(0.0))
        self.temporal_mlp = nn.Sequential(nn.Linear(c, c), nn.GELU(), nn.Dropout(0.0),
                                          nn.Linear(c, c), nn.GELU(), nn.Dropout(0.0))
        self.ln_out = nn.LayerNorm(c, eps=1e-5)
        self.fc_out = nn.Linear(c, cfg["num_joints"] * 3)

    def attend(self, x):
        """Attention pooling written out; x [BT, P, C] -> [BT, C]."""
        bt, p, c = x.shape
        nh = self.cfg["num_heads"]
        hd = c // nh
        w, bias = self.token_attn.in_proj_weight, self.token_attn.in_proj_bias
        q = self.token_query.reshape(1, c) @ w[:c].t() + bias[:c]  # [1, C]
        k = x @ w[c:2 * c].t() + bias[c:2 * c]
        v = x @ w[2 * c:].t() + bias[2 * c:]
        q = q.reshape(1, nh, 1, hd)
        k = k.reshape(bt, p, nh, hd).transpose(1, 2)
        v = v.reshape(bt, p, nh, hd).transpose(1, 2)
        att = ((q @ k.transpose(-2, -1)) / math.sqrt(hd)).softmax(-1)  # [BT, nh, 1, P]
        out = (att @ v).reshape(bt, c)
        return self.token_attn.out_proj(out)

    def forward(self, x):
        b, t, p, c = x.shape
        a = self.attend(x.reshape(b * t, p, c)).reshape(b, t, c)
        h = self.mlp_in(self.ln_in(a))
        h = h + self.temporal_mlp(h)
        h = F.avg_pool1d(h.transpose(1, 2), kernel_size=2, stride=2).transpose(1, 2)
        y = self.fc_out(self.ln_out(h))
        return y.reshape(b, t // 2, self.cfg["num_joints"], 3)
