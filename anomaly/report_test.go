package anomaly

import (
	"bytes"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/internal/npy"
)

func clip(id string, frame []float64, labels []bool) *ClipResult {
	c := &ClipResult{ID: id, T: len(frame), Frame: frame, Covered: make([]bool, len(frame)), Starts: []int{0}, Labels: labels}
	for t, v := range frame {
		c.Covered[t] = !math.IsNaN(v)
	}
	return c
}

func TestSummarise(t *testing.T) {
	n := math.NaN()
	clips := []*ClipResult{
		// anomalous clip: scored frames 2..5 → (0.2 −) (0.9 +) (0.8 +) (0.3 −)
		clip("a", []float64{n, n, 0.2, 0.9, 0.8, 0.3}, bools(1, 1, 0, 1, 1, 0)),
		// normal clip: 0.1 0.4 0.5 (−)
		clip("b", []float64{n, 0.1, 0.4, 0.5}, bools(0, 0, 0, 0)),
		// unlabelled clip: scored (flag rate) but not in the ranking metrics
		clip("c", []float64{n, 5, 6}, nil),
	}
	s, err := Summarise(clips, 0.45, 0.34)
	if err != nil {
		t.Fatal(err)
	}
	// pooled: negatives 0.1 0.2 0.3 0.4 0.5, positives 0.8 0.9 → AUC 1, AP 1
	if s.Labelled != 2 || s.Frames != 7 || s.Anomalous != 2 || !reflect.DeepEqual(s.Unlabelled, []string{"c"}) {
		t.Errorf("counts: %+v", s)
	}
	if s.ROCAUC == nil || *s.ROCAUC != 1 || s.AP == nil || *s.AP != 1 {
		t.Errorf("AUC %v AP %v, want 1 and 1", f4p(s.ROCAUC), f4p(s.AP))
	}
	if s.BestF1 == nil || s.BestF1.F1 != 1 || s.BestF1.Threshold != 0.5 {
		t.Errorf("best F1 %+v, want 1 at score > 0.5", s.BestF1)
	}
	// at 0.45: flagged 0.9 0.8 0.5 5 6 of 9 scored frames; TPR 2/2, FPR 1/5
	if *s.FlagRate != 5.0/9 || *s.TPR != 1 || *s.FPR != 0.2 {
		t.Errorf("flag rate %v TPR %v FPR %v", *s.FlagRate, *s.TPR, *s.FPR)
	}
	// calibrated on clip b only (0.1 0.4 0.5): k = ⌊0.34·3⌋ = 1 → threshold 0.4
	if s.Calibration != "normal clips" || s.Calibrated == nil || *s.Calibrated != 0.4 || *s.CalFPR != 0.2 || *s.CalTPR != 1 {
		t.Errorf("calibration %q %v FPR %v TPR %v", s.Calibration, f4p(s.Calibrated), f4p(s.CalFPR), f4p(s.CalTPR))
	}
	if got := s.PerClip[0]; got.ScoredFrames != 4 || got.Anomalous != 2 || got.ROCAUC == nil || *got.ROCAUC != 1 {
		t.Errorf("clip a line %+v", got)
	}
	if got := s.PerClip[1]; got.ROCAUC != nil {
		t.Errorf("one-class clip b has AUC %v", *got.ROCAUC)
	}
	md := s.Markdown("x")
	for _, want := range []string{"| ROC AUC | 1.0000 |", "unlabelled, scored only: c", "| c | 3 | 1 | 2 | 5.5000 | unlabelled |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// Without a normal clip the calibration falls back to normal frames.
	s, _ = Summarise(clips[:1], 0.45, 0)
	if s.Calibration != "normal frames" || *s.Calibrated != 0.3 {
		t.Errorf("fallback calibration %q %v", s.Calibration, f4p(s.Calibrated))
	}
	// Without labels: nothing undefined is reported as a number, and JSON holds nulls.
	s, _ = Summarise(clips[2:], 1, 0.05)
	p := filepath.Join(t.TempDir(), "s.json")
	if err := s.WriteJSON(p, map[string]any{"checkpoint": "c.ckpt"}); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	b, _ := os.ReadFile(p)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["roc_auc"] != nil || m["calibrated_threshold"] != nil || m["checkpoint"] != "c.ckpt" || m["flag_rate"] != 1.0 {
		t.Errorf("unlabelled summary JSON: %s", b)
	}
}

func TestClipCSVAndPlot(t *testing.T) {
	n := math.NaN()
	c := clip("a", []float64{n, 0.5, 2}, bools(0, 1, 1))
	c.Source = []int64{10, 12, 14}
	want := "latent_frame,source_frame,score,valid,gt\n0,10,NaN,0,0\n1,12,0.5,1,1\n2,14,2,1,1\n"
	if got := string(c.CSV()); got != want {
		t.Errorf("csv:\n%s\nwant:\n%s", got, want)
	}
	c.Labels, c.Source = nil, nil
	if got := string(c.CSV()); !strings.HasSuffix(got, "\n2,2,2,1,\n") {
		t.Errorf("unlabelled csv:\n%s", got)
	}
	c.Labels = bools(0, 1, 1)
	p := filepath.Join(t.TempDir(), "a.png")
	thr := 1.5
	if err := PlotClip(c, 1, &thr, p); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil || img.Bounds().Dx() < 100 {
		t.Fatalf("plot is not a PNG: %v", err)
	}
	// a clip with no scored frame still plots (axes only)
	if err := PlotClip(clip("e", []float64{n}, nil), 1, nil, p); err != nil {
		t.Error(err)
	}
}

func TestReadClipLatents(t *testing.T) {
	d := t.TempDir()
	P, D := 2, 3
	vals := func(steps int, base float32) []float32 {
		v := make([]float32, steps*P*D)
		for i := range v {
			v[i] = base + float32(i)
		}
		return v
	}
	frame := func(c *ClipLatents, t int) []float32 { return c.X[t*P*D : (t+1)*P*D] }
	// ours: 2+2 tubelets of 2 frames, with raw indices
	w := npy.NewNPZWriter()
	w.Add("vjepa_input_feats", npy.FromFloat32AsHalf(vals(2, 0), 2, P, D))
	w.Add("vjepa_target_feats", npy.FromFloat32AsHalf(vals(2, 100), 2, P, D))
	w.Add("past_raw_indices", npy.FromInt32([]int32{0, 2, 4, 6}, 4))
	w.Add("target_raw_indices", npy.FromInt32([]int32{8, 10, 12, 14}, 4))
	if err := w.WriteFile(d + "/ours.npz"); err != nil {
		t.Fatal(err)
	}
	c, err := ReadClipLatents(d + "/ours.npz")
	if err != nil {
		t.Fatal(err)
	}
	if c.T != 8 || c.P != P || c.D != D || !reflect.DeepEqual(c.Source, []int64{0, 2, 4, 6, 8, 10, 12, 14}) {
		t.Fatalf("ours: T=%d P=%d D=%d source %v", c.T, c.P, c.D, c.Source)
	}
	if !reflect.DeepEqual(frame(c, 2), frame(c, 3)) || frame(c, 4)[0] != 100 || frame(c, 3)[0] != 6 {
		t.Errorf("tubelets not repeated to frames: %v", c.X)
	}
	// ours without indices but with encode's provenance: 8 frames over 4 tubelets
	w = npy.NewNPZWriter()
	w.Add("vjepa_input_feats", npy.FromFloat32(vals(2, 0), 2, P, D))
	w.Add("vjepa_target_feats", npy.FromFloat32(vals(2, 100), 2, P, D))
	w.Add("provenance", npy.FromString(`{"frame_indices": [0,1,2,3,4,5,6,7]}`))
	w.WriteFile(d + "/prov.npz")
	if c, err = ReadClipLatents(d + "/prov.npz"); err != nil || c.T != 8 || c.Source != nil {
		t.Errorf("provenance: %v T=%d", err, c.T)
	}
	// upstream's combined cache
	w = npy.NewNPZWriter()
	w.Add("vlm_old", npy.FromFloat32(vals(1, 0), 1, P, D))
	w.Add("vjepa_feats", npy.FromFloat32AsHalf(vals(4, 0), 4, P, D))
	w.Add("total_frames", npy.FromInt64([]int64{100}))
	w.WriteFile(d + "/up.npz")
	if c, err = ReadClipLatents(d + "/up.npz"); err != nil || c.T != 4 || !reflect.DeepEqual(c.Source, []int64{0, 33, 66, 99}) {
		t.Errorf("combined cache: %v T=%d source %v", err, c.T, c.Source)
	}
	// total_frames 0 is upstream's "unknown" (its Qwen extractor's value): no source frames
	w = npy.NewNPZWriter()
	w.Add("vjepa_feats", npy.FromFloat32AsHalf(vals(4, 0), 4, P, D))
	w.Add("total_frames", npy.FromInt32([]int32{0}))
	w.Add("nframes_used", npy.FromInt32([]int32{32}))
	w.WriteFile(d + "/unknown.npz")
	if c, err = ReadClipLatents(d + "/unknown.npz"); err != nil || c.T != 4 || c.Source != nil {
		t.Errorf("total_frames 0: %v T=%d source %v", err, c.T, c.Source)
	}
	bad := map[string]func(w *npy.NPZWriter){
		"no latents": func(w *npy.NPZWriter) { w.Add("vlm_old", npy.FromFloat32(vals(1, 0), 1, P, D)) },
		"nan": func(w *npy.NPZWriter) {
			w.Add("vjepa_feats", npy.FromFloat32([]float32{0, float32(math.NaN()), 0, 0, 0, 0}, 1, P, D))
		},
		"ragged indices": func(w *npy.NPZWriter) {
			w.Add("vjepa_input_feats", npy.FromFloat32(vals(2, 0), 2, P, D))
			w.Add("vjepa_target_feats", npy.FromFloat32(vals(2, 0), 2, P, D))
			w.Add("past_raw_indices", npy.FromInt32([]int32{0, 1, 2}, 3))
		},
		"target shape": func(w *npy.NPZWriter) {
			w.Add("vjepa_input_feats", npy.FromFloat32(vals(2, 0), 2, P, D))
			w.Add("vjepa_target_feats", npy.FromFloat32(make([]float32, 8), 2, 2, 2))
		},
		"nframes_used vs T": func(w *npy.NPZWriter) {
			w.Add("vjepa_feats", npy.FromFloat32(vals(2, 0), 2, P, D))
			w.Add("nframes_used", npy.FromInt32([]int32{3}))
			w.Add("total_frames", npy.FromInt32([]int32{30}))
		},
		"index past total": func(w *npy.NPZWriter) {
			w.Add("vjepa_feats", npy.FromFloat32(vals(2, 0), 2, P, D))
			w.Add("frame_indices", npy.FromInt64([]int64{0, 30}, 2))
			w.Add("total_frames", npy.FromInt32([]int32{30}))
		},
		"bad total": func(w *npy.NPZWriter) {
			w.Add("vjepa_feats", npy.FromFloat32(vals(1, 0), 1, P, D))
			w.Add("total_frames", npy.FromInt64([]int64{-1}))
		},
	}
	for name, fill := range bad {
		w := npy.NewNPZWriter()
		fill(w)
		p := filepath.Join(d, strings.ReplaceAll(name, " ", "_")+".npz")
		if err := w.WriteFile(p); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadClipLatents(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v should name %s", name, err, p)
		}
	}
}
