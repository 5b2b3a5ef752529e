package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/thinkjepa/thinkjepa/eval"
	"github.com/thinkjepa/thinkjepa/eval/report"
)

// namedFlags collects repeated NAME=PATH flags in order.
type namedFlags []report.Named

func (n *namedFlags) String() string {
	parts := make([]string, len(*n))
	for i, x := range *n {
		parts[i] = x.Name + "=" + x.Path
	}
	return strings.Join(parts, ",")
}

func (n *namedFlags) Set(s string) error {
	name, path, ok := strings.Cut(s, "=")
	if !ok || name == "" || path == "" {
		return fmt.Errorf("want NAME=PATH, got %q", s)
	}
	*n = append(*n, report.Named{Name: name, Path: path})
	return nil
}

func init() {
	register(&command{
		name:    "report",
		summary: "write results.md/json and PNG plots comparing prediction folders and training logs",
		usage:   "--run NAME=PREDDIR [--run ...] [--metrics NAME=metrics.jsonl ...] --out REPORTDIR",
		setup: func(fs *flag.FlagSet) func([]string) error {
			var runs, logs namedFlags
			fs.Var(&runs, "run", "NAME=PREDDIR, a model's prediction folder (repeatable; the first gives the clips drawn)")
			fs.Var(&logs, "metrics", "NAME=metrics.jsonl, a training log for the curves (repeatable)")
			out := fs.String("out", "", "report folder to create")
			overwrite := fs.Bool("overwrite", false, "replace an existing report folder")
			subset := fs.String("subset", "all52", "joints: "+strings.Join(eval.SubsetNames, "|"))
			horizons := fs.String("horizons", "4,8,16,32", "comma-separated horizons (steps)")
			thr := fs.Float64("thr", eval.DefaultThr, "accuracy threshold in metres")
			clips := fs.Int("clips", 3, "clips drawn as trajectory plots")
			return func(args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				if len(runs) == 0 || *out == "" {
					return usageErrorf("at least one --run and --out are required")
				}
				if _, err := eval.Subset(*subset); err != nil {
					return usageErrorf("%v", err)
				}
				hs, err := parseHorizons(*horizons)
				if err != nil {
					return usageErrorf("--horizons: %v", err)
				}
				if !(*thr > 0) || *clips < 0 { // !(>0) also catches NaN
					return usageErrorf("--thr must be positive and --clips non-negative")
				}
				n := *clips
				if n == 0 {
					n = -1 // no trajectory plots
				}
				s, err := report.Write(report.Options{Runs: runs, Logs: logs, Out: *out, Overwrite: *overwrite,
					Eval: eval.Config{Subset: *subset, Thr: *thr, Horizons: hs}, TrajClips: n})
				if err != nil {
					return err
				}
				fmt.Print(report.Markdown(s))
				fmt.Printf("\nreport written to %s\n", *out)
				return nil
			}
		},
	})
}
