package train

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"path/filepath"
	"slices"

	"github.com/thinkjepa/thinkjepa/arch"
	"github.com/thinkjepa/thinkjepa/eval/predfile"
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
// half of the steps reads observed latents only; in future and track, step t comes from
// predicted frame t and no step reads the context latents directly.
func TestLayoutIndexing(t *testing.T) {
	const B, Tc, Tf, P, D, J = 1, 4, 4, 2, 8, 52
	for _, layout := range []Layout{LayoutJoint, LayoutFuture, LayoutTrack} {
		e := cpu.New()
		rng := rand.New(rand.NewPCG(11, 12))
		head, err := rollout.NewHead(e, rollout.HeadConfig{Dim: D, Hidden: 8, Heads: 2, Joints: J, NoPool: !layout.Pooled()})
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
		{`{"layout": "track", "out": "x"}`, ""},
		{`{"layout": "track", "sample": {"ref_mode": "perhand"}, "out": "x"}`, "oracle"},
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

// Every layout trains and forecasts on files. joint and future forecast the future half
// (T−past steps); track predicts every frame of the clip from all of them: its batches
// hold the whole clip as context and target, with each frame's own extrinsics, and its
// predictions cover frames 0..T−1.
func TestLayoutsOnFiles(t *testing.T) {
	const T, past = 8, 4 // writeToySet
	for _, layout := range []Layout{LayoutJoint, LayoutFuture, LayoutTrack} {
		dir := t.TempDir()
		rc := toyRunWith(t, dir, ModeThinkJEPA, 2, `"layout": "`+string(layout)+`", `)
		e := cpu.New()
		if err := Train(e, rc, true, false); err != nil {
			t.Fatalf("%s: %v", layout, err)
		}
		if rc.Predictor.Track != (layout == LayoutTrack) {
			t.Errorf("%s: predictor track = %v", layout, rc.Predictor.Track)
		}
		fs, err := OpenFileSet(*rc.Val, rc.Data)
		if err != nil {
			t.Fatal(err)
		}
		b, err := fs.Batch([]int{0})
		if err != nil {
			t.Fatal(err)
		}
		plain, err := OpenFileSet(*rc.Val, SampleConfig{Camera: "future"})
		if err != nil {
			t.Fatal(err)
		}
		pb, err := plain.Batch([]int{0})
		if err != nil {
			t.Fatal(err)
		}
		wantTc, wantTf := past, T-past
		if layout == LayoutTrack {
			wantTc, wantTf = T, T
			whole := append(append([]float32(nil), pb.Ctx...), pb.Target...)
			if !slices.Equal(b.Ctx, whole) || !slices.Equal(b.Target, whole) {
				t.Errorf("track: context and target are not the whole clip's latents")
			}
			if !slices.Equal(b.World, pb.WorldAll) || !slices.Equal(b.Ext, pb.ExtAll) {
				t.Errorf("track: supervision is not every frame's joints with its own extrinsics")
			}
		}
		if b.Tc != wantTc || b.Tf != wantTf {
			t.Errorf("%s: batch frames %d+%d, want %d+%d", layout, b.Tc, b.Tf, wantTc, wantTf)
		}
		out := filepath.Join(dir, "pred")
		if err := Forecast(e, ForecastOptions{Ckpt: filepath.Join(rc.Out, LatestName), Data: *rc.Val, Out: out, NumShards: 1}); err != nil {
			t.Fatalf("%s: forecast: %v", layout, err)
		}
		p, err := predfile.Read(out, "toy000")
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Pred) != wantTf || len(p.GT) != wantTf {
			t.Errorf("%s: prediction has %d/%d steps, want %d", layout, len(p.Pred), len(p.GT), wantTf)
		}
		for k := 0; k < wantTf; k++ {
			for j := 0; j < 3; j++ {
				if p.GT[k][0][j] != pb.WorldAll[((T-wantTf+k)*52+0)*3+j] {
					t.Fatalf("%s: ground truth of step %d is not frame %d", layout, k, T-wantTf+k)
				}
			}
		}
	}
}

// The track layout's model gradients (a predictor whose context is every frame and whose
// queries sit at the same positions, a head without pooling) match central differences.
func TestModelGradientsTrackLayout(t *testing.T) {
	e := cpu.New()
	rng := rand.New(rand.NewPCG(17, 18))
	pc := arch.ThinkPredictorConfig{EmbedDim: tD, PredictorEmbedDim: 12, Depth: 2, NumHeads: 2, MLPRatio: 2,
		TokensPerFrame: tP, NumFrames: tTc, PastFrames: tTc, NumQueryTemplates: 2, QueryIndex: 1, NormEps: 1e-6,
		Causal: true, Track: true}
	pred, err := NewThinkPred(e, pc, rng)
	if err != nil {
		t.Fatal(err)
	}
	m := tinyModel(t, e, ModeThinkJEPA, 19)
	head, err := rollout.NewHead(e, rollout.HeadConfig{Dim: tD, Hidden: 8, Heads: 2, Joints: tJ, NoPool: true})
	if err != nil {
		t.Fatal(err)
	}
	head.Init(e, rng)
	m.Pred, m.Head, m.Layout = pred, head, LayoutTrack
	if err := m.Film.Params.Set(e, "guidance_layer_scale", []int{2, 1, 1}, []float32{0.6, -0.4}); err != nil {
		t.Fatal(err)
	}
	b, _ := newMemSet(2, 20).Batch([]int{0, 1}) // Tc = Tf = 2: the whole (tiny) clip
	checkModelGradients(t, e, m, b, []string{"head:fc_out.bias", "pred:output_adapter.bias", "pred:query_templates.1",
		"pred:context_adapter.bias", "pred:rollout_layers.0.attn.qkv.bias", "film:guidance_layer_scale"})
}
