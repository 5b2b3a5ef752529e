package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/thinkjepa/thinkjepa/train"
)

func init() {
	register(&command{
		name:    "train",
		summary: "train ThinkJEPA (or its JEPA-only / VLM-only ablations) on cached features",
		usage:   "--config run.json [flags]",
		setup: func(fs *flag.FlagSet) func([]string) error {
			cfgPath := fs.String("config", "", "run configuration JSON (required; see package train RunConfig)")
			out := fs.String("out", "", "run folder (overrides the config's out)")
			mode := fs.String("mode", "", "thinkjepa, jepa-only or vlm-only (overrides the config's mode)")
			recursive := fs.Bool("recursive", false, "train the recursive-rollout model: 4 observed → 4 future frames (model-spec §4.8)")
			epochs := fs.Int("epochs", 0, "epochs (overrides the config)")
			task := fs.String("task", "", "trajectory or latent_anomaly (overrides the config's task; latent_anomaly windows: the config's \"anomaly\" {past, future, stride}, default 32/16/16)")
			seed := fs.Uint64("seed", 0, "seed (overrides the config; recorded in every checkpoint)")
			resume := fs.Bool("resume", true, "continue OUT/latest.safetensors when it exists")
			overwrite := fs.Bool("overwrite", false, "discard an existing run in OUT (with -resume=false)")
			dev := addDeviceFlags(fs)
			return func(args []string) error {
				if len(args) > 0 {
					return usageErrorf("unexpected arguments %v", args)
				}
				if *cfgPath == "" {
					return usageErrorf("--config is required")
				}
				raw, err := os.ReadFile(*cfgPath)
				if err != nil {
					return err
				}
				if *task != "" {
					// The task decides defaults inside ParseRunConfig (windows, layout), so
					// it goes into the JSON before parsing rather than onto the result.
					var m map[string]json.RawMessage
					if err := json.Unmarshal(raw, &m); err != nil {
						return fmt.Errorf("%s: run config: %w", *cfgPath, err)
					}
					m["task"], _ = json.Marshal(*task)
					if raw, err = json.Marshal(m); err != nil {
						return err
					}
				}
				rc, err := train.ParseRunConfig(raw)
				if err != nil {
					return fmt.Errorf("%s: %w", *cfgPath, err)
				}
				if *out != "" {
					rc.Out = *out
				}
				if *mode != "" {
					rc.Mode = train.Mode(*mode)
					if err := rc.Mode.Validate(); err != nil {
						return usageErrorf("%v", err)
					}
				}
				if *recursive {
					rc.Data.Recursive = 4
				}
				if *epochs > 0 {
					rc.Loop.Epochs = *epochs
				}
				if *seed != 0 {
					rc.Loop.Seed = *seed
				}
				if rc.Out == "" {
					return usageErrorf("%s: \"out\" (the run folder) is empty: set it in the config or pass --out", *cfgPath)
				}
				e, err := dev.engine()
				if err != nil {
					return err
				}
				if err := train.Train(e, rc, *resume, *overwrite); err != nil {
					return fmt.Errorf("train --config %s: %w", *cfgPath, err)
				}
				return nil
			}
		},
	})
}
