package train

import (
	"math"
	"sort"
	"testing"

	"github.com/thinkjepa/thinkjepa/internal/golden"
	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/nn/cpu"
)

// allGrads returns every parameter gradient of m on the host.
func allGrads(e nn.Engine, m *Model) map[string][]float32 {
	out := map[string][]float32{}
	sets := []*nn.ParamSet{m.Head.Params, m.Pred.Params()}
	if m.Film != nil {
		sets = append(sets, m.Film.Params)
	}
	for _, ps := range sets {
		for _, p := range ps.List() {
			out[p.Name] = e.ToHost(p.G)
		}
	}
	return out
}

// diff returns, per name, ‖got−want‖ divided by norm (or by ‖want‖ when norm is 0), and
// the same over all names together.
func diff(t *testing.T, got, want map[string][]float32, norm float64) (per map[string]float64, total float64) {
	t.Helper()
	if len(got) != len(want) || len(got) == 0 {
		t.Fatalf("%d tensors on the emulator, %d on the CPU", len(got), len(want))
	}
	per = map[string]float64{}
	var D2, W2 float64
	for n, w := range want {
		var d2, w2 float64
		for i := range w {
			d := float64(got[n][i]) - float64(w[i])
			d2 += d * d
			w2 += float64(w[i]) * float64(w[i])
		}
		D2, W2 = D2+d2, W2+w2
		if norm > 0 {
			per[n] = math.Sqrt(d2) / norm
		} else {
			per[n] = math.Sqrt(d2 / math.Max(w2, 1e-30))
		}
	}
	return per, math.Sqrt(D2 / math.Max(W2, 1e-30))
}

func worst(per map[string]float64) (string, float64) {
	names := make([]string, 0, len(per))
	for n := range per {
		names = append(names, n)
	}
	sort.Strings(names)
	wn, w := "", -1.0
	for _, n := range names {
		if per[n] > w {
			wn, w = n, per[n]
		}
	}
	return wn, w
}

// One forward + backward of the whole ThinkJEPA model (FiLM guidance, predictor, head,
// losses) on the CUDA engine's emulator matches the CPU engine: every parameter gradient
// within 1e-5 of the global gradient norm.
func TestGradientsOnCUDAEngineMatchCPU(t *testing.T) {
	b, err := newMemSet(3, 11).Batch([]int{0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	grads := func(e nn.Engine) (Losses, map[string][]float32) {
		m := tinyModel(t, e, ModeThinkJEPA, 1)
		ls, err := m.LossAndGrad(e, b, LossWeights{Traj: 1, Pred: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		return ls, allGrads(e, m)
	}
	lc, gc := grads(cpu.New())
	for _, e := range golden.Engines()[1:] {
		t.Run(golden.EngineName(e), func(t *testing.T) {
			le, ge := grads(e)
			compareGrads(t, lc, gc, le, ge)
		})
	}
}

func compareGrads(t *testing.T, lc Losses, gc map[string][]float32, le Losses, ge map[string][]float32) {
	if d := math.Abs(float64(le.Total - lc.Total)); !(d <= 1e-6*math.Abs(float64(lc.Total))) {
		t.Errorf("loss %g on the emulator, %g on the CPU", le.Total, lc.Total)
	}
	var g2 float64
	for _, g := range gc {
		for _, v := range g {
			g2 += float64(v) * float64(v)
		}
	}
	per, total := diff(t, ge, gc, math.Sqrt(g2))
	for n, r := range per {
		if !(r <= 1e-5) {
			t.Errorf("gradient of %s: difference %.3g of the global gradient norm", n, r)
		}
	}
	wn, w := worst(per)
	t.Logf("gradients vs CPU: all together %.2g relative; worst %s at %.2g of the global norm", total, wn, w)
}

// Full training runs (dropout and drop path on, a separate FiLM optimiser group, gradient
// clipping, validation) on the emulator and on the CPU from the same seeds take the same
// path: the same losses, and parameters that agree to 1e-4 over the whole model. (Single
// tensors can differ more: the key bias of attention has an exactly-zero true gradient,
// so AdamW turns its rounding noise into lr-sized steps on either engine.)
func TestTrainOnCUDAEngineMatchesCPU(t *testing.T) {
	cfg := LoopConfig{Seed: 7, Epochs: 2, BatchSize: 2, ClipNorm: 1, FilmLR: 3e-3}
	trainSet, valSet := newMemSet(4, 11), newMemSet(2, 12)
	run := func(e nn.Engine) map[string][]float32 {
		m := tinyModel(t, e, ModeThinkJEPA, 1)
		m.HeadDropout = 0.1
		setPredDrop(t, m, 0.1, 0.2)
		if err := NewTrainer(e, m, cfg, t.TempDir()).Run(trainSet, valSet); err != nil {
			t.Fatal(err)
		}
		return allParams(e, m)
	}
	want := run(cpu.New())
	for _, e := range golden.Engines()[1:] {
		t.Run(golden.EngineName(e), func(t *testing.T) {
			per, total := diff(t, run(e), want, 0)
			if !(total <= 1e-4) {
				t.Errorf("parameters after training differ by %.3g (relative, whole model)", total)
			}
			wn, w := worst(per)
			t.Logf("parameters after training, %s vs CPU: %.2g relative over the model; worst tensor %s at %.2g", e.Name(), total, wn, w)
		})
	}
}
