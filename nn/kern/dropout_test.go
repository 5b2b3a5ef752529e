package kern

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestDropoutGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range []float64{0, 0.1, 0.5} {
		x := randVec(rng, 257)
		gradCheck(t, "dropout", rng, [][]float64{x},
			func() []float64 { o := make([]float64, len(x)); Dropout(o, x, 99, p); return o },
			func(gout []float64, g [][]float64) { DropoutBackward(g[0], gout, 99, p) })
	}
}

func TestDropoutMask(t *testing.T) {
	const n = 200000
	in := make([]float32, n)
	for i := range in {
		in[i] = 1
	}
	out := make([]float32, n)
	for _, p := range []float64{0.1, 0.3} {
		Dropout(out, in, 7, p)
		kept, want := 0, float32(1/(1-p))
		for i, v := range out {
			switch {
			case v == 0:
				if DropoutKeep(7, i, p) {
					t.Fatalf("p=%v: element %d dropped but DropoutKeep says kept", p, i)
				}
			case v == want:
				kept++
			default:
				t.Fatalf("p=%v: element %d = %v, want 0 or %v", p, i, v, want)
			}
		}
		// Binomial std of the kept fraction is ~0.001 at this n: 1% is > 9σ.
		if f := float64(kept) / n; math.Abs(f-(1-p)) > 0.01 {
			t.Errorf("p=%v: kept fraction %.4f, want ≈ %.2f", p, f, 1-p)
		}
	}
	// p = 0 is the identity; the same seed gives the same mask whatever the thread
	// count (resume and device engines rely on it); another seed a different one.
	Dropout(out, in, 7, 0)
	for i, v := range out {
		if v != 1 {
			t.Fatalf("p=0: element %d = %v", i, v)
		}
	}
	old := Threads()
	defer SetThreads(old)
	SetThreads(1)
	a := make([]float32, n)
	Dropout(a, in, 11, 0.1)
	SetThreads(4)
	b := make([]float32, n)
	Dropout(b, in, 11, 0.1)
	c := make([]float32, n)
	Dropout(c, in, 12, 0.1)
	same := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("seed 11: element %d differs between 1 and 4 threads", i)
		}
		if a[i] == c[i] {
			same++
		}
	}
	// Two independent masks at p = 0.1 agree on 0.9²+0.1² = 82% of elements.
	if f := float64(same) / n; f > 0.84 || f < 0.80 {
		t.Errorf("seeds 11 and 12 agree on %.3f of elements, want ≈ 0.82 (independent masks)", f)
	}
	// In place (out aliases in).
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	y := make([]float32, len(x))
	Dropout(y, x, 3, 0.5)
	Dropout(x, x, 3, 0.5)
	for i := range x {
		if x[i] != y[i] {
			t.Fatalf("in-place dropout differs at %d: %v vs %v", i, x[i], y[i])
		}
	}
}
