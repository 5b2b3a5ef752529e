package kern

import (
	"math"
	"testing"
)

// TestFastMath checks the float32 exp and erf used by the C loops against math.
func TestFastMath(t *testing.T) {
	if !haveFast {
		t.Skip("pure-Go build: no C loops")
	}
	var xs []float32
	for x := -100.0; x <= 88; x += 0.0137 {
		xs = append(xs, float32(x))
	}
	e := append([]float32(nil), xs...)
	fastExp32(e)
	worst := 0.0
	for i, x := range xs {
		want := math.Exp(float64(x))
		if x < -87 {
			if e[i] != 0 {
				t.Fatalf("exp(%g) = %g, want 0", x, e[i])
			}
			continue
		}
		worst = max(worst, math.Abs(float64(e[i])-want)/want)
	}
	if worst > 3e-7 {
		t.Errorf("exp max rel err %g", worst)
	}
	var es []float32
	for x := -6.0; x <= 6; x += 0.001 {
		es = append(es, float32(x))
	}
	r := append([]float32(nil), es...)
	fastErf32(r)
	worst = 0
	for i, x := range es {
		worst = max(worst, math.Abs(float64(r[i])-math.Erf(float64(x))))
	}
	if worst > 1e-6 {
		t.Errorf("erf max abs err %g", worst)
	}
	t.Logf("erf max abs err %g", worst)
}
