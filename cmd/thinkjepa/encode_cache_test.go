package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thinkjepa/thinkjepa/anomaly"
	"github.com/thinkjepa/thinkjepa/data"
	"github.com/thinkjepa/thinkjepa/eval/predfile"
	"github.com/thinkjepa/thinkjepa/internal/npy"
	"github.com/thinkjepa/thinkjepa/thinker"
	"github.com/thinkjepa/thinkjepa/train"
	"github.com/thinkjepa/thinkjepa/weights"
)

// tinyEncoder saves the reference's released-layout tiny encoder (img 12, patch 4,
// tubelet 2, D 32: 9 tokens per frame) as a thinkjepa checkpoint.
func tinyEncoder(t *testing.T, dir string) string {
	t.Helper()
	golden := filepath.Join("..", "..", "testdata", "golden", "released_tiny")
	cfgAll, err := os.ReadFile(filepath.Join(golden, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(cfgAll, &top); err != nil {
		t.Fatal(err)
	}
	ck, _, err := weights.Import(filepath.Join(golden, "vjepa2_tiny.pt"), weights.ImportOptions{Config: top["encoder"]})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "enc.safetensors")
	if err := ck.Save(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeTinyClip writes an 8-frame 12×12 clip (past 4) with random frames and hands, its
// source frames 3, 8, 13, ….
func writeTinyClip(t *testing.T, path, id string, seed uint64) *data.Clip {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	T := 8
	c := &data.Clip{T: T, H: 12, W: 12, Past: 4, Episode: id, Dataset: "toy", Split: "train", Task: "toy", Instruction: "pick up the cup"}
	c.Frames = make([]uint8, T*12*12*3)
	for i := range c.Frames {
		c.Frames[i] = uint8(rng.IntN(256))
	}
	for f := 0; f < T; f++ {
		c.FrameIndices = append(c.FrameIndices, 3+5*f)
		c.CamExt = append(c.CamExt, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1)
		for j := 0; j < data.NumJoints*3; j++ {
			c.XYZWorld = append(c.XYZWorld, float32(0.1*rng.NormFloat64()+0.01*float64(f)))
		}
	}
	c.XYZCam = slices.Clone(c.XYZWorld)
	c.Conf = make([]float32, T*data.NumJoints)
	c.Valid = make([]bool, T*data.NumJoints)
	for i := range c.Conf {
		c.Conf[i], c.Valid[i] = 1, true
	}
	c.Intrinsics = [9]float32{12, 0, 6, 0, 12, 6, 0, 0, 1}
	if err := c.WriteNPZ(path); err != nil {
		t.Fatal(err)
	}
	return c
}

type zmember struct {
	name   string
	arr    *npy.Array
	deflat bool
}

// writeZip writes an .npz the way np.savez_compressed does (deflated members) where asked.
func writeZip(t *testing.T, path string, ms []zmember) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range ms {
		method := zip.Store
		if m.deflat {
			method = zip.Deflate
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: m.name + ".npy", Method: method, Modified: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		if err := npy.Write(w, m.arr); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func vlmVals(n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 9))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// qwenCache is a VLM cache as upstream's Qwen extractor writes it (v1 keys, compressed,
// its own nframes_used 32 and total_frames 0).
func qwenCache(seed uint64, old []float32) []zmember {
	if old == nil {
		old = vlmVals(2*5*8, seed)
	}
	return []zmember{
		{"vlm_old", npy.FromFloat32AsHalf(old, 2, 5, 8), true},
		{"vlm_new", npy.FromFloat32AsHalf(vlmVals(2*3*8, seed+100), 2, 3, 8), true},
		{"token_ids", npy.FromInt32([]int32{11, 12, 13, 14}, 4), false},
		{"input_ids", npy.FromInt32([]int32{1, 2, 3, 4, 5}, 5), true},
		{"input_valid_len", npy.FromInt32([]int32{5}), false},
		{"layers", npy.FromInt32([]int32{0, 27}, 2), false},
		{"text", npy.FromString("<think> The hand picks up"), true},
		{"nframes_used", npy.FromInt32([]int32{32}), false},
		{"total_frames", npy.FromInt32([]int32{0}), false},
	}
}

// cacheFixture: clips/ep_a, clips/ep_b; caches/ep_a_L8_nf32_res256_new16_s0of1.npz
// (upstream's Qwen extractor layout and name) and caches/ep_b.npz (our v2 VLM cache);
// feats/ from `encode --split-clips`.
type cacheFixture struct {
	dir, weights, clips, caches, feats string
	clip                               map[string]*data.Clip
	cacheOf                            map[string]string
}

func newCacheFixture(t *testing.T) *cacheFixture {
	t.Helper()
	dir := t.TempDir()
	f := &cacheFixture{dir: dir, weights: tinyEncoder(t, dir), clips: filepath.Join(dir, "clips"), caches: filepath.Join(dir, "caches"),
		feats: filepath.Join(dir, "feats"), clip: map[string]*data.Clip{}}
	os.MkdirAll(f.clips, 0o755)
	os.MkdirAll(f.caches, 0o755)
	for i, id := range []string{"ep_a", "ep_b"} {
		f.clip[id] = writeTinyClip(t, filepath.Join(f.clips, id+".npz"), id, uint64(i+1))
	}
	f.cacheOf = map[string]string{"ep_a": filepath.Join(f.caches, "ep_a_L8_nf32_res256_new16_s0of1.npz"), "ep_b": filepath.Join(f.caches, "ep_b.npz")}
	writeZip(t, f.cacheOf["ep_a"], qwenCache(1, nil))
	tc := &thinker.Cache{Layers: []int{0, 27}, L: 2, So: 5, Sn: 3, Dv: 8, Old: vlmVals(2*5*8, 2), New: vlmVals(2*3*8, 3),
		TokenIDs: []int64{1, 2, 3, 4}, ValidLen: 5, Provenance: map[string]string{"model": "stand-in"}}
	if err := tc.Write(f.cacheOf["ep_b"]); err != nil {
		t.Fatal(err)
	}
	runOK(t, "encode", "--weights", f.weights, "--input", f.clips, "--out", f.feats, "--split-clips")
	return f
}

func runOK(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if rc := run(args, &out, &errb); rc != 0 {
		t.Fatalf("thinkjepa %s: rc %d\n%s", strings.Join(args, " "), rc, errb.String())
	}
	return errb.String()
}

func runFail(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if rc := run(args, &out, &errb); rc == 0 {
		t.Fatalf("thinkjepa %s: rc 0, want a failure\n%s", strings.Join(args, " "), errb.String())
	}
	return errb.String()
}

// rawZip maps member names to their compressed bytes plus method and CRC.
func rawZip(t *testing.T, path string) map[string]string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := map[string]string{}
	for _, f := range zr.File {
		r, err := f.OpenRaw()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		out[f.Name] = fmt.Sprintf("%d/%08x/", f.Method, f.CRC32) + string(b)
	}
	return out
}

func fp16(v float32) float32 { return npy.HalfToFloat32(npy.Float32ToHalf(v)) }

// checkLatents: the combined cache's latents, as the anomaly stage reads them, are those
// of the --split-clips file (rounded to fp16 unless exact), with the clip's source frames.
func (f *cacheFixture) checkLatents(t *testing.T, id string, exact bool) {
	t.Helper()
	ref, err := anomaly.ReadClipLatents(filepath.Join(f.feats, id+".npz"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := anomaly.ReadClipLatents(f.cacheOf[id])
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int64, 8)
	for i, v := range f.clip[id].FrameIndices {
		want[i] = int64(v)
	}
	if got.T != 8 || got.P != 9 || got.D != 32 || ref.T != got.T || ref.P != got.P || !slices.Equal(got.Source, want) || !slices.Equal(ref.Source, want) {
		t.Fatalf("%s: combined [%d,%d,%d] source %v; split [%d,%d,%d] source %v", id, got.T, got.P, got.D, got.Source, ref.T, ref.P, ref.D, ref.Source)
	}
	for i, v := range ref.X {
		w := v
		if !exact {
			w = fp16(v)
		}
		if got.X[i] != w {
			t.Fatalf("%s: latent %d = %v, split file %v (want %v)", id, i, got.X[i], v, w)
		}
	}
}

// encode --into-cache on upstream-style and our VLM caches: existing members byte for
// byte, upstream's keys, latents equal to --split-clips (fp16, then exact with --fp32),
// resumable, sharded, train batches equal to the split-feature ones; bad caches are
// errors naming the file, the good ones are still written.
func TestEncodeIntoCache(t *testing.T) {
	f := newCacheFixture(t)
	before := map[string]map[string]string{}
	for id, p := range f.cacheOf {
		before[id] = rawZip(t, p)
	}
	log := runOK(t, "encode", "--weights", f.weights, "--input", f.clips, "--into-cache", f.caches)
	if !strings.Contains(log, "updated=2") || !strings.Contains(log, "missing_cache=0") {
		t.Errorf("log:\n%s", log)
	}
	for id, p := range f.cacheOf {
		after := rawZip(t, p)
		for name, raw := range before[id] {
			if id == "ep_a" && (name == "nframes_used.npy" || name == "total_frames.npy") {
				name = "vlm_" + name // the extractor's own counts, kept
			}
			if after[name] != raw {
				t.Errorf("%s: member %s not preserved byte for byte", id, name)
			}
		}
		z, err := npy.OpenNPZ(p)
		if err != nil {
			t.Fatal(err)
		}
		b, err := thinker.ReadBranch(z)
		if err != nil {
			t.Fatal(err)
		}
		imgs, err := z.Get("imgs")
		z.Close()
		if err != nil {
			t.Fatal(err)
		}
		// clip .npz inputs do not know their source's length: 0, upstream's "unknown"
		if b.DType != npy.Float16 || b.NFramesUsed != 8 || b.TotalFrames != 0 || !slices.Equal(imgs.Shape, []int{8, 12, 12, 3}) || !bytes.Equal(imgs.Raw, f.clip[id].Frames) {
			t.Errorf("%s: dtype %s nframes_used %d total %d imgs %v", id, b.DType, b.NFramesUsed, b.TotalFrames, imgs.Shape)
		}
		if _, err := thinker.Read(p); err != nil {
			t.Errorf("%s: thinker.Read of the combined cache: %v", id, err)
		}
		f.checkLatents(t, id, false)
	}
	// train (and forecast, which batches through the same FileSet) read the combined
	// caches, found by stem, into the batches the split features give
	ids := []string{"ep_a", "ep_b"}
	ref, err := train.OpenFileSet(train.DataConfig{Clips: f.clips, Features: f.feats, Thinker: f.caches, IDs: ids}, train.SampleConfig{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := train.OpenFileSet(train.DataConfig{Clips: f.clips, Thinker: f.caches, IDs: ids}, train.SampleConfig{})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := ref.Batch([]int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	gb, err := got.Batch([]int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string][2][]float32{"ctx": {rb.Ctx, gb.Ctx}, "target": {rb.Target, gb.Target}} {
		if len(p[0]) != len(p[1]) || len(p[0]) == 0 {
			t.Fatalf("%s: %d vs %d values", name, len(p[0]), len(p[1]))
		}
		for i := range p[0] {
			if p[1][i] != fp16(p[0][i]) {
				t.Fatalf("train batch %s[%d] = %v, split features %v", name, i, p[1][i], p[0][i])
			}
		}
	}
	if !slices.Equal(rb.OldX, gb.OldX) {
		t.Error("guidance differs")
	}

	// resumable: a rerun leaves every cache alone
	st0 := map[string][]byte{}
	for id, p := range f.cacheOf {
		st0[id], _ = os.ReadFile(p)
	}
	if log := runOK(t, "encode", "--weights", f.weights, "--input", f.clips, "--into-cache", f.caches); !strings.Contains(log, "skipped_existing=2") || !strings.Contains(log, "updated=0") {
		t.Errorf("rerun log:\n%s", log)
	}
	for id, p := range f.cacheOf {
		if b, _ := os.ReadFile(p); !bytes.Equal(b, st0[id]) {
			t.Errorf("%s: rewritten without --overwrite", id)
		}
	}
	// --overwrite --fp32 over two shards: exact latents, each shard its own clip
	for i, sh := range []string{"0/2", "1/2"} {
		log := runOK(t, "encode", "--weights", f.weights, "--input", f.clips, "--into-cache", f.caches, "--overwrite", "--fp32", "--shard", sh)
		if !strings.Contains(log, "updated=1") {
			t.Errorf("shard %s log:\n%s", sh, log)
		}
		if b, _ := os.ReadFile(f.cacheOf[ids[1-i]]); i == 0 && !bytes.Equal(b, st0[ids[1]]) {
			t.Errorf("shard 0/2 touched %s", ids[1])
		}
	}
	for _, id := range ids {
		f.checkLatents(t, id, true)
		if after := rawZip(t, f.cacheOf[id]); after["vlm_old.npy"] != before[id]["vlm_old.npy"] {
			t.Errorf("%s: vlm_old changed by --overwrite", id)
		}
	}

	// no cache for the input: an error, not a silent success
	lone := filepath.Join(f.dir, "lone", "ep_z.npz")
	os.MkdirAll(filepath.Dir(lone), 0o755)
	writeTinyClip(t, lone, "ep_z", 9)
	if e := runFail(t, "encode", "--weights", f.weights, "--input", lone, "--into-cache", f.caches); !strings.Contains(e, "none of the 1 inputs has a cache") {
		t.Errorf("missing cache: %s", e)
	}
	if e := runFail(t, "encode", "--weights", f.weights, "--input", lone, "--into-cache", f.caches, "--out", "x.npz"); !strings.Contains(e, "exclude each other") {
		t.Errorf("--out with --into-cache: %s", e)
	}

	// bad caches: truncated, wrong shape, NaN; the good one beside them is still written
	bad := filepath.Join(f.dir, "badcaches")
	os.MkdirAll(bad, 0o755)
	badClips := filepath.Join(f.dir, "badclips")
	os.MkdirAll(badClips, 0o755)
	for i, id := range []string{"good", "trunc", "shape", "nan"} {
		writeTinyClip(t, filepath.Join(badClips, id+".npz"), id, uint64(20+i))
	}
	writeZip(t, filepath.Join(bad, "good_L8_nf32_res256_new16_s0of1.npz"), qwenCache(5, nil))
	full, _ := os.ReadFile(f.cacheOf["ep_b"])
	os.WriteFile(filepath.Join(bad, "trunc.npz"), full[:len(full)*2/3], 0o644)
	wrong := qwenCache(6, nil)
	wrong[0].arr = npy.FromFloat32AsHalf(vlmVals(80, 6), 80)
	writeZip(t, filepath.Join(bad, "shape.npz"), wrong)
	nanOld := vlmVals(80, 7)
	nanOld[17] = float32(math.NaN())
	writeZip(t, filepath.Join(bad, "nan.npz"), qwenCache(7, nanOld))
	pre := map[string][]byte{}
	for _, id := range []string{"trunc", "shape", "nan"} {
		pre[id], _ = os.ReadFile(filepath.Join(bad, id+".npz"))
	}
	e := runFail(t, "encode", "--weights", f.weights, "--input", badClips, "--into-cache", bad)
	for _, want := range []string{"trunc.npz", "not a readable .npz", "shape.npz", "vlm_old", "shape [80]", "nan.npz", "NaN at element 17", "3 of 4 inputs failed"} {
		if !strings.Contains(e, want) {
			t.Errorf("bad caches: stderr does not mention %q:\n%s", want, e)
		}
	}
	for id, b := range pre {
		if now, _ := os.ReadFile(filepath.Join(bad, id+".npz")); !bytes.Equal(now, b) {
			t.Errorf("bad cache %s was changed", id)
		}
	}
	if has, err := thinker.HasBranch(filepath.Join(bad, "good_L8_nf32_res256_new16_s0of1.npz")); !has || err != nil {
		t.Errorf("the good cache beside the bad ones: %v %v", has, err)
	}
}

// Train on combined caches, then forecast and score anomalies from a different root
// (upstream's --test_cache_dir): the run's folders are gone, and the combined caches
// alone give the same predictions and scores as the split features (--fp32: equal
// latents).
func TestCombinedCachesTrainForecastAnomalyElsewhere(t *testing.T) {
	f := newCacheFixture(t)
	runOK(t, "encode", "--weights", f.weights, "--input", f.clips, "--into-cache", f.caches, "--fp32")
	split := func(dir string) string {
		return fmt.Sprintf(`{"clips": %q, "thinker": %q}`, filepath.Join(dir, "clips"), filepath.Join(dir, "caches"))
	}
	runDir := filepath.Join(t.TempDir(), "run")
	cfg := fmt.Sprintf(`{"mode": "thinkjepa", "out": %q, "train": %s, "val": %s,
 "predictor": {"predictor_embed_dim": 16, "depth": 1, "num_heads": 2, "mlp_ratio": 2, "causal": true, "drop_rate": 0, "drop_path_rate": 0},
 "film": {"hidden": 8}, "head": {"hidden": 16, "heads": 2},
 "loop": {"seed": 1, "epochs": 1, "batch_size": 2, "head_lr": 1e-3, "pred_lr": 1e-3, "clip_norm": 5}}`, runDir, split(f.dir), split(f.dir))
	cfgPath := filepath.Join(t.TempDir(), "run.json")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	runOK(t, "train", "--config", cfgPath)
	ckpt := filepath.Join(runDir, train.BestName)
	// the training root moves away: evaluation reads only the folders it is given
	other := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.Rename(f.dir, other); err != nil {
		t.Fatal(err)
	}
	clips, caches, feats := filepath.Join(other, "clips"), filepath.Join(other, "caches"), filepath.Join(other, "feats")
	// no --features, and no clips/../features: the latents come from the combined caches
	runOK(t, "forecast", "--ckpt", ckpt, "--data", clips, "--thinker", caches, "--out", filepath.Join(other, "pred_cache"))
	runOK(t, "forecast", "--ckpt", ckpt, "--data", clips, "--features", feats, "--thinker", caches, "--out", filepath.Join(other, "pred_feats"))
	pc, err := predfile.ReadDir(filepath.Join(other, "pred_cache"))
	if err != nil {
		t.Fatal(err)
	}
	pf, err := predfile.ReadDir(filepath.Join(other, "pred_feats"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pc) != 2 || len(pf) != 2 {
		t.Fatalf("%d and %d predictions", len(pc), len(pf))
	}
	for i := range pc {
		if pc[i].Meta.ClipID != pf[i].Meta.ClipID || !slices.Equal(pc[i].Pred, pf[i].Pred) || len(pc[i].Pred) == 0 {
			t.Errorf("clip %s: predictions from the combined cache differ from the split features", pc[i].Meta.ClipID)
		}
	}
	// anomaly: the combined caches as features and guidance, against our split features
	// beside upstream-named caches (found by stem)
	runOK(t, "anomaly", "--ckpt", ckpt, "--features", caches, "--thinker", caches, "--out", filepath.Join(other, "an_cache"), "--embed", "none")
	runOK(t, "anomaly", "--ckpt", ckpt, "--features", feats, "--thinker", caches, "--out", filepath.Join(other, "an_feats"), "--embed", "none")
	for id, cache := range f.cacheOf {
		cid := strings.TrimSuffix(filepath.Base(cache), ".npz")
		a, err1 := os.ReadFile(filepath.Join(other, "an_cache", train.AnomalyClipsDir, cid, train.AnomalyScores))
		b, err2 := os.ReadFile(filepath.Join(other, "an_feats", train.AnomalyClipsDir, id, train.AnomalyScores))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if !bytes.Equal(a, b) || !strings.Contains(string(a), ",38,") { // source frame 3+5·7 of the last latent frame
			t.Errorf("%s: scores differ or lack the source frames:\n%s\nvs\n%s", id, a, b)
		}
	}
}

// EgoDex episodes: caches in the episodes' subfolders win over a cache with the same
// stem elsewhere (upstream's (subfolder, stem) rule; synthetic episodes are named 0, 1, …
// in every task), and total_frames is the episode's frame count.
func TestEncodeIntoCacheEpisodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary's synthetic set")
	}
	_, synth := thinkjepaBin(t)
	dir := t.TempDir()
	eps, caches := filepath.Join(dir, "eps"), filepath.Join(dir, "caches")
	var rels []string
	err := filepath.WalkDir(synth, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".hdf5" || strings.Contains(p, "egoexo") {
			return err
		}
		rel, _ := filepath.Rel(synth, p)
		for _, ext := range []string{".hdf5", ".mp4"} {
			b, err := os.ReadFile(strings.TrimSuffix(p, ".hdf5") + ext)
			if err != nil {
				return err
			}
			dst := filepath.Join(eps, strings.TrimSuffix(rel, ".hdf5")+ext)
			os.MkdirAll(filepath.Dir(dst), 0o755)
			if err := os.WriteFile(dst, b, 0o644); err != nil {
				return err
			}
		}
		rels = append(rels, strings.TrimSuffix(rel, ".hdf5"))
		return nil
	})
	if err != nil || len(rels) < 2 {
		t.Fatalf("synthetic episodes: %v %v", rels, err)
	}
	cacheOf := func(rel string) string { return filepath.Join(caches, rel+"_L8_nf32_res256_new16_s0of1.npz") }
	for i, rel := range rels {
		os.MkdirAll(filepath.Dir(cacheOf(rel)), 0o755)
		writeZip(t, cacheOf(rel), qwenCache(uint64(i), nil))
	}
	decoy := filepath.Join(caches, "elsewhere", filepath.Base(rels[0])+"_L8_nf32_res256_new16_s0of1.npz")
	os.MkdirAll(filepath.Dir(decoy), 0o755)
	writeZip(t, decoy, qwenCache(99, nil))
	w := tinyEncoder(t, dir)
	log := runOK(t, "encode", "--weights", w, "--input", eps, "--into-cache", caches, "--frames", "8", "--batch", "2")
	if !strings.Contains(log, fmt.Sprintf("updated=%d", len(rels))) {
		t.Errorf("log:\n%s", log)
	}
	if has, _ := thinker.HasBranch(decoy); has {
		t.Error("the same stem in another folder was written")
	}
	for _, rel := range rels {
		c, err := data.LoadClip(data.EpisodeFromPath(filepath.Join(eps, rel+".hdf5")), data.Episode64{T: 8}, data.LoadOptions{SkipVideo: true})
		if err != nil {
			t.Fatal(err)
		}
		z, err := npy.OpenNPZ(cacheOf(rel))
		if err != nil {
			t.Fatal(err)
		}
		b, err := thinker.ReadBranch(z)
		z.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := make([]int64, len(c.FrameIndices))
		for i, v := range c.FrameIndices {
			want[i] = int64(v)
		}
		if b.T != 8 || b.TotalFrames != c.SourceFrames || c.SourceFrames < 90 || !slices.Equal(b.FrameIndices, want) {
			t.Errorf("%s: T %d total_frames %d (episode %d) frame_indices %v, want %v", rel, b.T, b.TotalFrames, c.SourceFrames, b.FrameIndices, want)
		}
	}
}
