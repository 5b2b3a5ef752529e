package jepa

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/thinkjepa/thinkjepa/arch"
	"github.com/thinkjepa/thinkjepa/internal/gradcheck"
	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/nn/cpu"
)

func tinyThinkConfig(drop, path float64) arch.ThinkPredictorConfig {
	return arch.ThinkPredictorConfig{EmbedDim: 8, PredictorEmbedDim: 12, Depth: 3, NumHeads: 2, MLPRatio: 2,
		TokensPerFrame: 2, NumFrames: 4, PastFrames: 2, NumQueryTemplates: 2, QueryIndex: 1, NormEps: 1e-6,
		Causal: true, DropRate: drop, DropPathRate: path}
}

func dropRandVec(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * scale)
	}
	return v
}

// newTinyThink builds a tiny ThinkJEPA predictor with every parameter random (biases and
// LayerNorm affines too, so every gradient is exercised) and random inputs.
func newTinyThink(t *testing.T, e nn.Engine, cfg arch.ThinkPredictorConfig, B int) (p *ThinkPredictor, x *nn.Tensor, gammas, betas []*nn.Tensor) {
	t.Helper()
	p, err := NewThinkPredictor(e, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(21, 22))
	for _, prm := range p.Params.List() {
		nn.InitUniform(e, prm, rng, 0.4)
	}
	D := cfg.PredictorEmbedDim
	x = e.FromHost(dropRandVec(rng, B*cfg.PastFrames*cfg.TokensPerFrame*cfg.EmbedDim, 1), B, cfg.PastFrames*cfg.TokensPerFrame, cfg.EmbedDim)
	for l := 0; l < cfg.Depth; l++ {
		gammas = append(gammas, e.FromHost(dropRandVec(rng, B*D, 0.3), B, D))
		betas = append(betas, e.FromHost(dropRandVec(rng, B*D, 0.3), B, D))
	}
	return p, x, gammas, betas
}

// With dropout and drop path on, every gradient (parameters, x_ctx, FiLM γ and β)
// matches central differences of the same seeded forward (the masks are fixed by the
// seed, so the network is a fixed smooth function). float32 engine: loose tolerance.
func TestThinkPredictorDropGradients(t *testing.T) {
	e := cpu.New()
	const B = 4
	cfg := tinyThinkConfig(0.3, 0.6)
	p, x, gammas, betas := newTinyThink(t, e, cfg, B)
	const seed = 5
	// The seed must exercise both kinds of randomness: some sample's branch dropped by
	// drop path in some block, and some kept.
	d := &coreDrop{p: cfg.DropRate, pathRate: cfg.DropPathRate, seed: seed}
	dropped, kept := 0, 0
	for l := 0; l < cfg.Depth; l++ {
		if bd := d.block(l, cfg.Depth, B); bd != nil && bd.pathAttn != nil {
			for _, w := range append(append([]float32(nil), bd.pathAttn...), bd.pathMLP...) {
				if w == 0 {
					dropped++
				} else {
					kept++
				}
			}
		}
	}
	if dropped == 0 || kept == 0 {
		t.Fatalf("seed %d: drop path dropped %d and kept %d branches; pick a seed that does both", seed, dropped, kept)
	}
	Nt := (cfg.NumFrames - cfg.PastFrames) * cfg.TokensPerFrame
	r := dropRandVec(rand.New(rand.NewPCG(1, 2)), B*Nt*cfg.EmbedDim, 1)
	loss := func() float64 {
		out, tc, err := p.ForwardDrop(e, x, B, gammas, betas, seed)
		if err != nil {
			t.Fatal(err)
		}
		tc.Free(e)
		defer e.Free(out)
		var s float64
		for i, v := range e.ToHost(out) {
			s += float64(v) * float64(r[i])
		}
		return s
	}
	out, tc, err := p.ForwardDrop(e, x, B, gammas, betas, seed)
	if err != nil {
		t.Fatal(err)
	}
	p.Params.ZeroGrad(e)
	dX := e.Zeros(x.Shape...)
	var dG, dB []*nn.Tensor
	for range gammas {
		dG = append(dG, e.Zeros(B, cfg.PredictorEmbedDim))
		dB = append(dB, e.Zeros(B, cfg.PredictorEmbedDim))
	}
	if err := p.Backward(e, tc, e.FromHost(r, out.Shape...), dG, dB, dX); err != nil {
		t.Fatal(err)
	}
	tc.Free(e)
	e.Free(out)
	check := func(name string, dst *nn.Tensor, ana []float32) {
		num := gradcheck.Numeric(e, dst, loss, 1e-2)
		var d, n float64
		for k, g := range num {
			d += (g - float64(ana[k])) * (g - float64(ana[k]))
			n += g * g
		}
		if re := math.Sqrt(d / math.Max(n, 1e-30)); re > 1e-2 || math.IsNaN(re) {
			t.Errorf("%s: relative error %.2e", name, re)
		}
	}
	for _, prm := range p.Params.List() {
		if prm.Name == "query_templates.0" { // unused (query_index 1): zero gradient both ways
			continue
		}
		check(prm.Name, prm.W, e.ToHost(prm.G))
	}
	check("x_ctx", x, e.ToHost(dX))
	for l := range gammas {
		check("gamma", gammas[l], e.ToHost(dG[l]))
		check("beta", betas[l], e.ToHost(dB[l]))
	}
}

// The rates act only through ForwardDrop: inference and Forward(train) are unchanged by
// them; ForwardDrop is a function of the seed, differs from Forward when a rate is
// non-zero, and equals it when both are 0.
func TestThinkPredictorDropOnlyInTraining(t *testing.T) {
	e := cpu.New()
	const B = 3
	run := func(p *ThinkPredictor, x *nn.Tensor, g, b []*nn.Tensor, mode string, seed uint64) []float32 {
		var out *nn.Tensor
		var tc *ThinkCache
		var err error
		switch mode {
		case "infer":
			out, tc, err = p.Forward(e, x, B, g, b, false)
		case "train":
			out, tc, err = p.Forward(e, x, B, g, b, true)
		default:
			out, tc, err = p.ForwardDrop(e, x, B, g, b, seed)
		}
		if err != nil {
			t.Fatal(err)
		}
		if tc != nil {
			tc.Free(e)
		}
		defer e.Free(out)
		return e.ToHost(out)
	}
	same := func(a, b []float32) bool {
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return len(a) == len(b)
	}
	p0, x, g, b := newTinyThink(t, e, tinyThinkConfig(0, 0), B)
	p1, _, _, _ := newTinyThink(t, e, tinyThinkConfig(0.1, 0.1), B) // same weights (same rng)
	pPath, _, _, _ := newTinyThink(t, e, tinyThinkConfig(0, 0.5), B)
	ref := run(p0, x, g, b, "infer", 0)
	for name, got := range map[string][]float32{
		"inference with rates": run(p1, x, g, b, "infer", 0),
		"train, no drop":       run(p1, x, g, b, "train", 0),
		"ForwardDrop, rates 0": run(p0, x, g, b, "drop", 7),
	} {
		if !same(got, ref) {
			t.Errorf("%s differs from inference without rates", name)
		}
	}
	a, a2, c := run(p1, x, g, b, "drop", 7), run(p1, x, g, b, "drop", 7), run(p1, x, g, b, "drop", 8)
	if !same(a, a2) {
		t.Error("ForwardDrop is not a function of the seed")
	}
	if same(a, ref) || same(a, c) {
		t.Error("dropout has no effect, or the seed does not change the masks")
	}
	if same(run(pPath, x, g, b, "drop", 7), ref) {
		t.Error("drop path alone has no effect")
	}
	p1.Cfg.DropRate = 1
	if _, _, err := p1.ForwardDrop(e, x, B, g, b, 7); err == nil {
		t.Error("drop_rate 1 accepted")
	}
}

// Block l's drop-path rate follows torch.linspace(0, rate, depth).
func TestDropPathLinspace(t *testing.T) {
	d := &coreDrop{pathRate: 0.1, seed: 1}
	if d.block(0, 12, 2) != nil {
		t.Error("block 0 has drop path")
	}
	for l := 1; l < 12; l++ {
		got, want := float64(d.block(l, 12, 2).pathP), 0.1*float64(l)/11
		if math.Abs(got-want) > 1e-7 {
			t.Errorf("block %d: drop path %v, want %v", l, got, want)
		}
	}
	if (&coreDrop{pathRate: 0.1}).block(0, 1, 2) != nil {
		t.Error("depth 1: linspace(0, r, 1) = [0]")
	}
}
