package train

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/eval"
	"github.com/thinkjepa/thinkjepa/internal/npy"
	"github.com/thinkjepa/thinkjepa/nn/cpu"
)

// readScores parses a scores.csv into its columns.
func readScores(t *testing.T, path string) (score []float64, valid []bool, gt []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if lines[0] != "latent_frame,source_frame,score,valid,gt" {
		t.Fatalf("%s header %q", path, lines[0])
	}
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		v, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			t.Fatalf("%s: %q", path, l)
		}
		score = append(score, v)
		valid = append(valid, f[3] == "1")
		gt = append(gt, f[4])
	}
	return score, valid, gt
}

// The stage's window scores equal the latent "L2" metric (model-spec §4.9) of the
// ordinary forward pass on the same clips: one window per toy clip (4 past + 4 future of
// 8 frames), so frames 4..7 carry that clip's mean ‖pred − target‖₂ and frames 0..3 none.
// Labels align by the features' raw frame indices; unlabelled clips are scored and listed;
// shards partition the clips with identical per-clip output; a bad label file fails
// naming the file.
func TestAnomalyStage(t *testing.T) {
	dir := t.TempDir()
	rc := toyRun(t, dir, ModeThinkJEPA, 1)
	e := cpu.New()
	if err := Train(e, rc, true, false); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(rc.Out, BestName)
	labels := filepath.Join(dir, "labels")
	os.MkdirAll(filepath.Join(labels, "sub"), 0o755)
	os.WriteFile(filepath.Join(labels, "toy000.txt"), []byte("0 0 0 0 0 1 1 0\n"), 0o644)
	os.WriteFile(filepath.Join(labels, "sub", "toy001_L2_nf8_res2_new2_s0of1.json"), []byte(`{"labels": [0,0,0,0,0,0,0,0]}`), 0o644)
	out := filepath.Join(dir, "anom")
	opts := AnomalyOptions{Ckpt: ckpt, Features: rc.Val.Features, Thinker: rc.Val.Thinker, Labels: labels, Out: out,
		NumShards: 1, Threshold: 1, FPR: 0.25, BatchSize: 3, Embed: "abs_error"}
	if err := Anomaly(e, opts); err != nil {
		t.Fatal(err)
	}
	m, _, err := LoadModel(e, ckpt)
	if err != nil {
		t.Fatal(err)
	}
	val, err := OpenFileSet(*rc.Val, rc.Data)
	if err != nil {
		t.Fatal(err)
	}
	if val.Len() != 8 {
		t.Fatalf("%d val clips", val.Len())
	}
	for i := 0; i < val.Len(); i++ {
		b, err := val.Batch([]int{i})
		if err != nil {
			t.Fatal(err)
		}
		_, lat, err := m.Predict(e, b)
		if err != nil {
			t.Fatal(err)
		}
		want, err := eval.Latent(lat, b.Target, b.D)
		if err != nil {
			t.Fatal(err)
		}
		id := val.ClipID(i)
		score, valid, gt := readScores(t, filepath.Join(out, AnomalyClipsDir, id, AnomalyScores))
		if len(score) != 8 {
			t.Fatalf("%s: %d rows, want 8", id, len(score))
		}
		for f := 0; f < 8; f++ {
			if valid[f] != (f >= 4) {
				t.Errorf("%s frame %d: valid %v", id, f, valid[f])
			}
			if f >= 4 && math.Abs(score[f]-want.L2) > 1e-5*math.Max(1, want.L2) {
				t.Errorf("%s frame %d: score %v, latent L2 of the forward pass %v", id, f, score[f], want.L2)
			}
		}
		wantGT := "|||||||"
		switch id {
		case "toy000":
			wantGT = "0|0|0|0|0|1|1|0"
		case "toy001":
			wantGT = "0|0|0|0|0|0|0|0"
		}
		if got := strings.Join(gt, "|"); got != wantGT {
			t.Errorf("%s gt column %q, want %q", id, got, wantGT)
		}
		if _, err := os.Stat(filepath.Join(out, AnomalyClipsDir, id, AnomalyPlot)); err != nil {
			t.Error(err)
		}
	}
	var sum struct {
		Labelled    int      `json:"labelled_clips"`
		Unlabelled  []string `json:"unlabelled_clips"`
		Frames      int      `json:"frames"`
		Anomalous   int      `json:"anomalous_frames"`
		ROCAUC      *float64 `json:"roc_auc"`
		Calibration string   `json:"calibration"`
		Mode        string   `json:"predictor_mode"`
		Windows     struct{ Past, Future, Stride int }
	}
	b, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Labelled != 2 || len(sum.Unlabelled) != 6 || sum.Frames != 8 || sum.Anomalous != 2 || sum.ROCAUC == nil ||
		sum.Calibration != "normal clips" || sum.Windows.Past != 4 || sum.Windows.Future != 4 || sum.Windows.Stride != 4 ||
		!strings.HasPrefix(sum.Mode, "eval") {
		t.Errorf("summary: %s", b)
	}
	if _, err := os.Stat(filepath.Join(out, "summary.md")); err != nil {
		t.Error(err)
	}
	// The window embedding: one row per window (one per clip here), labelled by any
	// anomalous frame in the window's target span (toy000 frames 5, 6), −1 unlabelled.
	if _, err := os.Stat(filepath.Join(out, "embedding.png")); err != nil {
		t.Error(err)
	}
	emb, err := os.ReadFile(filepath.Join(out, "embedding.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(string(emb)), "\n")
	if len(rows) != 9 || !strings.HasPrefix(rows[1], "toy000,0,1,") || !strings.HasPrefix(rows[2], "toy001,0,0,") || !strings.HasPrefix(rows[3], "toy002,0,-1,") {
		t.Errorf("embedding.csv:\n%s", emb)
	}

	// Shards: each clip once, byte-identical to the unsharded run (windows of one clip
	// are batched together, whatever the shard).
	sharded := filepath.Join(dir, "sharded")
	for i := 0; i < 2; i++ {
		o := opts
		o.Out, o.Shard, o.NumShards = sharded, i, 2
		if err := Anomaly(e, o); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(sharded, AnomalyClipsDir))
	if len(ents) != 8 {
		t.Errorf("shards wrote %d clips, want 8", len(ents))
	}
	for _, en := range ents {
		a, _ := os.ReadFile(filepath.Join(out, AnomalyClipsDir, en.Name(), AnomalyScores))
		c, _ := os.ReadFile(filepath.Join(sharded, AnomalyClipsDir, en.Name(), AnomalyScores))
		if string(a) != string(c) {
			t.Errorf("%s: sharded scores differ", en.Name())
		}
	}
	for _, n := range []string{"summary.shard-0-of-2.json", "summary.shard-1-of-2.md"} {
		if _, err := os.Stat(filepath.Join(sharded, n)); err != nil {
			t.Error(err)
		}
	}

	// A label file that cannot be read stops the run and names the file.
	bad := filepath.Join(labels, "toy002.csv")
	os.WriteFile(bad, []byte("frame,label\n"), 0o644)
	err = Anomaly(e, AnomalyOptions{Ckpt: ckpt, Features: rc.Val.Features, Thinker: rc.Val.Thinker, Labels: labels,
		Out: filepath.Join(dir, "bad"), NumShards: 1})
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad label file: %v", err)
	}
	// A guided model without thinker caches is refused before any work.
	err = Anomaly(e, AnomalyOptions{Ckpt: ckpt, Features: rc.Val.Features, Out: filepath.Join(dir, "x"), NumShards: 1})
	if err == nil || !strings.Contains(err.Error(), "--thinker") {
		t.Errorf("guided model without thinker: %v", err)
	}
}

// task latent_anomaly: one sample per window, the head untouched, the predictor trained,
// the best checkpoint the epoch of the lowest validation latent MSE; the checkpoint then
// scores with its own windows.
func TestLatentAnomalyTask(t *testing.T) {
	dir := t.TempDir()
	rc := latentAnomalyRun(t, dir, ModeThinkJEPA, 3)
	if rc.Layout != LayoutFuture || !rc.Loop.LatentOnly || rc.Data.Windows.Past != 3 {
		t.Fatalf("parsed: layout %s latent-only %v windows %+v", rc.Layout, rc.Loop.LatentOnly, rc.Data.Windows)
	}
	fs, err := OpenFileSet(rc.Train, rc.Data)
	if err != nil {
		t.Fatal(err)
	}
	if fs.Len() != 24*4 { // T=8: starts 0..3 for 3+2 frames, stride 1
		t.Errorf("%d window samples, want 96", fs.Len())
	}
	b, err := fs.Batch([]int{1})
	if err != nil {
		t.Fatal(err)
	}
	if b.Tc != 3 || b.Tf != 2 {
		t.Errorf("window batch %d+%d frames, want 3+2", b.Tc, b.Tf)
	}
	e := cpu.New()
	if err := Train(e, rc, true, false); err != nil {
		t.Fatal(err)
	}
	lines, err := os.ReadFile(filepath.Join(rc.Out, MetricsName))
	if err != nil {
		t.Fatal(err)
	}
	best, bestEp := math.Inf(1), -1
	for i, l := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
		var ml struct {
			ValLatent float64 `json:"val_latent_loss"`
		}
		if err := json.Unmarshal([]byte(l), &ml); err != nil {
			t.Fatal(err)
		}
		if ml.ValLatent < best {
			best, bestEp = ml.ValLatent, i
		}
	}
	got, _, err := LoadModel(e, filepath.Join(rc.Out, BestName))
	if err != nil {
		t.Fatal(err)
	}
	init, err := BuildModel(e, rc, Dims{VLMDim: 8})
	if err != nil {
		t.Fatal(err)
	}
	gh, ih := got.Head.Params.Host(e), init.Head.Params.Host(e)
	for name, v := range ih {
		if !slices.Equal(gh[name], v) {
			t.Errorf("head parameter %s changed: the latent_anomaly task trains the predictor only", name)
		}
	}
	gp, ip := got.Pred.Params().Host(e), init.Pred.Params().Host(e)
	changed := 0
	for name, v := range ip {
		if !slices.Equal(gp[name], v) {
			changed++
		}
	}
	if changed == 0 {
		t.Error("no predictor parameter changed")
	}
	val, err := OpenFileSet(*rc.Val, rc.Data)
	if err != nil {
		t.Fatal(err)
	}
	_, lat, err := ValidateWithLatent(e, got, val, 4)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(lat-best) > 1e-6*math.Max(1, best) {
		t.Errorf("best checkpoint has validation latent MSE %v; the lowest logged was %v (epoch %d)", lat, best, bestEp)
	}
	out := filepath.Join(dir, "anom")
	if err := Anomaly(e, AnomalyOptions{Ckpt: filepath.Join(rc.Out, BestName), Features: rc.Val.Features, Thinker: rc.Val.Thinker,
		Out: out, NumShards: 1, Threshold: 1, FPR: 0.1}); err != nil {
		t.Fatal(err)
	}
	_, valid, _ := readScores(t, filepath.Join(out, AnomalyClipsDir, "toy000", AnomalyScores))
	// windows of 3+2 at stride 2 (= future): starts 0, 2 → frames 3..6 scored
	for f, v := range valid {
		if v != (f >= 3 && f <= 6) {
			t.Errorf("frame %d valid %v", f, v)
		}
	}
	for _, bad := range []string{`"anomaly": {"past": 0, "future": 2}`, `"layout": "track"`, `"layout": "joint", "anomaly": {"past": 3, "future": 2}`, `"sample": {"recursive": 2}`} {
		if _, err := ParseRunConfig([]byte(`{"task": "latent_anomaly", ` + bad + `}`)); err == nil {
			t.Errorf("latent_anomaly with %s accepted", bad)
		}
	}
	if _, err := ParseRunConfig([]byte(`{"task": "anomaly"}`)); err == nil || !strings.Contains(err.Error(), "unknown task") {
		t.Errorf("unknown task: %v", err)
	}
	if _, err := ParseRunConfig([]byte(`{"anomaly": {"past": 3, "future": 2}}`)); err == nil {
		t.Error("anomaly windows without the task accepted")
	}
}

// Upstream's combined caches (VLM features + vjepa_feats in one archive, fp16 or its
// bf16-as-uint16 mode) serve the same batches as our split feature files.
func TestCombinedCacheBatches(t *testing.T) {
	dir := t.TempDir()
	cfg := writeToySet(t, filepath.Join(dir, "toy"), 3, 5)
	for _, bf16 := range []bool{false, true} {
		comb := filepath.Join(dir, fmt.Sprintf("combined-%v", bf16))
		os.MkdirAll(comb, 0o755)
		ents, _ := os.ReadDir(cfg.Thinker)
		for _, en := range ents {
			w := npy.NewNPZWriter()
			tz, err := npy.OpenNPZ(filepath.Join(cfg.Thinker, en.Name()))
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range tz.Ordered() {
				a, err := tz.Get(k)
				if err != nil {
					t.Fatal(err)
				}
				w.Add(k, a)
			}
			tz.Close()
			fz, err := npy.OpenNPZ(filepath.Join(cfg.Features, en.Name()))
			if err != nil {
				t.Fatal(err)
			}
			in, s, _ := fz.Float32s("vjepa_input_feats", -1, -1, -1)
			tg, s2, _ := fz.Float32s("vjepa_target_feats", -1, -1, -1)
			fz.Close()
			all := append(in, tg...)
			shape := []int{s[0] + s2[0], s[1], s[2]}
			if bf16 {
				raw := make([]byte, 2*len(all))
				for i, v := range all {
					b := math.Float32bits(v) >> 16
					raw[2*i], raw[2*i+1] = byte(b), byte(b>>8)
				}
				w.Add("vjepa_feats", &npy.Array{DType: npy.Uint16, Shape: shape, Raw: raw})
			} else {
				w.Add("vjepa_feats", npy.FromFloat32AsHalf(all, shape...))
			}
			w.Add("frame_indices", npy.FromInt64([]int64{0, 2, 4, 6}, 4))
			if err := w.WriteFile(filepath.Join(comb, en.Name())); err != nil {
				t.Fatal(err)
			}
		}
		ref, err := OpenFileSet(cfg, SampleConfig{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := OpenFileSet(DataConfig{Clips: cfg.Clips, Thinker: comb}, SampleConfig{})
		if err != nil {
			t.Fatal(err)
		}
		rb, err := ref.Batch([]int{0, 1, 2})
		if err != nil {
			t.Fatal(err)
		}
		gb, err := got.Batch([]int{0, 1, 2})
		if err != nil {
			t.Fatalf("bf16 %v: %v", bf16, err)
		}
		tol := 0.0
		if bf16 {
			tol = 1.0 / 128 // bf16 keeps 8 significant bits; truncation loses < 2⁻⁷ relative
		}
		for name, pair := range map[string][2][]float32{"ctx": {rb.Ctx, gb.Ctx}, "target": {rb.Target, gb.Target}, "vlm_old": {rb.OldX, gb.OldX}} {
			if len(pair[0]) != len(pair[1]) {
				t.Fatalf("bf16 %v %s: %d vs %d values", bf16, name, len(pair[0]), len(pair[1]))
			}
			for i := range pair[0] {
				a, b := float64(pair[0][i]), float64(pair[1][i])
				if math.Abs(a-b) > tol*math.Abs(a)+1e-30 {
					t.Fatalf("bf16 %v %s[%d]: %v vs %v", bf16, name, i, b, a)
				}
			}
		}
	}
}
