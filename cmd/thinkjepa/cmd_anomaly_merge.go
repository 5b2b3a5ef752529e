package main

import (
	"flag"

	"github.com/thinkjepa/thinkjepa/train"
)

func init() {
	register(&command{
		name:    "anomaly merge",
		summary: "pool the shards of an `anomaly --shard i/n` run into one summary (recomputed from every clip's scores)",
		usage:   "--out DIR [--overwrite]",
		setup: func(fs *flag.FlagSet) func([]string) error {
			out := fs.String("out", "", "the --out folder the shards wrote (required): summary.shard-i-of-n.json and clips/<id>/scores.csv; writes summary.json, summary.md and redraws the clip plots with the pooled calibrated threshold")
			overwrite := fs.Bool("overwrite", false, "replace an existing summary.json")
			return func(args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				if err := requireFlags(fs, "out"); err != nil {
					return err
				}
				return train.AnomalyMerge(*out, *overwrite)
			}
		},
	})
}
