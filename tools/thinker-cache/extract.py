#!/usr/bin/env python3
"""Extract ThinkJEPA "thinker" caches (multi-layer Qwen3-VL hidden states) per clip.

For each clip: take the observed (past) frames, sample 32 of them uniformly, prompt
"Describe this video." with the video at 256x256, greedy-generate 16 tokens, and capture
the output of decoder layers {0,4,8,12,16,20,24,27} with forward hooks on
model.model.language_model.layers[l] (model-spec §4.3, §5):

  * the first hook call is the prefill -> vlm_old [L, S_prompt, D], trimmed of left padding
    with the attention mask;
  * each later call is one decode step -> vlm_new [L, n_generated - 1, D] (the last
    generated token is never fed back).

One .npz per clip is written (atomically) in the v2 layout read by the Go package
`thinker` (fp16 features, int64 ids, provenance strings). Inputs are clip .npz files
written by `thinkjepa data clip` (keys frames [T,H,W,3] uint8, past, frame_indices,
episode, task) or folders of frame images (all frames are treated as observed).

Needs transformers >= 4.57 (Qwen3-VL) and torch; qwen_vl_utils is used when installed.
"""
import argparse
import glob
import json
import os
import sys
import tempfile

import numpy as np

SCHEMA = "thinkjepa.thinker_cache.v2"
DEFAULT_LAYERS = [0, 4, 8, 12, 16, 20, 24, 27]
PROMPT = "Describe this video."


# ----------------------------------------------------------------------------- inputs
def load_clip(path, nframes):
    """Returns (frames [n,H,W,3] uint8, qwen raw indices, past raw, target raw, meta)."""
    if os.path.isdir(path):
        from PIL import Image
        files = sorted(f for f in glob.glob(os.path.join(path, "*")) if f.lower().endswith((".png", ".jpg", ".jpeg")))
        if not files:
            raise ValueError(f"{path}: no .png/.jpg frames")
        frames = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
        past = len(frames)
        raw = np.arange(len(frames))
        meta = {"episode": os.path.basename(os.path.normpath(path)), "task": ""}
    else:
        z = np.load(path, allow_pickle=False)
        for k in ("frames",):
            if k not in z.files:
                raise ValueError(f"{path}: missing key {k!r} (a clip .npz from `thinkjepa data clip` is expected)")
        frames = z["frames"]
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"{path}: key 'frames' has shape {frames.shape} {frames.dtype}, expected [T,H,W,3] uint8")
        past = int(z["past"]) if "past" in z.files else len(frames) // 2
        raw = z["frame_indices"].astype(np.int64) if "frame_indices" in z.files else np.arange(len(frames))
        meta = {k: str(z[k]) for k in ("episode", "task", "instruction") if k in z.files}
    if past <= 0:
        raise ValueError(f"{path}: no observed frames")
    sel = np.linspace(0, past - 1, nframes).round().astype(np.int64)
    return frames[sel], raw[sel], raw[:past], raw[past:], meta


def clip_id(path, root):
    rel = os.path.relpath(path, root) if os.path.isdir(root) else os.path.basename(path)
    return rel[:-4] if rel.endswith(".npz") else rel.rstrip("/")


def list_inputs(src):
    if os.path.isfile(src):
        return [src]
    npz = sorted(glob.glob(os.path.join(src, "**", "*.npz"), recursive=True))
    if npz:
        return npz
    return sorted(d for d in glob.glob(os.path.join(src, "*")) if os.path.isdir(d))


# ----------------------------------------------------------------------------- capture
class LayerCapture:
    """Forward hooks on the decoder layers; records [B,S,D] per call and layer."""

    def __init__(self, model, layers):
        decoder = model.model.language_model.layers
        if max(layers) >= len(decoder):
            raise ValueError(f"layer {max(layers)} requested, the model has {len(decoder)} decoder layers")
        self.layers = list(layers)
        self.calls = {l: [] for l in layers}
        self.handles = [decoder[l].register_forward_hook(self._hook(l)) for l in layers]

    def _hook(self, l):
        def fn(_module, _inp, out):
            h = out[0] if isinstance(out, (tuple, list)) else out
            self.calls[l].append(h.detach().float().cpu())
        return fn

    def reset(self):
        for l in self.layers:
            self.calls[l].clear()

    def remove(self):
        for h in self.handles:
            h.remove()


def split_calls(cap, attention_mask, gen_ids, eos_ids):
    """Turns the recorded hook calls of one generate() into per-sample vlm_old/vlm_new.

    attention_mask [B,S] of the (left-padded) prompt; gen_ids [B,n] generated tokens.
    Returns a list of dicts with vlm_old [L,S_valid,D], vlm_new [L,k-1,D], token_ids [k]
    where k is the number of generated tokens up to and including the first EOS.
    """
    B = attention_mask.shape[0]
    out = []
    for b in range(B):
        valid = int(attention_mask[b].sum())
        ids = [int(t) for t in gen_ids[b]]
        k = len(ids)
        for i, t in enumerate(ids):
            if t in eos_ids:
                k = i + 1
                break
        ids = ids[:k]
        old, new = [], []
        for l in cap.layers:
            calls = cap.calls[l]
            prefill = calls[0][b]  # [S,D]; left padding -> the valid tokens are the rightmost
            if prefill.shape[0] < valid:
                raise RuntimeError(f"prefill has {prefill.shape[0]} positions, attention mask says {valid}")
            old.append(prefill[prefill.shape[0] - valid:])
            steps = [c[b, -1] for c in calls[1:k]]  # decode step j feeds generated token j
            if len(steps) != k - 1:
                raise RuntimeError(f"layer {l}: {len(calls) - 1} decode steps recorded, expected {k - 1}")
            new.append(np.stack([s.numpy() for s in steps]) if steps else np.zeros((0, prefill.shape[1]), np.float32))
        out.append({
            "vlm_old": np.stack([o.numpy() for o in old]),
            "vlm_new": np.stack(new),
            "token_ids": np.asarray(ids, np.int64),
            "input_valid_len": valid,
        })
    return out


def generate_and_capture(model, cap, inputs, max_new_tokens, eos_ids):
    import torch
    cap.reset()
    with torch.no_grad():
        seq = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                             num_beams=1, return_dict_in_generate=False)
    S = inputs["input_ids"].shape[1]
    gen = seq[:, S:].cpu()
    return split_calls(cap, inputs["attention_mask"].cpu(), gen, eos_ids), gen


# ----------------------------------------------------------------------------- output
def write_cache(path, rec, layers, prov):
    """Writes one cache atomically (np.savez into a temp file in the same folder, rename)."""
    if not np.isfinite(rec["vlm_old"]).all() or not np.isfinite(rec["vlm_new"]).all():
        raise ValueError(f"{path}: non-finite hidden states")
    arrays = {
        "vlm_old": rec["vlm_old"].astype(np.float16),
        "vlm_new": rec["vlm_new"].astype(np.float16),
        "layers": np.asarray(layers, np.int64),
        "vlm_new_token_ids": rec["token_ids"],
        "token_ids": rec["token_ids"],
        "input_valid_len": np.int64(rec["input_valid_len"]),
    }
    for k in ("input_ids", "past_raw_indices", "target_raw_indices", "qwen_raw_indices"):
        if rec.get(k) is not None:
            arrays[k] = np.asarray(rec[k], np.int64)
    for k, v in prov.items():
        arrays[k] = np.str_(v)
    for k in ("vlm_old", "vlm_new"):
        if not np.isfinite(arrays[k]).all():
            raise ValueError(f"{path}: {k} overflows float16")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def versions():
    v = {"numpy_version": np.__version__, "python_version": sys.version.split()[0]}
    for mod in ("torch", "transformers"):
        try:
            v[mod + "_version"] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - recorded as absent
            v[mod + "_version"] = "absent"
    return v


# ----------------------------------------------------------------------------- processor
def build_inputs(processor, videos, size, nframes):
    """Chat template with the video + prompt, left padding, [B,...] tensors."""
    msgs = [[{"role": "user", "content": [
        {"type": "video", "video": list(v), "resized_height": size, "resized_width": size, "nframes": nframes},
        {"type": "text", "text": PROMPT}]}] for v in videos]
    texts = [processor.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in msgs]
    processor.tokenizer.padding_side = "left"
    try:
        from qwen_vl_utils import process_vision_info
        from PIL import Image
        pil = [[{"role": "user", "content": [
            {"type": "video", "video": [Image.fromarray(f) for f in v], "resized_height": size,
             "resized_width": size, "nframes": nframes}, {"type": "text", "text": PROMPT}]}] for v in videos]
        _, vids, kw = process_vision_info(pil, image_patch_size=16, return_video_kwargs=True, return_video_metadata=True)
        vids, meta = zip(*vids)
        return processor(text=texts, videos=list(vids), video_metadata=list(meta), do_resize=False,
                         padding=True, return_tensors="pt", **kw)
    except ImportError:
        import torch
        import torch.nn.functional as F
        vids = []
        for v in videos:
            t = torch.from_numpy(np.ascontiguousarray(v)).permute(0, 3, 1, 2).float()
            t = F.interpolate(t, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 255).round().to(torch.uint8)
            vids.append(t)
        return processor(text=texts, videos=vids, do_resize=False, padding=True, return_tensors="pt",
                         video_metadata=[{"fps": 2.0, "total_num_frames": len(v), "frames_indices": list(range(len(v)))} for v in videos])


def parse_shard(s):
    i, n = (int(x) for x in s.split("/"))
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"--shard {s}: want i/n with 0 <= i < n")
    return i, n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", required=True, help="a clip .npz, a folder of clip .npz files, or a folder of frame folders")
    ap.add_argument("--out", required=True, help="output folder; <clip id>.npz per clip")
    ap.add_argument("--model", default="Qwen/Qwen3-VL-2B-Thinking")
    ap.add_argument("--layers", default=",".join(map(str, DEFAULT_LAYERS)))
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--shard", type=parse_shard, default=(0, 1), help="i/n: only inputs k with k %% n == i")
    ap.add_argument("--overwrite", action="store_true", help="redo clips whose cache exists (default: skip = resume)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    a = ap.parse_args(argv)
    layers = [int(x) for x in a.layers.split(",") if x.strip()]

    paths = list_inputs(a.input)
    todo = []
    for k, p in enumerate(paths):
        if k % a.shard[1] != a.shard[0]:
            continue
        cid = clip_id(p, a.input)
        dst = os.path.join(a.out, cid + ".npz")
        if os.path.exists(dst) and not a.overwrite:
            continue
        todo.append((p, cid, dst))
    print(f"{len(paths)} inputs, shard {a.shard[0]}/{a.shard[1]}: {len(todo)} to do", file=sys.stderr)
    if not todo:
        return 0

    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor
    model = AutoModelForImageTextToText.from_pretrained(a.model, dtype=getattr(torch, a.dtype)).to(a.device).eval()
    processor = AutoProcessor.from_pretrained(a.model)
    eos = model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    cap = LayerCapture(model, layers)
    base_prov = {"schema": SCHEMA, "cache_version": "2", "model_id": a.model, "prompt": PROMPT,
                 "layers_list": a.layers, "nframes": str(a.frames), "resolution": str(a.size),
                 "max_new_tokens": str(a.max_new_tokens), "decoding": "greedy", **versions()}
    for i in range(0, len(todo), a.batch):
        chunk = todo[i:i + a.batch]
        loaded = [load_clip(p, a.frames) for p, _, _ in chunk]
        inputs = build_inputs(processor, [l[0] for l in loaded], a.size, a.frames).to(a.device)
        recs, gen = generate_and_capture(model, cap, inputs, a.max_new_tokens, eos_ids)
        for b, ((p, cid, dst), (_, qraw, praw, traw, meta), rec) in enumerate(zip(chunk, loaded, recs)):
            valid = rec["input_valid_len"]
            rec["input_ids"] = inputs["input_ids"][b, -valid:].cpu().numpy()
            rec["qwen_raw_indices"], rec["past_raw_indices"], rec["target_raw_indices"] = qraw, praw, traw
            prov = dict(base_prov, source=os.path.abspath(p), clip_id=cid, **meta,
                        generated_text=processor.tokenizer.decode(rec["token_ids"]))
            write_cache(dst, rec, layers, prov)
        print(f"done {min(i + a.batch, len(todo))}/{len(todo)}", file=sys.stderr)
    cap.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
