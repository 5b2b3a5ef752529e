// Package thinker reads, validates, writes and batches the per-clip VLM feature caches of
// ThinkJEPA's "thinker" branch (model-spec §4.3): multi-layer Qwen3-VL hidden states of the
// prompt ("vlm_old", [L,S_o,Dv]) and of the generated tokens ("vlm_new", [L,S_n,Dv]),
// optionally with the V-JEPA latents of the clip.
//
// Both official layouts are read as the authors wrote them: v2 (causal release:
// vjepa_input_feats/vjepa_target_feats [16,256,1024], frame-index provenance,
// vlm_new_token_ids) and v1 (April release: token_ids, input_ids, text, vjepa_feats
// [64,128,1024]). Features may be fp16 or fp32. Our own caches are written in the v2 layout.
package thinker

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"

	"github.com/thinkjepa/thinkjepa/internal/npy"
)

// DefaultLayers is the cached Qwen3-VL-2B decoder-layer list of ThinkJEPA.
var DefaultLayers = []int{0, 4, 8, 12, 16, 20, 24, 27}

// Schema is the schema string written into our v2 caches.
const Schema = "thinkjepa.thinker_cache.v2"

// Cache is one clip's thinker cache, decoded to float32.
type Cache struct {
	Path      string
	Layers    []int
	Old       []float32 // [L,So,Dv]
	New       []float32 // [L,Sn,Dv]
	L, So, Sn int
	Dv        int
	TokenIDs  []int64 // generated token ids (v2 vlm_new_token_ids, v1 token_ids)
	InputIDs  []int64 // v1 prompt ids, when present
	ValidLen  int     // input_valid_len, -1 when absent
	Text      string  // v1 decoded text, when present

	// V-JEPA latents (v2: input and target [16,256,1024]; v1: VJEPAInput holds vjepa_feats
	// [64,128,1024] and VJEPATarget is nil). Nil when the file has none.
	VJEPAInput, VJEPATarget []float32
	VJEPAShape              [3]int

	PastIndices, TargetIndices, QwenIndices []int64

	Provenance map[string]string // every readable string field (schema, versions, model id, …)
	Version    int               // 1 or 2
	DType      npy.DType         // dtype of vlm_old as stored
}

// OldLayer returns layer l of vlm_old, [So,Dv].
func (c *Cache) OldLayer(l int) []float32 { return c.Old[l*c.So*c.Dv : (l+1)*c.So*c.Dv] }

// NewLayer returns layer l of vlm_new, [Sn,Dv].
func (c *Cache) NewLayer(l int) []float32 { return c.New[l*c.Sn*c.Dv : (l+1)*c.Sn*c.Dv] }

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid thinker cache")

func bad(path, key, format string, a ...any) error {
	return fmt.Errorf("%w: %s: key %q: %s", ErrInvalid, path, key, fmt.Sprintf(format, a...))
}

// stringKeys are optional fields read as strings into Provenance when they are plain
// numpy strings. Object (pickled) arrays cannot be read and are skipped.
func readString(z *npy.NPZ, key string) (string, bool) {
	a, err := z.Get(key)
	if err != nil {
		slog.Debug("thinker: skipping unreadable optional key", "file", z.Path(), "key", key, "err", err)
		return "", false
	}
	s, err := a.String()
	if err != nil {
		slog.Debug("thinker: skipping non-string optional key", "file", z.Path(), "key", key, "dtype", a.DType)
		return "", false
	}
	return s, true
}

func readInts(z *npy.NPZ, key string) ([]int64, error) {
	a, err := z.Get(key)
	if err != nil {
		return nil, err
	}
	v, err := a.Int64s()
	if err != nil {
		return nil, bad(z.Path(), key, "expected integers: %v", err)
	}
	return v, nil
}

// Read decodes one cache file (v1 or v2). It checks only the internal consistency of the
// file (shapes, finiteness, token count); use Validate for the expectations of a run.
func Read(path string) (*Cache, error) {
	z, err := npy.OpenNPZ(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	defer z.Close()
	c := &Cache{Path: path, ValidLen: -1, Provenance: map[string]string{}}
	c.Version = 1
	if z.Has("vjepa_input_feats") || z.Has("vlm_new_token_ids") || z.Has("past_raw_indices") {
		c.Version = 2
	}
	oa, err := z.Get("vlm_old")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(oa.Shape) != 3 {
		return nil, bad(path, "vlm_old", "shape %v, expected [L,S_o,Dv]", oa.Shape)
	}
	c.DType = oa.DType
	if c.Old, err = oa.Float32s(); err != nil {
		return nil, bad(path, "vlm_old", "%v", err)
	}
	c.L, c.So, c.Dv = oa.Shape[0], oa.Shape[1], oa.Shape[2]
	c.New, _, err = z.Float32s("vlm_new", c.L, -1, c.Dv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v (vlm_old is %v)", ErrInvalid, err, oa.Shape)
	}
	c.Sn = len(c.New) / max(1, c.L*c.Dv)
	for key, v := range map[string][]float32{"vlm_old": c.Old, "vlm_new": c.New} {
		if i := firstNonFinite(v); i >= 0 {
			return nil, bad(path, key, "value %v at element %d, expected finite values", v[i], i)
		}
	}
	lay, err := readInts(z, "layers")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(lay) != c.L {
		return nil, bad(path, "layers", "%d entries %v, expected %d (the layers of vlm_old)", len(lay), lay, c.L)
	}
	for _, l := range lay {
		c.Layers = append(c.Layers, int(l))
	}
	for _, key := range []string{"vlm_new_token_ids", "token_ids"} {
		if z.Has(key) {
			if c.TokenIDs, err = readInts(z, key); err != nil {
				return nil, err
			}
			break
		}
	}
	if c.Version == 2 {
		if c.TokenIDs == nil {
			return nil, bad(path, "vlm_new_token_ids", "missing (v2 needs the generated token ids)")
		}
		if c.Sn != len(c.TokenIDs)-1 {
			return nil, bad(path, "vlm_new", "%d tokens, expected len(token_ids)-1 = %d", c.Sn, len(c.TokenIDs)-1)
		}
	}
	if z.Has("input_ids") {
		if c.InputIDs, err = readInts(z, "input_ids"); err != nil {
			return nil, err
		}
	}
	if z.Has("input_valid_len") {
		v, err := readInts(z, "input_valid_len")
		if err != nil {
			return nil, err
		}
		if len(v) != 1 {
			return nil, bad(path, "input_valid_len", "%d values, expected 1", len(v))
		}
		c.ValidLen = int(v[0])
	}
	for key, dst := range map[string]*[]int64{"past_raw_indices": &c.PastIndices, "target_raw_indices": &c.TargetIndices, "qwen_raw_indices": &c.QwenIndices} {
		if z.Has(key) {
			if *dst, err = readInts(z, key); err != nil {
				return nil, err
			}
		}
	}
	if err := c.readVJEPA(z); err != nil {
		return nil, err
	}
	for _, key := range z.Keys() {
		switch key {
		case "vlm_old", "vlm_new", "layers", "vlm_new_token_ids", "token_ids", "input_ids", "input_valid_len",
			"past_raw_indices", "target_raw_indices", "qwen_raw_indices", "vjepa_input_feats", "vjepa_target_feats",
			"vjepa_feats", "imgs", VLMKeyPrefix + "imgs", VLMKeyPrefix + "frame_indices", VLMKeyPrefix + "nframes_used", VLMKeyPrefix + "total_frames":
			continue
		}
		if s, ok := readString(z, key); ok {
			c.Provenance[key] = s
		}
	}
	c.Text = c.Provenance["text"]
	return c, nil
}

func (c *Cache) readVJEPA(z *npy.NPZ) error {
	switch {
	case z.Has("vjepa_input_feats"):
		in, s1, err := z.Float32s("vjepa_input_feats", -1, -1, -1)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		tg, _, err := z.Float32s("vjepa_target_feats", s1...)
		if err != nil {
			return fmt.Errorf("%w: %v (vjepa_input_feats is %v)", ErrInvalid, err, s1)
		}
		c.VJEPAInput, c.VJEPATarget = in, tg
		copy(c.VJEPAShape[:], s1)
	case z.Has(KeyFeats):
		// upstream's combined cache (or v1's released one): decoded and checked against
		// its frame fields by ReadBranch (bf16 bits included).
		b, err := ReadBranch(z)
		if err != nil {
			return err
		}
		c.VJEPAInput = b.Feats
		c.VJEPAShape = [3]int{b.T, b.P, b.D}
	default:
		return nil
	}
	for key, v := range map[string][]float32{"vjepa_input": c.VJEPAInput, "vjepa_target": c.VJEPATarget} {
		if i := firstNonFinite(v); i >= 0 {
			return bad(c.Path, key+"_feats", "value %v at element %d, expected finite values", v[i], i)
		}
	}
	return nil
}

func firstNonFinite(v []float32) int {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i
		}
	}
	return -1
}

// Expect is what a run expects of every cache file.
type Expect struct {
	Layers      []int // nil: any
	Hidden      int   // 0: any
	OldCapacity int   // 0: no cap
	NewCapacity int
	// Truncate (v1 mode): lengths over capacity are cut to the capacity (first tokens
	// kept) with a warning instead of being an error.
	Truncate bool
}

// Validate checks c against e. With e.Truncate it may shorten c.Old/c.New and returns
// the warnings it produced.
func (c *Cache) Validate(e Expect) (warnings []string, err error) {
	if e.Layers != nil && !equalInts(c.Layers, e.Layers) {
		return nil, bad(c.Path, "layers", "%v, expected %v", c.Layers, e.Layers)
	}
	if e.Hidden > 0 && c.Dv != e.Hidden {
		return nil, bad(c.Path, "vlm_old", "hidden size %d, expected %d", c.Dv, e.Hidden)
	}
	check := func(key string, S *int, v *[]float32, capacity int) error {
		if capacity <= 0 || *S <= capacity {
			return nil
		}
		if !e.Truncate {
			return bad(c.Path, key, "%d tokens, over the capacity %d", *S, capacity)
		}
		*v = truncate(*v, c.L, *S, capacity, c.Dv)
		warnings = append(warnings, fmt.Sprintf("%s: %s: %d tokens truncated to the capacity %d", c.Path, key, *S, capacity))
		*S = capacity
		return nil
	}
	if err := check("vlm_old", &c.So, &c.Old, e.OldCapacity); err != nil {
		return nil, err
	}
	if err := check("vlm_new", &c.Sn, &c.New, e.NewCapacity); err != nil {
		return nil, err
	}
	for _, w := range warnings {
		slog.Warn("thinker: " + w)
	}
	return warnings, nil
}

func truncate(v []float32, L, S, keep, D int) []float32 {
	out := make([]float32, 0, L*keep*D)
	for l := 0; l < L; l++ {
		out = append(out, v[l*S*D:(l*S+keep)*D]...)
	}
	return out
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// SelectLayers keeps only the chosen cached layers: "all" (v2) or "last" (v1: the
// deepest cached layer only).
func (c *Cache) SelectLayers(sel string) error {
	switch sel {
	case "all", "":
		return nil
	case "last":
		if c.L == 0 {
			return bad(c.Path, "layers", "no layers")
		}
		c.Old = append([]float32(nil), c.OldLayer(c.L-1)...)
		c.New = append([]float32(nil), c.NewLayer(c.L-1)...)
		c.Layers = c.Layers[c.L-1:]
		c.L = 1
		return nil
	}
	return fmt.Errorf("layer selector %q: expected all or last", sel)
}

// ParseInts parses a comma-separated integer list ("0,4,8").
func ParseInts(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		v, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer list", s)
		}
		out = append(out, v)
	}
	return out, nil
}
