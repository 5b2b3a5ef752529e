//go:build noopenblas

package kern

// haveFast reports whether the vectorised C loops are linked (not in the pure-Go build).
const haveFast = false

func fastExp32([]float32)                                                                         {}
func fastErf32([]float32)                                                                         {}
func fastAttnFwdTile([]float32, int, int, []float64, []float64, []float32, int, []int32, []int32) {}
func fastAttnBwdP([]float32, int, int, []float32, []int32, []int32)                               {}
func fastAttnBwdDS([]float32, []float32, int, int, []float32, float32)                            {}
func fastGELU32([]float32, []float32)                                                             {}
func fastGELUBwd32([]float32, []float32, []float32)                                               {}
