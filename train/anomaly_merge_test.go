package train

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/anomaly"
	"github.com/thinkjepa/thinkjepa/internal/fsutil"
	"github.com/thinkjepa/thinkjepa/nn/cpu"
)

// anomalyFixture trains the guided toy model for one epoch and writes frame labels for
// four of the eight validation clips (two with anomalous frames, two normal), so both
// shards of a 2-way split hold labelled clips of both kinds.
func anomalyFixture(t *testing.T) (*RunConfig, AnomalyOptions) {
	t.Helper()
	dir := t.TempDir()
	rc := toyRun(t, dir, ModeThinkJEPA, 1)
	if err := Train(cpu.New(), rc, true, false); err != nil {
		t.Fatal(err)
	}
	labels := filepath.Join(dir, "labels")
	os.MkdirAll(labels, 0o755)
	for id, l := range map[string]string{"toy000": "0 0 0 0 0 1 1 0", "toy001": "0 0 0 0 0 0 0 0",
		"toy002": "0 0 0 0 1 0 0 1", "toy005": "0 0 0 0 0 0 0 0"} {
		os.WriteFile(filepath.Join(labels, id+".txt"), []byte(l+"\n"), 0o644)
	}
	return rc, AnomalyOptions{Ckpt: filepath.Join(rc.Out, BestName), Features: rc.Val.Features, Thinker: rc.Val.Thinker,
		Labels: labels, Out: filepath.Join(dir, "anom"), NumShards: 1, Threshold: 1, FPR: 0.25, BatchSize: 3, Embed: "abs_error",
		Seed: 7}
}

func readSummary(t *testing.T, path string) (anomaly.Summary, map[string]any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s anomaly.Summary
	var m map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &m)
	return s, m
}

// Scoring with --shard 0/2 and 1/2 (and 0/3, 1/3, 2/3) and merging gives the summary
// numbers of the unsharded run exactly, and the same clip plots (redrawn with the pooled
// calibrated threshold). Missing shards, mixed splits, another checkpoint, a missing or
// stray clip and an existing summary are clear errors.
func TestAnomalyMerge(t *testing.T) {
	_, opts := anomalyFixture(t)
	opts.Embed = "none"
	e := cpu.New()
	if err := Anomaly(e, opts); err != nil {
		t.Fatal(err)
	}
	want, wantExtra := readSummary(t, filepath.Join(opts.Out, "summary.json"))
	if want.ROCAUC == nil || want.Calibrated == nil || want.Labelled != 4 {
		t.Fatalf("fixture summary lacks AUC or calibration: %+v", want)
	}
	root := filepath.Dir(opts.Out)
	for _, n := range []int{2, 3} {
		dir := filepath.Join(root, "sharded", string(rune('0'+n)))
		var shardAUC []*float64
		for i := 0; i < n; i++ {
			o := opts
			o.Out, o.Shard, o.NumShards = dir, i, n
			if err := Anomaly(e, o); err != nil {
				t.Fatal(err)
			}
			s, _ := readSummary(t, filepath.Join(dir, "summary.shard-"+string(rune('0'+i))+"-of-"+string(rune('0'+n))+".json"))
			shardAUC = append(shardAUC, s.ROCAUC)
		}
		if err := AnomalyMerge(dir, false); err != nil {
			t.Fatal(err)
		}
		got, extra := readSummary(t, filepath.Join(dir, "summary.json"))
		if !reflect.DeepEqual(got, want) {
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			t.Errorf("%d shards merged:\n%s\nunsharded:\n%s", n, gb, wb)
		}
		for _, k := range []string{"checkpoint", "checkpoint_sha256", "windows", "mode", "predictor_mode"} {
			if !reflect.DeepEqual(extra[k], wantExtra[k]) {
				t.Errorf("%d shards merged: %s %v, unsharded %v", n, k, extra[k], wantExtra[k])
			}
		}
		if extra["shard"] != "merged from "+string(rune('0'+n))+" shards" {
			t.Errorf("merged shard field %v", extra["shard"])
		}
		t.Logf("%d shards: pooled AUC %.4f; per-shard AUCs %v", n, *got.ROCAUC, derefs(shardAUC))
		for _, id := range []string{"toy000", "toy003", "toy007"} {
			a, _ := os.ReadFile(filepath.Join(opts.Out, AnomalyClipsDir, id, AnomalyPlot))
			b, _ := os.ReadFile(filepath.Join(dir, AnomalyClipsDir, id, AnomalyPlot))
			if len(a) == 0 || string(a) != string(b) {
				t.Errorf("%d shards: %s plot differs from the unsharded run's", n, id)
			}
		}
		md, err := os.ReadFile(filepath.Join(dir, "summary.md"))
		if err != nil || !strings.Contains(string(md), "merged from") {
			t.Errorf("summary.md: %v", err)
		}
	}

	dir := filepath.Join(root, "sharded", "2")
	if err := AnomalyMerge(dir, false); !errors.Is(err, fsutil.ErrExists) {
		t.Errorf("second merge without overwrite: %v", err)
	}
	if err := AnomalyMerge(dir, true); err != nil {
		t.Errorf("merge with overwrite: %v", err)
	}
	// Error cases, each on a copy of the 2-way output.
	cases := []struct {
		name   string
		breakF func(d string)
		want   string
	}{
		{"missing shard", func(d string) { os.Remove(filepath.Join(d, "summary.shard-1-of-2.json")) }, "missing shard(s) 1/2 (summary.shard-1-of-2.json)"},
		{"mixed split", func(d string) {
			copyFile(t, filepath.Join(root, "sharded", "3", "summary.shard-0-of-3.json"), filepath.Join(d, "summary.shard-0-of-3.json"))
		}, "different splits"},
		{"other checkpoint", func(d string) {
			editJSON(t, filepath.Join(d, "summary.shard-1-of-2.json"), "checkpoint_sha256", "0000")
		}, "differ in checkpoint (sha256)"},
		{"other windows", func(d string) {
			editJSON(t, filepath.Join(d, "summary.shard-1-of-2.json"), "windows", map[string]int{"past": 4, "future": 4, "stride": 2})
		}, "differ in windows"},
		{"missing scores", func(d string) { os.Remove(filepath.Join(d, AnomalyClipsDir, "toy003", AnomalyScores)) }, "toy003/scores.csv is missing"},
		{"stray clip", func(d string) { os.MkdirAll(filepath.Join(d, AnomalyClipsDir, "toy999"), 0o755) }, "toy999 is in no shard summary"},
		{"edited scores", func(d string) {
			p := filepath.Join(d, AnomalyClipsDir, "toy002", AnomalyScores)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(b), ",1,0\n", ",1,\n", 1)), 0o644)
		}, "gt is empty on some rows"},
		{"no shards", func(d string) {
			os.Remove(filepath.Join(d, "summary.shard-0-of-2.json"))
			os.Remove(filepath.Join(d, "summary.shard-1-of-2.json"))
		}, "no shard summaries"},
	}
	for _, c := range cases {
		d := filepath.Join(t.TempDir(), "x")
		copyTree(t, dir, d)
		os.Remove(filepath.Join(d, "summary.json"))
		c.breakF(d)
		err := AnomalyMerge(d, false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

func derefs(v []*float64) []any {
	var out []any
	for _, p := range v {
		if p == nil {
			out = append(out, nil)
		} else {
			out = append(out, *p)
		}
	}
	return out
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		copyFile(t, p, filepath.Join(to, rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func editJSON(t *testing.T, path, key string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m[key] = v
	b, _ = json.Marshal(m)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The embedding is t-SNE by default, seeded and deterministic, and its CSV, PNG (tEXt)
// and the summary record the method, the effective perplexity and the seed; PCA on
// request; above --embed-max the windows are subsampled evenly and the records say so.
func TestAnomalyEmbedding(t *testing.T) {
	_, opts := anomalyFixture(t)
	opts.Stride = 1 // still one window per 8-frame toy clip (4 + 4)
	e := cpu.New()
	run := func(o AnomalyOptions) (csv []string, png map[string]string, emb map[string]any) {
		t.Helper()
		if err := Anomaly(e, o); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(o.Out, "embedding.csv"))
		if err != nil {
			t.Fatal(err)
		}
		p, _ := os.ReadFile(filepath.Join(o.Out, "embedding.png"))
		if png, err = anomaly.PNGText(p); err != nil {
			t.Fatal(err)
		}
		_, extra := readSummary(t, filepath.Join(o.Out, "summary.json"))
		emb, _ = extra["embedding"].(map[string]any)
		return strings.Split(strings.TrimSpace(string(b)), "\n"), png, emb
	}
	csv, png, emb := run(opts)
	perp := "2.3333333333333335" // min(30, max(2, (8−1)/3))
	if csv[0] != "clip,window_start,label,x,y,method,perplexity,seed" || len(csv) != 9 {
		t.Fatalf("embedding.csv:\n%s", strings.Join(csv, "\n"))
	}
	for _, row := range csv[1:] {
		if !strings.HasSuffix(row, ",tsne,"+perp+",7") {
			t.Errorf("embedding.csv row %q does not record tsne, perplexity %s, seed 7", row, perp)
		}
	}
	if !strings.HasPrefix(csv[1], "toy000,0,1,") || !strings.HasPrefix(csv[2], "toy001,0,0,") || !strings.HasPrefix(csv[4], "toy003,0,-1,") {
		t.Errorf("embedding.csv labels:\n%s", strings.Join(csv, "\n"))
	}
	if png["method"] != "tsne" || png["perplexity"] != perp || png["requested_perplexity"] != "30" || png["seed"] != "7" || png["vector"] != "abs_error" {
		t.Errorf("PNG text %v", png)
	}
	if emb["method"] != "tsne" || emb["seed"] != 7.0 || emb["windows"] != 8.0 || emb["embedded"] != 8.0 {
		t.Errorf("summary embedding %v", emb)
	}
	// Same seed, same output; another seed, another picture.
	o := opts
	o.Out = opts.Out + "-again"
	if again, _, _ := run(o); !reflect.DeepEqual(again, csv) {
		t.Error("the same seed gave a different embedding.csv")
	}
	o.Out, o.Seed = opts.Out+"-seed8", 8
	if other, _, _ := run(o); reflect.DeepEqual(other[1:], csv[1:]) {
		t.Error("seeds 7 and 8 gave the same embedding")
	}
	o = opts
	o.Out, o.EmbedMethod = opts.Out+"-pca", "pca"
	csv, png, emb = run(o)
	if !strings.HasSuffix(csv[1], ",pca,,") || png["method"] != "pca" || png["seed"] != "" || emb["method"] != "pca" {
		t.Errorf("PCA records: %q %v %v", csv[1], png, emb)
	}
	o = opts
	o.Out, o.EmbedMax = opts.Out+"-capped", 5
	csv, png, emb = run(o)
	if len(csv) != 6 || png["embedded"] != "5" || png["windows"] != "8" || emb["embedded"] != 5.0 || emb["windows"] != 8.0 {
		t.Errorf("capped at 5: %d rows, PNG %v, summary %v", len(csv)-1, png, emb)
	}
	o = opts
	o.Out, o.EmbedMethod = opts.Out+"-bad", "umap"
	if err := Anomaly(e, o); err == nil || !strings.Contains(err.Error(), "umap") {
		t.Errorf("unknown method: %v", err)
	}
}
