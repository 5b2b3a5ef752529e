// Package golden holds what the PyTorch-parity tests share: reading a fixture's
// weights (testdata/golden/<case>/weights.safetensors, through the weights package's
// reader), the small-variance run's weight scaling, and the relative error used by every
// parity tolerance.
package golden

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/thinkjepa/thinkjepa/weights"
)

// Weights reads a fixture's weights.safetensors into values and shapes by name.
func Weights(path string) (map[string][]float32, map[string][]int, error) {
	f, err := weights.ReadSafetensors(path)
	if err != nil {
		return nil, nil, err
	}
	vals, shapes := map[string][]float32{}, map[string][]int{}
	for name, t := range f.Tensors {
		vals[name], shapes[name] = t.Data, t.Shape
	}
	return vals, shapes, nil
}

// RelErr is ‖got−ref‖/‖ref‖ (the absolute norm when ref is all zero).
func RelErr(got []float32, ref []float64) float64 {
	var num, den float64
	for i := range ref {
		d := float64(got[i]) - ref[i]
		num += d * d
		den += ref[i] * ref[i]
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

// LowVar describes a fixture's small-variance run (config.json "lowvar", arrays under the
// "lowvar." prefix of io.npz): the same weights with ScaledWeights multiplied by Scale, a
// power of two, so that every LayerNorm input has per-row variance ~1e-5..1e-4 and a wrong
// eps moves the outputs far past the parity tolerance (tools/reference/README.md).
type LowVar struct {
	Scale         float64  `json:"scale"`
	ScaledWeights []string `json:"scaled_weights"`
}

// ReadLowVar returns config.json's "lowvar" entry, or nil when the case has none.
func ReadLowVar(config []byte) (*LowVar, error) {
	var c struct {
		LowVar *LowVar `json:"lowvar"`
	}
	if err := json.Unmarshal(config, &c); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	if c.LowVar == nil {
		return nil, nil
	}
	if frac, _ := math.Frexp(c.LowVar.Scale); frac != 0.5 {
		return nil, fmt.Errorf("config.json: lowvar.scale %g: want a power of two (exact in float32)", c.LowVar.Scale)
	}
	return c.LowVar, nil
}

// Apply returns a copy of vals with every ScaledWeights entry multiplied by Scale (exact:
// a power of two); the other entries are shared, not copied.
func (lv *LowVar) Apply(vals map[string][]float32) (map[string][]float32, error) {
	out := make(map[string][]float32, len(vals))
	for k, v := range vals {
		out[k] = v
	}
	s := float32(lv.Scale)
	for _, k := range lv.ScaledWeights {
		v, ok := vals[k]
		if !ok {
			return nil, fmt.Errorf("lowvar.scaled_weights: %q is not in the weights", k)
		}
		c := make([]float32, len(v))
		for i, x := range v {
			c[i] = x * s
		}
		out[k] = c
	}
	return out, nil
}
