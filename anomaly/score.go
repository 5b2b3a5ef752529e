package anomaly

import (
	"fmt"
	"math"
)

// Windows are the sliding windows over a clip's T latent frames (model-spec §4.12).
type Windows struct {
	Past, Future, Stride int
}

// DefaultWindows are upstream visualisers' defaults: past 32, future 16, stride 16.
var DefaultWindows = Windows{Past: 32, Future: 16, Stride: 16}

// Check validates the sizes. Stride 0 means Future, as upstream's --anomaly_stride 0.
func (w Windows) Check() error {
	if w.Past < 1 || w.Future < 1 {
		return fmt.Errorf("anomaly windows: past %d and future %d must be ≥ 1", w.Past, w.Future)
	}
	if w.Stride < 0 {
		return fmt.Errorf("anomaly windows: stride %d must be ≥ 0 (0 = future)", w.Stride)
	}
	return nil
}

// EffectiveStride is the stride in frames (Stride, or Future when Stride is 0).
func (w Windows) EffectiveStride() int { return w.stride() }

func (w Windows) stride() int {
	if w.Stride == 0 {
		return w.Future
	}
	return w.Stride
}

// Starts lists the window starts s = 0, stride, … with s+past+future ≤ T; a window's
// context is frames [s, s+past) and its target [s+past, s+past+future). There are none
// when T < past+future.
func (w Windows) Starts(T int) []int {
	var out []int
	for s := 0; s+w.Past+w.Future <= T; s += w.stride() {
		out = append(out, s)
	}
	return out
}

// WindowScore is upstream's score of one window: the mean over the future frames and
// tokens of the L2 norm over the D channels of pred − target. pred and target are flat
// [tokens, D]. A non-finite value gives a NaN score (dropped by the metrics, as upstream).
func WindowScore(pred, target []float32, D int) (float64, error) {
	if D <= 0 {
		return 0, fmt.Errorf("window score: channel size %d", D)
	}
	if len(pred) != len(target) {
		return 0, fmt.Errorf("window score: prediction has %d values, target %d", len(pred), len(target))
	}
	if len(pred) == 0 || len(pred)%D != 0 {
		return 0, fmt.Errorf("window score: %d values is not a positive multiple of D=%d", len(pred), D)
	}
	tokens := len(pred) / D
	var sum float64
	for tk := 0; tk < tokens; tk++ {
		var sq float64
		for c := tk * D; c < (tk+1)*D; c++ {
			d := float64(pred[c]) - float64(target[c])
			sq += d * d
		}
		sum += math.Sqrt(sq)
	}
	s := sum / float64(tokens)
	if math.IsInf(s, 0) {
		return math.NaN(), nil
	}
	return s, nil
}

// FrameScores spreads window scores over frames: each window adds its score to every
// frame of its target span [s+past, s+past+future); a frame's score is the mean of the
// windows covering it. covered[t] is false for frames no window covers (the first past
// frames, an uncovered tail); their score is NaN. A NaN window score makes the frames it
// covers NaN, as upstream's sums do.
func (w Windows) FrameScores(T int, starts []int, scores []float64) (frame []float64, covered []bool, err error) {
	if len(starts) != len(scores) {
		return nil, nil, fmt.Errorf("frame scores: %d windows but %d scores", len(starts), len(scores))
	}
	sum := make([]float64, T)
	count := make([]int, T)
	for k, s := range starts {
		f0, f1 := s+w.Past, s+w.Past+w.Future
		if s < 0 || f1 > T {
			return nil, nil, fmt.Errorf("frame scores: window %d (frames %d..%d) outside %d frames", k, f0, f1, T)
		}
		for t := f0; t < f1; t++ {
			sum[t] += scores[k]
			count[t]++
		}
	}
	frame = make([]float64, T)
	covered = make([]bool, T)
	for t := range frame {
		if count[t] == 0 {
			frame[t] = math.NaN()
			continue
		}
		frame[t] = sum[t] / float64(count[t])
		covered[t] = true
	}
	return frame, covered, nil
}

// WindowLabels marks a window anomalous when any frame of its target span is (the
// visualisers' rule).
func (w Windows) WindowLabels(starts []int, frameLabels []bool) []bool {
	out := make([]bool, len(starts))
	for k, s := range starts {
		for t := s + w.Past; t < s+w.Past+w.Future && t < len(frameLabels); t++ {
			if frameLabels[t] {
				out[k] = true
				break
			}
		}
	}
	return out
}
