package train

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/nn/cpu"
)

// The collapse detector flags a predictor whose output does not change over time and
// one no better than repeating the last observed frame, and passes one that forecasts.
func TestDetectCollapse(t *testing.T) {
	const B, Tc, Tf, P, D = 3, 4, 4, 2, 5
	rng := rand.New(rand.NewPCG(1, 2))
	frame := P * D
	ctx := make([]float32, B*Tc*frame)
	target := make([]float32, B*Tf*frame)
	// Targets drift away from the last observed frame: copy-last is a poor forecast.
	for b := 0; b < B; b++ {
		for t := 0; t < Tc; t++ {
			for i := 0; i < frame; i++ {
				ctx[(b*Tc+t)*frame+i] = float32(rng.NormFloat64())
			}
		}
		for t := 0; t < Tf; t++ {
			for i := 0; i < frame; i++ {
				last := ctx[(b*Tc+Tc-1)*frame+i]
				target[(b*Tf+t)*frame+i] = last + float32(t+1)*0.5*float32(i%3-1) + 0.1*float32(rng.NormFloat64())
			}
		}
	}
	health := func(pred []float32) LatentHealth {
		var s latentStats
		s.add(pred, target, ctx, B, Tc, Tf, P, D)
		return s.health()
	}
	// Constant over time in each clip (its mean target): spread 0.
	constant := make([]float32, len(target))
	for b := 0; b < B; b++ {
		for i := 0; i < frame; i++ {
			var m float32
			for t := 0; t < Tf; t++ {
				m += target[(b*Tf+t)*frame+i]
			}
			for t := 0; t < Tf; t++ {
				constant[(b*Tf+t)*frame+i] = m / Tf
			}
		}
	}
	// Repeating the last observed frame: MSE = copy-last MSE (and spread 0 too).
	copyLast := make([]float32, len(target))
	for b := 0; b < B; b++ {
		for t := 0; t < Tf; t++ {
			copy(copyLast[(b*Tf+t)*frame:(b*Tf+t+1)*frame], ctx[(b*Tc+Tc-1)*frame:(b*Tc+Tc)*frame])
		}
	}
	// A good forecast: the target plus small noise.
	good := make([]float32, len(target))
	for i := range good {
		good[i] = target[i] + 0.05*float32(rng.NormFloat64())
	}
	// A forecast with the right motion whose offset is worse than copy-last.
	biased := make([]float32, len(target))
	for i := range biased {
		biased[i] = target[i] + 3
	}
	hc, hl, hg, hb := health(constant), health(copyLast), health(good), health(biased)
	if hc.Spread > 1e-6 || hl.Spread > 1e-6 || hg.Spread < 0.9 || hb.Spread < 0.99 {
		t.Errorf("spreads: constant %.3g, copy-last %.3g, good %.3g, biased %.3g", hc.Spread, hl.Spread, hg.Spread, hb.Spread)
	}
	if math.Abs(hl.MSE-hl.CopyLastMSE) > 1e-9 || hg.MSE >= hg.CopyLastMSE {
		t.Errorf("copy-last MSE %.4g vs its own %.4g; good %.4g vs %.4g", hl.MSE, hl.CopyLastMSE, hg.MSE, hg.CopyLastMSE)
	}
	for _, c := range []struct {
		name  string
		h     LatentHealth
		epoch int
		want  string
	}{
		{"constant", hc, 5, "barely change"},
		{"copy-last", hl, 5, "barely change"}, // both rules hold; the spread is reported first
		{"biased", hb, 5, "no better than repeating"},
		{"good", hg, 5, ""},
		{"constant, too early", hc, CollapseMinEpochs - 2, ""},
	} {
		got := DetectCollapse(c.epoch, c.h)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: DetectCollapse = %q, want %q", c.name, got, c.want)
		}
	}
}

// A collapsed run is reported in metrics.jsonl: a predictor whose output is forced to a
// constant (output adapter weights zero, frozen by a zero-ish lr) is flagged after the
// first epochs; a predictor whose forecast varies within a clip and beats copy-last
// (half the context, time-reversed, against memSet's random targets) is not.
func TestTrainerReportsCollapse(t *testing.T) {
	for _, collapsed := range []bool{true, false} {
		e := cpu.New()
		m := tinyModel(t, e, ModeJEPAOnly, 21)
		cfg := LoopConfig{Seed: 3, Epochs: 4, BatchSize: 2, HeadLR: 1e-2, PredLR: 1e-12, ClipNorm: 5}
		if collapsed {
			w := m.Pred.Params().Get("output_adapter.weight")
			if err := m.Pred.Params().Set(e, w.Name, w.Shape, make([]float32, w.Len())); err != nil {
				t.Fatal(err)
			}
		} else {
			m.Pred = halfReversedPred{ps: nn.NewParamSet()}
		}
		data := newMemSet(6, 22)
		tr := NewTrainer(e, m, cfg, t.TempDir())
		if err := tr.Run(data, data); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(tr.OutDir, MetricsName))
		if err != nil {
			t.Fatal(err)
		}
		lines := readMetrics(t, b)
		last := lines[len(lines)-1]
		if collapsed != (last.Collapse != "") || collapsed != strings.Contains(last.Collapse, "barely change") {
			t.Errorf("collapsed=%v: last epoch's collapse = %q (spread %.3g, mse %.3g, copy-last %.3g)", collapsed, last.Collapse, last.ValLatentSpread, last.ValLatent, last.ValLatentCopyLast)
		}
		if lines[0].Collapse != "" {
			t.Errorf("flagged after the first epoch already: %q", lines[0].Collapse)
		}
	}
}

// halfReversedPred forecasts future frame t as half of observed frame Tc−1−t.
type halfReversedPred struct{ ps *nn.ParamSet }

func (h halfReversedPred) Params() *nn.ParamSet { return h.ps }
func (h halfReversedPred) NumBlocks() int       { return 0 }
func (h halfReversedPred) Forward(e nn.Engine, ctx *nn.Tensor, B, Tc, Tf, P int, gamma, beta []*nn.Tensor) (PredictorPass, error) {
	c := e.ToHost(ctx)
	frame := len(c) / (B * Tc)
	out := make([]float32, B*Tf*frame)
	for b := 0; b < B; b++ {
		for t := 0; t < Tf; t++ {
			src := c[(b*Tc+Tc-1-t%Tc)*frame:]
			for i := 0; i < frame; i++ {
				out[(b*Tf+t)*frame+i] = 0.5 * src[i]
			}
		}
	}
	return &fixedPass{out: e.FromHost(out, B, Tf, frame)}, nil
}

// Per-group clipping bounds each group's norm on its own; global clipping scales all
// groups by one factor.
func TestClipPerGroup(t *testing.T) {
	e := cpu.New()
	mk := func(name string, g []float32) *Group {
		p := &nn.Param{Name: name, Shape: []int{len(g)}, W: e.Zeros(len(g)), G: e.FromHost(g, len(g))}
		return NewGroup(e, name, []*nn.Param{p}, 0)
	}
	norm := func(g *Group) float64 { return math.Sqrt(e.SumSquares(g.Params[0].G, g.Params[0].Len())) }
	// Global: norms 30 and 4 (total √916 ≈ 30.3) clipped to 5 → both scaled by 5/30.3.
	a, b := mk("head", []float32{30, 0}), mk("pred", []float32{0, 4})
	tr := &Trainer{E: e, Cfg: LoopConfig{ClipNorm: 5}, head: a, pred: b}
	if err := tr.clip(); err != nil {
		t.Fatal(err)
	}
	if na, nb := norm(a), norm(b); math.Abs(na*na+nb*nb-25) > 1e-3 || math.Abs(nb-4*5/math.Sqrt(916)) > 1e-4 {
		t.Errorf("global: norms %.4g, %.4g", na, nb)
	}
	a, b = mk("head", []float32{30, 0}), mk("pred", []float32{0, 4})
	tr = &Trainer{E: e, Cfg: LoopConfig{ClipNorm: 5, ClipPerGroup: true}, head: a, pred: b}
	if err := tr.clip(); err != nil {
		t.Fatal(err)
	}
	if na, nb := norm(a), norm(b); math.Abs(na-5) > 1e-4 || math.Abs(nb-4) > 1e-6 {
		t.Errorf("per group: norms %.4g, %.4g, want 5 and 4 (untouched)", na, nb)
	}
}
