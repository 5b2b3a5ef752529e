// Package eval scores 3-D hand trajectory forecasts: ThinkJEPA's ADE / FDE / Acc exactly
// (model-spec §4.9, data-spec §4), their masked and pooled (EgoH4-style) variants, joint
// subsets, best-of-K, per-horizon tables and latent-space metrics. All values are in
// metres; only reporters convert units.
package eval

import (
	"errors"
	"fmt"
	"math"
)

// DefaultThr is ThinkJEPA's accuracy threshold in metres.
const DefaultThr = 0.05

// Batch holds B trajectories of T steps and J joints, row-major [B][T][J][3].
// Mask, if non-nil, is [B][T][J] and marks the ground-truth entries to score.
type Batch struct {
	B, T, J  int
	Pred, GT []float32
	Mask     []bool
}

// Check validates lengths and finiteness. NaN in predictions is an error (a model bug,
// never silently skipped); NaN in ground truth is allowed only where masked out.
func (b Batch) Check() error {
	if b.B <= 0 || b.T <= 0 || b.J <= 0 {
		return fmt.Errorf("empty batch: B=%d T=%d J=%d", b.B, b.T, b.J)
	}
	n := b.B * b.T * b.J
	if len(b.Pred) != n*3 {
		return fmt.Errorf("pred has %d values, expected B×T×J×3 = %d×%d×%d×3 = %d", len(b.Pred), b.B, b.T, b.J, n*3)
	}
	if len(b.GT) != n*3 {
		return fmt.Errorf("gt has %d values, expected B×T×J×3 = %d×%d×%d×3 = %d", len(b.GT), b.B, b.T, b.J, n*3)
	}
	if b.Mask != nil && len(b.Mask) != n {
		return fmt.Errorf("mask has %d values, expected B×T×J = %d", len(b.Mask), n)
	}
	for i, v := range b.Pred {
		if !finite(v) {
			s, t, j := b.index(i / 3)
			return fmt.Errorf("pred is %v at sample %d step %d joint %d", v, s, t, j)
		}
	}
	for i, v := range b.GT {
		if !finite(v) && (b.Mask == nil || b.Mask[i/3]) {
			s, t, j := b.index(i / 3)
			return fmt.Errorf("gt is %v at sample %d step %d joint %d (not masked out)", v, s, t, j)
		}
	}
	return nil
}

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

func (b Batch) index(e int) (s, t, j int) {
	return e / (b.T * b.J), (e / b.J) % b.T, e % b.J
}

// Errors returns the Euclidean error per (b,t,j), [B][T][J] flattened, in float64.
func (b Batch) Errors() []float64 {
	out := make([]float64, b.B*b.T*b.J)
	for i := range out {
		dx := float64(b.Pred[3*i]) - float64(b.GT[3*i])
		dy := float64(b.Pred[3*i+1]) - float64(b.GT[3*i+1])
		dz := float64(b.Pred[3*i+2]) - float64(b.GT[3*i+2])
		out[i] = math.Sqrt(dx*dx + dy*dy + dz*dz)
	}
	return out
}

// Aggregation says how errors are averaged over samples.
type Aggregation string

const (
	// PerSample is ThinkJEPA's: mean over (t,j) within a sample, then mean over samples.
	PerSample Aggregation = "per-sample"
	// Pooled is EgoH4's: one mean over all scored (b,t,j) entries.
	Pooled Aggregation = "pooled"
)

// Options select what is scored.
type Options struct {
	Joints  []int       // joint indices to score; nil = all J
	Horizon int         // score only the first Horizon steps; 0 = all T
	Thr     float64     // accuracy threshold in metres; 0 = DefaultThr
	Agg     Aggregation // "" = PerSample
	UseMask bool        // honour Batch.Mask (ignored when it is nil)
}

// Metrics is one row of results.
type Metrics struct {
	ADE     float64 `json:"ade"`
	FDE     float64 `json:"fde"`
	Acc     float64 `json:"acc"`
	Samples int     `json:"samples"` // samples that contributed to ADE
	Entries int     `json:"entries"` // (b,t,j) entries scored
}

// ErrNothingScored is returned when the mask and subset leave no entry to score.
var ErrNothingScored = errors.New("no valid entries to score")

func (o Options) resolve(b Batch) (joints []int, h int, thr float64, agg Aggregation, err error) {
	joints = o.Joints
	if joints == nil {
		joints = make([]int, b.J)
		for j := range joints {
			joints[j] = j
		}
	}
	for _, j := range joints {
		if j < 0 || j >= b.J {
			return nil, 0, 0, "", fmt.Errorf("joint index %d out of range [0,%d)", j, b.J)
		}
	}
	if len(joints) == 0 {
		return nil, 0, 0, "", errors.New("empty joint subset")
	}
	h = o.Horizon
	if h == 0 {
		h = b.T
	}
	if h < 0 || h > b.T {
		return nil, 0, 0, "", fmt.Errorf("horizon %d outside [1,%d]", h, b.T)
	}
	thr = o.Thr
	if thr == 0 {
		thr = DefaultThr
	}
	agg = o.Agg
	if agg == "" {
		agg = PerSample
	}
	if agg != PerSample && agg != Pooled {
		return nil, 0, 0, "", fmt.Errorf("unknown aggregation %q", agg)
	}
	return joints, h, thr, agg, nil
}

// Compute scores the batch. With the defaults (all joints, all steps, no mask,
// per-sample) it is ThinkJEPA's compute_trajectory_loss_and_accuracy:
//
//	ADE = mean_b mean_{t,j} e,  FDE = mean_b mean_j e[b,T-1,j],  Acc = mean_{b,t,j} [e < thr].
//
// With a mask, per-sample averages run over a sample's valid entries and samples
// without any are skipped (for FDE: samples without a valid joint at the last step).
// Pooled averages all valid entries at once (FDE: all valid (b,j) at the last step).
// Acc is always the pooled fraction, as in ThinkJEPA.
func Compute(b Batch, o Options) (Metrics, error) {
	if err := b.Check(); err != nil {
		return Metrics{}, err
	}
	return compute(b, b.Errors(), o)
}

func compute(b Batch, e []float64, o Options) (Metrics, error) {
	joints, h, thr, agg, err := o.resolve(b)
	if err != nil {
		return Metrics{}, err
	}
	useMask := o.UseMask && b.Mask != nil
	valid := func(i int) bool { return !useMask || b.Mask[i] }

	var m Metrics
	var adeSum, fdeSum, poolSum, poolFinal float64
	var fdeSamples, hits, finalCount int
	for s := 0; s < b.B; s++ {
		var sum, fsum float64
		var n, fn int
		for t := 0; t < h; t++ {
			for _, j := range joints {
				i := (s*b.T+t)*b.J + j
				if !valid(i) {
					continue
				}
				sum += e[i]
				n++
				if e[i] < thr {
					hits++
				}
				if t == h-1 {
					fsum += e[i]
					fn++
				}
			}
		}
		m.Entries += n
		poolSum += sum
		poolFinal += fsum
		finalCount += fn
		if n > 0 {
			adeSum += sum / float64(n)
			m.Samples++
		}
		if fn > 0 {
			fdeSum += fsum / float64(fn)
			fdeSamples++
		}
	}
	if m.Entries == 0 {
		return Metrics{}, ErrNothingScored
	}
	m.Acc = float64(hits) / float64(m.Entries)
	if agg == PerSample {
		m.ADE = adeSum / float64(m.Samples)
		m.FDE = math.NaN()
		if fdeSamples > 0 {
			m.FDE = fdeSum / float64(fdeSamples)
		}
	} else {
		m.ADE = poolSum / float64(m.Entries)
		m.FDE = math.NaN()
		if finalCount > 0 {
			m.FDE = poolFinal / float64(finalCount)
		}
	}
	return m, nil
}

// HorizonRow is one line of a per-horizon table.
type HorizonRow struct {
	H int `json:"h"`
	Metrics
}

// Horizons scores the first H steps for each H (model-spec §4.8 item 4). Horizons
// longer than the batch are skipped; o.Horizon is ignored.
func Horizons(b Batch, o Options, hs []int) ([]HorizonRow, error) {
	if err := b.Check(); err != nil {
		return nil, err
	}
	e := b.Errors()
	var rows []HorizonRow
	for _, h := range hs {
		if h <= 0 || h > b.T {
			continue
		}
		o.Horizon = h
		m, err := compute(b, e, o)
		if err != nil {
			return nil, fmt.Errorf("horizon %d: %w", h, err)
		}
		rows = append(rows, HorizonRow{H: h, Metrics: m})
	}
	return rows, nil
}

// BestOfK picks, per sample, the candidate with the lowest ADE on the scored joints
// (EgoDex protocol: best sample chosen by Avg). cands[k] are K batches over the same
// samples and ground truth. It returns a batch holding the chosen predictions and the
// chosen index per sample. The choice honours o.Joints, o.Horizon and o.UseMask.
func BestOfK(cands []Batch, o Options) (Batch, []int, error) {
	if len(cands) == 0 {
		return Batch{}, nil, errors.New("best-of-K: no candidates")
	}
	first := cands[0]
	for k, c := range cands {
		if err := c.Check(); err != nil {
			return Batch{}, nil, fmt.Errorf("best-of-K candidate %d: %w", k, err)
		}
		if c.B != first.B || c.T != first.T || c.J != first.J {
			return Batch{}, nil, fmt.Errorf("best-of-K candidate %d has shape [%d %d %d], candidate 0 [%d %d %d]",
				k, c.B, c.T, c.J, first.B, first.T, first.J)
		}
	}
	joints, h, _, _, err := o.resolve(first)
	if err != nil {
		return Batch{}, nil, err
	}
	useMask := o.UseMask && first.Mask != nil
	out := Batch{B: first.B, T: first.T, J: first.J, GT: first.GT, Mask: first.Mask, Pred: make([]float32, len(first.Pred))}
	choice := make([]int, first.B)
	errs := make([][]float64, len(cands))
	for k, c := range cands {
		errs[k] = c.Errors()
	}
	stride := first.T * first.J
	for s := 0; s < first.B; s++ {
		best := math.Inf(1)
		for k := range cands {
			var sum float64
			var n int
			for t := 0; t < h; t++ {
				for _, j := range joints {
					i := s*stride + t*first.J + j
					if useMask && !first.Mask[i] {
						continue
					}
					sum += errs[k][i]
					n++
				}
			}
			ade := math.Inf(1)
			if n > 0 {
				ade = sum / float64(n)
			}
			if ade < best {
				best, choice[s] = ade, k
			}
		}
		copy(out.Pred[s*stride*3:(s+1)*stride*3], cands[choice[s]].Pred[s*stride*3:])
	}
	return out, choice, nil
}

// Select returns the samples idx of b as a new batch (used for per-split results).
func (b Batch) Select(idx []int) Batch {
	per := b.T * b.J
	out := Batch{B: len(idx), T: b.T, J: b.J,
		Pred: make([]float32, 0, len(idx)*per*3), GT: make([]float32, 0, len(idx)*per*3)}
	if b.Mask != nil {
		out.Mask = make([]bool, 0, len(idx)*per)
	}
	for _, s := range idx {
		out.Pred = append(out.Pred, b.Pred[s*per*3:(s+1)*per*3]...)
		out.GT = append(out.GT, b.GT[s*per*3:(s+1)*per*3]...)
		if b.Mask != nil {
			out.Mask = append(out.Mask, b.Mask[s*per:(s+1)*per]...)
		}
	}
	return out
}

// GroupBy splits sample indices by key (e.g. the split name), keeping first-seen order.
func GroupBy(keys []string) (order []string, groups map[string][]int) {
	groups = map[string][]int{}
	for i, k := range keys {
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	return order, groups
}
