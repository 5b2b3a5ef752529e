package main

import (
	"flag"
	"fmt"
	"log/slog"

	"github.com/thinkjepa/thinkjepa/eval/baseline"
	"github.com/thinkjepa/thinkjepa/eval/baseline/dataclip"
	"github.com/thinkjepa/thinkjepa/eval/predfile"
	"github.com/thinkjepa/thinkjepa/internal/progress"
)

func init() {
	register(&command{
		name:    "baseline",
		summary: "write constant-velocity or stationary-hands forecasts as a prediction folder",
		usage:   "--kind constant-velocity|stationary --data MANIFEST|CLIPDIR --out DIR [flags]",
		setup: func(fs *flag.FlagSet) func([]string) error {
			kind := fs.String("kind", "", "constant-velocity | stationary")
			dataPath := fs.String("data", "", "manifest JSON or dataset root (episodes are sampled), or a folder of clip .npz files")
			out := fs.String("out", "", "prediction folder to write")
			split := fs.String("split", "", "only clips of this split (default: all)")
			smp := addSamplerFlags(fs, "", "T") // for manifests and dataset roots
			frames := fs.Bool("frames", false, "decode video to store the last observed frame (for report plots)")
			overwrite := fs.Bool("overwrite", false, "rewrite clips already in --out (default: finished clips are skipped)")
			return func(args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				k, err := baseline.ParseKind(*kind)
				if err != nil {
					return usageErrorf("--kind: %v", err)
				}
				if err := requireFlags(fs, "data", "out"); err != nil {
					return err
				}
				if err := smp.check(); err != nil {
					return err
				}
				model := "baseline-" + string(k)
				if r, err := predfile.ReadRun(*out); err == nil && r.Model != model && !*overwrite {
					return fmt.Errorf("%s holds predictions of %q, not %q (pass -overwrite to mix them)", *out, r.Model, model)
				}
				src, err := dataclip.Open(*dataPath, dataclip.Options{Sampler: smp.name, T: smp.T, Stride: smp.stride,
					Start: smp.start, Split: *split, Frames: *frames})
				if err != nil {
					return err
				}
				cfg := map[string]any{"kind": k, "data": *dataPath, "split": *split, "sampler": smp.name,
					"T": smp.T, "stride": smp.stride, "start": smp.start, "frames": *frames, "source": src.Desc}
				if err := predfile.WriteRun(*out, predfile.Run{Model: model, Config: cfg}); err != nil {
					return err
				}
				bar := progress.New(src.Count, model)
				written, skipped := 0, 0
				for i := range src.Count {
					c, err := src.Load(i)
					if err != nil {
						return err
					}
					bar.Add(1)
					if c == nil { // other split
						continue
					}
					if predfile.Done(*out, c.ID) && !*overwrite {
						skipped++
						continue
					}
					p, err := baseline.Forecast(k, c)
					if err != nil {
						return err
					}
					if err := predfile.Write(*out, c.ID, p); err != nil {
						return err
					}
					written++
				}
				bar.Finish()
				if written+skipped == 0 {
					return fmt.Errorf("%s: no clips matched (split %q)", *dataPath, *split)
				}
				slog.Info("baseline done", "kind", k, "out", *out, "written", written, "skipped_existing", skipped)
				return nil
			}
		},
	})
}
