package main

import (
	"flag"
	"os"

	"github.com/thinkjepa/thinkjepa/train"
)

func init() {
	register(&command{
		name:    "forecast",
		summary: "forecast hand trajectories for many clips with a trained checkpoint (prediction folder)",
		usage:   "--ckpt C --data CLIPS --out DIR [flags]",
		setup: func(fs *flag.FlagSet) func([]string) error {
			ckpt := fs.String("ckpt", "", "checkpoint (best.ckpt.npz or latest.safetensors of a train run; required)")
			clips := fs.String("data", "", "folder of clip .npz files (required)")
			feats := fs.String("features", "", "folder of per-clip V-JEPA feature files (default: DATA/../features when it exists, else the latents come from the --thinker caches: upstream's combined caches, vjepa_feats)")
			thinker := fs.String("thinker", "", "folder of thinker caches (default: DATA/../thinker; needed by guided models)")
			out := fs.String("out", "", "prediction folder (required)")
			dev := addDeviceFlags(fs)
			shard := addShardFlag(fs, "forecast the batches (of --batch clips)")
			horizons := fs.String("horizons", "", "recursive models: comma-separated horizons in frames (default 4,8,16,32)")
			batch := fs.Int("batch", 8, "clips per forward pass")
			model := fs.String("model", "", "model name written into the predictions (default: the run's mode)")
			return func(args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				if err := requireFlags(fs, "ckpt", "data", "out"); err != nil {
					return err
				}
				hs, err := parseHorizons(*horizons)
				if err != nil {
					return usageErrorf("--horizons: %v", err)
				}
				if *batch < 1 {
					return usageErrorf("--batch must be ≥ 1, got %d", *batch)
				}
				dc := train.DataConfig{Clips: *clips, Features: *feats, Thinker: *thinker}
				if def := *clips + "/../features"; dc.Features == "" && isDir(def) {
					dc.Features = def
				}
				if dc.Thinker == "" {
					dc.Thinker = *clips + "/../thinker"
				}
				e, err := dev.engine()
				if err != nil {
					return err
				}
				return train.Forecast(e, train.ForecastOptions{Ckpt: *ckpt, Data: dc, Out: *out, Shard: shard.I, NumShards: shard.N,
					BatchSize: *batch, Horizons: hs, Model: *model})
			}
		},
	})
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
