package anomaly

import (
	"fmt"
	"math"
	"sort"
)

// Every metric here pools (score, label) pairs and drops pairs whose score is not finite,
// as upstream does; the counts that remain are reported beside the values.

func finitePairs(scores []float64, labels []bool) (s []float64, l []bool, err error) {
	if len(scores) != len(labels) {
		return nil, nil, fmt.Errorf("%d scores but %d labels", len(scores), len(labels))
	}
	for i, v := range scores {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		s = append(s, v)
		l = append(l, labels[i])
	}
	return s, l, nil
}

// ROCAUC is upstream's rank AUC (model-spec §4.12): a stable ascending sort of the
// scores, tied scores share the average of their 1-based ranks ((i+1+j)/2 for the run
// [i, j)), AUC = (Σ ranks of positives − P(P+1)/2) / (P·N). defined is false when the
// finite scores lack either class.
func ROCAUC(scores []float64, labels []bool) (auc float64, defined bool, err error) {
	s, l, err := finitePairs(scores, labels)
	if err != nil {
		return 0, false, fmt.Errorf("ROC AUC: %w", err)
	}
	order := make([]int, len(s))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return s[order[a]] < s[order[b]] })
	var rankSum float64
	var P, N int
	for i := 0; i < len(order); {
		j := i + 1
		for j < len(order) && s[order[j]] == s[order[i]] {
			j++
		}
		rank := float64(i+1+j) / 2
		for k := i; k < j; k++ {
			if l[order[k]] {
				rankSum += rank
				P++
			} else {
				N++
			}
		}
		i = j
	}
	if P == 0 || N == 0 {
		return math.NaN(), false, nil
	}
	p, n := float64(P), float64(N)
	return (rankSum - p*(p+1)/2) / (p * n), true, nil
}

// group is one distinct score, in descending order, with its label counts.
type group struct {
	score  float64
	tp, fp int // positives and negatives at this score
}

func descendingGroups(s []float64, l []bool) (gs []group, P, N int) {
	order := make([]int, len(s))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return s[order[a]] > s[order[b]] })
	for _, i := range order {
		if len(gs) == 0 || gs[len(gs)-1].score != s[i] {
			gs = append(gs, group{score: s[i]})
		}
		if l[i] {
			gs[len(gs)-1].tp++
			P++
		} else {
			gs[len(gs)-1].fp++
			N++
		}
	}
	return gs, P, N
}

// AveragePrecision is Σ (R_k − R_{k−1})·P_k over the distinct scores taken as
// thresholds in descending order (flag = score ≥ threshold), scikit-learn's definition:
// tied scores enter together. defined is false without a positive.
func AveragePrecision(scores []float64, labels []bool) (ap float64, defined bool, err error) {
	s, l, err := finitePairs(scores, labels)
	if err != nil {
		return 0, false, fmt.Errorf("average precision: %w", err)
	}
	gs, P, _ := descendingGroups(s, l)
	if P == 0 {
		return math.NaN(), false, nil
	}
	var tp, fp int
	prevRecall := 0.0
	for _, g := range gs {
		tp += g.tp
		fp += g.fp
		recall := float64(tp) / float64(P)
		ap += (recall - prevRecall) * float64(tp) / float64(tp+fp)
		prevRecall = recall
	}
	return ap, true, nil
}

// F1 is the best F1 over thresholds.
type F1 struct {
	F1        float64 `json:"f1"`
	Threshold float64 `json:"threshold"` // flag = score > Threshold
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
}

// BestF1 tries every cut between distinct scores and keeps the best F1 (the highest
// threshold among equals). The threshold uses the stage's one flag rule, score >
// threshold: it is the next lower distinct score below the cut, or the largest float
// below the lowest score when everything is flagged. defined is false without a
// positive.
func BestF1(scores []float64, labels []bool) (best F1, defined bool, err error) {
	s, l, err := finitePairs(scores, labels)
	if err != nil {
		return F1{}, false, fmt.Errorf("best F1: %w", err)
	}
	gs, P, _ := descendingGroups(s, l)
	if P == 0 {
		return F1{F1: math.NaN(), Threshold: math.NaN(), Precision: math.NaN(), Recall: math.NaN()}, false, nil
	}
	var tp, fp int
	best.F1 = -1
	for k, g := range gs {
		tp += g.tp
		fp += g.fp
		f1 := 2 * float64(tp) / float64(2*tp+fp+(P-tp))
		if f1 > best.F1 {
			thr := math.Nextafter(g.score, math.Inf(-1))
			if k+1 < len(gs) {
				thr = gs[k+1].score
			}
			best = F1{F1: f1, Threshold: thr, Precision: float64(tp) / float64(tp+fp), Recall: float64(tp) / float64(P)}
		}
	}
	return best, true, nil
}

// FlagRate is the fraction of finite scores above threshold (upstream's flag rule,
// score > threshold), and how many finite scores there were.
func FlagRate(scores []float64, threshold float64) (rate float64, n int) {
	var flagged int
	for _, v := range scores {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		n++
		if v > threshold {
			flagged++
		}
	}
	if n == 0 {
		return math.NaN(), 0
	}
	return float64(flagged) / float64(n), n
}

// CalibrateThreshold returns the lowest threshold at which at most a fraction fpr of the
// normal scores are flagged (score > threshold): with n finite scores sorted ascending
// and k = ⌊fpr·n⌋ allowed false positives, it is the (n−k)-th smallest. fpr must be in
// [0, 1); at least one finite score is needed.
func CalibrateThreshold(normal []float64, fpr float64) (float64, error) {
	if !(fpr >= 0 && fpr < 1) {
		return 0, fmt.Errorf("threshold calibration: target false-positive rate %v outside [0, 1)", fpr)
	}
	var s []float64
	for _, v := range normal {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			s = append(s, v)
		}
	}
	if len(s) == 0 {
		return 0, fmt.Errorf("threshold calibration: no finite normal scores")
	}
	sort.Float64s(s)
	// fpr·n in floating point can fall just short of an integer (0.29·100 =
	// 28.999999999999996), which would allow one false positive fewer than asked.
	k := int(math.Floor(fpr*float64(len(s)) + 1e-9))
	if k > len(s)-1 {
		k = len(s) - 1
	}
	return s[len(s)-1-k], nil
}
