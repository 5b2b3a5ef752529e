// Package report turns prediction folders and training logs into a results folder:
// results.md and results.json (per model, per horizon, per split) and PNG plots
// (trajectories in the last observed frame, ADE against horizon, training curves).
package report

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/thinkjepa/thinkjepa/eval"
	"github.com/thinkjepa/thinkjepa/eval/predfile"
	"github.com/thinkjepa/thinkjepa/internal/buildinfo"
	"github.com/thinkjepa/thinkjepa/internal/fsutil"
)

// Named pairs a display name with a path (a prediction folder or a metrics log).
type Named struct {
	Name, Path string
}

// Options configure a report.
type Options struct {
	Runs      []Named
	Logs      []Named
	Out       string
	Overwrite bool
	Eval      eval.Config
	TrajClips int // clips drawn as trajectory plots; 0 = 3
}

// RunResult is one model's entry in results.json.
type RunResult struct {
	Dir    string        `json:"dir"`
	Run    *predfile.Run `json:"run,omitempty"`
	Result *eval.Result  `json:"result"`
}

// Summary is results.json.
type Summary struct {
	Created  string                     `json:"created"`
	Versions buildinfo.Info             `json:"versions"`
	Config   eval.Config                `json:"config"`
	Order    []string                   `json:"order"`
	Runs     map[string]RunResult       `json:"runs"`
	Training map[string]TrainingSummary `json:"training,omitempty"`
	Plots    []string                   `json:"plots"`
}

var safeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Write builds the report in a temporary sibling folder and renames it into place, so
// Out is either the old report or the complete new one.
func Write(o Options) (*Summary, error) {
	if len(o.Runs) == 0 {
		return nil, fmt.Errorf("report: no runs (pass --run NAME=PREDDIR)")
	}
	if o.Out == "" {
		return nil, fmt.Errorf("report: no output folder")
	}
	if err := fsutil.CheckNoClobber(o.Out, o.Overwrite); err != nil {
		return nil, err
	}
	if o.TrajClips == 0 {
		o.TrajClips = 3
	}
	if o.Eval.Subset == "" {
		o.Eval.Subset = "all52"
	}
	if o.Eval.Thr == 0 {
		o.Eval.Thr = eval.DefaultThr
	}
	if o.Eval.Horizons == nil {
		o.Eval.Horizons = eval.DefaultHorizons
	}
	seen := map[string]bool{}
	for _, n := range append(append([]Named(nil), o.Runs...), o.Logs...) {
		if n.Name == "" || n.Path == "" {
			return nil, fmt.Errorf("report: empty name or path in %q=%q", n.Name, n.Path)
		}
	}
	for _, r := range o.Runs {
		if seen[r.Name] {
			return nil, fmt.Errorf("report: run name %q given twice", r.Name)
		}
		seen[r.Name] = true
	}

	s := &Summary{Created: time.Now().UTC().Format(time.RFC3339), Versions: buildinfo.Get(), Config: o.Eval,
		Runs: map[string]RunResult{}}
	loaded := map[string]*eval.Loaded{}
	results := map[string]*eval.Result{}
	for _, r := range o.Runs {
		l, err := eval.LoadDir(r.Path)
		if err != nil {
			return nil, fmt.Errorf("run %s: %w", r.Name, err)
		}
		res, err := eval.Evaluate(l.Batch, l.Splits, o.Eval)
		if err != nil {
			return nil, fmt.Errorf("run %s (%s): %w", r.Name, r.Path, err)
		}
		rr := RunResult{Dir: r.Path, Result: res}
		if run, err := predfile.ReadRun(r.Path); err == nil {
			rr.Run = run
		} else if !os.IsNotExist(err) {
			return nil, fmt.Errorf("run %s: %w", r.Name, err)
		}
		s.Order = append(s.Order, r.Name)
		s.Runs[r.Name] = rr
		loaded[r.Name], results[r.Name] = l, res
	}
	logs := map[string][]LogLine{}
	for _, lg := range o.Logs {
		lines, err := ReadMetricsLog(lg.Path)
		if err != nil {
			return nil, fmt.Errorf("metrics %s: %w", lg.Name, err)
		}
		if s.Training == nil {
			s.Training = map[string]TrainingSummary{}
		}
		s.Training[lg.Name] = Summarise(lg.Path, lines)
		logs[lg.Name] = lines
	}

	parent := filepath.Dir(filepath.Clean(o.Out))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(o.Out)+".tmp*")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}

	// Plots.
	plot := func(name string, f func(path string) error) {
		if err := f(filepath.Join(tmp, name)); err != nil {
			slog.Warn("plot skipped", "plot", name, "err", err)
			return
		}
		s.Plots = append(s.Plots, name)
	}
	plot("ade_vs_horizon.png", func(p string) error { return ADEvsHorizon(results, s.Order, p) })
	if len(logs) > 0 {
		curves := func(key string) []Series {
			var ss []Series
			for _, lg := range o.Logs {
				x, y := EpochSeries(logs[lg.Name], key)
				ss = append(ss, Series{Name: lg.Name, X: x, Y: y})
			}
			return ss
		}
		plot("training_loss.png", func(p string) error {
			return linePlot("training loss", "epoch", "train_loss (mean over the epoch's steps)", curves("train_loss"), p)
		})
		plot("training_val_ade.png", func(p string) error {
			ss := curves("val_ade")
			for i := range ss {
				for k := range ss[i].Y {
					ss[i].Y[k] *= 100
				}
			}
			return linePlot("validation ADE", "epoch", "val ADE (cm)", ss, p)
		})
	}
	joints := eval.Tips12()
	ref := loaded[s.Order[0]]
	for i, id := range ref.IDs {
		if i >= o.TrajClips {
			break
		}
		var runs []TrajRun
		for _, name := range s.Order {
			for k, other := range loaded[name].IDs {
				if other == id {
					runs = append(runs, TrajRun{Name: name, Pred: loaded[name].Preds[k]})
				}
			}
		}
		plot("traj_"+safeName.ReplaceAllString(id, "_")+".png", func(p string) error {
			return Trajectories(ref.Preds[i], runs, joints, p)
		})
	}

	// Tables.
	md := Markdown(s)
	if err := fsutil.WriteFileAtomic(filepath.Join(tmp, "results.md"), []byte(md)); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(tmp, "results.json"), append(b, '\n')); err != nil {
		return nil, err
	}

	// Swap into place.
	var old string
	if fsutil.Exists(o.Out) {
		old = tmp + ".old"
		if err := os.Rename(o.Out, old); err != nil {
			return nil, fmt.Errorf("moving the old report aside: %w", err)
		}
	}
	if err := os.Rename(tmp, o.Out); err != nil {
		if old != "" {
			os.Rename(old, o.Out)
		}
		return nil, fmt.Errorf("placing the report: %w", err)
	}
	ok = true
	if old != "" {
		os.RemoveAll(old)
	}
	return s, nil
}

func cm(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.2f", v*100)
}

func frac(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.3f", v)
}

// Markdown renders results.md. Distances are shown in cm here (the JSON keeps metres).
func Markdown(s *Summary) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "# Results\n\nJoints: %s. Acc threshold: %g m. Distances in cm. Created %s, thinkjepa %s (%s).\n\n",
		s.Config.Subset, s.Config.Thr, s.Created, s.Versions.Version, s.Versions.GoVersion)
	sb.WriteString("## Per model (ThinkJEPA protocol: per-sample means, unmasked)\n\n")
	sb.WriteString("| model | clips | steps | ADE | FDE | Acc | masked pooled ADE | masked pooled FDE |\n|---|---|---|---|---|---|---|---|\n")
	for _, name := range s.Order {
		r := s.Runs[name].Result
		pa, pf := "–", "–"
		if r.Pooled != nil {
			pa, pf = cm(r.Pooled.ADE), cm(r.Pooled.FDE)
		}
		fmt.Fprintf(&sb, "| %s | %d | %d | %s | %s | %s | %s | %s |\n", name, r.Samples, r.Steps,
			cm(r.ThinkJEPA.ADE), cm(r.ThinkJEPA.FDE), frac(r.ThinkJEPA.Acc), pa, pf)
	}
	sb.WriteString("\n## Per horizon (metrics on the first H future steps)\n\n| model |")
	hs := s.Config.Horizons
	for _, h := range hs {
		fmt.Fprintf(&sb, " ADE@%d | FDE@%d | Acc@%d |", h, h, h)
	}
	sb.WriteString("\n|---|" + strings.Repeat("---|---|---|", len(hs)) + "\n")
	for _, name := range s.Order {
		r := s.Runs[name].Result
		fmt.Fprintf(&sb, "| %s |", name)
		for _, h := range hs {
			found := false
			for _, row := range r.Horizons {
				if row.H == h {
					fmt.Fprintf(&sb, " %s | %s | %s |", cm(row.ADE), cm(row.FDE), frac(row.Acc))
					found = true
				}
			}
			if !found {
				sb.WriteString(" – | – | – |")
			}
		}
		sb.WriteString("\n")
	}
	sb.WriteString("\n## Per split\n\n| model | split | clips | ADE | FDE | Acc |\n|---|---|---|---|---|---|\n")
	for _, name := range s.Order {
		for _, sp := range s.Runs[name].Result.Splits {
			split := sp.Split
			if split == "" {
				split = "(none)"
			}
			fmt.Fprintf(&sb, "| %s | %s | %d | %s | %s | %s |\n", name, split, sp.Samples, cm(sp.ADE), cm(sp.FDE), frac(sp.Acc))
		}
	}
	if len(s.Training) > 0 {
		sb.WriteString("\n## Training (best validation ADE epoch)\n\n| run | epochs | best epoch | val ADE | val FDE | val Acc | last train loss |\n|---|---|---|---|---|---|---|\n")
		for _, name := range eval.SortedKeys(s.Training) {
			t := s.Training[name]
			fmt.Fprintf(&sb, "| %s | %d | %g | %s | %s | %s | %.4g |\n", name, t.Epochs, t.BestEpoch,
				cm(t.BestValADE), cm(t.ValFDEAtBest), frac(t.ValAccAtBest), t.LastTrainLoss)
		}
	}
	if len(s.Plots) > 0 {
		sb.WriteString("\n## Plots\n\n")
		for _, p := range s.Plots {
			fmt.Fprintf(&sb, "![%s](%s)\n", p, p)
		}
	}
	return sb.String()
}
