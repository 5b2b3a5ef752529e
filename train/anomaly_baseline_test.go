package train

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/anomaly"
	"github.com/thinkjepa/thinkjepa/nn/cpu"
)

// The baselines score exactly the frames the checkpoint's predictor covers, copy-last with
// the window formula on the last context frame repeated, frame-diff with the latent change
// from the previous tubelet; neither needs guidance. Without a checkpoint the windows come
// from Past/Future.
func TestAnomalyBaselines(t *testing.T) {
	dir := t.TempDir()
	rc := toyRun(t, dir, ModeThinkJEPA, 1)
	e := cpu.New()
	if err := Train(e, rc, true, false); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(rc.Out, BestName)
	base := AnomalyOptions{Ckpt: ckpt, Features: rc.Val.Features, Thinker: rc.Val.Thinker, NumShards: 1, Threshold: 1, FPR: 0.1, BatchSize: 2}
	pred := base
	pred.Out = filepath.Join(dir, "pred")
	if err := Anomaly(e, pred); err != nil {
		t.Fatal(err)
	}
	ids, err := featureIDs(rc.Val.Features)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{anomaly.BaselineCopyLast, anomaly.BaselineFrameDiff} {
		o := base
		o.Baseline, o.Thinker, o.Out = b, "", filepath.Join(dir, b)
		if err := Anomaly(e, o); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		for _, id := range ids {
			lat, err := anomaly.ReadClipLatents(filepath.Join(rc.Val.Features, id+".npz"))
			if err != nil {
				t.Fatal(err)
			}
			_, pv, _ := readScores(t, filepath.Join(pred.Out, AnomalyClipsDir, id, AnomalyScores))
			score, valid, _ := readScores(t, filepath.Join(o.Out, AnomalyClipsDir, id, AnomalyScores))
			frame := lat.P * lat.D
			fd, err := anomaly.FrameDifference(lat.X, lat.T, lat.P, lat.D)
			if err != nil {
				t.Fatal(err)
			}
			for f := range score {
				if valid[f] != pv[f] {
					t.Fatalf("%s %s frame %d: valid %v, the predictor's %v", b, id, f, valid[f], pv[f])
				}
				if !valid[f] {
					continue
				}
				var want float64
				switch b {
				case anomaly.BaselineCopyLast:
					// The toy clips have one 4+4 window: every target frame against frame 3.
					last := lat.X[3*frame : 4*frame]
					var tgt, rep []float32
					for k := 4; k < 8; k++ {
						tgt = append(tgt, lat.X[k*frame:(k+1)*frame]...)
						rep = append(rep, last...)
					}
					want, _ = anomaly.WindowScore(rep, tgt, lat.D)
				case anomaly.BaselineFrameDiff:
					want = fd[f]
				}
				if math.Abs(score[f]-want) > 1e-9*math.Max(1, want) || math.IsNaN(score[f]) {
					t.Fatalf("%s %s frame %d: score %v, want %v", b, id, f, score[f], want)
				}
			}
		}
	}
	// No checkpoint: windows from Past/Future; a predictor needs one.
	o := base
	o.Ckpt, o.Baseline, o.Past, o.Future, o.Out = "", anomaly.BaselineFrameDiff, 2, 2, filepath.Join(dir, "nockpt")
	if err := Anomaly(e, o); err != nil {
		t.Fatal(err)
	}
	_, valid, _ := readScores(t, filepath.Join(o.Out, AnomalyClipsDir, ids[0], AnomalyScores))
	for f, v := range valid {
		if v != (f >= 2) {
			t.Fatalf("past 2 future 2 over 8 frames: frame %d valid %v", f, v)
		}
	}
	o.Baseline = ""
	if err := Anomaly(e, o); err == nil || !strings.Contains(err.Error(), "checkpoint") {
		t.Errorf("a predictor run without a checkpoint: %v", err)
	}
	o.Baseline = "mean"
	if err := Anomaly(e, o); err == nil || !strings.Contains(err.Error(), "unknown anomaly baseline") {
		t.Errorf("an unknown baseline: %v", err)
	}
}
