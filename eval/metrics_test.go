package eval

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

func near(t *testing.T, name string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-6 {
		t.Errorf("%s = %.7f, want %.7f", name, got, want)
	}
}

// handBatch: B=2, T=2, J=2, pred all zero, so each error is the norm of the gt vector.
//
//	sample 0: t0: j0 |(.03,0,0)| = .03   j1 |(0,.04,0)| = .04
//	          t1: j0 |(0,0,.1)|  = .10   j1 |(.06,.08,0)| = .10
//	sample 1: t0: j0 0                   j1 |(0,0,.06)| = .06
//	          t1: j0 |(.02,0,0)| = .02   j1 |(0,.3,0)| = .30
func handBatch() Batch {
	gt := []float32{
		.03, 0, 0, 0, .04, 0,
		0, 0, .1, .06, .08, 0,
		0, 0, 0, 0, 0, .06,
		.02, 0, 0, 0, .3, 0,
	}
	return Batch{B: 2, T: 2, J: 2, Pred: make([]float32, 24), GT: gt}
}

func TestThinkJEPAMetricsByHand(t *testing.T) {
	m, err := Compute(handBatch(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// ADE_0 = (.03+.04+.1+.1)/4 = .0675; ADE_1 = (0+.06+.02+.3)/4 = .095; mean .08125.
	near(t, "ADE", m.ADE, 0.08125)
	// FDE_0 = (.1+.1)/2 = .1; FDE_1 = (.02+.3)/2 = .16; mean .13.
	near(t, "FDE", m.FDE, 0.13)
	// errors < .05: .03, .04, 0, .02 → 4 of 8.
	near(t, "Acc", m.Acc, 0.5)
	if m.Samples != 2 || m.Entries != 8 {
		t.Errorf("samples %d entries %d, want 2, 8", m.Samples, m.Entries)
	}
	// Threshold .035: only .03, 0, .02 → 3/8.
	m, _ = Compute(handBatch(), Options{Thr: 0.035})
	near(t, "Acc@.035", m.Acc, 3.0/8)
}

func TestMaskedPerSampleAndPooled(t *testing.T) {
	b := handBatch()
	b.Mask = []bool{true, true, true, true, true, true, true, false} // drop s1,t1,j1 (.30)
	m, err := Compute(b, Options{UseMask: true})
	if err != nil {
		t.Fatal(err)
	}
	// ADE_0 = .0675; ADE_1 = (0+.06+.02)/3 = .0266667; mean .0470833.
	near(t, "masked ADE", m.ADE, (0.0675+0.08/3)/2)
	// FDE_0 = .1; FDE_1 = .02 (only j0 valid at t1); mean .06.
	near(t, "masked FDE", m.FDE, 0.06)
	near(t, "masked Acc", m.Acc, 4.0/7)
	p, err := Compute(b, Options{UseMask: true, Agg: Pooled})
	if err != nil {
		t.Fatal(err)
	}
	// pooled: (.27 + .08)/7 = .05; FDE over valid (b,j) at last t: (.1+.1+.02)/3.
	near(t, "pooled ADE", p.ADE, 0.05)
	near(t, "pooled FDE", p.FDE, 0.22/3)
	// Without UseMask the mask is ignored.
	u, _ := Compute(b, Options{})
	near(t, "unmasked ADE", u.ADE, 0.08125)
	// A sample with nothing valid is skipped by per-sample means.
	b.Mask = []bool{false, false, false, false, true, true, true, true}
	m, _ = Compute(b, Options{UseMask: true})
	near(t, "one-sample ADE", m.ADE, 0.095)
	if m.Samples != 1 {
		t.Errorf("samples %d, want 1", m.Samples)
	}
	b.Mask = make([]bool, 8)
	if _, err := Compute(b, Options{UseMask: true}); !errors.Is(err, ErrNothingScored) {
		t.Errorf("all masked: err %v, want ErrNothingScored", err)
	}
}

func TestSubsetAndHorizon(t *testing.T) {
	m, err := Compute(handBatch(), Options{Joints: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	// joint 1 only: s0 (.04+.1)/2 = .07, s1 (.06+.3)/2 = .18 → .125; FDE (.1+.3)/2; Acc 1/4.
	near(t, "j1 ADE", m.ADE, 0.125)
	near(t, "j1 FDE", m.FDE, 0.2)
	near(t, "j1 Acc", m.Acc, 0.25)
	rows, err := Horizons(handBatch(), Options{}, []int{1, 2, 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2 (H=4 > T skipped)", len(rows))
	}
	// H=1: s0 (.03+.04)/2 = .035, s1 (0+.06)/2 = .03 → .0325; FDE is the same step.
	near(t, "H1 ADE", rows[0].ADE, 0.0325)
	near(t, "H1 FDE", rows[0].FDE, 0.0325)
	near(t, "H1 Acc", rows[0].Acc, 0.75)
	near(t, "H2 ADE", rows[1].ADE, 0.08125)
	if _, err := Compute(handBatch(), Options{Joints: []int{2}}); err == nil {
		t.Error("joint 2 of J=2 accepted")
	}
}

func TestBestOfK(t *testing.T) {
	gt := make([]float32, 6)
	// B=2, T=1, J=1; errors: cand0 s0 .1, s1 .2; cand1 s0 .3, s1 .05.
	c0 := Batch{B: 2, T: 1, J: 1, GT: gt, Pred: []float32{.1, 0, 0, .2, 0, 0}}
	c1 := Batch{B: 2, T: 1, J: 1, GT: gt, Pred: []float32{0, .3, 0, 0, 0, .05}}
	best, choice, err := BestOfK([]Batch{c0, c1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if choice[0] != 0 || choice[1] != 1 {
		t.Fatalf("choice %v, want [0 1]", choice)
	}
	m, _ := Compute(best, Options{})
	near(t, "best-of-2 ADE", m.ADE, (0.1+0.05)/2)
	// The choice is by ADE, not FDE: a has errors (.1,.1) → ADE .1, FDE .1;
	// b has (.3,.01) → ADE .155, FDE .01. Best by ADE is a.
	gt2 := make([]float32, 6)
	a := Batch{B: 1, T: 2, J: 1, GT: gt2, Pred: []float32{.1, 0, 0, .1, 0, 0}}  // ADE .1, FDE .1
	b := Batch{B: 1, T: 2, J: 1, GT: gt2, Pred: []float32{.3, 0, 0, .01, 0, 0}} // ADE .155, FDE .01
	_, choice, _ = BestOfK([]Batch{a, b}, Options{})
	if choice[0] != 0 {
		t.Errorf("best by ADE picked %d, want 0 (lower ADE despite higher FDE)", choice[0])
	}
	b.J = 2
	if _, _, err := BestOfK([]Batch{a, b}, Options{}); err == nil {
		t.Error("mismatched candidates accepted")
	}
}

func TestCheckErrors(t *testing.T) {
	b := handBatch()
	b.Pred[5] = float32(math.NaN())
	_, err := Compute(b, Options{})
	if err == nil || !strings.Contains(err.Error(), "sample 0 step 0 joint 1") {
		t.Errorf("NaN pred: %v", err)
	}
	b = handBatch()
	b.GT[23] = float32(math.NaN()) // s1 t1 j1
	if _, err := Compute(b, Options{}); err == nil {
		t.Error("NaN gt accepted without mask")
	}
	b.Mask = []bool{true, true, true, true, true, true, true, false}
	if _, err := Compute(b, Options{UseMask: true}); err != nil {
		t.Errorf("NaN gt under mask: %v", err)
	}
	b = handBatch()
	b.GT = b.GT[:21]
	if _, err := Compute(b, Options{}); err == nil || !strings.Contains(err.Error(), "gt has 21 values") {
		t.Errorf("short gt: %v", err)
	}
}

func TestSelectAndGroupBy(t *testing.T) {
	order, g := GroupBy([]string{"val", "test", "val"})
	if strings.Join(order, ",") != "val,test" || len(g["val"]) != 2 || g["test"][0] != 1 {
		t.Fatalf("GroupBy: %v %v", order, g)
	}
	m, _ := Compute(handBatch().Select([]int{1}), Options{})
	near(t, "sample 1 ADE", m.ADE, 0.095)
}

func TestLatentByHand(t *testing.T) {
	// 2 tokens, D=2. tok0 pred (1,0) tgt (0,1): Δ=(1,-1), cos 0.
	// tok1 pred (3,0) tgt (1,0): Δ=(2,0), cos 1.
	l, err := Latent([]float32{1, 0, 3, 0}, []float32{0, 1, 1, 0}, 2)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "MSE", l.MSE, (1+1+4+0)/4.0)
	near(t, "L2", l.L2, (math.Sqrt2+2)/2)
	// smooth L1, β=1: |1|→.5, |1|→.5, |2|→1.5, 0→0; mean 2.5/4.
	near(t, "SmoothL1", l.SmoothL1, 0.625)
	near(t, "CosDist", l.CosDist, 0.5)
	// A small |Δ| uses the quadratic branch: Δ=.5 → .125.
	l, _ = Latent([]float32{0.5}, []float32{0}, 1)
	near(t, "SmoothL1 quad", l.SmoothL1, 0.125)
	if _, err := Latent([]float32{1, 2, 3}, []float32{1, 2, 3}, 2); err == nil {
		t.Error("length not multiple of D accepted")
	}
}

func TestRowJSONKeepsFields(t *testing.T) {
	in := []SplitRow{{Split: "test", Metrics: Metrics{ADE: 0.1, FDE: math.NaN(), Acc: 0.5, Samples: 2, Entries: 8}}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"split":"test"`) || !strings.Contains(string(b), `"fde":null`) {
		t.Errorf("split row JSON %s", b)
	}
	var out []SplitRow
	if err := json.Unmarshal(b, &out); err != nil || out[0].Split != "test" || out[0].ADE != 0.1 || !math.IsNaN(out[0].FDE) {
		t.Errorf("round trip %+v %v", out, err)
	}
	hb, _ := json.Marshal(HorizonRow{H: 8, Metrics: Metrics{ADE: 0.2}})
	var h HorizonRow
	if err := json.Unmarshal(hb, &h); err != nil || h.H != 8 || h.ADE != 0.2 {
		t.Errorf("horizon row %s → %+v %v", hb, h, err)
	}
}

func BenchmarkEvaluate(b *testing.B) {
	// 256 clips × 32 steps × 52 joints, a typical test split.
	const B, T, J = 256, 32, 52
	bt := Batch{B: B, T: T, J: J, Pred: make([]float32, B*T*J*3), GT: make([]float32, B*T*J*3)}
	for i := range bt.GT {
		bt.GT[i] = float32(i%97) * 0.001
	}
	for b.Loop() {
		if _, err := Evaluate(bt, nil, Config{}); err != nil {
			b.Fatal(err)
		}
	}
}
