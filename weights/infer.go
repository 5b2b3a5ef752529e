package weights

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
)

// ModelConfig is the layout of the "config" metadata written by `thinkjepa weights
// import`: one architecture config per model part present in the checkpoint, each with
// the field names of the golden fixtures' config.json (package arch parses them). Parts:
// "encoder" (kind vjepa_encoder), "predictor" (vjepa_predictor), "tj_predictor"
// (thinkjepa_predictor), "head" (trajectory_head).
type ModelConfig struct {
	Encoder     json.RawMessage `json:"encoder,omitempty"`
	Predictor   json.RawMessage `json:"predictor,omitempty"`
	ThinkJEPA   json.RawMessage `json:"tj_predictor,omitempty"`
	TrajectHead json.RawMessage `json:"head,omitempty"`
}

// ParseModelConfig decodes a checkpoint's config metadata.
func ParseModelConfig(raw json.RawMessage) (ModelConfig, error) {
	var m ModelConfig
	if len(raw) == 0 || string(raw) == "null" {
		return m, nil
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, fmt.Errorf("checkpoint config: %w", err)
	}
	return m, nil
}

// presetHeads gives the head count of known (width, depth) pairs; head counts cannot be
// read from shapes because the qkv weight is fused.
var presetHeads = map[[2]int]int{
	{1024, 24}: 16, // vit_large
	{1280, 32}: 16, // vit_huge
	{1408, 40}: 22, // vit_giant_xformers
	{384, 12}:  6,  // vit_small
	{192, 12}:  3,  // vit_tiny
}

var blockIndexRE = regexp.MustCompile(`^(blocks|predictor_blocks|rollout_layers)\.(\d+)\.norm1\.weight$`)

func countBlocks(t map[string]*Tensor, kind string) int {
	n := 0
	for k := range t {
		if m := blockIndexRE.FindStringSubmatch(k); m != nil && m[1] == kind {
			i, _ := strconv.Atoi(m[2])
			if i+1 > n {
				n = i + 1
			}
		}
	}
	return n
}

func dim(t map[string]*Tensor, name string, axis, rank int) (int, error) {
	x, ok := t[name]
	if !ok {
		return 0, fmt.Errorf("cannot infer the architecture: no tensor %q", name)
	}
	if len(x.Shape) != rank {
		return 0, fmt.Errorf("cannot infer the architecture: tensor %q has shape %v, want rank %d", name, x.Shape, rank)
	}
	return x.Shape[axis], nil
}

// InferEncoder derives an encoder config (fixture field names) from encoder tensors
// named as in V-JEPA 2 (no prefix). heads may be 0 to take it from the known presets.
// img_size and num_frames cannot be read from weights; 256 and 16 are assumed and noted.
func InferEncoder(t map[string]*Tensor, heads int) (map[string]any, []string, error) {
	w, ok := t["patch_embed.proj.weight"]
	if !ok || len(w.Shape) != 5 {
		return nil, nil, fmt.Errorf("cannot infer the encoder: patch_embed.proj.weight missing or not 5-D")
	}
	d, in, tub, patch := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
	depth := countBlocks(t, "blocks")
	if depth == 0 {
		return nil, nil, fmt.Errorf("cannot infer the encoder: no blocks.N tensors")
	}
	hidden, err := dim(t, "blocks.0.mlp.fc1.weight", 0, 2)
	if err != nil {
		return nil, nil, err
	}
	var notes []string
	if heads == 0 {
		heads = presetHeads[[2]int{d, depth}]
		if heads == 0 {
			return nil, nil, fmt.Errorf("encoder width %d depth %d matches no preset: give the head count (--heads) or an architecture (--arch)", d, depth)
		}
		notes = append(notes, fmt.Sprintf("encoder heads %d taken from the preset of width %d depth %d", heads, d, depth))
	}
	notes = append(notes, "encoder img_size 256 and num_frames 16 assumed (not stored in weights; RoPE accepts any size)")
	return map[string]any{"kind": "vjepa_encoder", "embed_dim": d, "depth": depth, "num_heads": heads,
		"mlp_ratio": float64(hidden) / float64(d), "mlp_hidden": hidden, "patch_size": patch,
		"tubelet_size": tub, "img_size": 256, "num_frames": 16, "in_chans": in, "norm_eps": 1e-6}, notes, nil
}

// InferPredictor derives a V-JEPA 2 predictor config from its tensors (no prefix).
// img_size (which sets the RoPE grid) is taken from imgSize, patch and tubelet from the
// encoder config when known.
func InferPredictor(t map[string]*Tensor, heads, imgSize, patch, tubelet int) (map[string]any, []string, error) {
	pd, err := dim(t, "predictor_embed.weight", 0, 2)
	if err != nil {
		return nil, nil, err
	}
	d, _ := dim(t, "predictor_embed.weight", 1, 2)
	depth := countBlocks(t, "predictor_blocks")
	hidden, err := dim(t, "predictor_blocks.0.mlp.fc1.weight", 0, 2)
	if err != nil {
		return nil, nil, err
	}
	masks := 0
	for k := range t {
		if maskTokenRE.MatchString(k) {
			masks++
		}
	}
	var notes []string
	if heads == 0 {
		if pd == 384 && depth == 12 {
			heads = 12 // the V-JEPA 2 pretraining predictor: head_dim 32
		} else {
			return nil, nil, fmt.Errorf("predictor width %d depth %d matches no preset: give --predictor-heads", pd, depth)
		}
		notes = append(notes, "predictor heads 12 taken from the V-JEPA 2 preset")
	}
	notes = append(notes, fmt.Sprintf("predictor grid from img_size %d / patch %d", imgSize, patch))
	return map[string]any{"kind": "vjepa_predictor", "embed_dim": d, "predictor_embed_dim": pd, "depth": depth,
		"num_heads": heads, "mlp_ratio": float64(hidden) / float64(pd), "num_mask_tokens": masks,
		"img_size": imgSize, "patch_size": patch, "num_frames": 64, "tubelet_size": tubelet, "norm_eps": 1e-6}, notes, nil
}

// InferThinkJEPA derives a ThinkJEPA predictor config from its tensors (no prefix).
// tokens_per_frame, frames and causality are not in the weights: P=256, 64 frames (32
// past) and causal (v2) are assumed unless given.
func InferThinkJEPA(t map[string]*Tensor, heads, tokensPerFrame int, causal bool) (map[string]any, []string, error) {
	pd, err := dim(t, "context_adapter.weight", 0, 2)
	if err != nil {
		return nil, nil, err
	}
	d, _ := dim(t, "context_adapter.weight", 1, 2)
	depth := countBlocks(t, "rollout_layers")
	hidden, err := dim(t, "rollout_layers.0.mlp.fc1.weight", 0, 2)
	if err != nil {
		return nil, nil, err
	}
	q := 0
	for k := range t {
		if len(k) > 16 && k[:16] == "query_templates." {
			q++
		}
	}
	var notes []string
	if heads == 0 {
		if pd != 384 {
			return nil, nil, fmt.Errorf("thinkjepa predictor width %d is not the preset 384: give --tj-heads", pd)
		}
		heads = 6
		notes = append(notes, "thinkjepa predictor heads 6 taken from the preset")
	}
	if tokensPerFrame == 0 {
		tokensPerFrame = 256
		notes = append(notes, "thinkjepa tokens_per_frame 256 (v2) assumed")
	}
	return map[string]any{"kind": "thinkjepa_predictor", "embed_dim": d, "predictor_embed_dim": pd, "depth": depth,
		"num_heads": heads, "mlp_ratio": float64(hidden) / float64(pd), "tokens_per_frame": tokensPerFrame,
		"num_frames": 64, "past_frames": 32, "num_query_templates": q, "query_index": 1, "norm_eps": 1e-6,
		"causal": causal}, notes, nil
}
