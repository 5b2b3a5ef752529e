package weights

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

var ourBlockRE = regexp.MustCompile(`^(encoder\.blocks|predictor\.predictor_blocks)\.(\d+)\.(.+)$`)

// ExportHF maps the encoder.* and predictor.* tensors of our checkpoint to the Hugging
// Face VJEPA2 names (the inverse of the HF import): qkv is split into query/key/value and
// the mask tokens are stacked into one [K,1,1,D] tensor. Other parts (tj_predictor.,
// head.) have no HF equivalent and are returned in skipped.
func ExportHF(c *Checkpoint) (out map[string]*Tensor, skipped []string, err error) {
	out = map[string]*Tensor{}
	simple := map[string]string{
		PrefixEncoder + "patch_embed.proj.weight":  "encoder.embeddings.patch_embeddings.proj.weight",
		PrefixEncoder + "patch_embed.proj.bias":    "encoder.embeddings.patch_embeddings.proj.bias",
		PrefixEncoder + "norm.weight":              "encoder.layernorm.weight",
		PrefixEncoder + "norm.bias":                "encoder.layernorm.bias",
		PrefixPredictor + "predictor_embed.weight": "predictor.embeddings.predictor_embeddings.weight",
		PrefixPredictor + "predictor_embed.bias":   "predictor.embeddings.predictor_embeddings.bias",
		PrefixPredictor + "predictor_norm.weight":  "predictor.layernorm.weight",
		PrefixPredictor + "predictor_norm.bias":    "predictor.layernorm.bias",
		PrefixPredictor + "predictor_proj.weight":  "predictor.proj.weight",
		PrefixPredictor + "predictor_proj.bias":    "predictor.proj.bias",
	}
	var masks []*Tensor
	for _, k := range c.Names() {
		t := c.Tensors[k]
		if n, ok := simple[k]; ok {
			out[n] = t
			continue
		}
		if m := maskTokenRE.FindStringSubmatch(strings.TrimPrefix(k, PrefixPredictor)); m != nil && strings.HasPrefix(k, PrefixPredictor) {
			i, _ := strconv.Atoi(m[1])
			for len(masks) <= i {
				masks = append(masks, nil)
			}
			masks[i] = t
			continue
		}
		m := ourBlockRE.FindStringSubmatch(k)
		if m == nil {
			skipped = append(skipped, k)
			continue
		}
		dst := "encoder.layer." + m[2] + "."
		if strings.HasPrefix(m[1], "predictor") {
			dst = "predictor.layer." + m[2] + "."
		}
		rest := m[3]
		switch {
		case strings.HasPrefix(rest, "attn.qkv."):
			kind := strings.TrimPrefix(rest, "attn.qkv.")
			if len(t.Shape) == 0 || t.Shape[0]%3 != 0 {
				return nil, nil, fmt.Errorf("tensor %q: shape %v is not a fused qkv", k, t.Shape)
			}
			per := len(t.Data) / 3
			for s, name := range []string{"query", "key", "value"} {
				shape := append([]int{t.Shape[0] / 3}, t.Shape[1:]...)
				out[dst+"attention."+name+"."+kind] = &Tensor{Shape: shape, Data: t.Data[s*per : (s+1)*per]}
			}
		case strings.HasPrefix(rest, "attn.proj."):
			out[dst+"attention.proj."+strings.TrimPrefix(rest, "attn.proj.")] = t
		default:
			out[dst+rest] = t
		}
	}
	if len(masks) > 0 {
		per := len(masks[0].Data)
		data := make([]float32, 0, per*len(masks))
		for i, t := range masks {
			if t == nil || len(t.Data) != per {
				return nil, nil, fmt.Errorf("mask tokens are not contiguous 0..%d of equal size (token %d)", len(masks)-1, i)
			}
			data = append(data, t.Data...)
		}
		out["predictor.embeddings.mask_tokens"] = &Tensor{Shape: append([]int{len(masks)}, masks[0].Shape...), Data: data}
	}
	for n, t := range out {
		out[n] = &Tensor{Name: n, Shape: t.Shape, Data: t.Data}
	}
	return out, skipped, nil
}
