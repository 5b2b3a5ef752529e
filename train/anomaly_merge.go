package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/thinkjepa/thinkjepa/anomaly"
	"github.com/thinkjepa/thinkjepa/internal/buildinfo"
	"github.com/thinkjepa/thinkjepa/internal/fsutil"
)

var shardSummaryRE = regexp.MustCompile(`^summary\.shard-(\d+)-of-(\d+)\.json$`)

// shardSummary is what a shard's summary JSON holds beside the metrics.
type shardSummary struct {
	anomaly.Summary
	Checkpoint    string         `json:"checkpoint"`
	CheckpointSHA string         `json:"checkpoint_sha256"`
	Mode          string         `json:"mode"`
	Features      string         `json:"features"`
	Thinker       string         `json:"thinker"`
	Labels        string         `json:"labels"`
	RawWindows    map[string]int `json:"windows"`
	Shard         string         `json:"shard"`
	PredictorMode string         `json:"predictor_mode"`
}

// AnomalyMerge pools the shards of an `anomaly --shard i/n` run in out: it reads every
// summary.shard-i-of-n.json (all n present, one n, the same checkpoint, windows, mode,
// threshold and target FPR, and together the clip list an unsharded run would score),
// reads each of their clips' clips/<id>/scores.csv, recomputes the summary over all
// clips exactly as an unsharded run does (pooled ROC AUC, AP, best F1 and the calibrated
// threshold come from the pooled frames, not from the shard numbers), redraws each clip's
// plot with the pooled calibrated threshold, and writes summary.json and summary.md
// atomically (an existing summary.json is an error unless overwrite). The per-shard
// window embeddings stay as they are: their vectors are not stored.
func AnomalyMerge(out string, overwrite bool) error {
	final := filepath.Join(out, "summary.json")
	if err := fsutil.CheckNoClobber(final, overwrite); err != nil {
		return err
	}
	ents, err := os.ReadDir(out)
	if err != nil {
		return fmt.Errorf("anomaly merge: %w", err)
	}
	byN := map[int]map[int]string{}
	for _, e := range ents {
		m := shardSummaryRE.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			continue
		}
		i, _ := strconv.Atoi(m[1])
		n, _ := strconv.Atoi(m[2])
		if n < 1 || i >= n {
			return fmt.Errorf("anomaly merge: %s: shard %d of %d is out of range", e.Name(), i, n)
		}
		if byN[n] == nil {
			byN[n] = map[int]string{}
		}
		byN[n][i] = e.Name()
	}
	if len(byN) == 0 {
		return fmt.Errorf("anomaly merge: no shard summaries (summary.shard-i-of-n.json) in %s; run `thinkjepa anomaly --shard i/n --out %s` for every i first", out, out)
	}
	if len(byN) > 1 {
		var kinds []string
		for n, m := range byN {
			kinds = append(kinds, fmt.Sprintf("%d of %d-way", len(m), n))
		}
		sort.Strings(kinds)
		return fmt.Errorf("anomaly merge: %s holds shard summaries of different splits (%s); remove the stale ones", out, strings.Join(kinds, ", "))
	}
	var n int
	var files map[int]string
	for n, files = range byN {
	}
	var missing []string
	for i := 0; i < n; i++ {
		if _, ok := files[i]; !ok {
			missing = append(missing, fmt.Sprintf("%d/%d (summary.shard-%d-of-%d.json)", i, n, i, n))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("anomaly merge: %s: missing shard(s) %s: those shards have not finished, failed, or wrote elsewhere; run `thinkjepa anomaly --shard i/n --out %s` for them", out, strings.Join(missing, ", "), out)
	}
	shards := make([]*shardSummary, n)
	for i := 0; i < n; i++ {
		b, err := os.ReadFile(filepath.Join(out, files[i]))
		if err != nil {
			return fmt.Errorf("anomaly merge: %w", err)
		}
		var s shardSummary
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("anomaly merge: %s: %w", files[i], err)
		}
		if s.RawWindows == nil || s.Checkpoint == "" {
			return fmt.Errorf("anomaly merge: %s: not a shard summary of `thinkjepa anomaly` (no checkpoint or windows)", files[i])
		}
		if want := fmt.Sprintf("%d/%d", i, n); s.Shard != want {
			return fmt.Errorf("anomaly merge: %s records shard %q, its name says %s", files[i], s.Shard, want)
		}
		shards[i] = &s
	}
	// The shards must be parts of one run.
	s0 := shards[0]
	for i, s := range shards[1:] {
		name := files[i+1]
		same := func(what string, a, b any) error {
			if !reflect.DeepEqual(a, b) {
				return fmt.Errorf("anomaly merge: %s and %s differ in %s: %v vs %v; the shards are not parts of one run", files[0], name, what, a, b)
			}
			return nil
		}
		ck0, ck := s0.Checkpoint, s.Checkpoint
		what := "checkpoint"
		if s0.CheckpointSHA != "" && s.CheckpointSHA != "" {
			ck0, ck, what = s0.CheckpointSHA, s.CheckpointSHA, "checkpoint (sha256)"
		}
		for _, c := range []struct {
			what string
			a, b any
		}{{what, ck0, ck}, {"windows", s0.RawWindows, s.RawWindows}, {"mode", s0.Mode, s.Mode},
			{"threshold", s0.Threshold, s.Threshold}, {"target_fpr", s0.TargetFPR, s.TargetFPR},
			{"predictor_mode", s0.PredictorMode, s.PredictorMode}} {
			if err := same(c.what, c.a, c.b); err != nil {
				return err
			}
		}
		for _, c := range [][3]string{{"features", s0.Features, s.Features}, {"thinker", s0.Thinker, s.Thinker}, {"labels", s0.Labels, s.Labels}} {
			if c[1] != c[2] {
				slog.Warn("anomaly merge: shards read different folders (fine if they are copies)", "what", c[0], files[0], c[1], name, c[2])
			}
		}
	}
	// Together the shards must hold the clip list an unsharded run scores: sorted ids,
	// clip k in shard k mod n.
	owner := map[string]int{}
	meta := map[string]anomaly.ClipSummary{}
	var ids []string
	for i, s := range shards {
		for _, c := range s.PerClip {
			if j, dup := owner[c.ID]; dup {
				return fmt.Errorf("anomaly merge: clip %s is in %s and in %s", c.ID, files[j], files[i])
			}
			owner[c.ID], meta[c.ID] = i, c
			ids = append(ids, c.ID)
		}
	}
	sort.Strings(ids)
	for k, id := range ids {
		if owner[id] != k%n {
			return fmt.Errorf("anomaly merge: clip %s is in %s but an unsharded list puts it in shard %d/%d: the shards saw different feature folders", id, files[owner[id]], k%n, n)
		}
	}
	if len(ids) == 0 {
		return fmt.Errorf("anomaly merge: the shard summaries list no clips")
	}
	if dirs, err := os.ReadDir(filepath.Join(out, AnomalyClipsDir)); err == nil {
		for _, d := range dirs {
			if _, ok := owner[d.Name()]; d.IsDir() && !ok {
				return fmt.Errorf("anomaly merge: %s is in no shard summary (left from another run?); remove it or merge elsewhere", filepath.Join(out, AnomalyClipsDir, d.Name()))
			}
		}
	}
	win := anomaly.Windows{Past: s0.RawWindows["past"], Future: s0.RawWindows["future"], Stride: s0.RawWindows["stride"]}
	if err := win.Check(); err != nil {
		return fmt.Errorf("anomaly merge: %s: %w", files[0], err)
	}
	results := make([]*anomaly.ClipResult, 0, len(ids))
	for _, id := range ids {
		p := filepath.Join(out, AnomalyClipsDir, id, AnomalyScores)
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("anomaly merge: %s is missing (clip %s of %s)", p, id, files[owner[id]])
		} else if err != nil {
			return fmt.Errorf("anomaly merge: %w", err)
		}
		r, err := anomaly.ParseScoresCSV(id, b)
		if err != nil {
			return fmt.Errorf("anomaly merge: %s: %w", p, err)
		}
		m := meta[id]
		r.Starts = win.Starts(r.T)
		r.LabelPath, r.Alignment = m.Labels, m.Alignment
		scored := 0
		for t, v := range r.Covered {
			if v && !math.IsNaN(r.Frame[t]) {
				scored++
			}
		}
		if r.T != m.Frames || len(r.Starts) != m.Windows || scored != m.ScoredFrames || (r.Labels != nil) != (m.Labels != "") {
			return fmt.Errorf("anomaly merge: %s (%d frames, %d windows, %d scored, labelled %v) does not match its line in %s (%d, %d, %d, labels %q)",
				p, r.T, len(r.Starts), scored, r.Labels != nil, files[owner[id]], m.Frames, m.Windows, m.ScoredFrames, m.Labels)
		}
		results = append(results, r)
	}
	sum, err := anomaly.Summarise(results, s0.Threshold, s0.TargetFPR)
	if err != nil {
		return fmt.Errorf("anomaly merge: %w", err)
	}
	for _, r := range results {
		if err := anomaly.PlotClip(r, s0.Threshold, sum.Calibrated, filepath.Join(out, AnomalyClipsDir, r.ID, AnomalyPlot)); err != nil {
			return err
		}
	}
	var from []string
	for i := 0; i < n; i++ {
		from = append(from, files[i])
	}
	extra := map[string]any{"checkpoint": s0.Checkpoint, "mode": s0.Mode, "features": s0.Features, "thinker": s0.Thinker,
		"labels": s0.Labels, "windows": s0.RawWindows, "shard": fmt.Sprintf("merged from %d shards", n), "merged_from": from,
		"predictor_mode": s0.PredictorMode, "versions": buildinfo.Get()}
	if s0.CheckpointSHA != "" {
		extra["checkpoint_sha256"] = s0.CheckpointSHA
	}
	if err := sum.WriteJSON(final, extra); err != nil {
		return err
	}
	slog.Info("anomaly merge", "shards", n, "clips", len(results), "out", final)
	return fsutil.WriteFileAtomic(filepath.Join(out, "summary.md"), []byte(sum.Markdown(fmt.Sprintf("Latent anomaly scores (merged from %d shards)", n))))
}
