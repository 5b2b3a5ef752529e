package thinker

import (
	"fmt"
	"sort"
)

// Capacity is the padded stream length of a batch: v2 1280/16, v1 480/15.
type Capacity struct{ Old, New int }

var (
	CapacityV2 = Capacity{Old: 1280, New: 16}
	CapacityV1 = Capacity{Old: 480, New: 15}
)

// Batch is a batch of caches padded to fixed capacities. Old [B,L,CapOld,Dv] and New
// [B,L,CapNew,Dv] are zero beyond each sample's length; OldMask [B,L,CapOld] and NewMask
// [B,L,CapNew] are 1 on valid tokens and 0 on padding (the masks the FiLM bank pools with).
type Batch struct {
	B, L, Dv         int
	SOld, SNew       int
	Old, New         []float32
	OldMask, NewMask []float32
	Layers           []int
}

// Pad builds a batch from caches that share layers and hidden size. Lengths over the
// capacity are an error unless truncate is set (v1: the first tokens are kept). A
// capacity of 0 pads to the longest sample.
func Pad(caches []*Cache, capacity Capacity, truncate bool) (*Batch, error) {
	if len(caches) == 0 {
		return nil, fmt.Errorf("thinker: empty batch")
	}
	c0 := caches[0]
	b := &Batch{B: len(caches), L: c0.L, Dv: c0.Dv, SOld: capacity.Old, SNew: capacity.New, Layers: c0.Layers}
	for _, c := range caches {
		if c.L != b.L || c.Dv != b.Dv || !equalInts(c.Layers, b.Layers) {
			return nil, fmt.Errorf("%w: %s: layers %v × hidden %d, the batch's first file %s has %v × %d",
				ErrInvalid, c.Path, c.Layers, c.Dv, c0.Path, c0.Layers, c0.Dv)
		}
		if capacity.Old == 0 {
			b.SOld = max(b.SOld, c.So)
		}
		if capacity.New == 0 {
			b.SNew = max(b.SNew, c.Sn)
		}
	}
	var err error
	if b.Old, b.OldMask, err = pad(caches, "vlm_old", b.L, b.SOld, b.Dv, truncate, func(c *Cache) ([]float32, int) { return c.Old, c.So }); err != nil {
		return nil, err
	}
	if b.New, b.NewMask, err = pad(caches, "vlm_new", b.L, b.SNew, b.Dv, truncate, func(c *Cache) ([]float32, int) { return c.New, c.Sn }); err != nil {
		return nil, err
	}
	return b, nil
}

func pad(caches []*Cache, key string, L, S, D int, truncate bool, get func(*Cache) ([]float32, int)) (x, mask []float32, err error) {
	x = make([]float32, len(caches)*L*S*D)
	mask = make([]float32, len(caches)*L*S)
	for b, c := range caches {
		src, Si := get(c)
		n := Si
		if Si > S {
			if !truncate {
				return nil, nil, bad(c.Path, key, "%d tokens, over the capacity %d", Si, S)
			}
			n = S
		}
		for l := 0; l < L; l++ {
			copy(x[((b*L+l)*S)*D:], src[l*Si*D:(l*Si+n)*D])
			for s := 0; s < n; s++ {
				mask[(b*L+l)*S+s] = 1
			}
		}
	}
	return x, mask, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
