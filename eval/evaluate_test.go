package eval

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/eval/predfile"
	"github.com/thinkjepa/thinkjepa/internal/npy"
)

func TestLoadNPYErrors(t *testing.T) {
	dir := t.TempDir()
	w := func(name string, a *npy.Array) string {
		p := filepath.Join(dir, name)
		if err := npy.WriteNPYFile(p, a); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pred := w("pred.npy", npy.FromFloat32(make([]float32, 2*4*52*3), 2, 4, 52, 3))
	gt := w("gt.npy", npy.FromFloat64(make([]float64, 2*4*52*3), 2, 4, 52, 3))
	short := w("short.npy", npy.FromFloat32(make([]float32, 2*3*52*3), 2, 3, 52, 3))
	j21 := w("j21.npy", npy.FromFloat32(make([]float32, 2*4*21*3), 2, 4, 21, 3))
	mask := w("mask.npy", npy.FromBool(make([]bool, 2*4*52), 2, 4, 52))
	badMask := w("badmask.npy", npy.FromBool(make([]bool, 2*4), 2, 4))
	if sets, err := LoadNPY(pred, gt, mask); err != nil || len(sets) != 1 {
		t.Fatalf("valid inputs: %d sets, %v", len(sets), err)
	}
	for _, c := range []struct{ p, g, m, want string }{
		{pred, "", "", "pass --gt"},
		{pred, short, "", "shape mismatch"},
		{j21, gt, "", "expected [* * 52 3]"},
		{pred, gt, badMask, "mask"},
	} {
		_, err := LoadNPY(c.p, c.g, c.m)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("LoadNPY(%s, %s, %s): %v, want %q", filepath.Base(c.p), c.g, c.m, err, c.want)
		}
	}
}

func pred(id, split string, tf int, withGT bool, off float32) *predfile.Prediction {
	p := &predfile.Prediction{Pred: make([][52][3]float32, tf), Meta: predfile.Meta{ClipID: id, Split: split}}
	if withGT {
		p.GT = make([][52][3]float32, tf)
		for t := range tf {
			for j := range 52 {
				p.GT[t][j][0] = off
			}
		}
	}
	return p
}

func TestFromPredictionsAndEvaluate(t *testing.T) {
	if _, err := FromPredictions([]*predfile.Prediction{pred("a", "x", 4, false, 0)}); err == nil ||
		!strings.Contains(err.Error(), "clip a: no gt") {
		t.Errorf("missing gt: %v", err)
	}
	if _, err := FromPredictions([]*predfile.Prediction{pred("a", "x", 4, true, 0), pred("b", "x", 5, true, 0)}); err == nil ||
		!strings.Contains(err.Error(), "clip b: 5 future steps") {
		t.Errorf("ragged: %v", err)
	}
	// Errors: clip a 0.01 m everywhere (val), clip b 0.07 m (test); b has a mask hiding step 3.
	a, b := pred("a", "val", 4, true, 0.01), pred("b", "test", 4, true, 0.07)
	b.Mask = make([][52]bool, 4)
	for t := range 3 {
		for j := range 52 {
			b.Mask[t][j] = true
		}
	}
	l, err := FromPredictions([]*predfile.Prediction{a, b})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Evaluate(l.Batch, l.Splits, Config{Subset: "wrists", Horizons: []int{2, 4, 8}})
	if err != nil {
		t.Fatal(err)
	}
	// ThinkJEPA: ADE (.01+.07)/2 = .04; Acc: a's 8 wrist entries pass, b's 8 fail → .5.
	near(t, "ADE", r.ThinkJEPA.ADE, 0.04)
	near(t, "Acc", r.ThinkJEPA.Acc, 0.5)
	// Masked pooled: a 8 entries of .01, b 6 of .07 → (0.08+0.42)/14; FDE at step 3: only a's → .01.
	near(t, "pooled ADE", r.Pooled.ADE, 0.5/14)
	near(t, "pooled FDE", r.Pooled.FDE, 0.01)
	if len(r.Horizons) != 2 || r.Horizons[1].H != 4 {
		t.Errorf("horizons %+v (8 > T must be skipped)", r.Horizons)
	}
	if len(r.Splits) != 2 || r.Splits[0].Split != "val" || math.Abs(r.Splits[1].ADE-0.07) > 1e-6 {
		t.Errorf("splits %+v", r.Splits)
	}
	md := r.Markdown("x")
	if !strings.Contains(md, "| val | 1 | 0.0100 |") || !strings.Contains(md, "masked, pooled (EgoH4)") {
		t.Errorf("markdown:\n%s", md)
	}
	if _, err := json.Marshal(r); err != nil {
		t.Errorf("json: %v", err)
	}
}

func TestBestOfLoaded(t *testing.T) {
	// Two candidate sets for clips a, b (gt 0): set 0 errs .02 on a and .09 on b, set 1 .05 and .01.
	mk := func(ea, eb float32) *Loaded {
		pa, pb := pred("a", "s", 2, true, 0), pred("b", "s", 2, true, 0)
		for t := range 2 {
			for j := range 52 {
				pa.Pred[t][j][1], pb.Pred[t][j][1] = ea, eb
			}
		}
		l, err := FromPredictions([]*predfile.Prediction{pa, pb})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	best, chosen, err := BestOfLoaded([]*Loaded{mk(0.02, 0.09), mk(0.05, 0.01)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if chosen[0] != 0 || chosen[1] != 1 {
		t.Errorf("chosen %v, want [0 1]", chosen)
	}
	m, _ := Compute(best.Batch, Options{})
	near(t, "best-of-2 ADE", m.ADE, (0.02+0.01)/2)
	other := mk(0.02, 0.09)
	other.IDs[1] = "c"
	if _, _, err := BestOfLoaded([]*Loaded{mk(0.02, 0.09), other}, nil); err == nil {
		t.Error("misaligned clips accepted")
	}
}

// A [B,K,T,52,3] array holds K candidates per clip: LoadNPY splits it into K sets in
// candidate order, and best-of-K then picks, per clip, the candidate closest to the truth.
func TestLoadNPYCandidates(t *testing.T) {
	dir := t.TempDir()
	const B, K, T, J = 2, 3, 4, 52
	// Candidate k of clip b is offset by off[b][k] metres on x from a zero truth.
	off := [B][K]float32{{0.3, 0.1, 0.2}, {0.05, 0.4, 0.5}}
	p := make([]float32, B*K*T*J*3)
	for b := 0; b < B; b++ {
		for k := 0; k < K; k++ {
			for i := 0; i < T*J; i++ {
				p[((b*K+k)*T*J+i)*3] = off[b][k]
			}
		}
	}
	predPath, gtPath := filepath.Join(dir, "pk.npy"), filepath.Join(dir, "gt.npy")
	if err := npy.WriteNPYFile(predPath, npy.FromFloat32(p, B, K, T, J, 3)); err != nil {
		t.Fatal(err)
	}
	if err := npy.WriteNPYFile(gtPath, npy.FromFloat32(make([]float32, B*T*J*3), B, T, J, 3)); err != nil {
		t.Fatal(err)
	}
	sets, err := LoadNPY(predPath, gtPath, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != K {
		t.Fatalf("%d sets, want %d", len(sets), K)
	}
	for k, s := range sets {
		for b := 0; b < B; b++ {
			if got := s.Batch.Pred[b*T*J*3]; got != off[b][k] || s.Batch.Pred[(b*T*J+T*J-1)*3] != off[b][k] {
				t.Errorf("set %d clip %d: x = %g, want %g", k, b, got, off[b][k])
			}
		}
	}
	best, chosen, err := BestOfLoaded(sets, nil)
	if err != nil {
		t.Fatal(err)
	}
	if chosen[0] != 1 || chosen[1] != 0 {
		t.Errorf("chosen %v, want [1 0]", chosen)
	}
	if x := best.Batch.Pred[0]; x != 0.1 {
		t.Errorf("best clip 0 x = %g, want 0.1", x)
	}
	// K candidates must still match the truth's clips and steps.
	short := filepath.Join(dir, "short.npy")
	if err := npy.WriteNPYFile(short, npy.FromFloat32(make([]float32, B*K*(T-1)*J*3), B, K, T-1, J, 3)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadNPY(short, gtPath, ""); err == nil || !strings.Contains(err.Error(), "shape mismatch") {
		t.Errorf("short candidates: %v, want a shape mismatch", err)
	}
}
