package train

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/arch"
	"github.com/thinkjepa/thinkjepa/film"
	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/nn/cpu"
	"github.com/thinkjepa/thinkjepa/rollout"
)

const (
	tD, tP, tTc, tTf, tJ = 8, 2, 2, 2, 52
	tL, tSo, tSn, tDv    = 2, 3, 2, 6
)

func tinyModel(t testing.TB, e nn.Engine, mode Mode, seed uint64) *Model {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	pc := arch.ThinkPredictorConfig{EmbedDim: tD, PredictorEmbedDim: 12, Depth: 2, NumHeads: 2, MLPRatio: 2,
		TokensPerFrame: tP, NumFrames: tTc + tTf, PastFrames: tTc, NumQueryTemplates: 2, QueryIndex: 1, NormEps: 1e-6}
	pred, err := NewThinkPred(e, pc, rng)
	if err != nil {
		t.Fatal(err)
	}
	head, err := rollout.NewHead(e, rollout.HeadConfig{Dim: tD, Hidden: 8, Heads: 2, Joints: tJ})
	if err != nil {
		t.Fatal(err)
	}
	head.Init(e, rng)
	m := &Model{Mode: mode, Pred: pred, Head: head}
	if mode.Guided() {
		bank, err := film.New(e, film.Config{VLMDim: tDv, Width: 12, Hidden: 8, NumBlocks: 2})
		if err != nil {
			t.Fatal(err)
		}
		bank.Init(e, rng)
		m.Film = bank
	}
	return m
}

// memSet is an in-memory dataset of random clips whose future joints depend on the
// latents (so there is something to learn).
type memSet struct{ batches []*Batch }

func newMemSet(n int, seed uint64) *memSet {
	rng := rand.New(rand.NewPCG(seed, 9))
	s := &memSet{}
	for i := 0; i < n; i++ {
		b := &Batch{B: 1, Tc: tTc, Tf: tTf, P: tP, D: tD, J: tJ, L: tL, So: tSo, Sn: tSn, Dv: tDv}
		r := func(k int) []float32 {
			v := make([]float32, k)
			for j := range v {
				v[j] = float32(rng.NormFloat64())
			}
			return v
		}
		b.Ctx, b.Target = r(tTc*tP*tD), r(tTf*tP*tD)
		b.OldX, b.NewX = r(tL*tSo*tDv), r(tL*tSn*tDv)
		b.OldMask, b.NewMask = make([]float32, tL*tSo), make([]float32, tL*tSn)
		for j := range b.OldMask {
			b.OldMask[j] = float32(1 - j%tSo/2) // last token padded
		}
		for j := range b.NewMask {
			b.NewMask[j] = 1
		}
		b.World = make([]float32, tTf*tJ*3)
		for j := range b.World {
			b.World[j] = 0.1*b.Ctx[j%len(b.Ctx)] + 0.05*float32(j%3)
		}
		b.Ext = make([]float32, 0, tTf*16)
		for k := 0; k < tTf; k++ {
			c, sn := float32(math.Cos(float64(i))), float32(math.Sin(float64(i)))
			b.Ext = append(b.Ext, c, -sn, 0, 0.3, sn, c, 0, -0.1, 0, 0, 1, 1.2, 0, 0, 0, 1)
		}
		b.IDs = []string{"c" + string(rune('a'+i))}
		s.batches = append(s.batches, b)
	}
	return s
}

func (s *memSet) Len() int { return len(s.batches) }

// Batch concatenates single-clip batches.
func (s *memSet) Batch(idx []int) (*Batch, error) {
	out := *s.batches[idx[0]]
	out.B = 0
	out.Ctx, out.Target, out.OldX, out.NewX, out.OldMask, out.NewMask, out.World, out.Ext, out.IDs = nil, nil, nil, nil, nil, nil, nil, nil, nil
	for _, i := range idx {
		b := s.batches[i]
		out.B++
		out.Ctx = append(out.Ctx, b.Ctx...)
		out.Target = append(out.Target, b.Target...)
		out.OldX = append(out.OldX, b.OldX...)
		out.NewX = append(out.NewX, b.NewX...)
		out.OldMask = append(out.OldMask, b.OldMask...)
		out.NewMask = append(out.NewMask, b.NewMask...)
		out.World = append(out.World, b.World...)
		out.Ext = append(out.Ext, b.Ext...)
		out.IDs = append(out.IDs, b.IDs...)
	}
	return &out, nil
}

// At the zero-initialised gate the guided predictor's output equals the unguided one.
func TestZeroGateFiLMIsIdentityOnPredictor(t *testing.T) {
	e := cpu.New()
	m := tinyModel(t, e, ModeThinkJEPA, 3)
	b, _ := newMemSet(2, 4).Batch([]int{0, 1})
	run := func(guided bool) []float32 {
		ctx := e.FromHost(b.Ctx, b.B, b.Tc, b.P, b.D)
		var g, bt []*nn.Tensor
		if guided {
			out, err := m.Film.Forward(e, &film.Input{B: b.B,
				Old: &film.Stream{X: e.FromHost(b.OldX, b.B, tL, tSo, tDv), Mask: b.OldMask, L: tL, S: tSo},
				New: &film.Stream{X: e.FromHost(b.NewX, b.B, tL, tSn, tDv), Mask: b.NewMask, L: tL, S: tSn}})
			if err != nil {
				t.Fatal(err)
			}
			defer out.Release(e)
			g, bt = out.Gamma, out.Beta
		}
		pp, err := m.Pred.Forward(e, ctx, b.B, b.Tc, b.Tf, b.P, g, bt)
		if err != nil {
			t.Fatal(err)
		}
		defer pp.Release(e)
		return e.ToHost(pp.Out())
	}
	a, c := run(true), run(false)
	for i := range a {
		if a[i] != c[i] {
			t.Fatalf("element %d: guided %v, unguided %v", i, a[i], c[i])
		}
	}
	// With an open gate the guidance must matter.
	if err := m.Film.Params.Set(e, "guidance_layer_scale", []int{2, 1, 1}, []float32{0.8, -0.6}); err != nil {
		t.Fatal(err)
	}
	a = run(true)
	same := true
	for i := range a {
		same = same && a[i] == c[i]
	}
	if same {
		t.Fatal("non-zero gate left the predictor output unchanged")
	}
}

// The whole-model gradient (loss → camera map → head → predictor → FiLM) matches
// central differences on a few parameters from every part.
func TestModelGradients(t *testing.T) {
	e := cpu.New()
	m := tinyModel(t, e, ModeThinkJEPA, 5)
	if err := m.Film.Params.Set(e, "guidance_layer_scale", []int{2, 1, 1}, []float32{0.8, -0.6}); err != nil {
		t.Fatal(err)
	}
	b, _ := newMemSet(2, 6).Batch([]int{0, 1})
	checkModelGradients(t, e, m, b, []string{"head:fc_out.bias", "head:token_query", "pred:output_adapter.bias",
		"pred:query_templates.1", "film:guidance_layer_scale", "film:guidance_fusion_mlps.1.3.bias"})
}

func (m *Model) setParam(e nn.Engine, p *nn.Param, data []float32) error {
	tmp := e.FromHost(data, p.Shape...)
	e.CopyInto(p.W, tmp)
	e.Free(tmp)
	return nil
}

func allParams(e nn.Engine, m *Model) map[string][]float32 {
	out := m.Head.Params.Host(e)
	for k, v := range m.Pred.Params().Host(e) {
		out[k] = v
	}
	if m.Film != nil {
		for k, v := range m.Film.Params.Host(e) {
			out[k] = v
		}
	}
	return out
}

// Training N steps straight equals training k steps, stopping ("kill"), and resuming
// from latest to N, bit for bit, across an epoch boundary and the head's lr step, with
// OpenBLAS as with the pure-Go GEMMs. (This needs the CPU engine's 64-byte-aligned
// buffers: OpenBLAS and gcc-vectorised reductions round differently with a buffer's
// alignment, which otherwise depends on what was allocated before.)
func TestResumeAfterKillEquality(t *testing.T) {
	resumeAfterKill(t, LoopConfig{Seed: 7, Epochs: 3, BatchSize: 2, ClipNorm: 1}, 0, 4, 0)
}

// setPredDrop sets the predictor's training-time dropout and drop-path rates.
func setPredDrop(t testing.TB, m *Model, drop, path float64) {
	t.Helper()
	tp, ok := m.Pred.(*ThinkPred)
	if !ok {
		t.Fatalf("predictor %T", m.Pred)
	}
	tp.P.Cfg.DropRate, tp.P.Cfg.DropPathRate = drop, path
}

// With head dropout, predictor dropout and drop path (masks seeded per step) and a
// separate FiLM optimiser group, a resumed run must still retrace the straight one bit
// for bit, from several kill points.
func TestResumeWithDropoutAndFilmGroup(t *testing.T) {
	const tol = 0
	cfg := LoopConfig{Seed: 7, Epochs: 3, BatchSize: 2, ClipNorm: 1, FilmLR: 3e-3}
	for _, stop := range []int{2, 4, 5} {
		resumeAfterKill(t, cfg, 0.1, stop, tol)
	}
	e := cpu.New()
	trainSet, valSet := newMemSet(5, 11), newMemSet(2, 12)
	run := func(drop float32, predDrop, predPath float64) map[string][]float32 {
		m := tinyModel(t, e, ModeThinkJEPA, 1)
		m.HeadDropout = drop
		setPredDrop(t, m, predDrop, predPath)
		if err := NewTrainer(e, m, cfg, t.TempDir()).Run(trainSet, valSet); err != nil {
			t.Fatal(err)
		}
		return allParams(e, m)
	}
	differs := func(a, b map[string][]float32) bool {
		for name := range a {
			for i := range a[name] {
				if a[name][i] != b[name][i] {
					return true
				}
			}
		}
		return false
	}
	none := run(0, 0, 0)
	for _, c := range []struct {
		what                string
		head, drop, dropPth float64
	}{{"head dropout", 0.1, 0, 0}, {"predictor dropout", 0, 0.1, 0}, {"predictor drop path", 0, 0, 0.5}} {
		if !differs(run(float32(c.head), c.drop, c.dropPth), none) {
			t.Errorf("%s changed nothing", c.what)
		}
	}
	// A checkpoint written with a separate FiLM group does not resume into a trainer
	// without one (its optimiser state would silently be lost).
	dir := t.TempDir()
	ta := NewTrainer(e, tinyModel(t, e, ModeThinkJEPA, 1), cfg, dir)
	ta.StopAfter = 1
	if err := ta.Run(trainSet, valSet); err != nil {
		t.Fatal(err)
	}
	cfg2 := cfg
	cfg2.FilmLR = 0
	if err := NewTrainer(e, tinyModel(t, e, ModeThinkJEPA, 1), cfg2, dir).Resume(filepath.Join(dir, LatestName)); err == nil {
		t.Fatal("resumed a checkpoint with a film group into a trainer without one")
	}
}

// resumeAfterKill trains straight through, and again killed after stop steps and
// resumed in a fresh trainer (other initial weights: everything must come from the
// checkpoint). With tol = 0 the weights must be bit-identical; the per-epoch metrics
// must agree to tol (relative) and the logs
// must have one line per epoch.
func resumeAfterKill(t *testing.T, cfg LoopConfig, drop float32, stop int, tol float64) {
	t.Helper()
	e := cpu.New()
	trainSet, valSet := newMemSet(5, 11), newMemSet(2, 12)
	const N = 9 // 3 batches per epoch → all 3 epochs
	model := func(seed uint64) *Model {
		m := tinyModel(t, e, ModeThinkJEPA, seed)
		m.HeadDropout = drop
		setPredDrop(t, m, float64(drop), float64(drop))
		return m
	}
	dirA := t.TempDir()
	ta := NewTrainer(e, model(1), cfg, dirA)
	if err := ta.Run(trainSet, valSet); err != nil {
		t.Fatal(err)
	}
	if ta.State().Step != N {
		t.Fatalf("straight run did %d steps, want %d", ta.State().Step, N)
	}

	dirB := t.TempDir()
	tb := NewTrainer(e, model(1), cfg, dirB)
	tb.StopAfter = stop
	if err := tb.Run(trainSet, valSet); err != nil {
		t.Fatal(err)
	}
	tc := NewTrainer(e, model(99), cfg, dirB)
	if err := tc.Resume(filepath.Join(dirB, LatestName)); err != nil {
		t.Fatal(err)
	}
	if s := tc.State(); s.Step != stop || s.Epoch != stop/3 || s.Batch != stop%3 {
		t.Fatalf("resumed at %+v, want step %d, epoch %d, batch %d", s, stop, stop/3, stop%3)
	}
	if err := tc.Run(trainSet, valSet); err != nil {
		t.Fatal(err)
	}
	pa, pc := allParams(e, ta.Model), allParams(e, tc.Model)
	for name, a := range pa {
		c := pc[name]
		for i := range a {
			if tol == 0 && a[i] != c[i] {
				t.Fatalf("dropout %v, stop %d: %s[%d]: straight %v, resumed %v", drop, stop, name, i, a[i], c[i])
			}
		}
	}
	// The metrics logs agree on every epoch (one line per epoch, no duplicates).
	la, _ := os.ReadFile(filepath.Join(dirA, MetricsName))
	lc, _ := os.ReadFile(filepath.Join(dirB, MetricsName))
	if n := countLines(la); n != 3 || countLines(lc) != 3 {
		t.Fatalf("metrics lines: straight %d, resumed %d, want 3", n, countLines(lc))
	}
	ma, mc := readMetrics(t, la), readMetrics(t, lc)
	close := func(x, y float64) bool { return x == y || math.Abs(x-y) <= tol*math.Max(1, math.Abs(x)) }
	for i := range ma {
		if !close(ma[i].TrainLoss, mc[i].TrainLoss) || !close(ma[i].ValADE, mc[i].ValADE) || !close(ma[i].ValFDE, mc[i].ValFDE) || ma[i].Step != mc[i].Step {
			t.Errorf("dropout %v, stop %d, epoch %d: straight %+v, resumed %+v", drop, stop, i, ma[i], mc[i])
		}
	}
	for _, f := range []string{BestName, LatestName} {
		if _, err := os.Stat(filepath.Join(dirB, f)); err != nil {
			t.Error(err)
		}
	}
}

func readMetrics(t *testing.T, b []byte) []MetricsLine {
	var out []MetricsLine
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var m MetricsLine
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}

func TestHeadLRSteps(t *testing.T) {
	for _, c := range []struct {
		ep   int
		want float64
	}{{0, 1e-3}, {32, 1e-3}, {33, 1e-4}, {65, 1e-4}, {66, 1e-5}, {99, 1e-5}} {
		if got := HeadLR(1e-3, c.ep, 100); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("epoch %d: lr %g, want %g", c.ep, got, c.want)
		}
	}
	// Configured milestones (fractions of the epochs); none: constant.
	for _, c := range []struct {
		ep   int
		ms   []float64
		want float64
	}{{0, []float64{0.8}, 1e-3}, {119, []float64{0.8}, 1e-3}, {120, []float64{0.8}, 1e-4}, {149, []float64{0.8}, 1e-4},
		{149, nil, 1e-3}, {75, []float64{0.5, 0.9}, 1e-4}, {135, []float64{0.5, 0.9}, 1e-5}} {
		if got := MultiStepLR(1e-3, c.ep, 150, c.ms); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("milestones %v, epoch %d: lr %g, want %g", c.ms, c.ep, got, c.want)
		}
	}
}

func TestModes(t *testing.T) {
	e := cpu.New()
	b, _ := newMemSet(2, 4).Batch([]int{0, 1})
	for _, mode := range []Mode{ModeThinkJEPA, ModeJEPAOnly, ModeVLMOnly} {
		m := tinyModel(t, e, mode, 2)
		if mode.Guided() != (m.Film != nil) {
			t.Fatalf("%s: guidance bank presence wrong", mode)
		}
		ls, err := m.LossAndGrad(e, b, LossWeights{1, 1})
		if err != nil || math.IsNaN(ls.Total) {
			t.Fatalf("%s: loss %v, err %v", mode, ls, err)
		}
	}
	if err := Mode("both").Validate(); err == nil {
		t.Error("unknown mode accepted")
	}
}

// run.json's predictor drop_rate and drop_path_rate default to upstream's 0.1 when
// absent, keep an explicit value (0: off) and reject values outside [0, 1).
func TestRunConfigPredictorDrop(t *testing.T) {
	for _, c := range []struct {
		pred       string
		drop, path float64
		err        string
	}{
		{`{}`, 0.1, 0.1, ""},
		{`{"drop_rate": 0}`, 0, 0.1, ""},
		{`{"drop_rate": 0.2, "drop_path_rate": 0}`, 0.2, 0, ""},
		{`{"drop_path_rate": 1}`, 0, 0, "predictor drop_path_rate 1, expected 0 ≤ p < 1"},
		{`{"drop_rate": -0.5}`, 0, 0, "predictor drop_rate -0.5, expected 0 ≤ p < 1"},
	} {
		rc, err := ParseRunConfig([]byte(`{"mode": "thinkjepa", "predictor": ` + c.pred + `}`))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.pred, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.pred, err)
		}
		if rc.Predictor.DropRate != c.drop || rc.Predictor.DropPathRate != c.path {
			t.Errorf("%s: drop_rate %v, drop_path_rate %v; want %v, %v", c.pred, rc.Predictor.DropRate, rc.Predictor.DropPathRate, c.drop, c.path)
		}
	}
}
