// Package arch holds the architecture configurations of the V-JEPA 2 encoder, the
// V-JEPA 2 mask-token predictor and the ThinkJEPA predictor (model-spec §1.5, §2.1,
// §4.4): presets, JSON (field names equal the golden fixtures' config.json), validation,
// and the checkpoint tensor shapes each configuration expects. It imports nothing of
// the project, so weights, jepa and cmd can all depend on it.
package arch

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
)

// EncoderConfig sizes a V-JEPA 2 ViT encoder (RoPE, no CLS token, no position embedding).
type EncoderConfig struct {
	Kind     string  `json:"kind,omitempty"` // "vjepa_encoder"
	EmbedDim int     `json:"embed_dim"`
	Depth    int     `json:"depth"`
	NumHeads int     `json:"num_heads"`
	MLPRatio float64 `json:"mlp_ratio"`
	// MLPHidden overrides int(embed_dim·mlp_ratio) when set (vit_giant_xformers: 6144).
	MLPHidden   int     `json:"mlp_hidden,omitempty"`
	PatchSize   int     `json:"patch_size"`
	TubeletSize int     `json:"tubelet_size"`
	ImgSize     int     `json:"img_size"`
	NumFrames   int     `json:"num_frames"`
	InChans     int     `json:"in_chans"`
	NormEps     float64 `json:"norm_eps"`
	// OutLayers, when non-empty, makes the encoder return norm(x_i) after each listed block.
	OutLayers []int `json:"out_layers"`
}

// Hidden is the MLP hidden width.
func (c EncoderConfig) Hidden() int {
	if c.MLPHidden > 0 {
		return c.MLPHidden
	}
	return int(float64(c.EmbedDim) * c.MLPRatio)
}

// HeadDim is embed_dim / num_heads.
func (c EncoderConfig) HeadDim() int { return c.EmbedDim / c.NumHeads }

// Grid returns the token grid (T/tubelet, H/patch, W/patch) of a clip with T frames of H×W.
func (c EncoderConfig) Grid(T, H, W int) (int, int, int) {
	return T / c.TubeletSize, H / c.PatchSize, W / c.PatchSize
}

// Validate reports every inconsistency, each naming the field and the value expected.
func (c EncoderConfig) Validate() error {
	var v checks
	v.positive([]field{{"embed_dim", c.EmbedDim}, {"depth", c.Depth}, {"num_heads", c.NumHeads},
		{"patch_size", c.PatchSize}, {"tubelet_size", c.TubeletSize}, {"img_size", c.ImgSize},
		{"num_frames", c.NumFrames}, {"in_chans", c.InChans}})
	if c.MLPHidden <= 0 { // an explicit mlp_hidden replaces the ratio
		v.positiveFloat("mlp_ratio", c.MLPRatio)
	}
	v.positiveFloat("norm_eps", c.NormEps)
	v.heads("embed_dim", c.EmbedDim, c.NumHeads, true)
	v.multiple("img_size", c.ImgSize, "patch_size", c.PatchSize)
	v.multiple("num_frames", c.NumFrames, "tubelet_size", c.TubeletSize)
	if c.MLPHidden > maxConfigInt {
		v.fail("mlp_hidden %d is implausibly large (at most %d)", c.MLPHidden, maxConfigInt)
	}
	if len(v) == 0 {
		v.params(c.Depth, c.EmbedDim, c.Hidden())
	}
	for _, l := range c.OutLayers {
		if l < 0 || l >= c.Depth {
			v.fail("out_layers entry %d outside 0..%d", l, c.Depth-1)
		}
	}
	return v.err("encoder config")
}

// PredictorConfig sizes the V-JEPA 2 mask-token predictor (§2.1).
type PredictorConfig struct {
	Kind              string  `json:"kind,omitempty"` // "vjepa_predictor"
	EmbedDim          int     `json:"embed_dim"`
	PredictorEmbedDim int     `json:"predictor_embed_dim"`
	Depth             int     `json:"depth"`
	NumHeads          int     `json:"num_heads"`
	MLPRatio          float64 `json:"mlp_ratio"`
	NumMaskTokens     int     `json:"num_mask_tokens"`
	ImgSize           int     `json:"img_size"`
	PatchSize         int     `json:"patch_size"`
	NumFrames         int     `json:"num_frames"`
	TubeletSize       int     `json:"tubelet_size"`
	NormEps           float64 `json:"norm_eps"`
}

// GridSize is img_size / patch_size: the predictor decomposes token ids with
// tokens_per_frame = grid², tokens_per_row = grid.
func (c PredictorConfig) GridSize() int { return c.ImgSize / c.PatchSize }

// Hidden is the MLP hidden width.
func (c PredictorConfig) Hidden() int { return int(float64(c.PredictorEmbedDim) * c.MLPRatio) }

// Validate reports every inconsistency, each naming the field and the value expected.
func (c PredictorConfig) Validate() error {
	var v checks
	v.positive([]field{{"embed_dim", c.EmbedDim}, {"predictor_embed_dim", c.PredictorEmbedDim}, {"depth", c.Depth},
		{"num_heads", c.NumHeads}, {"num_mask_tokens", c.NumMaskTokens}, {"img_size", c.ImgSize},
		{"patch_size", c.PatchSize}, {"num_frames", c.NumFrames}, {"tubelet_size", c.TubeletSize}})
	v.positiveFloat("mlp_ratio", c.MLPRatio)
	v.positiveFloat("norm_eps", c.NormEps)
	v.heads("predictor_embed_dim", c.PredictorEmbedDim, c.NumHeads, false)
	if len(v) == 0 {
		v.params(c.Depth, c.PredictorEmbedDim, c.Hidden())
	}
	return v.err("predictor config")
}

// ThinkPredictorConfig sizes the ThinkJEPA predictor (CortexGuidedVideoPredictor, §4.4).
type ThinkPredictorConfig struct {
	Kind              string  `json:"kind,omitempty"` // "thinkjepa_predictor"
	EmbedDim          int     `json:"embed_dim"`
	PredictorEmbedDim int     `json:"predictor_embed_dim"`
	Depth             int     `json:"depth"`
	NumHeads          int     `json:"num_heads"`
	MLPRatio          float64 `json:"mlp_ratio"`
	TokensPerFrame    int     `json:"tokens_per_frame"` // P
	NumFrames         int     `json:"num_frames"`       // total frames (past + future)
	PastFrames        int     `json:"past_frames"`
	NumQueryTemplates int     `json:"num_query_templates"`
	QueryIndex        int     `json:"query_index"`
	NormEps           float64 `json:"norm_eps"`
	// Causal is ThinkJEPA v2's frame-block-causal attention: token i attends j iff
	// j div P ≤ i div P.
	Causal bool `json:"causal"`
	// PyramidLayers lists the VLM layers feeding predictor blocks 0..len-1 (for record;
	// the film package consumes it).
	PyramidLayers []int `json:"pyramid_layers,omitempty"`
	// DropRate is the training-time dropout of every block (upstream drop_rate 0.1):
	// after attn.proj and, as V-JEPA 2's MLP applies its one Dropout twice, after the MLP
	// activation and after mlp.fc2. DropPathRate is the stochastic-depth rate of the last
	// block; block l uses DropPathRate·l/(depth−1) (upstream linspace 0→0.1). Both act in
	// training only (jepa.ThinkPredictor.ForwardDrop); 0 turns them off.
	DropRate     float64 `json:"drop_rate"`
	DropPathRate float64 `json:"drop_path_rate"`
	// Track is TJ1's default `track` layout (model-spec §4.6 correction): the context is
	// all num_frames frames and the queries sit at the same positions (idx_tgt = idx_ctx),
	// so the predictor re-predicts every frame with all of them, future ones included, in
	// view. past_frames must then equal num_frames.
	Track bool `json:"track,omitempty"`
}

// ContextFrames is the number of context frames: past_frames (num_frames with Track).
func (c ThinkPredictorConfig) ContextFrames() int {
	if c.Track {
		return c.NumFrames
	}
	return c.PastFrames
}

// TargetFrames is the number of predicted frames: num_frames − past_frames (num_frames
// with Track).
func (c ThinkPredictorConfig) TargetFrames() int {
	if c.Track {
		return c.NumFrames
	}
	return c.NumFrames - c.PastFrames
}

// Hidden is the MLP hidden width.
func (c ThinkPredictorConfig) Hidden() int { return int(float64(c.PredictorEmbedDim) * c.MLPRatio) }

// FutureFrames is num_frames − past_frames.
func (c ThinkPredictorConfig) FutureFrames() int { return c.NumFrames - c.PastFrames }

// Validate reports every inconsistency, each naming the field and the value expected.
func (c ThinkPredictorConfig) Validate() error {
	var v checks
	v.positive([]field{{"embed_dim", c.EmbedDim}, {"predictor_embed_dim", c.PredictorEmbedDim}, {"depth", c.Depth},
		{"num_heads", c.NumHeads}, {"tokens_per_frame", c.TokensPerFrame}, {"num_frames", c.NumFrames},
		{"past_frames", c.PastFrames}, {"num_query_templates", c.NumQueryTemplates}})
	v.positiveFloat("mlp_ratio", c.MLPRatio)
	v.positiveFloat("norm_eps", c.NormEps)
	if c.Track && c.PastFrames != c.NumFrames {
		v.fail("track: past_frames %d must equal num_frames %d (every frame is context)", c.PastFrames, c.NumFrames)
	} else if !c.Track && c.PastFrames >= c.NumFrames && c.NumFrames > 0 {
		v.fail("past_frames %d must be smaller than num_frames %d", c.PastFrames, c.NumFrames)
	}
	if c.QueryIndex < 0 {
		v.fail("query_index must be ≥ 0, got %d", c.QueryIndex)
	}
	if !(c.DropRate >= 0 && c.DropRate < 1) {
		v.fail("drop_rate must be in [0, 1), got %g", c.DropRate)
	}
	if !(c.DropPathRate >= 0 && c.DropPathRate < 1) {
		v.fail("drop_path_rate must be in [0, 1), got %g", c.DropPathRate)
	}
	v.heads("predictor_embed_dim", c.PredictorEmbedDim, c.NumHeads, true)
	if c.QueryIndex > maxConfigInt {
		v.fail("query_index %d is implausibly large", c.QueryIndex)
	}
	if len(v) == 0 {
		v.params(c.Depth, c.PredictorEmbedDim, c.Hidden())
	}
	return v.err("thinkjepa predictor config")
}

// field is a named integer config field, for checks.positive.
type field struct {
	name string
	v    int
}

// checks collects the validation failures of one config, so a bad config lists all its
// problems at once. Every message names the JSON field, the value found and the value
// expected.
type checks []error

func (v *checks) fail(format string, a ...any) { *v = append(*v, fmt.Errorf(format, a...)) }

// Upper bounds on config values: far above any real model (ViT-g is 40 blocks of width
// 1408), low enough that a corrupt or hostile config is refused before the sizes it
// implies are multiplied, allocated or looped over.
const (
	maxConfigInt   = 1 << 20
	maxDepth       = 1024
	maxConfigFloat = 1 << 16
	// maxParams bounds the parameter count a config may imply (8.6 G; V-JEPA 2 ViT-g is 1 G).
	maxParams = 1 << 33
)

func (v *checks) positive(fs []field) {
	for _, f := range fs {
		limit := maxConfigInt
		if f.name == "depth" {
			limit = maxDepth
		}
		if f.v <= 0 {
			v.fail("%s must be positive, got %d", f.name, f.v)
		} else if f.v > limit {
			v.fail("%s %d is implausibly large (at most %d)", f.name, f.v, limit)
		}
	}
}

func (v *checks) positiveFloat(name string, x float64) {
	switch {
	case x <= 0:
		v.fail("%s must be positive, got %g", name, x)
	case !(x <= maxConfigFloat): // also NaN and +Inf
		v.fail("%s %g is implausibly large or not a number (at most %d)", name, x, maxConfigFloat)
	}
}

// params checks a block stack's implied parameter count, depth × 12·d² roughly.
func (v *checks) params(depth, width, hidden int) {
	if n := float64(depth) * (4*float64(width)*float64(width) + 2*float64(width)*float64(hidden)); n > maxParams {
		v.fail("depth %d × width %d × mlp %d implies about %.3g parameters, more than %d", depth, width, hidden, n, int64(maxParams))
	}
}

// heads checks that the width splits into num_heads heads and, for blocks with 3-D RoPE,
// that a head is wide enough to rotate along three axes. A non-positive num_heads is
// reported by positive.
func (v *checks) heads(dimName string, dim, heads int, rope bool) {
	switch {
	case heads <= 0:
	case dim%heads != 0:
		v.fail("%s %d is not divisible by num_heads %d", dimName, dim, heads)
	case rope && dim/heads < 6:
		v.fail("head_dim %d is too small for 3-D RoPE (need ≥ 6)", dim/heads)
	}
}

// multiple checks that a is a multiple of b (b ≤ 0 is reported by positive).
func (v *checks) multiple(aName string, a int, bName string, b int) {
	if b > 0 && a%b != 0 {
		v.fail("%s %d is not a multiple of %s %d", aName, a, bName, b)
	}
}

// err is nil without failures, else all of them under the config kind's name.
func (v checks) err(kind string) error {
	if len(v) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %w", kind, errors.Join(v...))
}

// RoPEDSub is the per-axis rotated width of a head: 2·((hd/3)/2) (model-spec §1.4).
func RoPEDSub(headDim int) int { return 2 * ((headDim / 3) / 2) }

func encoderPreset(d, depth, heads, hidden int) EncoderConfig {
	return EncoderConfig{Kind: "vjepa_encoder", EmbedDim: d, Depth: depth, NumHeads: heads,
		MLPRatio: float64(hidden) / float64(d), MLPHidden: hidden, PatchSize: 16, TubeletSize: 2,
		ImgSize: 256, NumFrames: 16, InChans: 3, NormEps: 1e-6}
}

// Encoders are the encoder presets (§1.5) plus small sizes for tests and the demo.
var Encoders = map[string]EncoderConfig{
	"vit_large":          encoderPreset(1024, 24, 16, 4096),
	"vit_huge":           encoderPreset(1280, 32, 16, 5120),
	"vit_giant_xformers": encoderPreset(1408, 40, 22, int(1408*48/11)),
	"vit_small":          encoderPreset(384, 12, 6, 1536),
	"vit_tiny":           encoderPreset(192, 12, 3, 768),
	// demo: a 2-block, 128-wide encoder for the synthetic demo at 64² px.
	"demo": {Kind: "vjepa_encoder", EmbedDim: 128, Depth: 2, NumHeads: 2, MLPRatio: 4, PatchSize: 16,
		TubeletSize: 2, ImgSize: 64, NumFrames: 16, InChans: 3, NormEps: 1e-6},
	// demo32: the same at 32² px, 2×2 patches per tubelet (what `make demo` encodes
	// with). Four tokens per frame make a demo training step 5.5× cheaper than sixteen
	// (the predictor's attention is quadratic in 64·P tokens), and a linear readout of
	// the hand offsets from the pooled tokens loses nothing (5.3 cm vs 5.6 cm at 64² px,
	// true future latents of the demo set).
	"demo32": {Kind: "vjepa_encoder", EmbedDim: 128, Depth: 2, NumHeads: 2, MLPRatio: 4, PatchSize: 16,
		TubeletSize: 2, ImgSize: 32, NumFrames: 16, InChans: 3, NormEps: 1e-6},
}

// Predictors are V-JEPA 2 mask-token predictor presets (hub: 10 mask tokens).
var Predictors = map[string]PredictorConfig{
	"vit_large": {Kind: "vjepa_predictor", EmbedDim: 1024, PredictorEmbedDim: 384, Depth: 12, NumHeads: 12,
		MLPRatio: 4, NumMaskTokens: 10, ImgSize: 256, PatchSize: 16, NumFrames: 64, TubeletSize: 2, NormEps: 1e-6},
}

// ThinkPredictors are ThinkJEPA predictor presets: "v2" (P=256, causal), "v1" (P=128,
// bidirectional) and "demo".
var ThinkPredictors = map[string]ThinkPredictorConfig{
	"v2": {Kind: "thinkjepa_predictor", EmbedDim: 1024, PredictorEmbedDim: 384, Depth: 12, NumHeads: 6,
		MLPRatio: 4, TokensPerFrame: 256, NumFrames: 64, PastFrames: 32, NumQueryTemplates: 2, QueryIndex: 1,
		NormEps: 1e-6, Causal: true, PyramidLayers: []int{0, 4, 8, 12, 16, 20, 24, 27}, DropRate: 0.1, DropPathRate: 0.1},
	"v1": {Kind: "thinkjepa_predictor", EmbedDim: 1024, PredictorEmbedDim: 384, Depth: 12, NumHeads: 6,
		MLPRatio: 4, TokensPerFrame: 128, NumFrames: 64, PastFrames: 32, NumQueryTemplates: 2, QueryIndex: 1,
		NormEps: 1e-6, PyramidLayers: []int{27}, DropRate: 0.1, DropPathRate: 0.1},
	"demo": {Kind: "thinkjepa_predictor", EmbedDim: 128, PredictorEmbedDim: 96, Depth: 4, NumHeads: 2,
		MLPRatio: 4, TokensPerFrame: 16, NumFrames: 16, PastFrames: 8, NumQueryTemplates: 2, QueryIndex: 1,
		NormEps: 1e-6, Causal: true, DropRate: 0.1, DropPathRate: 0.1},
}

// Lookup returns a copy of the named encoder preset.
func Lookup(name string) (EncoderConfig, error) {
	c, ok := Encoders[name]
	if !ok {
		return EncoderConfig{}, fmt.Errorf("unknown encoder architecture %q (known: %s)", name, strings.Join(keys(Encoders), ", "))
	}
	c.OutLayers = append([]int(nil), c.OutLayers...)
	return c, nil
}

// LookupThink returns a copy of the named ThinkJEPA predictor preset.
func LookupThink(name string) (ThinkPredictorConfig, error) {
	c, ok := ThinkPredictors[name]
	if !ok {
		return ThinkPredictorConfig{}, fmt.Errorf("unknown thinkjepa predictor architecture %q (known: %s)", name, strings.Join(keys(ThinkPredictors), ", "))
	}
	c.PyramidLayers = append([]int(nil), c.PyramidLayers...)
	return c, nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Kind reads only the "kind" field of a JSON config.
func Kind(b []byte) (string, error) {
	var k struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(b, &k); err != nil {
		return "", err
	}
	return k.Kind, nil
}

// ParseEncoder decodes and validates an encoder config; unknown fields are allowed
// (fixtures carry "batch"), missing in_chans / norm_eps take the V-JEPA defaults.
func ParseEncoder(b []byte) (EncoderConfig, error) {
	c := EncoderConfig{InChans: 3, NormEps: 1e-6}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("encoder config: %w", err)
	}
	return c, c.Validate()
}

// ParsePredictor decodes and validates a V-JEPA 2 predictor config.
func ParsePredictor(b []byte) (PredictorConfig, error) {
	c := PredictorConfig{NormEps: 1e-6}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("predictor config: %w", err)
	}
	return c, c.Validate()
}

// ParseThink decodes and validates a ThinkJEPA predictor config.
func ParseThink(b []byte) (ThinkPredictorConfig, error) {
	c := ThinkPredictorConfig{NormEps: 1e-6, NumQueryTemplates: 2, QueryIndex: 1}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("thinkjepa predictor config: %w", err)
	}
	return c, c.Validate()
}

// Load reads an encoder config from a JSON file, or returns the preset when path is a
// preset name.
func Load(path string) (EncoderConfig, error) {
	if _, ok := Encoders[path]; ok {
		return Lookup(path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return EncoderConfig{}, fmt.Errorf("architecture %s: %w", path, err)
	}
	c, err := ParseEncoder(b)
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// blockShapes adds the shapes of one pre-norm block under prefix (e.g. "blocks.3.").
func blockShapes(m map[string][]int, prefix string, d, hidden int) {
	m[prefix+"norm1.weight"] = []int{d}
	m[prefix+"norm1.bias"] = []int{d}
	m[prefix+"attn.qkv.weight"] = []int{3 * d, d}
	m[prefix+"attn.qkv.bias"] = []int{3 * d}
	m[prefix+"attn.proj.weight"] = []int{d, d}
	m[prefix+"attn.proj.bias"] = []int{d}
	m[prefix+"norm2.weight"] = []int{d}
	m[prefix+"norm2.bias"] = []int{d}
	m[prefix+"mlp.fc1.weight"] = []int{hidden, d}
	m[prefix+"mlp.fc1.bias"] = []int{hidden}
	m[prefix+"mlp.fc2.weight"] = []int{d, hidden}
	m[prefix+"mlp.fc2.bias"] = []int{d}
}

// ExpectedShapes lists every encoder tensor by its V-JEPA 2 state-dict name.
func (c EncoderConfig) ExpectedShapes() map[string][]int {
	m := map[string][]int{
		"patch_embed.proj.weight": {c.EmbedDim, c.InChans, c.TubeletSize, c.PatchSize, c.PatchSize},
		"patch_embed.proj.bias":   {c.EmbedDim},
		"norm.weight":             {c.EmbedDim},
		"norm.bias":               {c.EmbedDim},
	}
	for i := 0; i < c.Depth; i++ {
		blockShapes(m, fmt.Sprintf("blocks.%d.", i), c.EmbedDim, c.Hidden())
	}
	return m
}

// ExpectedShapes lists every predictor tensor by its V-JEPA 2 state-dict name.
func (c PredictorConfig) ExpectedShapes() map[string][]int {
	d := c.PredictorEmbedDim
	m := map[string][]int{
		"predictor_embed.weight": {d, c.EmbedDim},
		"predictor_embed.bias":   {d},
		"predictor_norm.weight":  {d},
		"predictor_norm.bias":    {d},
		"predictor_proj.weight":  {c.EmbedDim, d},
		"predictor_proj.bias":    {c.EmbedDim},
	}
	for k := 0; k < c.NumMaskTokens; k++ {
		m[fmt.Sprintf("mask_tokens.%d", k)] = []int{1, 1, d}
	}
	for i := 0; i < c.Depth; i++ {
		blockShapes(m, fmt.Sprintf("predictor_blocks.%d.", i), d, c.Hidden())
	}
	return m
}

// ExpectedShapes lists the ThinkJEPA predictor's own tensors (§4.4), without the
// guidance bank (package film owns guidance_*).
func (c ThinkPredictorConfig) ExpectedShapes() map[string][]int {
	d := c.PredictorEmbedDim
	m := map[string][]int{
		"context_adapter.weight": {d, c.EmbedDim},
		"context_adapter.bias":   {d},
		"rollout_norm.weight":    {d},
		"rollout_norm.bias":      {d},
		"output_adapter.weight":  {c.EmbedDim, d},
		"output_adapter.bias":    {c.EmbedDim},
	}
	for k := 0; k < c.NumQueryTemplates; k++ {
		m[fmt.Sprintf("query_templates.%d", k)] = []int{1, 1, d}
	}
	for i := 0; i < c.Depth; i++ {
		blockShapes(m, fmt.Sprintf("rollout_layers.%d.", i), d, c.Hidden())
	}
	return m
}

// EncoderFromJSON finds the encoder config in a checkpoint's config JSON: either a bare
// encoder config ({"kind": "vjepa_encoder", ...}, or no kind but an embed_dim), or an
// object with an "encoder" member (as released_tiny's config.json), or a preset name
// under "arch" ({"arch": "vit_large"}).
func EncoderFromJSON(raw []byte) (EncoderConfig, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return EncoderConfig{}, errors.New("no architecture config stored (re-import with --arch)")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return EncoderConfig{}, fmt.Errorf("architecture config: %w", err)
	}
	if sub, ok := top["encoder"]; ok && len(sub) > 0 && sub[0] == '{' {
		return ParseEncoder(sub)
	}
	if a, ok := top["arch"]; ok {
		var name string
		if err := json.Unmarshal(a, &name); err == nil && name != "" {
			return Lookup(name)
		}
	}
	kind, _ := Kind(raw)
	if kind == "vjepa_encoder" || (kind == "" && top["embed_dim"] != nil && top["predictor_embed_dim"] == nil) {
		return ParseEncoder(raw)
	}
	return EncoderConfig{}, fmt.Errorf("architecture config of kind %q has no encoder", kind)
}
