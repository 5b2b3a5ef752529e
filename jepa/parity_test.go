package jepa

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/arch"
	fixture "github.com/thinkjepa/thinkjepa/internal/golden"
	"github.com/thinkjepa/thinkjepa/internal/npy"
	"github.com/thinkjepa/thinkjepa/nn"
)

// golden is one fixture case of testdata/golden (tools/reference/README.md).
type golden struct {
	dir    string
	config []byte
	c      *fixture.Case
	io     *npy.NPZ
	// worstGrad is the largest relative error seen over the gradient checks, logged at the end.
	worstGrad float64
	worstName string
}

func loadGolden(t *testing.T, name string) *golden {
	t.Helper()
	c, err := fixture.Open(filepath.Join("..", "testdata", "golden", name))
	if err != nil {
		t.Fatal(err)
	}
	g := &golden{dir: c.Dir, config: c.Config, c: c, io: c.IO}
	t.Cleanup(func() {
		c.IO.Close()
		if g.worstName != "" {
			t.Logf("worst gradient relative error %.2g (%s)", g.worstGrad, g.worstName)
		}
	})
	return g
}

func (g *golden) f64(t *testing.T, key string) ([]float64, []int) {
	t.Helper()
	a, err := g.io.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	v, err := a.Float64s()
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return v, a.Shape
}

func (g *golden) tensor(t *testing.T, e nn.Engine, key string) *nn.Tensor {
	v, shape := g.f64(t, key)
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	return e.FromHost(f, shape...)
}

func (g *golden) ints(t *testing.T, key string) ([]int64, []int) {
	t.Helper()
	a, err := g.io.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	v, err := a.Int64s()
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return v, a.Shape
}

// relErr is ‖got−ref‖/‖ref‖ (absolute norm when the reference is zero).

func (g *golden) check(t *testing.T, e nn.Engine, what string, got *nn.Tensor, key string, tol float64) {
	t.Helper()
	ref, _ := g.f64(t, key)
	h := e.ToHost(got)
	if len(h) < len(ref) {
		t.Fatalf("%s: %d values, reference %s has %d", what, len(h), key, len(ref))
	}
	r := fixture.RelErr(h[:len(ref)], ref)
	if !(r <= tol) {
		t.Errorf("%s: relative error %.3g > %.0e", what, r, tol)
	}
	if strings.HasPrefix(key, "grad.") {
		if r > g.worstGrad || g.worstName == "" {
			g.worstGrad, g.worstName = r, key
		}
	}
	if !strings.HasPrefix(what, "grad of ") {
		t.Logf("%s: relative error %.2g", what, r)
	}
}

// checkParamGrads compares every parameter gradient with grad.<name>.
func (g *golden) checkParamGrads(t *testing.T, e nn.Engine, ps *nn.ParamSet) {
	t.Helper()
	for _, p := range ps.List() {
		g.check(t, e, "grad of "+p.Name, p.G, "grad."+p.Name, 1e-4)
	}
}

// variants are the runs of one case (fixture.Case.Runs): the fixture's own weights and
// inputs (key prefix ""), then its small-variance run ("lowvar.": scaled weights, where
// LayerNorm eps matters) when config.json has one (the cases in lowVarCases must). The
// small-variance run stores no parameter gradients.
func (g *golden) variants(t *testing.T) []variant {
	t.Helper()
	runs, err := g.c.Runs(lowVarCases[filepath.Base(g.dir)])
	if err != nil {
		t.Fatal(err)
	}
	var vs []variant
	for _, r := range runs {
		tensors := map[string]HostTensor{}
		for k, v := range r.Weights {
			tensors[k] = HostTensor{Shape: g.c.Shapes[k], Data: v}
		}
		vs = append(vs, variant{name: r.Name, pre: r.Prefix, tensors: tensors})
	}
	return vs
}

// lowVarCases are the cases whose LayerNorm eps is checked by a small-variance run.
var lowVarCases = map[string]bool{"encoder_tiny": true, "vjepa_predictor_tiny": true, "thinkjepa_predictor_tiny": true}

type variant struct {
	name    string
	pre     string // io.npz key prefix
	tensors map[string]HostTensor
}

const outTol, gradTol = 1e-5, 1e-4

func TestEncoderGolden(t *testing.T) {
	for _, name := range []string{"encoder_tiny", "encoder_hd80", "encoder_outlayers"} {
		t.Run(name, func(t *testing.T) {
			g := loadGolden(t, name)
			cfg, err := arch.ParseEncoder(g.config)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range fixture.Engines() {
				for _, v := range g.variants(t) {
					t.Run(fixture.EngineName(e)+"/"+v.name, func(t *testing.T) { encoderGolden(t, e, g, cfg, v) })
				}
			}
		})
	}
}

func encoderGolden(t *testing.T, e nn.Engine, g *golden, cfg arch.EncoderConfig, v variant) {
	pre := v.pre
	enc, err := NewEncoder(e, cfg)
	if err != nil {
		t.Fatal(err)
	}
	unused, err := enc.Load(e, v.tensors)
	if err != nil || len(unused) > 0 {
		t.Fatalf("load: %v, unused %v", err, unused)
	}
	x := g.tensor(t, e, pre+"x")
	B, T, H, W := x.Shape[0], x.Shape[2], x.Shape[3], x.Shape[4]
	// Inference path first: it frees as it goes and must give the same outputs.
	outs, _, err := enc.Forward(e, x, B, T, H, W, false)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"out"}
	if len(cfg.OutLayers) > 0 {
		keys = nil
		for i := range cfg.OutLayers {
			keys = append(keys, fmt.Sprintf("out.%d", cfg.OutLayers[i]))
		}
	}
	for i, k := range keys {
		g.check(t, e, "inference "+pre+k, outs[i], pre+k, outTol)
	}
	outs, cache, err := enc.Forward(e, x, B, T, H, W, true)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		g.check(t, e, "train "+pre+k, outs[i], pre+k, outTol)
	}
	if !g.io.Has(pre + "grad_out") {
		return
	}
	dx := e.Zeros(x.Shape...)
	if err := enc.Backward(e, cache, []*nn.Tensor{g.tensor(t, e, pre+"grad_out")}, dx); err != nil {
		t.Fatal(err)
	}
	g.check(t, e, pre+"grad.x", dx, pre+"grad.x", gradTol)
	if pre == "" {
		g.checkParamGrads(t, e, enc.Params)
	}
}

func TestVJEPAPredictorGolden(t *testing.T) {
	g := loadGolden(t, "vjepa_predictor_tiny")
	cfg, err := arch.ParsePredictor(g.config)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range fixture.Engines() {
		for _, v := range g.variants(t) {
			t.Run(fixture.EngineName(e)+"/"+v.name, func(t *testing.T) { vjepaPredictorGolden(t, e, g, cfg, v) })
		}
	}
}

func vjepaPredictorGolden(t *testing.T, e nn.Engine, g *golden, cfg arch.PredictorConfig, v variant) {
	pre := v.pre
	p, err := NewVJEPAPredictor(e, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if unused, err := p.Load(e, v.tensors); err != nil || len(unused) > 0 {
		t.Fatalf("load: %v, unused %v", err, unused)
	}
	rows := func(key string) [][]int32 {
		v, shape := g.ints(t, key)
		out := make([][]int32, shape[0])
		for b := range out {
			for _, id := range v[b*shape[1] : (b+1)*shape[1]] {
				out[b] = append(out[b], int32(id))
			}
		}
		return out
	}
	mx, my := rows(pre+"masks_x"), rows(pre+"masks_y")
	mi, _ := g.ints(t, pre+"mask_index")
	x := g.tensor(t, e, pre+"x")
	out, _, err := p.Forward(e, x, mx, my, int(mi[0]), false)
	if err != nil {
		t.Fatal(err)
	}
	g.check(t, e, "inference "+pre+"out", out, pre+"out", outTol)
	out, cache, err := p.Forward(e, x, mx, my, int(mi[0]), true)
	if err != nil {
		t.Fatal(err)
	}
	g.check(t, e, "train "+pre+"out", out, pre+"out", outTol)
	dx := e.Zeros(x.Shape...)
	p.Backward(e, cache, g.tensor(t, e, pre+"grad_out"), dx)
	g.check(t, e, pre+"grad.x", dx, pre+"grad.x", gradTol)
	if pre == "" {
		g.checkParamGrads(t, e, p.Params)
	}
}

func TestThinkPredictorGolden(t *testing.T) {
	for _, name := range []string{"thinkjepa_predictor_tiny", "thinkjepa_predictor_causal"} {
		t.Run(name, func(t *testing.T) {
			g := loadGolden(t, name)
			cfg, err := arch.ParseThink(g.config)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range fixture.Engines() {
				for _, v := range g.variants(t) {
					t.Run(fixture.EngineName(e)+"/"+v.name, func(t *testing.T) { thinkPredictorGolden(t, e, g, cfg, v) })
				}
			}
		})
	}
}

func thinkPredictorGolden(t *testing.T, e nn.Engine, g *golden, cfg arch.ThinkPredictorConfig, v variant) {
	pre := v.pre
	p, err := NewThinkPredictor(e, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if unused, err := p.Load(e, v.tensors); err != nil || len(unused) > 0 {
		t.Fatalf("load: %v, unused %v", err, unused)
	}
	x := g.tensor(t, e, pre+"x_ctx")
	B := x.Shape[0]
	split := func(key string) []*nn.Tensor {
		all := g.tensor(t, e, key) // [L,B,D]
		h := e.ToHost(all)
		n := B * cfg.PredictorEmbedDim
		var out []*nn.Tensor
		for l := 0; l < cfg.Depth; l++ {
			out = append(out, e.FromHost(h[l*n:(l+1)*n], B, cfg.PredictorEmbedDim))
		}
		return out
	}
	gam, bet := split(pre+"gammas"), split(pre+"betas")
	out, _, err := p.Forward(e, x, B, gam, bet, false)
	if err != nil {
		t.Fatal(err)
	}
	g.check(t, e, "inference "+pre+"out", out, pre+"out", outTol)
	out, cache, err := p.Forward(e, x, B, gam, bet, true)
	if err != nil {
		t.Fatal(err)
	}
	g.check(t, e, "train "+pre+"out", out, pre+"out", outTol)
	dG, dB := make([]*nn.Tensor, cfg.Depth), make([]*nn.Tensor, cfg.Depth)
	for l := range dG {
		dG[l], dB[l] = e.Zeros(B, cfg.PredictorEmbedDim), e.Zeros(B, cfg.PredictorEmbedDim)
	}
	dx := e.Zeros(x.Shape...)
	if err := p.Backward(e, cache, g.tensor(t, e, pre+"grad_out"), dG, dB, dx); err != nil {
		t.Fatal(err)
	}
	g.check(t, e, pre+"grad.x_ctx", dx, pre+"grad.x_ctx", gradTol)
	join := func(ts []*nn.Tensor) *nn.Tensor {
		var h []float32
		for _, t := range ts {
			h = append(h, e.ToHost(t)...)
		}
		return e.FromHost(h, len(h))
	}
	g.check(t, e, pre+"grad.gammas", join(dG), pre+"grad.gammas", gradTol)
	g.check(t, e, pre+"grad.betas", join(dB), pre+"grad.betas", gradTol)
	if pre == "" {
		g.checkParamGrads(t, e, p.Params)
	}
}
