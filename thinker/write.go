package thinker

import (
	"fmt"

	"github.com/thinkjepa/thinkjepa/internal/npy"
)

// Write stores c atomically in the v2 layout (fp16 features, as the authors' caches):
// vlm_old, vlm_new, layers, vlm_new_token_ids (and token_ids), input_valid_len, the
// frame-index provenance, the V-JEPA latents when present, and every Provenance entry as
// a numpy unicode string. The schema string is set when Provenance has none.
func (c *Cache) Write(path string) error {
	if len(c.Old) != c.L*c.So*c.Dv || len(c.New) != c.L*c.Sn*c.Dv {
		return fmt.Errorf("write thinker cache %s: vlm_old has %d values for [%d,%d,%d], vlm_new %d for [%d,%d,%d]",
			path, len(c.Old), c.L, c.So, c.Dv, len(c.New), c.L, c.Sn, c.Dv)
	}
	if len(c.Layers) != c.L {
		return fmt.Errorf("write thinker cache %s: %d layer ids for %d layers", path, len(c.Layers), c.L)
	}
	if len(c.TokenIDs) != c.Sn+1 {
		return fmt.Errorf("write thinker cache %s: %d token ids, expected vlm_new tokens + 1 = %d", path, len(c.TokenIDs), c.Sn+1)
	}
	for key, v := range map[string][]float32{"vlm_old": c.Old, "vlm_new": c.New, "vjepa_input_feats": c.VJEPAInput, "vjepa_target_feats": c.VJEPATarget} {
		if i := firstNonFinite(v); i >= 0 {
			return fmt.Errorf("write thinker cache %s: %s is not finite at element %d", path, key, i)
		}
	}
	w := npy.NewNPZWriter()
	w.Add("vlm_old", npy.FromFloat32AsHalf(c.Old, c.L, c.So, c.Dv))
	w.Add("vlm_new", npy.FromFloat32AsHalf(c.New, c.L, c.Sn, c.Dv))
	lay := make([]int64, c.L)
	for i, l := range c.Layers {
		lay[i] = int64(l)
	}
	w.Add("layers", npy.FromInt64(lay, c.L))
	w.Add("vlm_new_token_ids", npy.FromInt64(c.TokenIDs, len(c.TokenIDs)))
	w.Add("token_ids", npy.FromInt64(c.TokenIDs, len(c.TokenIDs)))
	vl := c.ValidLen
	if vl < 0 {
		vl = c.So
	}
	w.Add("input_valid_len", npy.FromInt64([]int64{int64(vl)}))
	// Fixed member order so that the same cache gives the same bytes.
	for _, kv := range []struct {
		key string
		v   []int64
	}{{"past_raw_indices", c.PastIndices}, {"target_raw_indices", c.TargetIndices}, {"qwen_raw_indices", c.QwenIndices}} {
		if kv.v != nil {
			w.Add(kv.key, npy.FromInt64(kv.v, len(kv.v)))
		}
	}
	if c.VJEPAInput != nil {
		s := c.VJEPAShape
		if len(c.VJEPAInput) != s[0]*s[1]*s[2] || (c.VJEPATarget != nil && len(c.VJEPATarget) != len(c.VJEPAInput)) {
			return fmt.Errorf("write thinker cache %s: V-JEPA latents do not match shape %v", path, s)
		}
		w.Add("vjepa_input_feats", npy.FromFloat32AsHalf(c.VJEPAInput, s[:]...))
		if c.VJEPATarget != nil {
			w.Add("vjepa_target_feats", npy.FromFloat32AsHalf(c.VJEPATarget, s[:]...))
		}
	}
	prov := map[string]string{"schema": Schema, "cache_version": "2"}
	for k, v := range c.Provenance {
		prov[k] = v
	}
	for _, k := range sortedKeys(prov) {
		w.Add(k, npy.FromString(prov[k]))
	}
	if err := w.WriteFile(path); err != nil {
		return fmt.Errorf("write thinker cache %s: %w", path, err)
	}
	return nil
}
