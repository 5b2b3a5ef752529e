// Package golden holds what the PyTorch-parity tests share: reading a fixture's
// weights (testdata/golden/<case>/weights.safetensors, through the weights package's
// reader) and the relative error used by every parity tolerance.
package golden

import (
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
