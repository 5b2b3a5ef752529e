package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/thinkjepa/thinkjepa/eval"
	"github.com/thinkjepa/thinkjepa/internal/buildinfo"
	"github.com/thinkjepa/thinkjepa/internal/fsutil"
)

// evalOutput is what --json writes: the inputs, the configuration, the versions and the
// results, so that a number can always be traced back.
type evalOutput struct {
	Pred     []string       `json:"pred"`
	BestOfK  int            `json:"best_of_k,omitempty"` // K > 1: per clip the candidate with the lowest ADE
	Chosen   []int          `json:"chosen,omitempty"`    // the chosen candidate per clip
	GT       string         `json:"gt,omitempty"`
	Mask     string         `json:"mask,omitempty"`
	Created  string         `json:"created"`
	Versions buildinfo.Info `json:"versions"`
	Result   *eval.Result   `json:"result"`
}

// loadPred reads one prediction folder or .npy array; an array [B,K,T,52,3] gives K
// candidate sets.
func loadPred(pred, gt, mask string) ([]*eval.Loaded, error) {
	if eval.IsNPY(pred) {
		return eval.LoadNPY(pred, gt, mask)
	}
	st, err := os.Stat(pred)
	switch {
	case err != nil:
		return nil, err
	case !st.IsDir():
		return nil, usageErrorf("--pred %s is neither a prediction folder nor a .npy file", pred)
	case gt != "" || mask != "":
		return nil, usageErrorf("--gt and --mask apply to .npy predictions; a prediction folder carries gt and mask in each clip's npz")
	}
	l, err := eval.LoadDir(pred)
	if err != nil {
		return nil, err
	}
	return []*eval.Loaded{l}, nil
}

func init() {
	register(&command{
		name:    "eval",
		summary: "score predictions (ADE/FDE/Acc, masked, pooled, per horizon, per split)",
		usage:   "--pred DIR|pred.npy [--gt gt.npy] [--mask mask.npy] [flags]",
		setup: func(fs *flag.FlagSet) func([]string) error {
			var preds stringList
			fs.Var(&preds, "pred", "prediction folder (<clip>.npz with gt inside) or pred.npy [B,T,52,3]; best-of-K: repeat it, or give pred.npy [B,K,T,52,3]")
			gt := fs.String("gt", "", "ground truth .npy [B,T,52,3] (only with a .npy --pred)")
			mask := fs.String("mask", "", "validity .npy [B,T,52] (only with a .npy --pred)")
			jsonOut := fs.String("json", "", "also write the results as JSON to this file")
			overwrite := fs.Bool("overwrite", false, "replace an existing --json file")
			subset := fs.String("subset", "all52", "joints: "+strings.Join(eval.SubsetNames, "|"))
			horizons := fs.String("horizons", "4,8,16,32", "comma-separated horizons (steps) for the per-horizon table")
			thr := fs.Float64("thr", eval.DefaultThr, "accuracy threshold in metres")
			return func(args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				if len(preds) == 0 {
					return usageErrorf("--pred is required")
				}
				if !(*thr > 0) { // also NaN
					return usageErrorf("--thr must be positive")
				}
				joints, err := eval.Subset(*subset)
				if err != nil {
					return usageErrorf("%v", err)
				}
				hs, err := parseHorizons(*horizons)
				if err != nil {
					return usageErrorf("--horizons: %v", err)
				}
				if *jsonOut != "" {
					if err := fsutil.CheckNoClobber(*jsonOut, *overwrite); err != nil {
						return err
					}
				}
				var sets []*eval.Loaded
				for _, p := range preds {
					ls, err := loadPred(p, *gt, *mask)
					if err != nil {
						return err
					}
					sets = append(sets, ls...)
				}
				l, title := sets[0], preds[0]
				var chosen []int
				if len(sets) > 1 {
					if l, chosen, err = eval.BestOfLoaded(sets, joints); err != nil {
						return err
					}
					title = fmt.Sprintf("best of %d: %s", len(sets), strings.Join(preds, ", "))
				}
				res, err := eval.Evaluate(l.Batch, l.Splits, eval.Config{Subset: *subset, Thr: *thr, Horizons: hs})
				if err != nil {
					return fmt.Errorf("%s: %w", preds[0], err)
				}
				fmt.Print(res.Markdown(title))
				if *jsonOut != "" {
					out := evalOutput{Pred: preds, Chosen: chosen, GT: *gt, Mask: *mask, Created: time.Now().UTC().Format(time.RFC3339),
						Versions: buildinfo.Get(), Result: res}
					if len(sets) > 1 {
						out.BestOfK = len(sets)
					}
					b, err := json.MarshalIndent(out, "", "  ")
					if err != nil {
						return err
					}
					if err := fsutil.WriteFileAtomic(*jsonOut, append(b, '\n')); err != nil {
						return err
					}
				}
				return nil
			}
		},
	})
}
