package film

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/thinkjepa/thinkjepa/internal/gradcheck"
	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/nn/cpu"
)

type fixture struct {
	e          nn.Engine
	bank       *Bank
	in         *Input
	oldX, newX []float32
	rg, rb     [][]float32 // random upstream gradients per block
}

func newFixture(t *testing.T, cfg Config, B, L, So, Sn int, gates []float32) *fixture {
	t.Helper()
	e := cpu.New()
	rng := rand.New(rand.NewPCG(1, 2))
	bank, err := New(e, cfg)
	if err != nil {
		t.Fatal(err)
	}
	bank.Init(e, rng)
	// Non-trivial LayerNorm affine so its gradients are exercised.
	for _, p := range bank.Params.List() {
		if p.Name == "guidance_layer_scale" {
			if err := bank.Params.Set(e, p.Name, p.Shape, gates); err != nil {
				t.Fatal(err)
			}
		} else if len(p.Shape) == 1 {
			nn.InitUniform(e, p, rng, 0.5)
		}
	}
	f := &fixture{e: e, bank: bank}
	rnd := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	mask := func(S int) []float32 {
		m := make([]float32, B*L*S)
		for g := 0; g < B*L; g++ {
			valid := 1 + (g*7)%S // ragged lengths, at least one valid token
			for s := 0; s < valid; s++ {
				m[g*S+s] = 1
			}
		}
		return m
	}
	f.oldX, f.newX = rnd(B*L*So*cfg.VLMDim), rnd(B*L*Sn*cfg.VLMDim)
	// Offset the streams apart so that |ō−n̄| stays away from its kink at 0, where
	// central differences are meaningless.
	for i := range f.oldX {
		f.oldX[i] += 2
	}
	for i := range f.newX {
		f.newX[i] -= 2
	}
	f.in = &Input{B: B,
		Old: &Stream{X: e.FromHost(f.oldX, B, L, So, cfg.VLMDim), Mask: mask(So), L: L, S: So},
		New: &Stream{X: e.FromHost(f.newX, B, L, Sn, cfg.VLMDim), Mask: mask(Sn), L: L, S: Sn},
	}
	for k := 0; k < cfg.NumBlocks; k++ {
		f.rg = append(f.rg, rnd(B*cfg.Width))
		f.rb = append(f.rb, rnd(B*cfg.Width))
	}
	return f
}

// loss is Σ_k ⟨γ_k, rg_k⟩ + ⟨β_k, rb_k⟩ in float64.
func (f *fixture) loss(t *testing.T) float64 {
	out, err := f.bank.Forward(f.e, f.in)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release(f.e)
	var s float64
	for k := range out.Gamma {
		g, b := f.e.ToHost(out.Gamma[k]), f.e.ToHost(out.Beta[k])
		for i := range g {
			s += float64(g[i])*float64(f.rg[k][i]) + float64(b[i])*float64(f.rb[k][i])
		}
	}
	return s
}

func relErr(a, b []float64) float64 {
	var num, den float64
	for i := range a {
		num += (a[i] - b[i]) * (a[i] - b[i])
		den += b[i] * b[i]
	}
	return math.Sqrt(num / math.Max(den, 1e-30))
}

// checkGrad compares an analytic gradient with central differences of f.loss over the
// values of tensor dst.
func (f *fixture) checkGrad(t *testing.T, name string, dst *nn.Tensor, analytic []float32) {
	t.Helper()
	num := gradcheck.Numeric(f.e, dst, func() float64 { return f.loss(t) }, gradStep)
	ana := make([]float64, len(analytic))
	for i, v := range analytic {
		ana[i] = float64(v)
	}
	if r := relErr(ana, num); r > 5e-3 || math.IsNaN(r) {
		t.Errorf("%s: gradient relative error %.2e (analytic %v… numeric %v…)", name, r, ana[:min(4, len(ana))], num[:min(4, len(num))])
	}
}

func testGradients(t *testing.T, cfg Config) {
	f := newFixture(t, cfg, 3, 2, 4, 3, []float32{0.7, -0.4, 0.9})
	e := f.e
	out, err := f.bank.Forward(e, f.in)
	if err != nil {
		t.Fatal(err)
	}
	var dG, dB []*nn.Tensor
	for k := range out.Gamma {
		dG = append(dG, e.FromHost(f.rg[k], 3, cfg.Width))
		dB = append(dB, e.FromHost(f.rb[k], 3, cfg.Width))
	}
	dOld, dNew := e.Zeros(f.in.Old.X.Shape...), e.Zeros(f.in.New.X.Shape...)
	f.bank.Params.ZeroGrad(e)
	out.Backward(e, dG, dB, dOld, dNew)
	out.Release(e)
	for _, p := range f.bank.Params.List() {
		f.checkGrad(t, p.Name, p.W, e.ToHost(p.G))
	}
	f.checkGrad(t, "vlm_old", f.in.Old.X, e.ToHost(dOld))
	f.checkGrad(t, "vlm_new", f.in.New.X, e.ToHost(dNew))
}

func tinyConfig() Config { return Config{VLMDim: 5, Width: 4, Hidden: 6, NumBlocks: 3} }

func TestGradientsPerSample(t *testing.T) { testGradients(t, tinyConfig()) }

func TestGradientsBatchMean(t *testing.T) {
	cfg := tinyConfig()
	cfg.BatchMean = true
	testGradients(t, cfg)
}

func TestGradientsLastOnly(t *testing.T) {
	cfg := tinyConfig()
	cfg.LastOnly = true
	testGradients(t, cfg)
}

// At the zero-initialised gate, every γ and β is exactly zero, so FiLM leaves the
// predictor's tokens unchanged.
func TestZeroGateIsIdentity(t *testing.T) {
	cfg := tinyConfig()
	f := newFixture(t, cfg, 2, 2, 4, 3, []float32{0, 0, 0})
	e := f.e
	out, err := f.bank.Forward(e, f.in)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release(e)
	rng := rand.New(rand.NewPCG(5, 6))
	const N = 7
	x := make([]float32, 2*N*cfg.Width)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for k := range out.Gamma {
		for i, v := range append(e.ToHost(out.Gamma[k]), e.ToHost(out.Beta[k])...) {
			if v != 0 {
				t.Fatalf("block %d: γ/β element %d = %v at zero gate", k, i, v)
			}
		}
		xt := e.FromHost(x, 2, N, cfg.Width)
		y := e.Zeros(2, N, cfg.Width)
		e.FiLM(y, xt, out.Gamma[k], out.Beta[k], 2, N, cfg.Width)
		for i, v := range e.ToHost(y) {
			if v != x[i] {
				t.Fatalf("block %d: FiLM changed token value %d: %v → %v", k, i, x[i], v)
			}
		}
	}
	// A non-zero gate must change it (so the test above can fail).
	if err := f.bank.Params.Set(e, "guidance_layer_scale", []int{3, 1, 1}, []float32{0.5, 0.5, 0.5}); err != nil {
		t.Fatal(err)
	}
	out2, err := f.bank.Forward(e, f.in)
	if err != nil {
		t.Fatal(err)
	}
	defer out2.Release(e)
	if e.SumSquares(out2.Gamma[0], 2*cfg.Width) == 0 {
		t.Fatal("γ stays zero with a non-zero gate")
	}
}

// Batch-mean guidance (v1) equals per-sample guidance of one sample holding the batch
// average of the zero-padded tensors with the OR-ed mask, for every sample.
func TestBatchMeanMatchesAveragedInput(t *testing.T) {
	cfg := tinyConfig()
	cfg.BatchMean = true
	B, L, So, Sn := 3, 2, 4, 3
	f := newFixture(t, cfg, B, L, So, Sn, []float32{0.7, -0.4, 0.9})
	e := f.e
	out, err := f.bank.Forward(e, f.in)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release(e)

	avg := func(x, mask []float32, S int) ([]float32, []float32) {
		Dv := cfg.VLMDim
		mx := make([]float32, L*S*Dv)
		or := make([]float32, L*S)
		for b := 0; b < B; b++ {
			for r := 0; r < L*S; r++ {
				if mask[b*L*S+r] == 0 {
					continue // padded rows are zeros in the v1 tensors
				}
				or[r] = 1
				for c := 0; c < Dv; c++ {
					mx[r*Dv+c] += x[(b*L*S+r)*Dv+c] / float32(B)
				}
			}
		}
		return mx, or
	}
	ox, om := avg(f.oldX, f.in.Old.Mask, So)
	nx, nm := avg(f.newX, f.in.New.Mask, Sn)
	perSample := *f.bank
	perSample.Cfg.BatchMean = false
	ref, err := perSample.Forward(e, &Input{B: 1,
		Old: &Stream{X: e.FromHost(ox, 1, L, So, cfg.VLMDim), Mask: om, L: L, S: So},
		New: &Stream{X: e.FromHost(nx, 1, L, Sn, cfg.VLMDim), Mask: nm, L: L, S: Sn},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Release(e)
	for k := range out.Gamma {
		want := e.ToHost(ref.Gamma[k])
		got := e.ToHost(out.Gamma[k])
		for b := 0; b < B; b++ {
			for c := range want {
				if d := math.Abs(float64(got[b*cfg.Width+c] - want[c])); d > 1e-5 {
					t.Fatalf("block %d sample %d channel %d: %v, want %v", k, b, c, got[b*cfg.Width+c], want[c])
				}
			}
		}
	}
}

// With LastOnly, block 0 reads the last cached layer and the others are constant: the
// result equals the pyramid mode fed with that layer alone, for block 0, and equals
// the pyramid mode with no VLM input at all for the other blocks.
func TestLastOnlyUsesLastLayer(t *testing.T) {
	cfg := tinyConfig()
	cfg.LastOnly = true
	B, L, So, Sn := 2, 2, 4, 3
	f := newFixture(t, cfg, B, L, So, Sn, []float32{0.7, -0.4, 0.9})
	e := f.e
	out, err := f.bank.Forward(e, f.in)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release(e)
	last := func(x, mask []float32, S int) ([]float32, []float32) {
		Dv := cfg.VLMDim
		var lx, lm []float32
		for b := 0; b < B; b++ {
			g := b*L + L - 1
			lx = append(lx, x[g*S*Dv:(g+1)*S*Dv]...)
			lm = append(lm, mask[g*S:(g+1)*S]...)
		}
		return lx, lm
	}
	ox, om := last(f.oldX, f.in.Old.Mask, So)
	nx, nm := last(f.newX, f.in.New.Mask, Sn)
	pyr := *f.bank
	pyr.Cfg.LastOnly = false
	ref, err := pyr.Forward(e, &Input{B: B,
		Old: &Stream{X: e.FromHost(ox, B, 1, So, cfg.VLMDim), Mask: om, L: 1, S: So},
		New: &Stream{X: e.FromHost(nx, B, 1, Sn, cfg.VLMDim), Mask: nm, L: 1, S: Sn},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Release(e)
	none, err := pyr.Forward(e, &Input{B: B})
	if err != nil {
		t.Fatal(err)
	}
	defer none.Release(e)
	for k := range out.Gamma {
		want := ref
		if k > 0 {
			want = none
		}
		g, w := e.ToHost(out.Beta[k]), e.ToHost(want.Beta[k])
		for i := range g {
			if math.Abs(float64(g[i]-w[i])) > 1e-6 {
				t.Fatalf("block %d element %d: %v, want %v", k, i, g[i], w[i])
			}
		}
	}
}

// gradStep is the central-difference step (float32 forward passes).
var gradStep float32 = 1e-2
