package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/thinkjepa/thinkjepa/data/synth"
	"github.com/thinkjepa/thinkjepa/internal/fsutil"
)

func init() {
	register(&command{
		name:    "synth",
		summary: "write the built-in synthetic data set (EgoDex layout + a small Ego-Exo4D layout)",
		usage:   "--out DIR [flags]",
		setup: func(fs *flag.FlagSet) func([]string) error {
			out := fs.String("out", "", "output directory (required)")
			n := fs.Int("episodes", 48, "number of EgoDex-layout episodes")
			egoexo := fs.Int("egoexo", 6, "number of Ego-Exo4D-layout takes under OUT/egoexo4d (0: none)")
			seed := fs.Uint64("seed", 1, "random seed")
			w := fs.Int("width", 384, "EgoDex video width (K scaled from 1920×1080)")
			h := fs.Int("height", 216, "EgoDex video height")
			workers := fs.Int("workers", 2, "episodes generated in parallel")
			overwrite := fs.Bool("overwrite", false, "write into a non-empty OUT")
			kinds := fs.String("anomaly-kinds", strings.Join(synth.EventKinds, ","), "comma-separated event kinds the anomalous episodes cycle through ("+strings.Join(synth.AllEventKinds, ", ")+")")
			anomalies := fs.Float64("anomalies", 0, "add ceil(RATE × episodes) held-out episodes with one labelled anomalous event each (jump, freeze, swap, repeat); labels in OUT/labels")
			return func(args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				if err := requireFlags(fs, "out"); err != nil {
					return err
				}
				if *n < 1 {
					return usageErrorf("--episodes must be ≥ 1, got %d", *n)
				}
				if *egoexo < 0 {
					return usageErrorf("--egoexo must be ≥ 0, got %d", *egoexo)
				}
				// H.264 in 4:2:0 needs even sizes; synth would silently replace a
				// non-positive size by the default.
				if *w < 16 || *h < 16 || *w%2 != 0 || *h%2 != 0 {
					return usageErrorf("--width and --height must be even and ≥ 16, got %d×%d", *w, *h)
				}
				if !(*anomalies >= 0 && *anomalies <= 10) {
					return usageErrorf("--anomalies must be a rate in [0, 10], got %v", *anomalies)
				}
				var kindList []string
				for _, k := range strings.Split(*kinds, ",") {
					if k = strings.TrimSpace(k); k == "" {
						continue
					}
					if !slices.Contains(synth.AllEventKinds, k) {
						return usageErrorf("--anomaly-kinds: unknown kind %q (want %s)", k, strings.Join(synth.AllEventKinds, ", "))
					}
					kindList = append(kindList, k)
				}
				if *anomalies == 0 {
					kindList = nil // recorded in synth.json only with anomalies
				} else if len(kindList) == 0 {
					return usageErrorf("--anomaly-kinds is empty")
				}
				if *workers < 1 {
					return usageErrorf("--workers must be ≥ 1, got %d", *workers)
				}
				if fsutil.Exists(filepath.Join(*out, "synth.json")) && !*overwrite {
					return fmt.Errorf("%s already holds a synthetic set (synth.json); pass --overwrite to regenerate", *out)
				}
				if err := os.MkdirAll(*out, 0o755); err != nil {
					return err
				}
				t0 := time.Now()
				err := synth.Write(*out, synth.Options{Episodes: *n, EgoExo: *egoexo, Seed: *seed, W: *w, H: *h, Workers: *workers, Anomalies: *anomalies, AnomalyKinds: kindList})
				if err != nil {
					return err
				}
				slog.Info("synth: done", "out", *out, "episodes", *n, "egoexo_takes", *egoexo, "seed", *seed, "anomaly_rate", *anomalies, "seconds", time.Since(t0).Seconds())
				return nil
			}
		},
	})
}
