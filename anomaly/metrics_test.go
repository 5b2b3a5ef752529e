package anomaly

import (
	"math"
	"math/rand/v2"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func bools(v ...int) []bool {
	out := make([]bool, len(v))
	for i, x := range v {
		out[i] = x != 0
	}
	return out
}

// Hand-worked cases; ranks are written out in the comments.
func TestROCAUCHandWorked(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		name    string
		scores  []float64
		labels  []bool
		want    float64
		defined bool
	}{
		// ascending: 0.1(−) r1, 0.35(+) r2, 0.4(−) r3, 0.8(+) r4; (2+4 − 3)/(2·2)
		{"no ties", []float64{0.1, 0.4, 0.35, 0.8}, bools(0, 0, 1, 1), 0.75, true},
		// all tied: every rank is 2.5; (5 − 3)/4
		{"all tied", []float64{1, 1, 1, 1}, bools(0, 1, 0, 1), 0.5, true},
		// 0.2(−) r1, {0.5(+), 0.5(−)} r2.5, 0.9(+) r4; (2.5+4 − 3)/4
		{"tie across classes", []float64{0.5, 0.5, 0.2, 0.9}, bools(1, 0, 0, 1), 0.875, true},
		// the same with a NaN positive and a +Inf negative, both dropped
		{"non-finite dropped", []float64{0.5, nan, 0.5, 0.2, inf, 0.9}, bools(1, 1, 0, 0, 0, 1), 0.875, true},
		// ties inside one class only: {1,1}(−) r1.5, {3,3,3}(+) r4; (12 − 6)/(3·2)
		{"ties within a class", []float64{3, 1, 3, 1, 3}, bools(1, 0, 1, 0, 1), 1, true},
		// 1(+) r1, {2(−),2(+),2(−)} r3, 5(−) r5; (1+3 − 3)/(2·3)
		{"triple tie", []float64{2, 1, 2, 5, 2}, bools(0, 1, 1, 0, 0), 1.0 / 6, true},
		{"inverted", []float64{3, 2, 1}, bools(0, 0, 1), 0, true},
		{"only positives", []float64{1, 2}, bools(1, 1), 0, false},
		{"negative lost to NaN", []float64{nan, 2}, bools(0, 1), 0, false},
		{"empty", nil, nil, 0, false},
	}
	for _, c := range cases {
		got, defined, err := ROCAUC(c.scores, c.labels)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if defined != c.defined || (defined && !near(got, c.want)) {
			t.Errorf("%s: AUC = %v (defined %v), want %v (defined %v)", c.name, got, defined, c.want, c.defined)
		}
		if !defined && !math.IsNaN(got) {
			t.Errorf("%s: undefined AUC should be NaN, got %v", c.name, got)
		}
	}
	if _, _, err := ROCAUC([]float64{1}, bools(1, 0)); err == nil {
		t.Error("length mismatch accepted")
	}
}

// The rank formula must equal the pairwise definition: P(score⁺ > score⁻) + ½P(tie).
func TestROCAUCMatchesPairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		n := 2 + rng.IntN(40)
		s := make([]float64, n)
		l := make([]bool, n)
		for i := range s {
			s[i] = float64(rng.IntN(5)) // few values: many ties
			l[i] = rng.IntN(3) == 0
		}
		var num, den float64
		for i := range s {
			for j := range s {
				if !l[i] || l[j] {
					continue
				}
				den++
				switch {
				case s[i] > s[j]:
					num++
				case s[i] == s[j]:
					num += 0.5
				}
			}
		}
		got, defined, err := ROCAUC(s, l)
		if err != nil {
			t.Fatal(err)
		}
		if defined != (den > 0) {
			t.Fatalf("trial %d: defined %v with %v pairs", trial, defined, den)
		}
		if defined && math.Abs(got-num/den) > 1e-12 {
			t.Fatalf("trial %d: AUC %v, pairwise %v (scores %v labels %v)", trial, got, num/den, s, l)
		}
	}
}

func TestAveragePrecision(t *testing.T) {
	// descending: 0.8(+) P1 R.5, 0.4(−), 0.35(+) P2/3 R1: .5·1 + .5·2/3
	ap, ok, err := AveragePrecision([]float64{0.1, 0.4, 0.35, 0.8}, bools(0, 0, 1, 1))
	if err != nil || !ok || !near(ap, 0.5+1.0/3) {
		t.Errorf("AP = %v %v %v, want 0.8333", ap, ok, err)
	}
	// tied 0.5 pair enters together: 0.9(+) R.5 P1; {0.5+,0.5−} R1 P2/3
	ap, ok, _ = AveragePrecision([]float64{0.5, 0.5, 0.2, 0.9}, bools(1, 0, 0, 1))
	if !ok || !near(ap, 0.5+1.0/3) {
		t.Errorf("AP with ties = %v, want 0.8333", ap)
	}
	// all tied: one threshold, precision = prevalence
	ap, ok, _ = AveragePrecision([]float64{1, 1, 1, 1}, bools(1, 0, 0, 0))
	if !ok || !near(ap, 0.25) {
		t.Errorf("AP all tied = %v, want 0.25", ap)
	}
	if _, ok, _ := AveragePrecision([]float64{1, 2}, bools(0, 0)); ok {
		t.Error("AP defined without positives")
	}
}

func TestBestF1(t *testing.T) {
	// cuts: {0.8} F1 2/3; {0.8,0.4} 1/2; {…,0.35} 4/5; all 2/3 → best 0.8 at "score > 0.1"
	scores := []float64{0.1, 0.4, 0.35, 0.8}
	labels := bools(0, 0, 1, 1)
	b, ok, err := BestF1(scores, labels)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if !near(b.F1, 0.8) || b.Threshold != 0.1 || !near(b.Precision, 2.0/3) || b.Recall != 1 {
		t.Errorf("best F1 = %+v, want F1 0.8 at threshold 0.1, P 2/3, R 1", b)
	}
	// The threshold must reproduce the F1 under the flag rule score > threshold.
	var tp, fp, fn int
	for i, s := range scores {
		switch f := s > b.Threshold; {
		case f && labels[i]:
			tp++
		case f:
			fp++
		case labels[i]:
			fn++
		}
	}
	if got := 2 * float64(tp) / float64(2*tp+fp+fn); !near(got, b.F1) {
		t.Errorf("threshold %v gives F1 %v, reported %v", b.Threshold, got, b.F1)
	}
	// Everything flagged is best: threshold just below the lowest score.
	b, _, _ = BestF1([]float64{2, 3}, bools(1, 1))
	if b.F1 != 1 || !(b.Threshold < 2) || b.Threshold < math.Nextafter(2, 0) {
		t.Errorf("all-positive best F1 = %+v, want 1 just below 2", b)
	}
	if _, ok, _ := BestF1([]float64{1}, bools(0)); ok {
		t.Error("best F1 defined without positives")
	}
}

func TestFlagRateAndCalibration(t *testing.T) {
	if r, n := FlagRate([]float64{1, 2, 3, math.NaN()}, 2); n != 3 || !near(r, 1.0/3) {
		t.Errorf("flag rate = %v of %d, want 1/3 of 3 (score > threshold, NaN dropped)", r, n)
	}
	if r, n := FlagRate(nil, 0); n != 0 || !math.IsNaN(r) {
		t.Errorf("flag rate of nothing = %v of %d", r, n)
	}
	normal := []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1, math.NaN()}
	for _, c := range []struct{ fpr, want float64 }{{0, 10}, {0.05, 10}, {0.1, 9}, {0.2, 8}, {0.29, 8}, {0.3, 7}, {0.99, 1}} {
		thr, err := CalibrateThreshold(normal, c.fpr)
		if err != nil {
			t.Fatal(err)
		}
		if thr != c.want {
			t.Errorf("fpr %v: threshold %v, want %v", c.fpr, thr, c.want)
		}
		if r, _ := FlagRate(normal, thr); r > c.fpr+1e-12 {
			t.Errorf("fpr %v: threshold %v flags %v of normal scores", c.fpr, thr, r)
		}
	}
	// ties: the threshold never splits a tie, so the rate may fall below the target
	if thr, _ := CalibrateThreshold([]float64{1, 1, 1, 1}, 0.5); thr != 1 {
		t.Errorf("tied normals: threshold %v, want 1", thr)
	}
	for _, fpr := range []float64{-0.1, 1, math.NaN()} {
		if _, err := CalibrateThreshold(normal, fpr); err == nil {
			t.Errorf("fpr %v accepted", fpr)
		}
	}
	if _, err := CalibrateThreshold([]float64{math.NaN()}, 0.1); err == nil {
		t.Error("calibration without finite scores accepted")
	}
}
