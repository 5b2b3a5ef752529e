package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"

	"github.com/thinkjepa/thinkjepa/arch"
	"github.com/thinkjepa/thinkjepa/internal/fsutil"
	"github.com/thinkjepa/thinkjepa/jepa"
	"github.com/thinkjepa/thinkjepa/nn/cpu"
	"github.com/thinkjepa/thinkjepa/weights"
)

// weights init writes a seeded, V-JEPA-2-initialised encoder. Real work loads released
// weights (weights import); this exists for the synthetic demo, tests and benchmarks,
// where no released checkpoint can be downloaded.
func init() {
	register(&command{
		name:    "weights init",
		summary: "write a randomly initialised (seeded) encoder checkpoint for an architecture preset or config",
		usage:   "--arch PRESET|config.json --out FILE [--seed S]",
		setup: func(fs *flag.FlagSet) func([]string) error {
			archName := fs.String("arch", "demo", "encoder preset (vit_large, vit_huge, vit_giant_xformers, vit_small, vit_tiny, demo, demo32) or a config .json")
			out := fs.String("out", "", "output checkpoint (.safetensors)")
			seed := fs.Uint64("seed", 1, "initialisation seed (recorded in the provenance)")
			overwrite := fs.Bool("overwrite", false, "replace an existing output")
			return func(args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				if err := requireFlags(fs, "out"); err != nil {
					return err
				}
				if err := fsutil.CheckNoClobber(*out, *overwrite); err != nil {
					return err
				}
				cfg, err := arch.Lookup(*archName)
				if err != nil {
					if cfg, err = arch.Load(*archName); err != nil {
						return fmt.Errorf("--arch %s: %w", *archName, err)
					}
				}
				e := cpu.New()
				enc, err := jepa.NewEncoder(e, cfg)
				if err != nil {
					return err
				}
				enc.Init(e, *seed)
				ck := &weights.Checkpoint{Tensors: map[string]*weights.Tensor{}}
				for _, p := range enc.Params.List() {
					name := weights.PrefixEncoder + p.Name
					ck.Tensors[name] = &weights.Tensor{Name: name, Shape: p.Shape, Data: e.ToHost(p.W)}
				}
				encJSON, err := json.Marshal(cfg)
				if err != nil {
					return err
				}
				ck.Config, err = json.Marshal(weights.ModelConfig{Encoder: encJSON})
				if err != nil {
					return err
				}
				ck.Provenance = weights.NewProvenance(fmt.Sprintf("random init, seed %d", *seed), "", "weights init")
				if err := ck.Save(*out); err != nil {
					return err
				}
				slog.Info("wrote initialised encoder", "out", *out, "arch", *archName, "params", enc.Params.Count(), "seed", *seed)
				return nil
			}
		},
	})
}
