package train

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/eval"
	"github.com/thinkjepa/thinkjepa/nn/cpu"
	"github.com/thinkjepa/thinkjepa/thinker"
)

// latentAnomalyRun is the toy run of the given mode with task latent_anomaly, windows of
// 3 past + 2 future frames at stride 1.
func latentAnomalyRun(t *testing.T, dir string, mode Mode, epochs int) *RunConfig {
	t.Helper()
	rc := toyRun(t, dir, mode, epochs)
	raw, _ := json.Marshal(rc)
	var m map[string]any
	json.Unmarshal(raw, &m)
	m["task"] = "latent_anomaly"
	m["anomaly"] = map[string]int{"past": 3, "future": 2, "stride": 1}
	delete(m, "layout")
	raw, _ = json.Marshal(m)
	rc, err := ParseRunConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// Task latent_anomaly with the JEPA-only predictor (no FiLM bank, no thinker caches):
// the training and validation latent losses fall, the best checkpoint is the epoch of the
// lowest validation latent MSE, and `anomaly` scores it without --thinker, each window's
// score the latent L2 of the ordinary forward pass on that window.
func TestLatentAnomalyTaskJEPAOnly(t *testing.T) {
	dir := t.TempDir()
	rc := latentAnomalyRun(t, dir, ModeJEPAOnly, 5)
	rc.Loop.PredLR = 3e-3
	e := cpu.New()
	if err := Train(e, rc, true, false); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(rc.Out, MetricsName))
	if err != nil {
		t.Fatal(err)
	}
	var train, val []float64
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var ml struct {
			TrainLatent float64 `json:"train_latent_loss"`
			ValLatent   float64 `json:"val_latent_loss"`
		}
		if err := json.Unmarshal([]byte(l), &ml); err != nil {
			t.Fatal(err)
		}
		train, val = append(train, ml.TrainLatent), append(val, ml.ValLatent)
	}
	t.Logf("train latent MSE by epoch %.4f; validation %.4f", train, val)
	best := slices.Min(val)
	if len(train) != 5 || !(train[4] < train[0]) || !(best < val[0]) {
		t.Errorf("latent losses did not fall: train %v, validation %v", train, val)
	}
	ckpt := filepath.Join(rc.Out, BestName)
	m, _, err := LoadModel(e, ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if m.Mode != ModeJEPAOnly || m.Film != nil {
		t.Fatalf("checkpoint mode %s, FiLM bank %v", m.Mode, m.Film != nil)
	}
	valSet, err := OpenFileSet(*rc.Val, rc.Data)
	if err != nil {
		t.Fatal(err)
	}
	_, lat, err := ValidateWithLatent(e, m, valSet, 4)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(lat-best) > 1e-6*math.Max(1, best) {
		t.Errorf("best checkpoint has validation latent MSE %v; the lowest logged was %v", lat, best)
	}

	out := filepath.Join(dir, "anom")
	if err := Anomaly(e, AnomalyOptions{Ckpt: ckpt, Features: rc.Val.Features, Out: out, NumShards: 1, Threshold: 1, FPR: 0.1,
		Embed: "signed_error", EmbedMethod: "tsne"}); err != nil {
		t.Fatalf("jepa-only scoring without --thinker: %v", err)
	}
	// Scoring windows at stride 2 (the model's future): starts 0 and 2, so frames 3, 4
	// come from window 0 alone and 5, 6 from window 2; the window samples of the training
	// set (stride 1) are starts 0, 1, 2, 3 of each clip.
	for i := 0; i < valSet.Len(); i += 4 {
		id := valSet.ClipID(i)
		score, valid, _ := readScores(t, filepath.Join(out, AnomalyClipsDir, id, AnomalyScores))
		for f, v := range valid {
			if v != (f >= 3 && f <= 6) {
				t.Errorf("%s frame %d valid %v", id, f, v)
			}
		}
		for k, frame := range map[int]int{0: 3, 2: 5} {
			b, err := valSet.Batch([]int{i + k})
			if err != nil {
				t.Fatal(err)
			}
			_, pl, err := m.Predict(e, b)
			if err != nil {
				t.Fatal(err)
			}
			want, err := eval.Latent(pl, b.Target, b.D)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []int{frame, frame + 1} {
				if math.Abs(score[f]-want.L2) > 1e-5*math.Max(1, want.L2) {
					t.Errorf("%s frame %d: score %v, forward-pass latent L2 of window %d %v", id, f, score[f], k, want.L2)
				}
			}
		}
	}
	b, _ := os.ReadFile(filepath.Join(out, "summary.json"))
	if !strings.Contains(string(b), `"mode": "jepa-only"`) || !strings.Contains(string(b), `"thinker": ""`) {
		t.Errorf("summary: %s", b)
	}
}

// The vlm-only ablation works with task latent_anomaly and in `anomaly` (decided: it is
// an ablation like any other, not an error): its predictor sees zeroed latents, so each
// window's forecast comes from the clip's guidance alone and the score is how far the
// future departs from what the VLM's reading predicts. It needs the thinker caches like
// thinkjepa, and the context latents it is given do not change its forecast.
func TestLatentAnomalyTaskVLMOnly(t *testing.T) {
	dir := t.TempDir()
	rc := latentAnomalyRun(t, dir, ModeVLMOnly, 2)
	e := cpu.New()
	if err := Train(e, rc, true, false); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(rc.Out, BestName)
	if err := Anomaly(e, AnomalyOptions{Ckpt: ckpt, Features: rc.Val.Features, Out: filepath.Join(dir, "x"), NumShards: 1}); err == nil ||
		!strings.Contains(err.Error(), "needs thinker caches (--thinker)") {
		t.Errorf("vlm-only without --thinker: %v", err)
	}
	out := filepath.Join(dir, "anom")
	if err := Anomaly(e, AnomalyOptions{Ckpt: ckpt, Features: rc.Val.Features, Thinker: rc.Val.Thinker, Out: out, NumShards: 1,
		Threshold: 1, FPR: 0.1}); err != nil {
		t.Fatal(err)
	}
	score, valid, _ := readScores(t, filepath.Join(out, AnomalyClipsDir, "toy000", AnomalyScores))
	for f, v := range valid {
		if v && (math.IsNaN(score[f]) || score[f] <= 0) {
			t.Errorf("frame %d score %v", f, score[f])
		}
	}
	m, mrc, err := LoadModel(e, ckpt)
	if err != nil {
		t.Fatal(err)
	}
	guide, err := thinker.Read(filepath.Join(rc.Val.Thinker, "toy000.npz"))
	if err != nil {
		t.Fatal(err)
	}
	const P, D = 4, 16
	a, c := make([]float32, 3*P*D), make([]float32, 3*P*D)
	for i := range c {
		c[i] = float32(i%7) - 3
	}
	pa, err := m.predictWindows(e, mrc, a, 1, 3, 2, P, D, guide)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := m.predictWindows(e, mrc, c, 1, 3, 2, P, D, guide)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pa, pc) {
		t.Error("vlm-only forecast depends on the context latents")
	}
}
