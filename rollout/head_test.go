package rollout

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/thinkjepa/thinkjepa/internal/gradcheck"
	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/nn/cpu"
)

func randVec(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * scale)
	}
	return v
}

func relErr(a, b []float64) float64 {
	var num, den float64
	for i := range a {
		num += (a[i] - b[i]) * (a[i] - b[i])
		den += b[i] * b[i]
	}
	return math.Sqrt(num / math.Max(den, 1e-30))
}

func dot(a []float32, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func TestHeadGradients(t *testing.T) {
	for _, noPool := range []bool{false, true} {
		for _, drop := range []Dropout{{}, {P: 0.3, Seed: 17}} {
			headGradients(t, drop, noPool)
		}
	}
}

// headGradients checks every gradient against central differences, with the dropout
// masks fixed by drop's seed (dropout is then a fixed linear map).
func headGradients(t *testing.T, drop Dropout, noPool bool) {
	e := cpu.New()
	rng := rand.New(rand.NewPCG(3, 4))
	cfg := HeadConfig{Dim: 8, Hidden: 6, Heads: 2, Joints: 2, NoPool: noPool}
	h, err := NewHead(e, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.Init(e, rng)
	for _, p := range h.Params.List() {
		if len(p.Shape) == 1 { // exercise LN affine and biases
			nn.InitUniform(e, p, rng, 0.5)
		}
	}
	B, T, P := 2, 4, 3
	steps := T / cfg.Pool()
	x := e.FromHost(randVec(rng, B*T*P*cfg.Dim, 1), B, T, P, cfg.Dim)
	r := randVec(rng, B*steps*cfg.Joints*3, 1)
	loss := func() float64 {
		o, err := h.ForwardDrop(e, x, B, T, P, drop)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Release(e)
		return dot(e.ToHost(o.Out), r)
	}
	o, err := h.ForwardDrop(e, x, B, T, P, drop)
	if err != nil {
		t.Fatal(err)
	}
	if got := o.Out.Len(); got != B*steps*cfg.Joints*3 {
		t.Fatalf("output has %d values", got)
	}
	dX := e.Zeros(B, T, P, cfg.Dim)
	h.Params.ZeroGrad(e)
	o.Backward(e, e.FromHost(r, B, steps, cfg.Joints, 3), dX)
	o.Release(e)
	check := func(name string, dst *nn.Tensor, ana []float32) {
		num := gradcheck.Numeric(e, dst, loss, 1e-2)
		a := make([]float64, len(ana))
		for i, v := range ana {
			a[i] = float64(v)
		}
		if re := relErr(a, num); re > 5e-3 || math.IsNaN(re) {
			t.Errorf("no_pool %v, dropout %v: %s: relative error %.2e", noPool, drop.P, name, re)
		}
	}
	for _, p := range h.Params.List() {
		check(p.Name, p.W, e.ToHost(p.G))
	}
	check("x", x, e.ToHost(dX))
}

// Dropout is active only through ForwardDrop, reproducible from its seed, and Forward
// (evaluation) ignores it.
func TestHeadDropout(t *testing.T) {
	e := cpu.New()
	rng := rand.New(rand.NewPCG(5, 6))
	cfg := HeadConfig{Dim: 8, Hidden: 16, Heads: 2, Joints: 2}
	h, err := NewHead(e, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.Init(e, rng)
	B, T, P := 2, 4, 3
	x := e.FromHost(randVec(rng, B*T*P*cfg.Dim, 1), B, T, P, cfg.Dim)
	run := func(d Dropout) []float32 {
		o, err := h.ForwardDrop(e, x, B, T, P, d)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Release(e)
		return e.ToHost(o.Out)
	}
	same := func(a, b []float32) bool {
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	eval, eval2 := run(Dropout{}), run(Dropout{P: 0, Seed: 9})
	a, a2, b := run(Dropout{P: 0.1, Seed: 1}), run(Dropout{P: 0.1, Seed: 1}), run(Dropout{P: 0.1, Seed: 2})
	if !same(eval, eval2) || !same(a, a2) {
		t.Fatal("dropout is not a function of (p, seed)")
	}
	if same(eval, a) || same(a, b) {
		t.Fatal("dropout has no effect, or the seed does not change the masks")
	}
	if _, err := h.ForwardDrop(e, x, B, T, P, Dropout{P: 1}); err == nil {
		t.Fatal("p = 1 accepted")
	}
}

// The AvgPool pairs frames 2t and 2t+1: swapping frames within a pair leaves the output
// unchanged, swapping across pairs changes it.
func TestHeadPoolsFramePairs(t *testing.T) {
	e := cpu.New()
	rng := rand.New(rand.NewPCG(7, 8))
	cfg := HeadConfig{Dim: 8, Hidden: 8, Heads: 2, Joints: 3}
	h, _ := NewHead(e, cfg)
	h.Init(e, rng)
	B, T, P := 1, 4, 2
	frame := P * cfg.Dim
	x := randVec(rng, B*T*frame, 1)
	run := func(v []float32) []float32 {
		o, err := h.Forward(e, e.FromHost(v, B, T, P, cfg.Dim), B, T, P)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Release(e)
		return e.ToHost(o.Out)
	}
	swap := func(a, b int) []float32 {
		v := append([]float32(nil), x...)
		copy(v[a*frame:], x[b*frame:(b+1)*frame])
		copy(v[b*frame:], x[a*frame:(a+1)*frame])
		return v
	}
	base, within, across := run(x), run(swap(0, 1)), run(swap(1, 2))
	var dw, da float64
	for i := range base {
		dw = math.Max(dw, math.Abs(float64(base[i]-within[i])))
		da = math.Max(da, math.Abs(float64(base[i]-across[i])))
	}
	if dw > 1e-5 {
		t.Errorf("swapping frames 0,1 changed the output by %g", dw)
	}
	if da < 1e-4 {
		t.Errorf("swapping frames 1,2 did not change the output (%g)", da)
	}
}

func TestHeadRejectsBadShapes(t *testing.T) {
	e := cpu.New()
	h, _ := NewHead(e, HeadConfig{Dim: 4, Hidden: 4, Heads: 2, Joints: 2})
	if _, err := h.Forward(e, e.Zeros(1, 3, 2, 4), 1, 3, 2); err == nil {
		t.Error("odd T accepted")
	}
	if _, err := h.Forward(e, e.Zeros(1, 4, 2, 3), 1, 4, 2); err == nil {
		t.Error("wrong channel count accepted")
	}
	if _, err := NewHead(e, HeadConfig{Dim: 5, Hidden: 4, Heads: 2, Joints: 2}); err == nil {
		t.Error("dim not divisible by heads accepted")
	}
}

// Which input frames each output step reads (upstream's TrajectoryReadoutMLP): with
// AvgPool1d(2) step t comes from frames 2t and 2t+1 only; without pooling (downsample=
// False) step t comes from frame t only. No step mixes other frames: the head has no
// temporal mixing.
func TestHeadStepReadsItsFrames(t *testing.T) {
	for _, noPool := range []bool{false, true} {
		e := cpu.New()
		rng := rand.New(rand.NewPCG(8, 9))
		cfg := HeadConfig{Dim: 8, Hidden: 6, Heads: 2, Joints: 2, NoPool: noPool}
		h, err := NewHead(e, cfg)
		if err != nil {
			t.Fatal(err)
		}
		h.Init(e, rng)
		B, T, P := 2, 6, 3
		frame := P * cfg.Dim
		base := randVec(rng, B*T*frame, 1)
		run := func(x []float32) []float32 {
			xt := e.FromHost(x, B, T, P, cfg.Dim)
			defer e.Free(xt)
			o, err := h.Forward(e, xt, B, T, P)
			if err != nil {
				t.Fatal(err)
			}
			defer o.Release(e)
			return e.ToHost(o.Out)
		}
		ref := run(base)
		steps, per := T/cfg.Pool(), cfg.Joints*3
		for b := 0; b < B; b++ {
			for f := 0; f < T; f++ {
				x := append([]float32(nil), base...)
				for i := 0; i < frame; i++ {
					x[(b*T+f)*frame+i] += 0.5
				}
				got := run(x)
				for bb := 0; bb < B; bb++ {
					for s := 0; s < steps; s++ {
						var d float64
						for i := 0; i < per; i++ {
							k := (bb*steps+s)*per + i
							d = math.Max(d, math.Abs(float64(got[k]-ref[k])))
						}
						want := bb == b && s == f/cfg.Pool()
						if want != (d > 1e-6) {
							t.Errorf("no_pool %v: changing frame %d of sample %d moved step %d of sample %d by %.2g (expected a change: %v)", noPool, f, b, s, bb, d, want)
						}
					}
				}
			}
		}
	}
}
