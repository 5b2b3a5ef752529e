package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/thinkjepa/thinkjepa/nn/cpu"
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
			feats := fs.String("features", "", "folder of per-clip V-JEPA feature files (default: DATA/../features)")
			thinker := fs.String("thinker", "", "folder of thinker caches (default: DATA/../thinker; needed by guided models)")
			out := fs.String("out", "", "prediction folder (required)")
			shard := fs.String("shard", "0/1", "i/n: forecast clips with index ≡ i (mod n), for job arrays")
			horizons := fs.String("horizons", "", "recursive models: comma-separated horizons in frames (default 4,8,16,32)")
			batch := fs.Int("batch", 8, "clips per forward pass")
			model := fs.String("model", "", "model name written into the predictions (default: the run's mode)")
			return func(args []string) error {
				if len(args) > 0 {
					return usageErrorf("unexpected arguments %v", args)
				}
				if *ckpt == "" || *clips == "" || *out == "" {
					return usageErrorf("--ckpt, --data and --out are required")
				}
				i, n, err := parseForecastShard(*shard)
				if err != nil {
					return usageErrorf("%v", err)
				}
				var hs []int
				if *horizons != "" {
					for _, f := range strings.Split(*horizons, ",") {
						h, err := strconv.Atoi(strings.TrimSpace(f))
						if err != nil || h <= 0 {
							return usageErrorf("--horizons: %q is not a positive integer", f)
						}
						hs = append(hs, h)
					}
				}
				dc := train.DataConfig{Clips: *clips, Features: *feats, Thinker: *thinker}
				if dc.Features == "" {
					dc.Features = *clips + "/../features"
				}
				if dc.Thinker == "" {
					dc.Thinker = *clips + "/../thinker"
				}
				return train.Forecast(cpu.New(), train.ForecastOptions{Ckpt: *ckpt, Data: dc, Out: *out, Shard: i, NumShards: n,
					BatchSize: *batch, Horizons: hs, Model: *model})
			}
		},
	})
}

func parseForecastShard(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("--shard %q: want i/n with 0 ≤ i < n", s)
	}
	return i, n, nil
}
