package train

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/thinkjepa/thinkjepa/anomaly"
	"github.com/thinkjepa/thinkjepa/film"
	"github.com/thinkjepa/thinkjepa/internal/buildinfo"
	"github.com/thinkjepa/thinkjepa/internal/fsutil"
	"github.com/thinkjepa/thinkjepa/internal/progress"
	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/thinker"
	"github.com/thinkjepa/thinkjepa/weights"
)

// AnomalyOptions configures `thinkjepa anomaly` (model-spec §4.12).
type AnomalyOptions struct {
	Ckpt      string
	Features  string // folder of per-clip feature files (anomaly.ReadClipLatents)
	Thinker   string // folder of thinker caches; required by guided models
	Labels    string // folder of frame labels; "" = every clip unlabelled
	Out       string
	Shard     int
	NumShards int
	// Stride between windows in frames (0: the model's future frames); the window's past
	// and future are the predictor's.
	Stride    int
	Threshold float64 // flag rule score > Threshold (upstream's --anomaly_threshold, 1.0)
	FPR       float64 // target false-positive rate for the calibrated threshold
	BatchSize int     // windows per forward pass
	// Embed is the per-window vector of the embedding plot (anomaly.EmbedModes); "" or
	// "none": no embedding.
	Embed string
	// EmbedMethod draws the embedding: "tsne" ("" too, upstream's) or "pca". Perplexity
	// (0: 30) and Seed are t-SNE's; EmbedMax caps the windows t-SNE embeds (0:
	// anomaly.TSNEMaxPoints), more are subsampled evenly.
	EmbedMethod string
	Perplexity  float64
	Seed        uint64
	EmbedMax    int
	// Baseline, when set (anomaly.Baselines), scores without the predictor: frame-diff
	// or copy-last. The windows are the checkpoint's when Ckpt is set, else Past/Future.
	Baseline     string
	Past, Future int
}

// Output names inside AnomalyOptions.Out.
const (
	AnomalyClipsDir = "clips"
	AnomalyScores   = "scores.csv"
	AnomalyPlot     = "scores.png"
)

// Anomaly scores every clip of the shard: sliding windows of the predictor's past and
// future over the clip's latents, each window's score upstream's mean L2 error, frame
// scores the mean over covering windows. The predictor runs in eval mode (no dropout;
// upstream scores with dropout on). Writes per clip clips/<id>/scores.csv and
// scores.png, and a summary (summary.json + summary.md; with --shard i/n,
// summary.shard-i-of-n.*) pooled over the shard's clips.
func Anomaly(e nn.Engine, o AnomalyOptions) error {
	if o.NumShards < 1 || o.Shard < 0 || o.Shard >= o.NumShards {
		return fmt.Errorf("shard %d/%d is out of range", o.Shard, o.NumShards)
	}
	if o.BatchSize < 1 {
		o.BatchSize = 8
	}
	var m *Model
	var rc *RunConfig
	var win anomaly.Windows
	switch o.Baseline {
	case "", anomaly.BaselineFrameDiff, anomaly.BaselineCopyLast:
	default:
		return fmt.Errorf("unknown anomaly baseline %q (want %s)", o.Baseline, strings.Join(anomaly.Baselines, " or "))
	}
	if o.Ckpt != "" {
		var err error
		if m, rc, err = LoadModel(e, o.Ckpt); err != nil {
			return err
		}
		if m.Layout == LayoutTrack {
			// A track model sees every frame it re-predicts: its error is not a surprise.
			return fmt.Errorf("%s: a track-layout model re-predicts the frames it is given; anomaly scoring needs a forecasting predictor (layout joint or future)", o.Ckpt)
		}
		cfg := rc.Predictor
		if tp, ok := m.Pred.(*ThinkPred); ok {
			cfg = tp.P.Cfg
		}
		win = anomaly.Windows{Past: cfg.PastFrames, Future: cfg.FutureFrames(), Stride: o.Stride}
	} else {
		if o.Baseline == "" {
			return errors.New("anomaly: a checkpoint is needed to score with a predictor (or choose a baseline)")
		}
		win = anomaly.Windows{Past: o.Past, Future: o.Future, Stride: o.Stride}
	}
	if err := win.Check(); err != nil {
		return fmt.Errorf("%s: %w", o.Ckpt, err)
	}
	if o.Baseline != "" {
		// The baselines score raw latents and need no guidance; only the checkpoint's
		// windows are used, so they score the same frames as its predictor.
		m = nil
		o.Thinker = ""
		if o.Baseline == anomaly.BaselineFrameDiff {
			o.Embed = "" // no per-window prediction error to embed
		}
	}
	if o.Embed == "none" {
		o.Embed = ""
	}
	if o.Embed != "" {
		if _, err := anomaly.WindowVector([]float32{0}, []float32{0}, 1, o.Embed); err != nil {
			return err
		}
		if err := o.checkEmbedMethod(); err != nil {
			return err
		}
	}
	if m != nil && m.Mode.Guided() && o.Thinker == "" {
		return fmt.Errorf("%s: a %s model needs thinker caches (--thinker)", o.Ckpt, m.Mode)
	}
	ids, err := featureIDs(o.Features)
	if err != nil {
		return err
	}
	var think *folderFiles
	if m != nil && m.Mode.Guided() {
		if think, err = listFolder(o.Thinker); err != nil {
			return fmt.Errorf("thinker folder: %w", err)
		}
	}
	var labels *anomaly.LabelIndex
	if o.Labels != "" {
		if labels, err = anomaly.IndexLabels(o.Labels); err != nil {
			return err
		}
	}
	var mine []string
	for k, id := range ids {
		if k%o.NumShards == o.Shard {
			mine = append(mine, id)
		}
	}
	slog.Info("anomaly", "clips", len(ids), "shard", fmt.Sprintf("%d/%d", o.Shard, o.NumShards), "todo", len(mine),
		"past", win.Past, "future", win.Future, "stride", win.EffectiveStride(), "labels", labels.Len())
	bar := progress.New(len(mine), "anomaly")
	defer bar.Finish()
	var results []*anomaly.ClipResult
	for _, id := range mine {
		r, err := scoreClip(e, m, rc, o, win, id, labels, think)
		if err != nil {
			return err
		}
		dir := filepath.Join(o.Out, AnomalyClipsDir, id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := fsutil.WriteFileAtomic(filepath.Join(dir, AnomalyScores), r.CSV()); err != nil {
			return err
		}
		results = append(results, r)
		bar.Add(1)
	}
	sum, err := anomaly.Summarise(results, o.Threshold, o.FPR)
	if err != nil {
		return err
	}
	// Plots after the summary, so the calibrated threshold can be drawn.
	for _, r := range results {
		if err := anomaly.PlotClip(r, o.Threshold, sum.Calibrated, filepath.Join(o.Out, AnomalyClipsDir, r.ID, AnomalyPlot)); err != nil {
			return err
		}
	}
	name, suffix := "summary", ""
	if o.NumShards > 1 {
		suffix = fmt.Sprintf(".shard-%d-of-%d", o.Shard, o.NumShards)
		name += suffix
	}
	var emb map[string]any
	if o.Embed != "" {
		if emb, err = writeEmbedding(o, win, results, suffix); err != nil {
			return err
		}
	}
	scorer := "eval (no dropout)"
	mode := any(nil)
	if m != nil {
		mode = m.Mode
	} else {
		scorer = "baseline " + o.Baseline
	}
	extra := map[string]any{"checkpoint": o.Ckpt, "mode": mode, "predictor_mode": scorer, "features": o.Features, "thinker": o.Thinker,
		"labels": o.Labels, "windows": map[string]int{"past": win.Past, "future": win.Future, "stride": win.EffectiveStride()},
		"shard": fmt.Sprintf("%d/%d", o.Shard, o.NumShards), "versions": buildinfo.Get()}
	if emb != nil {
		extra["embedding"] = emb
	}
	if sha, err := weights.FileSHA256(o.Ckpt); err == nil {
		extra["checkpoint_sha256"] = sha // shards of one run must agree (AnomalyMerge)
	}
	if err := sum.WriteJSON(filepath.Join(o.Out, name+".json"), extra); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(o.Out, name+".md"), []byte(sum.Markdown("Latent anomaly scores")))
}

// featureIDs lists the clip ids (file stems) of the feature folder, sorted.
func featureIDs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("features folder: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".npz") && !strings.HasPrefix(e.Name(), ".") {
			ids = append(ids, strings.TrimSuffix(e.Name(), ".npz"))
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no feature files (*.npz) in %s", dir)
	}
	sort.Strings(ids)
	return ids, nil
}

// scoreClip runs the predictor over one clip's windows and aligns its labels.
func scoreClip(e nn.Engine, m *Model, rc *RunConfig, o AnomalyOptions, win anomaly.Windows, id string, labels *anomaly.LabelIndex, think *folderFiles) (*anomaly.ClipResult, error) {
	lat, err := anomaly.ReadClipLatents(filepath.Join(o.Features, id+".npz"))
	if err != nil {
		return nil, err
	}
	x := lat.X
	if m != nil && m.LatentMap != nil {
		if x, err = m.LatentMap.Apply(append([]float32(nil), x...)); err != nil {
			return nil, fmt.Errorf("clip %s: %w", id, err)
		}
	}
	r := &anomaly.ClipResult{ID: id, T: lat.T, Source: lat.Source, Starts: win.Starts(lat.T)}
	if len(r.Starts) == 0 {
		slog.Warn("anomaly: clip shorter than one window; no frame scored", "clip", id, "frames", lat.T, "window", win.Past+win.Future)
	}
	if o.Baseline == anomaly.BaselineFrameDiff {
		return frameDiffClip(r, x, lat, win, id, labels)
	}
	var guide *thinker.Cache
	if m != nil && m.Mode.Guided() {
		// <id>.npz, else the cache with the id's upstream stem (a features folder of ours
		// beside upstream-named caches)
		p, err := think.path(id)
		if err != nil {
			return nil, fmt.Errorf("clip %s: %w", id, err)
		}
		if guide, err = thinker.Read(p); err != nil {
			return nil, fmt.Errorf("clip %s: %w", id, err)
		}
	}
	frame := lat.P * lat.D
	for b0 := 0; b0 < len(r.Starts); b0 += o.BatchSize {
		starts := r.Starts[b0:min(b0+o.BatchSize, len(r.Starts))]
		B := len(starts)
		ctx := make([]float32, 0, B*win.Past*frame)
		tgt := make([]float32, 0, B*win.Future*frame)
		for _, s := range starts {
			ctx = append(ctx, x[s*frame:(s+win.Past)*frame]...)
			tgt = append(tgt, x[(s+win.Past)*frame:(s+win.Past+win.Future)*frame]...)
		}
		var pred []float32
		if m == nil {
			pred = anomaly.CopyLast(ctx, B, win.Past, win.Future, frame)
		} else if pred, err = m.predictWindows(e, rc, ctx, B, win.Past, win.Future, lat.P, lat.D, guide); err != nil {
			return nil, fmt.Errorf("clip %s: %w", id, err)
		}
		n := win.Future * frame
		for k := range starts {
			sc, err := anomaly.WindowScore(pred[k*n:(k+1)*n], tgt[k*n:(k+1)*n], lat.D)
			if err != nil {
				return nil, fmt.Errorf("clip %s: %w", id, err)
			}
			r.WindowScores = append(r.WindowScores, sc)
			if o.Embed != "" {
				v, err := anomaly.WindowVector(pred[k*n:(k+1)*n], tgt[k*n:(k+1)*n], lat.D, o.Embed)
				if err != nil {
					return nil, fmt.Errorf("clip %s: %w", id, err)
				}
				r.Vectors = append(r.Vectors, v)
			}
		}
	}
	if r.Frame, r.Covered, err = win.FrameScores(lat.T, r.Starts, r.WindowScores); err != nil {
		return nil, fmt.Errorf("clip %s: %w", id, err)
	}
	return r, addLabels(r, lat, id, labels)
}

// frameDiffClip scores a clip with the frame-difference baseline over the frames the
// windows cover; a window's score is the mean of its target frames' scores.
func frameDiffClip(r *anomaly.ClipResult, x []float32, lat *anomaly.ClipLatents, win anomaly.Windows, id string, labels *anomaly.LabelIndex) (*anomaly.ClipResult, error) {
	d, err := anomaly.FrameDifference(x, lat.T, lat.P, lat.D)
	if err != nil {
		return nil, fmt.Errorf("clip %s: %w", id, err)
	}
	if _, r.Covered, err = win.FrameScores(lat.T, r.Starts, make([]float64, len(r.Starts))); err != nil {
		return nil, fmt.Errorf("clip %s: %w", id, err)
	}
	r.Frame = make([]float64, lat.T)
	for t := range r.Frame {
		r.Frame[t] = math.NaN()
		if r.Covered[t] {
			r.Frame[t] = d[t]
		}
	}
	for _, s := range r.Starts {
		var sum float64
		for t := s + win.Past; t < s+win.Past+win.Future; t++ {
			sum += d[t]
		}
		r.WindowScores = append(r.WindowScores, sum/float64(win.Future))
	}
	return r, addLabels(r, lat, id, labels)
}

// addLabels aligns the clip's labels, if the index has a file for it.
func addLabels(r *anomaly.ClipResult, lat *anomaly.ClipLatents, id string, labels *anomaly.LabelIndex) error {
	if p := labels.Lookup(id); p != "" {
		l, err := anomaly.ReadLabels(p)
		if err != nil {
			return err
		}
		if r.Labels, r.Alignment, err = anomaly.Align(l, lat.T, lat.Source); err != nil {
			return fmt.Errorf("labels %s for clip %s: %w", p, id, err)
		}
		r.LabelPath = p
	}
	return nil
}

// predictWindows predicts the future latents [B,Tf,P,D] of B context windows of one clip
// in eval mode (no dropout, no activations kept), with the clip's guidance repeated for
// every window.
func (m *Model) predictWindows(e nn.Engine, rc *RunConfig, ctx []float32, B, Tc, Tf, P, D int, guide *thinker.Cache) ([]float32, error) {
	var gamma, beta []*nn.Tensor
	if m.Mode.Guided() {
		caches := make([]*thinker.Cache, B)
		for i := range caches {
			caches[i] = guide
		}
		pb, err := thinker.Pad(caches, thinker.Capacity{Old: rc.Data.OldCapacity, New: rc.Data.NewCapacity}, rc.Data.Truncate)
		if err != nil {
			return nil, err
		}
		in := &film.Input{B: B}
		var xs []*nn.Tensor
		defer func() {
			for _, x := range xs {
				e.Free(x)
			}
		}()
		if len(guide.Old) > 0 {
			x := e.FromHost(pb.Old, B, pb.L, pb.SOld, pb.Dv)
			xs = append(xs, x)
			in.Old = &film.Stream{X: x, Mask: pb.OldMask, L: pb.L, S: pb.SOld}
		}
		if len(guide.New) > 0 {
			x := e.FromHost(pb.New, B, pb.L, pb.SNew, pb.Dv)
			xs = append(xs, x)
			in.New = &film.Stream{X: x, Mask: pb.NewMask, L: pb.L, S: pb.SNew}
		}
		if in.Old == nil && in.New == nil {
			return nil, errors.New(guide.Path + ": vlm_old and vlm_new are both empty")
		}
		out, err := m.Film.Forward(e, in)
		if err != nil {
			return nil, err
		}
		defer out.Release(e)
		gamma, beta = out.Gamma, out.Beta
	}
	if m.Mode == ModeVLMOnly {
		ctx = make([]float32, len(ctx)) // the ablation sees no JEPA input
	}
	ct := e.FromHost(ctx, B, Tc, P, D)
	defer e.Free(ct)
	fwd := m.Pred.Forward
	if inf, ok := m.Pred.(Inferer); ok {
		fwd = inf.Infer
	}
	pp, err := fwd(e, ct, B, Tc, Tf, P, gamma, beta)
	if err != nil {
		return nil, err
	}
	defer pp.Release(e)
	return e.ToHost(pp.Out()), nil
}

func (o AnomalyOptions) checkEmbedMethod() error {
	switch o.EmbedMethod {
	case "", "tsne", "pca":
	default:
		return fmt.Errorf("embedding method %q: want tsne or pca", o.EmbedMethod)
	}
	if o.Perplexity < 0 || math.IsNaN(o.Perplexity) || math.IsInf(o.Perplexity, 0) {
		return fmt.Errorf("t-SNE perplexity must be positive and finite, got %v", o.Perplexity)
	}
	return nil
}

// writeEmbedding plots the windows' vectors in 2-D (t-SNE or PCA of the z-scored
// vectors), coloured by window label (any anomalous frame in the window's target span),
// and writes the points beside the PNG (embedding.csv: clip, window start, label, x, y,
// method, perplexity, seed; perplexity and seed empty for PCA). The PNG carries the same
// settings as tEXt chunks and in its title. t-SNE embeds at most EmbedMax windows, an
// even subsample above that (logged, and in the title); the CSV lists the plotted
// windows. Returns the settings for the summary, nil when there was nothing to embed.
func writeEmbedding(o AnomalyOptions, win anomaly.Windows, results []*anomaly.ClipResult, suffix string) (map[string]any, error) {
	var rows [][]float64
	var labels []int8
	type key struct {
		id    string
		start int
	}
	var keys []key
	for _, r := range results {
		var wl []bool
		if r.Labels != nil {
			wl = win.WindowLabels(r.Starts, r.Labels)
		}
		for k, v := range r.Vectors {
			l := int8(-1)
			if wl != nil {
				l = 0
				if wl[k] {
					l = 1
				}
			}
			rows = append(rows, v)
			labels = append(labels, l)
			keys = append(keys, key{r.ID, r.Starts[k]})
		}
	}
	if len(rows) < 2 {
		slog.Warn("anomaly: fewer than two windows; no embedding plot", "windows", len(rows))
		return nil, nil
	}
	method := o.EmbedMethod
	if method == "" {
		method = "tsne"
	}
	info := map[string]any{"method": method, "vector": o.Embed, "windows": len(rows)}
	meta := map[string]string{"method": method, "vector": o.Embed, "windows": strconv.Itoa(len(rows)), "software": "thinkjepa " + buildinfo.Get().Version}
	var xy [][2]float64
	var title, axis, perp, seed string
	var err error
	switch method {
	case "pca":
		if xy, err = anomaly.PCA2(rows); err != nil {
			return nil, err
		}
		title, axis = fmt.Sprintf("window %s: PCA, z-scored (n=%d)", o.Embed, len(rows)), "PC"
	case "tsne":
		capN := o.EmbedMax
		if capN <= 0 {
			capN = anomaly.TSNEMaxPoints
		}
		n := len(rows)
		if n > capN {
			idx := anomaly.SubsampleIndices(n, capN)
			slog.Warn("anomaly: too many windows for exact t-SNE; embedding an even subsample", "windows", n, "embedded", len(idx), "cap", capN)
			var r2 [][]float64
			var l2 []int8
			var k2 []key
			for _, i := range idx {
				r2, l2, k2 = append(r2, rows[i]), append(l2, labels[i]), append(k2, keys[i])
			}
			rows, labels, keys = r2, l2, k2
		}
		req := o.Perplexity
		if req == 0 {
			req = anomaly.TSNEDefaultPerplexity
		}
		var ti anomaly.TSNEInfo
		if xy, ti, err = anomaly.TSNE(rows, anomaly.TSNEConfig{Perplexity: req, Seed: o.Seed}); err != nil {
			return nil, err
		}
		perp, seed = strconv.FormatFloat(ti.Perplexity, 'g', -1, 64), strconv.FormatUint(o.Seed, 10)
		sub := ""
		if len(rows) < n {
			sub = fmt.Sprintf(" of %d, evenly subsampled", n)
		}
		title = fmt.Sprintf("window %s: t-SNE, z-scored (n=%d%s, perplexity %.4g, seed %d)", o.Embed, len(rows), sub, ti.Perplexity, o.Seed)
		axis = "t-SNE"
		for k, v := range map[string]any{"perplexity": ti.Perplexity, "requested_perplexity": req, "seed": o.Seed,
			"learning_rate": ti.LearningRate, "iterations": ti.Iterations, "kl": ti.KL, "embedded": len(rows)} {
			info[k] = v
		}
		meta["perplexity"], meta["requested_perplexity"], meta["seed"] = perp, strconv.FormatFloat(req, 'g', -1, 64), seed
		meta["embedded"], meta["iterations"] = strconv.Itoa(len(rows)), strconv.Itoa(ti.Iterations)
	}
	var csv strings.Builder
	csv.WriteString("clip,window_start,label,x,y,method,perplexity,seed\n")
	for i, k := range keys {
		fmt.Fprintf(&csv, "%s,%d,%d,%g,%g,%s,%s,%s\n", k.id, k.start, labels[i], xy[i][0], xy[i][1], method, perp, seed)
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(o.Out, "embedding"+suffix+".csv"), []byte(csv.String())); err != nil {
		return nil, err
	}
	return info, anomaly.PlotEmbedding(xy, labels, title, axis, meta, filepath.Join(o.Out, "embedding"+suffix+".png"))
}
