package eval

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/thinkjepa/thinkjepa/eval/predfile"
	"github.com/thinkjepa/thinkjepa/internal/npy"
)

// DefaultHorizons are the rollout horizons of model-spec §4.8.
var DefaultHorizons = []int{4, 8, 16, 32}

// Config is what an evaluation scored; it is recorded with the results.
type Config struct {
	Subset   string  `json:"subset"`
	Thr      float64 `json:"thr"`
	Horizons []int   `json:"horizons"`
}

// Result is the full evaluation of one set of predictions.
type Result struct {
	Config  Config `json:"config"`
	Samples int    `json:"samples"`
	Steps   int    `json:"steps"`
	HasMask bool   `json:"has_mask"`
	// ThinkJEPA is the paper's protocol: per-sample means, no mask.
	ThinkJEPA Metrics `json:"thinkjepa"`
	// Masked (per-sample over valid entries) and Pooled (EgoH4: over all valid
	// entries) are present when a mask was given.
	Masked *Metrics `json:"masked,omitempty"`
	Pooled *Metrics `json:"pooled,omitempty"`
	// Horizons: ThinkJEPA metrics on the first H steps; PooledHorizons the masked pooled ones.
	Horizons       []HorizonRow `json:"horizons"`
	PooledHorizons []HorizonRow `json:"pooled_horizons,omitempty"`
	// Splits: ThinkJEPA metrics per split (prediction folders only), in first-seen order.
	Splits []SplitRow `json:"splits,omitempty"`
}

// SplitRow holds one split's metrics.
type SplitRow struct {
	Split string `json:"split"`
	Metrics
	Pooled *Metrics `json:"pooled,omitempty"`
}

// MarshalJSON writes NaN (FDE with no valid last step) as null, which JSON allows.
func (m Metrics) MarshalJSON() ([]byte, error) {
	f := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	return json.Marshal(struct {
		ADE     *float64 `json:"ade"`
		FDE     *float64 `json:"fde"`
		Acc     *float64 `json:"acc"`
		Samples int      `json:"samples"`
		Entries int      `json:"entries"`
	}{f(m.ADE), f(m.FDE), f(m.Acc), m.Samples, m.Entries})
}

// UnmarshalJSON reads what MarshalJSON writes (null → NaN).
func (m *Metrics) UnmarshalJSON(b []byte) error {
	var v struct {
		ADE, FDE, Acc    *float64
		Samples, Entries int
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	g := func(p *float64) float64 {
		if p == nil {
			return math.NaN()
		}
		return *p
	}
	*m = Metrics{ADE: g(v.ADE), FDE: g(v.FDE), Acc: g(v.Acc), Samples: v.Samples, Entries: v.Entries}
	return nil
}

// Evaluate scores a batch with the configured subset, threshold and horizons. splits,
// if non-nil, names each sample's split for per-split rows.
func Evaluate(b Batch, splits []string, cfg Config) (*Result, error) {
	if cfg.Subset == "" {
		cfg.Subset = "all52"
	}
	if cfg.Thr == 0 {
		cfg.Thr = DefaultThr
	}
	if cfg.Horizons == nil {
		cfg.Horizons = DefaultHorizons
	}
	if err := b.Check(); err != nil {
		return nil, err
	}
	joints, err := Subset(cfg.Subset)
	if err != nil {
		return nil, err
	}
	if b.J != len(All52()) {
		return nil, fmt.Errorf("batch has %d joints, the named subsets need the 52-slot layout", b.J)
	}
	if splits != nil && len(splits) != b.B {
		return nil, fmt.Errorf("%d split names for %d samples", len(splits), b.B)
	}
	base := Options{Joints: joints, Thr: cfg.Thr}
	pooled := Options{Joints: joints, Thr: cfg.Thr, UseMask: true, Agg: Pooled}
	r := &Result{Config: cfg, Samples: b.B, Steps: b.T, HasMask: b.Mask != nil}
	e := b.Errors()
	if r.ThinkJEPA, err = compute(b, e, base); err != nil {
		return nil, err
	}
	if r.HasMask {
		mk := base
		mk.UseMask = true
		m, err := compute(b, e, mk)
		if err != nil {
			return nil, fmt.Errorf("masked: %w", err)
		}
		p, err := compute(b, e, pooled)
		if err != nil {
			return nil, fmt.Errorf("pooled: %w", err)
		}
		r.Masked, r.Pooled = &m, &p
	}
	for _, h := range cfg.Horizons {
		if h <= 0 || h > b.T {
			continue
		}
		o := base
		o.Horizon = h
		m, err := compute(b, e, o)
		if err != nil {
			return nil, fmt.Errorf("horizon %d: %w", h, err)
		}
		r.Horizons = append(r.Horizons, HorizonRow{H: h, Metrics: m})
		if r.HasMask {
			o = pooled
			o.Horizon = h
			if m, err := compute(b, e, o); err == nil {
				r.PooledHorizons = append(r.PooledHorizons, HorizonRow{H: h, Metrics: m})
			}
		}
	}
	if splits != nil {
		order, groups := GroupBy(splits)
		for _, name := range order {
			sb := b.Select(groups[name])
			m, err := compute(sb, sb.Errors(), base)
			if err != nil {
				return nil, fmt.Errorf("split %q: %w", name, err)
			}
			row := SplitRow{Split: name, Metrics: m}
			if r.HasMask {
				if p, err := compute(sb, sb.Errors(), pooled); err == nil {
					row.Pooled = &p
				}
			}
			r.Splits = append(r.Splits, row)
		}
	}
	return r, nil
}

// Markdown renders the result as tables (values in metres, as everywhere in eval).
func (r *Result) Markdown(title string) string {
	var sb strings.Builder
	if title != "" {
		fmt.Fprintf(&sb, "### %s\n\n", title)
	}
	fmt.Fprintf(&sb, "%d samples × %d steps, joints %s, Acc@%g m\n\n", r.Samples, r.Steps, r.Config.Subset, r.Config.Thr)
	sb.WriteString("| protocol | ADE (m) | FDE (m) | Acc | entries |\n|---|---|---|---|---|\n")
	row := func(name string, m Metrics) {
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %d |\n", name, f4(m.ADE), f4(m.FDE), f4(m.Acc), m.Entries)
	}
	row("ThinkJEPA (per-sample, unmasked)", r.ThinkJEPA)
	if r.Masked != nil {
		row("masked, per-sample", *r.Masked)
	}
	if r.Pooled != nil {
		row("masked, pooled (EgoH4)", *r.Pooled)
	}
	if len(r.Horizons) > 0 {
		sb.WriteString("\n| H | ADE | FDE | Acc |")
		if len(r.PooledHorizons) > 0 {
			sb.WriteString(" pooled ADE | pooled FDE |")
		}
		sb.WriteString("\n|---|---|---|---|")
		if len(r.PooledHorizons) > 0 {
			sb.WriteString("---|---|")
		}
		sb.WriteString("\n")
		for i, h := range r.Horizons {
			fmt.Fprintf(&sb, "| %d | %s | %s | %s |", h.H, f4(h.ADE), f4(h.FDE), f4(h.Acc))
			if len(r.PooledHorizons) > 0 {
				if i < len(r.PooledHorizons) && r.PooledHorizons[i].H == h.H {
					fmt.Fprintf(&sb, " %s | %s |", f4(r.PooledHorizons[i].ADE), f4(r.PooledHorizons[i].FDE))
				} else {
					sb.WriteString(" – | – |")
				}
			}
			sb.WriteString("\n")
		}
	}
	if len(r.Splits) > 0 {
		sb.WriteString("\n| split | samples | ADE | FDE | Acc |\n|---|---|---|---|---|\n")
		for _, s := range r.Splits {
			fmt.Fprintf(&sb, "| %s | %d | %s | %s | %s |\n", s.Split, s.Samples, f4(s.ADE), f4(s.FDE), f4(s.Acc))
		}
	}
	return sb.String()
}

func f4(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.4f", v)
}

// Loaded is a scored set read from disk: the batch plus, for prediction folders, the
// clip ids and splits in the batch's order.
type Loaded struct {
	Batch  Batch
	IDs    []string
	Splits []string
	Preds  []*predfile.Prediction
}

// FromPredictions stacks prediction files into a batch. Every clip needs gt and the
// same number of future steps. Clips without a mask count as fully valid; the batch
// has a mask only if some clip has one.
func FromPredictions(preds []*predfile.Prediction) (*Loaded, error) {
	if len(preds) == 0 {
		return nil, errors.New("no predictions")
	}
	tf := len(preds[0].Pred)
	l := &Loaded{Preds: preds}
	b := Batch{B: len(preds), T: tf, J: predfile.NumJoints}
	hasMask := false
	for _, p := range preds {
		hasMask = hasMask || p.Mask != nil
	}
	for _, p := range preds {
		id := p.Meta.ClipID
		if p.GT == nil {
			return nil, fmt.Errorf("clip %s: no gt in the prediction file (missing ground truth)", id)
		}
		if len(p.Pred) != tf {
			return nil, fmt.Errorf("clip %s: %d future steps, clip %s has %d", id, len(p.Pred), preds[0].Meta.ClipID, tf)
		}
		for t := range tf {
			for j := range predfile.NumJoints {
				b.Pred = append(b.Pred, p.Pred[t][j][:]...)
				b.GT = append(b.GT, p.GT[t][j][:]...)
				if hasMask {
					b.Mask = append(b.Mask, p.Mask == nil || p.Mask[t][j])
				}
			}
		}
		l.IDs = append(l.IDs, id)
		l.Splits = append(l.Splits, p.Meta.Split)
	}
	l.Batch = b
	if err := b.Check(); err != nil {
		return nil, err
	}
	return l, nil
}

// LoadNPY reads plain arrays (any float dtype): predictions [B,T,52,3], ground truth
// [B,T,52,3] and an optional validity mask [B,T,52] (bool or numeric, non-zero = valid).
// Predictions may also hold K candidates per clip,
// [B,K,T,52,3] (samples of a stochastic forecaster), for best-of-K: LoadNPY then returns
// K sets scored against the same truth, in candidate order.
func LoadNPY(predPath, gtPath, maskPath string) ([]*Loaded, error) {
	if gtPath == "" {
		return nil, fmt.Errorf("%s is a plain array: pass --gt with the ground truth [B,T,52,3]", predPath)
	}
	read := func(path, what string, allowK bool) ([]float32, []int, error) {
		a, err := npy.ReadNPYFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("%s (%s): %w", path, what, err)
		}
		want := []int{-1, -1, predfile.NumJoints, 3}
		if allowK && len(a.Shape) == 5 {
			want = []int{-1, -1, -1, predfile.NumJoints, 3}
		}
		if err := npy.CheckShape(a.Shape, want); err != nil {
			if allowK {
				err = fmt.Errorf("%w (or [B,K,T,%d,3] for K candidates per clip)", err, predfile.NumJoints)
			}
			return nil, nil, fmt.Errorf("%s (%s): %w", path, what, err)
		}
		v, err := a.Float32s()
		if err != nil {
			return nil, nil, fmt.Errorf("%s (%s): %w", path, what, err)
		}
		return v, a.Shape, nil
	}
	pred, ps, err := read(predPath, "pred", true)
	if err != nil {
		return nil, err
	}
	gt, gs, err := read(gtPath, "gt", false)
	if err != nil {
		return nil, err
	}
	K := 1
	if len(ps) == 5 {
		K = ps[1]
		ps = []int{ps[0], ps[2], ps[3], ps[4]}
		if K < 1 {
			return nil, fmt.Errorf("%s (pred): K = 0 candidates per clip", predPath)
		}
	}
	if ps[0] != gs[0] || ps[1] != gs[1] {
		return nil, fmt.Errorf("shape mismatch: pred %s is %v, gt %s is %v", predPath, ps, gtPath, gs)
	}
	B, T, J := ps[0], ps[1], predfile.NumJoints
	var mask []bool
	if maskPath != "" {
		a, err := npy.ReadNPYFile(maskPath)
		if err != nil {
			return nil, fmt.Errorf("%s (mask): %w", maskPath, err)
		}
		if err := npy.CheckShape(a.Shape, []int{B, T, J}); err != nil {
			return nil, fmt.Errorf("%s (mask): %w", maskPath, err)
		}
		if mask, err = predfile.BoolValues(a); err != nil {
			return nil, fmt.Errorf("%s (mask): %w", maskPath, err)
		}
	}
	per := T * J * 3
	sets := make([]*Loaded, K)
	for k := range sets {
		p := pred
		if K > 1 { // gather candidate k of every clip: [B,K,T,J,3] → [B,T,J,3]
			p = make([]float32, B*per)
			for b := 0; b < B; b++ {
				copy(p[b*per:(b+1)*per], pred[(b*K+k)*per:(b*K+k+1)*per])
			}
		}
		bt := Batch{B: B, T: T, J: J, Pred: p, GT: gt, Mask: mask}
		if err := bt.Check(); err != nil {
			if K > 1 {
				return nil, fmt.Errorf("%s (candidate %d): %w", predPath, k, err)
			}
			return nil, fmt.Errorf("%s: %w", predPath, err)
		}
		sets[k] = &Loaded{Batch: bt}
	}
	return sets, nil
}

// LoadDir reads a prediction folder. A separate mask file is not accepted: the mask
// belongs inside each clip's npz.
func LoadDir(dir string) (*Loaded, error) {
	preds, err := predfile.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	l, err := FromPredictions(preds)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return l, nil
}

// SortedKeys is a small helper for deterministic output of maps.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// IsNPY reports whether path names a plain array file.
func IsNPY(path string) bool { return strings.EqualFold(filepath.Ext(path), ".npy") }

// The row types embed Metrics, whose JSON methods would otherwise be promoted and drop
// the row's own fields; these write one flat object.

func mergeJSON(m Metrics, extra map[string]any) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, err
	}
	for k, v := range extra {
		obj[k] = v
	}
	return json.Marshal(obj)
}

// MarshalJSON writes {"h":…, "ade":…, …}.
func (r HorizonRow) MarshalJSON() ([]byte, error) {
	return mergeJSON(r.Metrics, map[string]any{"h": r.H})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *HorizonRow) UnmarshalJSON(b []byte) error {
	var v struct {
		H int `json:"h"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	r.H = v.H
	return json.Unmarshal(b, &r.Metrics)
}

// MarshalJSON writes {"split":…, "ade":…, …, "pooled":{…}}.
func (r SplitRow) MarshalJSON() ([]byte, error) {
	extra := map[string]any{"split": r.Split}
	if r.Pooled != nil {
		extra["pooled"] = r.Pooled
	}
	return mergeJSON(r.Metrics, extra)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *SplitRow) UnmarshalJSON(b []byte) error {
	var v struct {
		Split  string   `json:"split"`
		Pooled *Metrics `json:"pooled"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	r.Split, r.Pooled = v.Split, v.Pooled
	return json.Unmarshal(b, &r.Metrics)
}

// BestOfLoaded combines K loaded candidate sets of the same clips into one by picking,
// per clip, the candidate with the lowest ADE on joints (EgoDex best-of-K). Prediction
// folders must hold the same clip ids; plain arrays the same shape. The ground truth,
// mask, ids and splits of the first set are kept; chosen[i] is the candidate of clip i.
func BestOfLoaded(sets []*Loaded, joints []int) (*Loaded, []int, error) {
	if len(sets) == 0 {
		return nil, nil, errors.New("best-of-K: no candidate sets")
	}
	first := sets[0]
	cands := make([]Batch, len(sets))
	for k, s := range sets {
		if len(s.IDs) != len(first.IDs) {
			return nil, nil, fmt.Errorf("best-of-K: candidate %d has %d clips, candidate 0 has %d", k, len(s.IDs), len(first.IDs))
		}
		for i := range s.IDs {
			if s.IDs[i] != first.IDs[i] {
				return nil, nil, fmt.Errorf("best-of-K: candidate %d has clip %q where candidate 0 has %q", k, s.IDs[i], first.IDs[i])
			}
		}
		b := s.Batch
		b.GT, b.Mask = first.Batch.GT, first.Batch.Mask // score every candidate against the same truth
		if len(s.Batch.GT) == len(first.Batch.GT) {
			for i, v := range s.Batch.GT {
				if v != first.Batch.GT[i] && !(math.IsNaN(float64(v)) && math.IsNaN(float64(first.Batch.GT[i]))) {
					return nil, nil, fmt.Errorf("best-of-K: candidate %d has different ground truth (value %d)", k, i)
				}
			}
		}
		cands[k] = b
	}
	best, chosen, err := BestOfK(cands, Options{Joints: joints})
	if err != nil {
		return nil, nil, err
	}
	out := *first
	out.Batch = best
	return &out, chosen, nil
}
