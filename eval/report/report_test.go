package report

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/eval"
	"github.com/thinkjepa/thinkjepa/eval/baseline"
	"github.com/thinkjepa/thinkjepa/eval/predfile"
	"github.com/thinkjepa/thinkjepa/internal/fsutil"
)

// camPose is world←camera: a rotation of 30° about y and a translation (1, 1.5, 0).
func camPose() [4][4]float32 {
	c, s := math.Cos(math.Pi/6), math.Sin(math.Pi/6)
	return [4][4]float32{
		{float32(c), 0, float32(s), 1},
		{0, 1, 0, 1.5},
		{float32(-s), 0, float32(c), 0},
		{0, 0, 0, 1},
	}
}

func toWorld(e [4][4]float32, p [3]float64) [3]float32 {
	var out [3]float32
	for i := range 3 {
		out[i] = float32(float64(e[i][0])*p[0] + float64(e[i][1])*p[1] + float64(e[i][2])*p[2] + float64(e[i][3]))
	}
	return out
}

func TestProjectionByHand(t *testing.T) {
	p := &predfile.Prediction{Pred: make([][52][3]float32, 1), CamExtLast: camPose(),
		Intrinsics: [3][3]float32{{200, 0, 128}, {0, 200, 128}, {0, 0, 1}}}
	pr, err := newProjector(p)
	if err != nil {
		t.Fatal(err)
	}
	// camera point (0.1, −0.05, 0.5): u = 200·0.1/0.5 + 128 = 168, v = 200·(−0.05)/0.5 + 128 = 108.
	u, v, ok := pr.project(toWorld(camPose(), [3]float64{0.1, -0.05, 0.5}))
	if !ok || math.Abs(u-168) > 1e-3 || math.Abs(v-108) > 1e-3 {
		t.Errorf("project = (%g, %g, %v), want (168, 108)", u, v, ok)
	}
	// Behind the camera: not drawn.
	if _, _, ok := pr.project(toWorld(camPose(), [3]float64{0, 0, -1})); ok {
		t.Error("point behind the camera projected")
	}
	// A 128×128 frame with K for 256×256 (2·cx = 256): K is halved → (84, 54).
	p.FrameLast, p.FrameH, p.FrameW = make([]uint8, 128*128*3), 128, 128
	pr, _ = newProjector(p)
	u, v, _ = pr.project(toWorld(camPose(), [3]float64{0.1, -0.05, 0.5}))
	if math.Abs(u-84) > 1e-3 || math.Abs(v-54) > 1e-3 {
		t.Errorf("scaled project = (%g, %g), want (84, 54)", u, v)
	}
}

// synthClip makes a clip whose hands move on smooth arcs in front of the camera.
func synthClip(id, split string, seed uint64) *baseline.Clip {
	rng := rand.New(rand.NewPCG(seed, 1))
	const T, past = 16, 8
	e := camPose()
	c := &baseline.Clip{ID: id, Past: past, Split: split, Dataset: "synthetic",
		XYZWorld: make([][52][3]float32, T), CamExt: make([][4][4]float32, T),
		Intrinsics: [3][3]float32{{200, 0, 128}, {0, 200, 128}, {0, 0, 1}}, FrameH: 256, FrameW: 256}
	c.FrameLast = make([]uint8, 256*256*3)
	for y := range 256 {
		for x := range 256 {
			o := (y*256 + x) * 3
			c.FrameLast[o], c.FrameLast[o+1], c.FrameLast[o+2] = uint8(x/2), uint8(y/2), 90
		}
	}
	phase := rng.Float64()
	for s := range T {
		c.CamExt[s] = e
		ang := phase + 0.15*float64(s)
		for j := range 52 {
			side := 1.0
			if j >= 26 {
				side = -1
			}
			k := float64(j % 26)
			cp := [3]float64{side*(0.12+0.05*math.Cos(ang)) + 0.004*k*side, 0.05 + 0.04*math.Sin(ang) - 0.003*k, 0.5 + 0.01*float64(s)}
			c.XYZWorld[s][j] = toWorld(e, cp)
		}
	}
	return c
}

func writeRun(t *testing.T, dir string, kind baseline.Kind) {
	t.Helper()
	for i, split := range []string{"val", "test", "test"} {
		c := synthClip("clip"+string(rune('a'+i)), split, uint64(i))
		p, err := baseline.Forecast(kind, c)
		if err != nil {
			t.Fatal(err)
		}
		if err := predfile.Write(dir, c.ID, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := predfile.WriteRun(dir, predfile.Run{Model: string(kind)}); err != nil {
		t.Fatal(err)
	}
}

func TestWriteReport(t *testing.T) {
	root := t.TempDir()
	cv, st := filepath.Join(root, "cv"), filepath.Join(root, "st")
	writeRun(t, cv, baseline.ConstantVelocity)
	writeRun(t, st, baseline.Stationary)
	logPath := filepath.Join(root, "metrics.jsonl")
	log := `{"epoch":1,"step":1,"train_loss":0.5}
{"epoch":1,"step":2,"train_loss":0.3}
{"epoch":1,"val_ade":0.09,"val_fde":0.1,"val_acc":0.2}
{"epoch":2,"step":3,"train_loss":0.2}
{"epoch":2,"val_ade":0.07,"val_fde":0.08,"val_acc":0.4}
{"epoch":3,"val_ade":0.08,"val_fde":0.06,"val_acc":0.5}
{"epoch":4,"step":`
	if err := os.WriteFile(logPath, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "report")
	if d := os.Getenv("THINKJEPA_REPORT_OUT"); d != "" {
		out = d // keep the report to look at the plots
		os.RemoveAll(out)
	}
	opts := Options{Runs: []Named{{"constant-velocity", cv}, {"stationary", st}},
		Logs: []Named{{"toy", logPath}}, Out: out, Eval: eval.Config{Horizons: []int{4, 8}}}
	s, err := Write(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"results.md", "results.json", "ade_vs_horizon.png", "training_loss.png",
		"training_val_ade.png", "traj_clipa.png", "traj_clipb.png", "traj_clipc.png"} {
		if !fsutil.Exists(filepath.Join(out, f)) {
			t.Errorf("missing %s (plots: %v)", f, s.Plots)
		}
	}
	// results.json holds the same numbers eval computes directly.
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Summary
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	l, _ := eval.LoadDir(st)
	direct, _ := eval.Compute(l.Batch, eval.Options{})
	if got := back.Runs["stationary"].Result.ThinkJEPA.ADE; math.Abs(got-direct.ADE) > 1e-12 {
		t.Errorf("stationary ADE in report %g, direct %g", got, direct.ADE)
	}
	cvADE := back.Runs["constant-velocity"].Result.ThinkJEPA.ADE
	if !(cvADE < direct.ADE) {
		t.Errorf("constant velocity ADE %g not below stationary %g on smooth motion", cvADE, direct.ADE)
	}
	if sp := back.Runs["stationary"].Result.Splits; len(sp) != 2 || sp[0].Split != "val" || sp[1].Samples != 2 {
		t.Errorf("splits %+v", sp)
	}
	// Best val ADE is epoch 2 (0.07); FDE and Acc come from the same epoch.
	tr := back.Training["toy"]
	if tr.BestEpoch != 2 || tr.BestValADE != 0.07 || tr.ValFDEAtBest != 0.08 || tr.ValAccAtBest != 0.4 {
		t.Errorf("training summary %+v", tr)
	}
	md, _ := os.ReadFile(filepath.Join(out, "results.md"))
	if !strings.Contains(string(md), "| stationary | 3 | 8 |") {
		t.Errorf("results.md lacks the stationary row:\n%s", md)
	}
	// No overwrite without being asked; with it, the report is replaced.
	if _, err := Write(opts); !errors.Is(err, fsutil.ErrExists) {
		t.Errorf("second write: %v, want ErrExists", err)
	}
	opts.Overwrite = true
	opts.Logs = nil
	if _, err := Write(opts); err != nil {
		t.Fatal(err)
	}
	if fsutil.Exists(filepath.Join(out, "training_loss.png")) {
		t.Error("overwritten report kept a stale plot")
	}
	ents, _ := os.ReadDir(filepath.Dir(out))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("leftover temporary %s", e.Name())
		}
	}
}

func TestMetricsLogErrors(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.jsonl")
	os.WriteFile(p, []byte("{\"epoch\":1}\nnot json\n{\"epoch\":2}\n"), 0o644)
	if _, err := ReadMetricsLog(p); err == nil || !strings.Contains(err.Error(), "m.jsonl:2") {
		t.Errorf("malformed middle line: %v", err)
	}
	ep, v := EpochSeries([]LogLine{{"epoch": 2, "x": 4}, {"epoch": 1, "x": 1}, {"epoch": 1, "x": 3}, {"x": 9}}, "x")
	if len(ep) != 2 || ep[0] != 1 || v[0] != 2 || v[1] != 4 {
		t.Errorf("EpochSeries %v %v", ep, v)
	}
}
