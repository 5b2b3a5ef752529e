package train

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/thinkjepa/thinkjepa/data"
	"github.com/thinkjepa/thinkjepa/eval"
	"github.com/thinkjepa/thinkjepa/eval/predfile"
	"github.com/thinkjepa/thinkjepa/internal/npy"
	"github.com/thinkjepa/thinkjepa/nn/cpu"
	"github.com/thinkjepa/thinkjepa/thinker"
)

// writeToySet writes n clips with their feature and thinker files: hands moving at a
// constant per-clip velocity; latents linearly encode the hands' camera-frame positions
// (last observed camera) and velocity; VLM streams encode the velocity.
func writeToySet(t testing.TB, dir string, n int, seed uint64) DataConfig {
	return writeToySetSized(t, dir, n, seed, toySize{T: 8, P: 4, D: 16, L: 2, Dv: 8})
}

// toySize sizes a toy set: frames (half observed), tokens per frame, channels, VLM
// layers and hidden size.
type toySize struct{ T, P, D, L, Dv int }

func writeToySetSized(t testing.TB, dir string, n int, seed uint64, sz toySize) DataConfig {
	t.Helper()
	T, P, D, L, Dv := sz.T, sz.P, sz.D, sz.L, sz.Dv
	past := T / 2
	rng := rand.New(rand.NewPCG(seed, 77))
	fixed := rand.New(rand.NewPCG(1234, 5)) // the "encoder": shared by every split
	enc := make([]float64, P*D*6)
	for i := range enc {
		enc[i] = fixed.NormFloat64()
	}
	vlmEnc := make([]float64, Dv*3)
	for i := range vlmEnc {
		vlmEnc[i] = fixed.NormFloat64()
	}
	offs := make([]float64, data.NumJoints*3)
	for i := range offs {
		offs[i] = 0.05 * fixed.NormFloat64()
	}
	cfg := DataConfig{Clips: filepath.Join(dir, "clips"), Features: filepath.Join(dir, "feats"), Thinker: filepath.Join(dir, "thinker")}
	for _, d := range []string{cfg.Clips, cfg.Features, cfg.Thinker} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for c := 0; c < n; c++ {
		var base, vel [3]float64
		for k := range base {
			base[k] = 0.3 * rng.NormFloat64()
			vel[k] = 0.04 * rng.NormFloat64()
		}
		th := rng.Float64() * 2 * math.Pi
		tr := [3]float64{0.2 * rng.NormFloat64(), 0.2 * rng.NormFloat64(), 0.2 * rng.NormFloat64()}
		ext := []float32{float32(math.Cos(th)), -float32(math.Sin(th)), 0, float32(tr[0]),
			float32(math.Sin(th)), float32(math.Cos(th)), 0, float32(tr[1]), 0, 0, 1, float32(tr[2]), 0, 0, 0, 1}
		clip := &data.Clip{T: T, H: 2, W: 2, Past: past, Frames: make([]uint8, T*2*2*3), Episode: fmt.Sprintf("toy%03d", c),
			Dataset: "toy", Split: "train", Task: "toy", Instruction: "move the hands"}
		lat := make([][6]float64, T)
		for f := 0; f < T; f++ {
			clip.CamExt = append(clip.CamExt, ext...)
			clip.FrameIndices = append(clip.FrameIndices, f)
			var pos [3]float64
			for k := range pos {
				pos[k] = base[k] + vel[k]*float64(f)
			}
			for j := 0; j < data.NumJoints; j++ {
				for k := 0; k < 3; k++ {
					clip.XYZWorld = append(clip.XYZWorld, float32(pos[k]+offs[j*3+k]))
				}
			}
			// camera-frame position: Rᵀ(pos − tr)
			for k := 0; k < 3; k++ {
				var s float64
				for r := 0; r < 3; r++ {
					s += float64(ext[r*4+k]) * (pos[r] - tr[r])
				}
				lat[f][k] = s
				lat[f][3+k] = 10 * vel[k]
			}
		}
		clip.XYZCam = make([]float32, len(clip.XYZWorld))
		data.WorldToCam(clip.CamExt, clip.XYZWorld, clip.XYZCam)
		clip.Conf = make([]float32, T*data.NumJoints)
		clip.Valid = make([]bool, T*data.NumJoints)
		for i := range clip.Conf {
			clip.Conf[i], clip.Valid[i] = 1, true
		}
		if err := clip.WriteNPZ(filepath.Join(cfg.Clips, clip.Episode+".npz")); err != nil {
			t.Fatal(err)
		}
		// Tubelets of 2 frames: mean of the pair.
		feats := func(f0 int) []float32 {
			out := make([]float32, 0, past/2*P*D)
			for tb := 0; tb < past/2; tb++ {
				for i := 0; i < P*D; i++ {
					var s float64
					for k := 0; k < 6; k++ {
						s += enc[i*6+k] * 0.5 * (lat[f0+2*tb][k] + lat[f0+2*tb+1][k])
					}
					out = append(out, float32(s+0.01*rng.NormFloat64()))
				}
			}
			return out
		}
		w := npy.NewNPZWriter()
		w.Add("vjepa_input_feats", npy.FromFloat32AsHalf(feats(0), past/2, P, D))
		w.Add("vjepa_target_feats", npy.FromFloat32AsHalf(feats(past), past/2, P, D))
		// source frames, as `encode --split-clips` writes them (the anomaly stage reads them)
		raw := make([]int32, T)
		for f := range raw {
			raw[f] = int32(f)
		}
		w.Add("past_raw_indices", npy.FromInt32(raw[:past], past))
		w.Add("target_raw_indices", npy.FromInt32(raw[past:], T-past))
		if err := w.WriteFile(filepath.Join(cfg.Features, clip.Episode+".npz")); err != nil {
			t.Fatal(err)
		}
		stream := func(S int) []float32 {
			out := make([]float32, 0, L*S*Dv)
			for i := 0; i < L*S; i++ {
				for d := 0; d < Dv; d++ {
					var s float64
					for k := 0; k < 3; k++ {
						s += vlmEnc[d*3+k] * 10 * vel[k]
					}
					out = append(out, float32(s+0.1*rng.NormFloat64()))
				}
			}
			return out
		}
		so := 3 + c%3 // ragged prompt lengths
		layers := make([]int, L)
		for l := range layers {
			layers[l] = 4 * l
		}
		tc := &thinker.Cache{Layers: layers, L: L, So: so, Sn: 2, Dv: Dv, Old: stream(so), New: stream(2),
			TokenIDs: []int64{1, 2, 3}, ValidLen: so, Provenance: map[string]string{}}
		if err := tc.Write(filepath.Join(cfg.Thinker, clip.Episode+".npz")); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

func toyRun(t testing.TB, dir string, mode Mode, epochs int) *RunConfig {
	return toyRunWith(t, dir, mode, epochs, "")
}

// toyRunWith is toyRun with extra top-level run.json fields (`"layout": "track",`).
func toyRunWith(t testing.TB, dir string, mode Mode, epochs int, extra string) *RunConfig {
	trainCfg := writeToySet(t, filepath.Join(dir, "train"), 24, 1)
	valCfg := writeToySet(t, filepath.Join(dir, "val"), 8, 2)
	raw := fmt.Sprintf(`{`+extra+`"mode": %q, "out": %q, "train": %s, "val": %s,
		"predictor": {"predictor_embed_dim": 24, "depth": 2, "num_heads": 2, "mlp_ratio": 2, "causal": true},
		"film": {"hidden": 16}, "head": {"hidden": 32, "heads": 2},
		"loop": {"seed": 3, "epochs": %d, "batch_size": 4, "head_lr": 1e-2, "pred_lr": 1e-3, "clip_norm": 5}}`,
		mode, filepath.Join(dir, "run"), js(t, trainCfg), js(t, valCfg), epochs)
	rc, err := ParseRunConfig([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

func js(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// End to end on files: validation ADE falls across epochs, checkpoints and metrics are
// written, and the best checkpoint reloads to the logged validation ADE.
func TestTrainOnFilesReducesADE(t *testing.T) {
	dir := t.TempDir()
	rc := toyRun(t, dir, ModeThinkJEPA, 12)
	e := cpu.New()
	if err := Train(e, rc, true, false); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(rc.Out, MetricsName))
	if err != nil {
		t.Fatal(err)
	}
	lines := readMetrics(t, raw)
	if len(lines) != 12 {
		t.Fatalf("%d metrics lines", len(lines))
	}
	first, best := lines[0].ValADE, math.Inf(1)
	for _, l := range lines {
		t.Logf("epoch %d: loss %.4f traj %.4f lat %.4f val ADE %.4f FDE %.4f Acc %.3f lr %g/%g",
			l.Epoch, l.TrainLoss, l.TrainTrajLoss, l.TrainLatentLoss, l.ValADE, l.ValFDE, l.ValAcc, l.LRHead, l.LRPred)
		best = math.Min(best, l.ValADE)
	}
	if !(best < 0.8*first) {
		t.Errorf("validation ADE did not fall: first %.4f, best %.4f", first, best)
	}
	// The best checkpoint reproduces its logged ADE.
	m, rc2, err := LoadModel(e, filepath.Join(rc.Out, BestName))
	if err != nil {
		t.Fatal(err)
	}
	val, err := OpenFileSet(*rc2.Val, rc2.Data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Validate(e, m, val, 4)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got.ADE-best) > 1e-6 {
		t.Errorf("best checkpoint scores ADE %.6f, log says %.6f", got.ADE, best)
	}
	// A second run into the same folder without -resume is refused.
	if err := Train(e, rc, false, false); err == nil {
		t.Error("existing run overwritten without -overwrite")
	}
}

func TestFileSetErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := writeToySet(t, dir, 2, 1)
	// A thinker cache with a NaN is reported with its file and key.
	w := npy.NewNPZWriter()
	bad := make([]float32, 2*3*8)
	bad[5] = float32(math.NaN())
	w.Add("vlm_old", npy.FromFloat32(bad, 2, 3, 8))
	w.Add("vlm_new", npy.FromFloat32(make([]float32, 2*2*8), 2, 2, 8))
	if err := w.WriteFile(filepath.Join(cfg.Thinker, "toy000.npz")); err != nil {
		t.Fatal(err)
	}
	fs, err := OpenFileSet(cfg, SampleConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Batch([]int{0}); err == nil || !bytes.Contains([]byte(err.Error()), []byte(`key "vlm_old": value NaN`)) {
		t.Errorf("NaN cache: %v", err)
	}
	// Capacity overflow is an error unless truncation (v1) is asked for.
	fs, _ = OpenFileSet(cfg, SampleConfig{OldCapacity: 2})
	if _, err := fs.Batch([]int{1}); err == nil {
		t.Error("over-capacity vlm_old accepted")
	}
	fs, _ = OpenFileSet(cfg, SampleConfig{OldCapacity: 2, Truncate: true})
	if b, err := fs.Batch([]int{1}); err != nil || b.So != 2 {
		t.Errorf("truncation: %v", err)
	}
	// A missing feature file fails at open, naming the clip.
	if err := os.Remove(filepath.Join(cfg.Features, "toy001.npz")); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFileSet(cfg, SampleConfig{}); err == nil || !bytes.Contains([]byte(err.Error()), []byte("toy001")) {
		t.Errorf("missing features: %v", err)
	}
}

// The recursive configuration makes 4+4-frame windows... here 2+2 over 8 frames:
// windows start at 0, 2, 4.
func TestRecursiveWindows(t *testing.T) {
	cfg := writeToySet(t, t.TempDir(), 1, 1)
	fs, err := OpenFileSet(cfg, SampleConfig{Recursive: 2})
	if err != nil {
		t.Fatal(err)
	}
	if fs.Len() != 3 {
		t.Fatalf("%d windows, want 3", fs.Len())
	}
	b, err := fs.Batch([]int{2})
	if err != nil {
		t.Fatal(err)
	}
	if b.Tc != 2 || b.Tf != 2 {
		t.Fatalf("window %d+%d", b.Tc, b.Tf)
	}
}

// Forecast writes one prediction per clip, shards partition the clips, reruns skip
// finished clips, and the written predictions score like Validate.
func TestForecastShardsAndSkips(t *testing.T) {
	dir := t.TempDir()
	rc := toyRun(t, dir, ModeThinkJEPA, 2)
	e := cpu.New()
	if err := Train(e, rc, true, false); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(rc.Out, BestName)
	out := filepath.Join(dir, "pred")
	for i := 0; i < 2; i++ {
		if err := Forecast(e, ForecastOptions{Ckpt: ckpt, Data: *rc.Val, Out: out, Shard: i, NumShards: 2, BatchSize: 3}); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := predfile.IDs(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 8 {
		t.Fatalf("%d predictions, want 8", len(ids))
	}
	st0, _ := os.Stat(filepath.Join(out, ids[0]+".npz"))
	if err := Forecast(e, ForecastOptions{Ckpt: ckpt, Data: *rc.Val, Out: out, Shard: 0, NumShards: 1}); err != nil {
		t.Fatal(err)
	}
	st1, _ := os.Stat(filepath.Join(out, ids[0]+".npz"))
	if !st0.ModTime().Equal(st1.ModTime()) {
		t.Error("a finished clip was forecast again")
	}
	preds, err := predfile.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var all eval.Batch
	for _, p := range preds {
		all.B++
		all.T, all.J = len(p.Pred), predfile.NumJoints
		for t := range p.Pred {
			for j := 0; j < predfile.NumJoints; j++ {
				all.Pred = append(all.Pred, p.Pred[t][j][:]...)
				all.GT = append(all.GT, p.GT[t][j][:]...)
			}
		}
	}
	got, err := eval.Compute(all, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := LoadModel(e, ckpt)
	if err != nil {
		t.Fatal(err)
	}
	val, _ := OpenFileSet(*rc.Val, rc.Data)
	want, err := Validate(e, m, val, 4)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got.ADE-want.ADE) > 1e-5 {
		t.Errorf("predictions score ADE %.6f, validation %.6f", got.ADE, want.ADE)
	}
}

// A recursive (2+2 window) model rolls out over the toy clips' 8 frames.
func TestRecursiveTrainAndForecast(t *testing.T) {
	dir := t.TempDir()
	rc := toyRun(t, dir, ModeThinkJEPA, 2)
	rc.Data.Recursive = 2
	e := cpu.New()
	if err := Train(e, rc, true, false); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "pred")
	err := Forecast(e, ForecastOptions{Ckpt: filepath.Join(rc.Out, LatestName), Data: *rc.Val, Out: out, NumShards: 1, Horizons: []int{2, 4, 6}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := predfile.Read(out, "toy000")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Pred) != 6 || len(p.GT) != 6 {
		t.Fatalf("rollout has %d/%d steps, want 6", len(p.Pred), len(p.GT))
	}
	// Too long a horizon is an error, not a silent truncation.
	err = Forecast(e, ForecastOptions{Ckpt: filepath.Join(rc.Out, LatestName), Data: *rc.Val, Out: filepath.Join(dir, "p2"), NumShards: 1, Horizons: []int{8}})
	if err == nil {
		t.Error("horizon beyond the clip accepted")
	}
}

// TestDemoScale trains ThinkJEPA and JEPA-only at the demo's sizes (48 clips, 16 frames,
// P = 16, width 64). Opt-in (THINKJEPA_DEMO_SCALE=1): it takes minutes on 2 cores.
func TestDemoScale(t *testing.T) {
	if os.Getenv("THINKJEPA_DEMO_SCALE") == "" {
		t.Skip("set THINKJEPA_DEMO_SCALE=1 to run")
	}
	dir := t.TempDir()
	sz := toySize{T: 16, P: 16, D: 64, L: 4, Dv: 32}
	trainCfg := writeToySetSized(t, filepath.Join(dir, "train"), 40, 1, sz)
	valCfg := writeToySetSized(t, filepath.Join(dir, "val"), 8, 2, sz)
	for _, mode := range []Mode{ModeThinkJEPA, ModeJEPAOnly} {
		raw := fmt.Sprintf(`{"mode": %q, "out": %q, "train": %s, "val": %s,
			"predictor": {"predictor_embed_dim": 64, "depth": 4, "num_heads": 4, "mlp_ratio": 2, "causal": true},
			"film": {"hidden": 64}, "head": {"hidden": 64, "heads": 4},
			"loop": {"seed": 42, "epochs": 12, "batch_size": 4, "head_lr": 1e-2, "pred_lr": 1e-3, "clip_norm": 5}}`,
			mode, filepath.Join(dir, string(mode)), js(t, trainCfg), js(t, valCfg))
		rc, err := ParseRunConfig([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		if err := Train(cpu.New(), rc, true, false); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(rc.Out, MetricsName))
		for _, l := range readMetrics(t, b) {
			t.Logf("%s epoch %d: loss %.4f (traj %.4f lat %.4f) val ADE %.4f FDE %.4f Acc %.3f t=%.1fs",
				mode, l.Epoch, l.TrainLoss, l.TrainTrajLoss, l.TrainLatentLoss, l.ValADE, l.ValFDE, l.ValAcc, l.TimeS)
		}
		t.Logf("%s: %.1fs", mode, time.Since(t0).Seconds())
	}
}

// TestWriteToyFiles writes the toy set to $THINKJEPA_TOY_DIR (opt-in) so the CLI can be
// tried by hand: thinkjepa train --config DIR/run.json.
func TestWriteToyFiles(t *testing.T) {
	dir := os.Getenv("THINKJEPA_TOY_DIR")
	if dir == "" {
		t.Skip("set THINKJEPA_TOY_DIR to write the toy set")
	}
	rc := toyRun(t, dir, ModeThinkJEPA, 6)
	b, err := json.MarshalIndent(rc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "run.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
