package train

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/nn/cpu"
	"github.com/thinkjepa/thinkjepa/rollout"
)

// fixedPred is a predictor whose output is a fixed tensor, independent of the context:
// it isolates what the head reads in each layout.
type fixedPred struct {
	ps  *nn.ParamSet
	out []float32
}

func (f *fixedPred) Params() *nn.ParamSet { return f.ps }
func (f *fixedPred) NumBlocks() int       { return 0 }
func (f *fixedPred) Forward(e nn.Engine, ctx *nn.Tensor, B, Tc, Tf, P int, gamma, beta []*nn.Tensor) (PredictorPass, error) {
	return &fixedPass{out: e.FromHost(f.out, B, Tf, P, len(f.out)/(B*Tf*P))}, nil
}

type fixedPass struct{ out *nn.Tensor }

func (p *fixedPass) Out() *nn.Tensor                                                  { return p.out }
func (p *fixedPass) Backward(nn.Engine, *nn.Tensor, []*nn.Tensor, []*nn.Tensor) error { return nil }
func (p *fixedPass) Release(e nn.Engine)                                              { e.Free(p.out) }

// The layouts read upstream's frames (model-spec §4.6 correction): in joint, step t of
// the Tf future steps comes from frames 2t, 2t+1 of [observed | predicted], so the first
// half of the steps reads observed latents only; in future, step t comes from predicted
// frame t and no step reads the observed latents directly.
func TestLayoutIndexing(t *testing.T) {
	const B, Tc, Tf, P, D, J = 1, 4, 4, 2, 8, 52
	for _, layout := range []Layout{LayoutJoint, LayoutFuture} {
		e := cpu.New()
		rng := rand.New(rand.NewPCG(11, 12))
		head, err := rollout.NewHead(e, rollout.HeadConfig{Dim: D, Hidden: 8, Heads: 2, Joints: J, NoPool: layout == LayoutFuture})
		if err != nil {
			t.Fatal(err)
		}
		head.Init(e, rng)
		r := func(n int) []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
			return v
		}
		pred := &fixedPred{ps: nn.NewParamSet(), out: r(B * Tf * P * D)}
		m := &Model{Mode: ModeJEPAOnly, Layout: layout, Pred: pred, Head: head}
		b := &Batch{B: B, Tc: Tc, Tf: Tf, P: P, D: D, J: J, Ctx: r(B * Tc * P * D), Target: r(B * Tf * P * D),
			World: make([]float32, B*Tf*J*3)}
		for k := 0; k < B*Tf; k++ {
			b.Ext = append(b.Ext, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1)
		}
		predict := func() []float32 {
			w, _, err := m.Predict(e, b)
			if err != nil {
				t.Fatal(err)
			}
			return w
		}
		ref := predict()
		if len(ref) != B*Tf*J*3 {
			t.Fatalf("%s: %d outputs, want Tf·J·3 = %d", layout, len(ref), B*Tf*J*3)
		}
		// moved reports which steps change when frame f of the joined sequence (f < Tc:
		// observed, else predicted frame f−Tc) is perturbed.
		moved := func(f int) []bool {
			src, k := b.Ctx, f
			if f >= Tc {
				src, k = pred.out, f-Tc
			}
			orig := append([]float32(nil), src[k*P*D:(k+1)*P*D]...)
			for i := 0; i < P*D; i++ {
				src[k*P*D+i] += 0.7
			}
			got := predict()
			copy(src[k*P*D:], orig)
			out := make([]bool, Tf)
			for s := 0; s < Tf; s++ {
				for i := 0; i < J*3; i++ {
					if math.Abs(float64(got[s*J*3+i]-ref[s*J*3+i])) > 1e-6 {
						out[s] = true
					}
				}
			}
			return out
		}
		for f := 0; f < Tc+Tf; f++ {
			got := moved(f)
			for s := 0; s < Tf; s++ {
				var want bool
				if layout == LayoutJoint {
					want = s == f/2
				} else {
					want = f >= Tc && s == f-Tc
				}
				if got[s] != want {
					t.Errorf("%s: perturbing joined frame %d moved step %d: %v, want %v", layout, f, s, got[s], want)
				}
			}
		}
	}
}

// The future layout's model gradients (head reading the predictor's output directly,
// no pooling) match central differences, as the joint layout's do (TestModelGradients).
func TestModelGradientsFutureLayout(t *testing.T) {
	e := cpu.New()
	m := tinyModel(t, e, ModeThinkJEPA, 7)
	rng := rand.New(rand.NewPCG(7, 8))
	head, err := rollout.NewHead(e, rollout.HeadConfig{Dim: tD, Hidden: 8, Heads: 2, Joints: tJ, NoPool: true})
	if err != nil {
		t.Fatal(err)
	}
	head.Init(e, rng)
	m.Head, m.Layout = head, LayoutFuture
	if err := m.Film.Params.Set(e, "guidance_layer_scale", []int{2, 1, 1}, []float32{0.5, -0.7}); err != nil {
		t.Fatal(err)
	}
	b, _ := newMemSet(2, 9).Batch([]int{0, 1})
	checkModelGradients(t, e, m, b, []string{"head:fc_out.bias", "head:token_query", "pred:output_adapter.bias",
		"pred:query_templates.1", "pred:context_adapter.bias", "film:guidance_layer_scale", "film:guidance_fusion_mlps.0.3.bias"})
}

// checkModelGradients compares LossAndGrad's gradients of the named parameters
// ("head:", "pred:" or "film:" + name) with float64 central differences of the loss.
func checkModelGradients(t *testing.T, e nn.Engine, m *Model, b *Batch, names []string) {
	t.Helper()
	w := LossWeights{Traj: 1, Pred: 0.5}
	sets := map[string]*nn.ParamSet{"head": m.Head.Params, "pred": m.Pred.Params()}
	if m.Film != nil {
		sets["film"] = m.Film.Params
	}
	for _, ps := range sets {
		ps.ZeroGrad(e)
	}
	if _, err := m.LossAndGrad(e, b, w); err != nil {
		t.Fatal(err)
	}
	loss := func() float64 {
		ls, err := m.LossAndGrad(e, b, w)
		if err != nil {
			t.Fatal(err)
		}
		return ls.Total
	}
	var params []*nn.Param
	anas := map[*nn.Param][]float32{}
	for _, n := range names {
		set, name, _ := strings.Cut(n, ":")
		p := sets[set].Get(name)
		if p == nil {
			t.Fatalf("no parameter %s", n)
		}
		params = append(params, p)
		anas[p] = e.ToHost(p.G)
	}
	for _, p := range params {
		ana, data := anas[p], e.ToHost(p.W)
		var num, den float64
		for i := range data {
			orig := data[i]
			const h = 1e-2
			data[i] = orig + h
			_ = m.setParam(e, p, data)
			lp := loss()
			data[i] = orig - h
			_ = m.setParam(e, p, data)
			lm := loss()
			data[i] = orig
			_ = m.setParam(e, p, data)
			g := (lp - lm) / (2 * h)
			num += (g - float64(ana[i])) * (g - float64(ana[i]))
			den += g * g
		}
		// A gradient that is zero in exact arithmetic (e.g. the pooling query when a frame's
		// tokens are equal) is compared in absolute terms: floor the norm at 1e-4.
		if r := math.Sqrt(num / math.Max(den, 1e-8)); r > 1e-2 || math.IsNaN(r) {
			t.Errorf("%s: gradient relative error %.2e (|numeric| %.3g, |analytic| %.3g)", p.Name, r, math.Sqrt(den), norm(ana))
		}
	}
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// Layouts are validated, and a head whose pooling does not match the layout is refused.
func TestLayoutConfig(t *testing.T) {
	for _, c := range []struct {
		json, err string
	}{
		{`{"layout": "future", "out": "x"}`, ""},
		{`{"layout": "joint", "out": "x"}`, ""},
		{`{"out": "x"}`, ""},
		{`{"layout": "track", "out": "x"}`, "cannot forecast"},
		{`{"layout": "sideways", "out": "x"}`, "unknown layout"},
		{`{"layout": "future", "sample": {"recursive": 4}, "out": "x"}`, "needs layout joint"},
		{`{"loop": {"head_milestones": [0.5, 1.5]}, "out": "x"}`, "head_milestones"},
		{`{"loop": {"head_milestones": []}, "out": "x"}`, ""},
	} {
		rc, err := ParseRunConfig([]byte(c.json))
		if c.err == "" {
			if err != nil {
				t.Errorf("%s: %v", c.json, err)
			} else if rc.Layout == "" {
				t.Errorf("%s: layout not defaulted", c.json)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: error %v, want one containing %q", c.json, err, c.err)
		}
	}
	e := cpu.New()
	m := tinyModel(t, e, ModeJEPAOnly, 3)
	m.Layout = LayoutFuture // the tiny model's head pools
	b, _ := newMemSet(1, 4).Batch([]int{0})
	if _, _, err := m.Predict(e, b); err == nil || !strings.Contains(err.Error(), "pooling") {
		t.Errorf("future layout with a pooling head: error %v", err)
	}
}
