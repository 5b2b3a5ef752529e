#!/usr/bin/env python3
"""Tests of extract.py on a tiny randomly initialised Qwen3-VL (no downloads).

Run: python3 tools/thinker-cache/test_extract.py   (skips cleanly without transformers)
Set THINKJEPA_BIN to a built thinkjepa binary; otherwise `go run ./cmd/thinkjepa` is used.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import extract  # noqa: E402

try:
    import torch
    import transformers
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration
    HAVE_TF = True
except Exception as e:  # noqa: BLE001
    HAVE_TF = False
    WHY = f"transformers with Qwen3-VL not available ({e}); the extractor test needs transformers >= 4.57"

HIDDEN, NLAYERS, LAYERS = 64, 4, [0, 1, 3]
VIDEO_TOK, VSTART, VEND, PAD, EOS = 120, 121, 122, 0, 123


def tiny_model():
    torch.manual_seed(0)
    cfg = Qwen3VLConfig(
        text_config=dict(vocab_size=128, hidden_size=HIDDEN, intermediate_size=96, num_hidden_layers=NLAYERS,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=512,
                         rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
                         rope_scaling={"rope_type": "default", "mrope_section": [4, 2, 2], "mrope_interleaved": True}),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, in_channels=3, patch_size=16,
                           temporal_patch_size=2, spatial_merge_size=2, out_hidden_size=HIDDEN,
                           num_position_embeddings=16, deepstack_visual_indexes=[0, 1]),
        image_token_id=119, video_token_id=VIDEO_TOK, vision_start_token_id=VSTART, vision_end_token_id=VEND)
    m = Qwen3VLForConditionalGeneration(cfg).float().eval()
    m.generation_config.pad_token_id = PAD
    m.generation_config.eos_token_id = EOS
    return m


def batch_inputs(prompt_lens):
    """Two left-padded prompts with one 4-frame 32x32 video each (2 merged video tokens)."""
    grid = [2, 2, 2]  # t, h, w in patches
    n_patch = grid[0] * grid[1] * grid[2]
    n_tok = n_patch // 4
    seqs = []
    for n in prompt_lens:
        text = list(range(1, n + 1))
        seqs.append([5, VSTART] + [VIDEO_TOK] * n_tok + [VEND] + text)
    S = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), S), PAD, dtype=torch.long)
    mask = torch.zeros((len(seqs), S), dtype=torch.long)
    for b, s in enumerate(seqs):
        ids[b, S - len(s):] = torch.tensor(s)
        mask[b, S - len(s):] = 1
    g = torch.Generator().manual_seed(1)
    pix = torch.randn(len(seqs) * n_patch, 3 * 2 * 16 * 16, generator=g)
    thw = torch.tensor([grid] * len(seqs))
    return {"input_ids": ids, "attention_mask": mask, "pixel_values_videos": pix, "video_grid_thw": thw}, seqs


def thinkjepa_cmd():
    b = os.environ.get("THINKJEPA_BIN")
    if b:
        return [b]
    if shutil.which("go"):
        return ["go", "run", "./cmd/thinkjepa"]
    return None


class TestHelpers(unittest.TestCase):
    def test_load_clip_and_ids(self):
        d = tempfile.mkdtemp()
        p = os.path.join(d, "sub", "c.npz")
        os.makedirs(os.path.dirname(p))
        frames = np.arange(64, dtype=np.uint8)[:, None, None, None] * np.ones((1, 8, 8, 3), np.uint8)
        np.savez(p, frames=frames, past=np.int64(32), frame_indices=np.arange(64) * 3,
                 episode=np.str_("x/y/0"), task=np.str_("y"))
        f, q, past, tgt, meta = extract.load_clip(p, 32)
        self.assertEqual(f.shape, (32, 8, 8, 3))
        self.assertTrue((f[:, 0, 0, 0] == np.arange(32)).all())  # only observed frames
        self.assertTrue((q == np.arange(32) * 3).all() and len(tgt) == 32 and tgt[0] == 96 and len(past) == 32)
        self.assertEqual(meta["episode"], "x/y/0")
        self.assertEqual(extract.list_inputs(d), [p])
        self.assertEqual(extract.clip_id(p, d), os.path.join("sub", "c"))


@unittest.skipUnless(HAVE_TF, WHY if not HAVE_TF else "")
class TestExtract(unittest.TestCase):
    def test_hooks_trim_layout_and_go_check(self):
        model = tiny_model()
        cap = extract.LayerCapture(model, LAYERS)
        inputs, seqs = batch_inputs([3, 9])
        recs, gen = extract.generate_and_capture(model, cap, inputs, 16, eos_ids=set())
        B, S = inputs["input_ids"].shape
        # Hook shapes: prefill [B,S,D], then one [B,1,D] per fed generated token.
        for l in LAYERS:
            self.assertEqual(tuple(cap.calls[l][0].shape), (B, S, HIDDEN))
            self.assertEqual(len(cap.calls[l]), 1 + gen.shape[1] - 1)
            for c in cap.calls[l][1:]:
                self.assertEqual(tuple(c.shape), (B, 1, HIDDEN))
        for b, rec in enumerate(recs):
            n = len(seqs[b])
            self.assertEqual(rec["vlm_old"].shape, (len(LAYERS), n, HIDDEN))  # trimmed to the valid length
            self.assertEqual(rec["vlm_new"].shape, (len(LAYERS), len(rec["token_ids"]) - 1, HIDDEN))
            self.assertEqual(rec["input_valid_len"], n)
        # Trimming keeps the right tokens: the short prompt alone (no padding) gives the same
        # layer outputs as its trimmed padded row (hidden_states[l+1] = output of layer l < last).
        single = {k: v[:1] for k, v in inputs.items() if k != "pixel_values_videos"}
        n0 = len(seqs[0])
        single["input_ids"] = single["input_ids"][:, -n0:]
        single["attention_mask"] = single["attention_mask"][:, -n0:]
        single["pixel_values_videos"] = inputs["pixel_values_videos"][:8]
        with torch.no_grad():
            hs = model(**single, output_hidden_states=True).hidden_states
        for j, l in enumerate(LAYERS):
            if l + 1 < len(hs) - 1:
                ref = hs[l + 1][0].numpy()
                err = np.abs(recs[0]["vlm_old"][j] - ref).max() / (np.abs(ref).max() + 1e-12)
                self.assertLess(err, 1e-3, f"layer {l}: trimmed prefill differs from the unpadded run ({err})")
        # File layout and the Go checker.
        out = tempfile.mkdtemp()
        for b, rec in enumerate(recs):
            rec["qwen_raw_indices"] = np.arange(32)
            extract.write_cache(os.path.join(out, f"clip{b}.npz"), rec, LAYERS,
                                {"schema": extract.SCHEMA, "model_id": "tiny-random", **extract.versions()})
        z = np.load(os.path.join(out, "clip1.npz"))
        self.assertEqual(z["vlm_old"].dtype, np.float16)
        self.assertEqual(list(z["layers"]), LAYERS)
        self.assertEqual(str(z["schema"]), extract.SCHEMA)
        self.assertEqual(len(z["vlm_new_token_ids"]), z["vlm_new"].shape[1] + 1)
        cmd = thinkjepa_cmd()
        if cmd is None:
            self.skipTest("no thinkjepa binary (set THINKJEPA_BIN) and no go toolchain")
        r = subprocess.run(cmd + ["thinker", "check", "--layers", ",".join(map(str, LAYERS)),
                                  "--hidden", str(HIDDEN), "--capacity", "1280,16", out],
                           cwd=REPO, capture_output=True, text=True)
        print(r.stdout, r.stderr)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("files: 2, ok: 2, failing: 0", r.stdout)
        cap.remove()


if __name__ == "__main__":
    unittest.main(verbosity=2)
