package main

import (
	"flag"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/thinkjepa/thinkjepa/anomaly"

	"github.com/thinkjepa/thinkjepa/internal/fsutil"
	"github.com/thinkjepa/thinkjepa/train"
)

func init() {
	register(&command{
		name:    "anomaly",
		summary: "score clips for latent anomalies with a trained predictor (per-frame scores, plots, ROC AUC against labels)",
		usage:   "(--ckpt C | --baseline B --past N --future N) --features F [--thinker T] [--labels DIR] --out DIR [flags]",
		setup: func(fs *flag.FlagSet) func([]string) error {
			ckpt := fs.String("ckpt", "", "checkpoint of a train run; its predictor's past/future frames are the window (with --baseline: only the windows are taken from it)")
			feats := fs.String("features", "", "folder of per-clip feature files: ours (vjepa_input/target_feats) or upstream's vjepa_feats (required)")
			thinker := fs.String("thinker", "", "folder of thinker caches (needed by guided models)")
			labels := fs.String("labels", "", "folder of frame labels (.npy/.npz/.txt/.csv/.json, searched recursively, matched by file stem); clips without labels are scored and reported as unlabelled")
			out := fs.String("out", "", "output folder (required): clips/<id>/scores.csv and scores.png, summary.json, summary.md")
			overwrite := fs.Bool("overwrite", false, "replace an existing summary in --out")
			shard := addShardFlag(fs, "score the clips")
			stride := fs.Int("stride", 0, "frames between window starts (0: the predictor's future frames, as upstream's --anomaly_stride 0)")
			thr := fs.Float64("threshold", 1.0, "flag rule score > threshold, in latent units (upstream's --anomaly_threshold)")
			fpr := fs.Float64("fpr", 0.05, "target false-positive rate for the threshold calibrated on normal labelled clips")
			batch := fs.Int("batch", 8, "windows per forward pass")
			embed := fs.String("embed", "abs_error", "embedding plot of per-window vectors: abs_error, signed_error, target, concat, or none")
			method := fs.String("embed-method", "tsne", "how the embedding is drawn: tsne (exact t-SNE, upstream's) or pca")
			perplexity := fs.Float64("perplexity", anomaly.TSNEDefaultPerplexity, "t-SNE perplexity; the run uses min(p, max(2, (windows−1)/3)) as upstream")
			seed := fs.Uint64("seed", anomaly.TSNEDefaultSeed, "t-SNE seed (the same seed gives the same picture)")
			embedMax := fs.Int("embed-max", anomaly.TSNEMaxPoints, "most windows t-SNE embeds (O(n²) time and memory); above it an even subsample is embedded, and the plot says so")
			baseline := fs.String("baseline", "", "score with a baseline instead of the predictor: frame-diff (latent change between consecutive tubelets) or copy-last (predict the last context frame)")
			past := fs.Int("past", 0, "with --baseline and no --ckpt: context frames of a window")
			future := fs.Int("future", 0, "with --baseline and no --ckpt: target frames of a window")
			dev := addDeviceFlags(fs)
			return func(args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				if err := requireFlags(fs, "features", "out"); err != nil {
					return err
				}
				switch {
				case *baseline != "" && !slices.Contains(anomaly.Baselines, *baseline):
					return usageErrorf("--baseline must be %s, got %q", strings.Join(anomaly.Baselines, " or "), *baseline)
				case *ckpt == "" && *baseline == "":
					return usageErrorf("--ckpt is required (or --baseline with --past and --future)")
				case *ckpt == "" && (*past < 1 || *future < 1):
					return usageErrorf("--baseline without --ckpt needs --past and --future ≥ 1, got %d and %d", *past, *future)
				case *ckpt != "" && (*past != 0 || *future != 0):
					return usageErrorf("--past/--future are taken from --ckpt; give one or the other")
				}
				if *stride < 0 {
					return usageErrorf("--stride must be ≥ 0, got %d", *stride)
				}
				if *batch < 1 {
					return usageErrorf("--batch must be ≥ 1, got %d", *batch)
				}
				if math.IsNaN(*thr) || math.IsInf(*thr, 0) {
					return usageErrorf("--threshold must be finite, got %v", *thr)
				}
				if !(*fpr >= 0 && *fpr < 1) {
					return usageErrorf("--fpr must be in [0, 1), got %v", *fpr)
				}
				switch *embed {
				case "abs_error", "signed_error", "target", "concat", "none":
				default:
					return usageErrorf("--embed must be abs_error, signed_error, target, concat or none, got %q", *embed)
				}
				if *method != "tsne" && *method != "pca" {
					return usageErrorf("--embed-method must be tsne or pca, got %q", *method)
				}
				if !(*perplexity > 0) || math.IsInf(*perplexity, 0) {
					return usageErrorf("--perplexity must be positive and finite, got %v", *perplexity)
				}
				if *embedMax < 2 {
					return usageErrorf("--embed-max must be ≥ 2, got %d", *embedMax)
				}
				name := "summary.json"
				if shard.N > 1 {
					name = fmt.Sprintf("summary.shard-%d-of-%d.json", shard.I, shard.N)
				}
				if err := fsutil.CheckNoClobber(filepath.Join(*out, name), *overwrite); err != nil {
					return err
				}
				e, err := dev.engine()
				if err != nil {
					return err
				}
				return train.Anomaly(e, train.AnomalyOptions{Ckpt: *ckpt, Features: *feats, Thinker: *thinker, Labels: *labels,
					Out: *out, Shard: shard.I, NumShards: shard.N, Stride: *stride, Threshold: *thr, FPR: *fpr, BatchSize: *batch, Embed: *embed,
					EmbedMethod: *method, Perplexity: *perplexity, Seed: *seed, EmbedMax: *embedMax,
					Baseline: *baseline, Past: *past, Future: *future})
			}
		},
	})
}
