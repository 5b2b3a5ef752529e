package train

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/thinkjepa/thinkjepa/nn/cpu"
)

// Whitened training tokens have zero mean and about identity covariance, and the map is
// W·(x−μ). "About": the eigenvalue ridge (1e-3·λ_max) shrinks the variance along the
// toy latents' weakest directions, so the bounds are loose.
func TestFitWhitening(t *testing.T) {
	cfg := writeToySet(t, t.TempDir(), 12, 4)
	fs, err := OpenFileSet(cfg, SampleConfig{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := FitWhitening(fs)
	if err != nil {
		t.Fatal(err)
	}
	D := w.D
	var all []float32
	for i := range fs.clips {
		obs, fut, _, _, err := fs.latents(&fs.clips[i])
		if err != nil {
			t.Fatal(err)
		}
		all = append(append(all, obs...), fut...)
	}
	y, err := w.Apply(all)
	if err != nil {
		t.Fatal(err)
	}
	n := float64(len(y) / D)
	mean := make([]float64, D)
	for r := 0; r < len(y); r += D {
		for a := 0; a < D; a++ {
			mean[a] += float64(y[r+a]) / n
		}
	}
	for a := 0; a < D; a++ {
		if math.Abs(mean[a]) > 1e-4 {
			t.Fatalf("whitened mean[%d] = %g", a, mean[a])
		}
		for b := 0; b < D; b++ {
			var c float64
			for r := 0; r < len(y); r += D {
				c += float64(y[r+a]) * float64(y[r+b]) / n
			}
			if a != b && math.Abs(c) > 0.05 || a == b && (c < 0.5 || c > 1+1e-4) {
				t.Fatalf("whitened covariance[%d,%d] = %g", a, b, c)
			}
		}
	}
	x := all[:D]
	for a := 0; a < D; a++ {
		var s float64
		for b := 0; b < D; b++ {
			s += float64(w.W[a*D+b]) * (float64(x[b]) - float64(w.Mean[b]))
		}
		if math.Abs(s-float64(y[a])) > 1e-4 {
			t.Fatalf("Apply[%d] = %g, W·(x−μ) = %g", a, y[a], s)
		}
	}
	if _, err := w.Apply(make([]float32, D+1)); err == nil {
		t.Fatal("ragged input accepted")
	}
}

// Standardized training latents have zero mean and unit variance per (token, channel).
func TestFitStandardization(t *testing.T) {
	cfg := writeToySet(t, t.TempDir(), 12, 5)
	fs, err := OpenFileSet(cfg, SampleConfig{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := FitStandardization(fs)
	if err != nil {
		t.Fatal(err)
	}
	F := st.P * st.D
	s, ss := make([]float64, F), make([]float64, F)
	var n float64
	for i := range fs.clips {
		obs, fut, _, _, err := fs.latents(&fs.clips[i])
		if err != nil {
			t.Fatal(err)
		}
		y, err := st.Apply(append(append([]float32(nil), obs...), fut...))
		if err != nil {
			t.Fatal(err)
		}
		for f := 0; f < len(y); f += F {
			for k := 0; k < F; k++ {
				s[k] += float64(y[f+k])
				ss[k] += float64(y[f+k]) * float64(y[f+k])
			}
			n++
		}
	}
	for k := range s {
		m, v := s[k]/n, ss[k]/n-(s[k]/n)*(s[k]/n)
		if math.Abs(m) > 1e-4 || math.Abs(v-1) > 1e-3 {
			t.Fatalf("token·channel %d: mean %g, variance %g after standardization", k, m, v)
		}
	}
	if _, err := st.Apply(make([]float32, F+1)); err == nil {
		t.Fatal("ragged input accepted")
	}
}

// A run with a latent map stores it in the checkpoint, and the loaded model (forecasting)
// scores validation exactly as training logged it.
func TestLatentMapRunRoundTrip(t *testing.T) {
	for _, mode := range []string{"whiten", "standardize"} {
		dir := t.TempDir()
		rc := toyRun(t, dir, ModeThinkJEPA, 2)
		rc.Data.Whiten, rc.Data.Standardize = mode == "whiten", mode == "standardize"
		e := cpu.New()
		if err := Train(e, rc, true, false); err != nil {
			t.Fatal(err)
		}
		m, rc2, err := LoadModel(e, filepath.Join(rc.Out, BestName))
		if err != nil {
			t.Fatal(err)
		}
		if m.LatentMap == nil || rc2.Data.Whiten != rc.Data.Whiten || rc2.Data.Standardize != rc.Data.Standardize {
			t.Fatalf("%s: latent map not restored from the checkpoint", mode)
		}
		val, err := OpenFileSet(*rc2.Val, rc2.Data)
		if err != nil {
			t.Fatal(err)
		}
		val.LatentMap = m.LatentMap
		got, err := Validate(e, m, val, 4)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join(rc.Out, MetricsName))
		if err != nil {
			t.Fatal(err)
		}
		best := math.Inf(1)
		for _, l := range readMetrics(t, raw) {
			best = math.Min(best, l.ValADE)
		}
		if math.Abs(got.ADE-best) > 1e-6 {
			t.Errorf("%s: reloaded model scores ADE %.6f, log says %.6f", mode, got.ADE, best)
		}
	}
	rc := toyRun(t, t.TempDir(), ModeThinkJEPA, 1)
	rc.Data.Whiten, rc.Data.Standardize = true, true
	if err := Train(cpu.New(), rc, true, false); err == nil {
		t.Fatal("whiten and standardize together accepted")
	}
}
