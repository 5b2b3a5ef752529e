package anomaly

import (
	"fmt"
	"math"
)

// Baselines that score a clip without a trained predictor, for comparison with its
// surprise (`thinkjepa anomaly --baseline`). Both score exactly the frames the
// predictor's windows cover, so their ROC AUC is over the same frames.
const (
	// BaselineFrameDiff scores a frame by how much the latents changed into it: the mean
	// over tokens of ‖z_t − z_{t−r}‖₂, r the tubelet repeat (TubeletRepeat), so the
	// change is between consecutive encoded tubelets, never between a tubelet and its own
	// copy.
	BaselineFrameDiff = "frame-diff"
	// BaselineCopyLast is the predictor that says nothing changes: every window predicts
	// its last context frame for all its future frames, scored like the model's windows.
	BaselineCopyLast = "copy-last"
)

// Baselines lists the baseline names.
var Baselines = []string{BaselineFrameDiff, BaselineCopyLast}

// TubeletRepeat is the number of consecutive latent frames that are copies of one
// encoded tubelet: the largest r ≤ 8 dividing T such that every run [k·r, (k+1)·r) holds
// bitwise-equal frames (2 for V-JEPA latents repeated to frames, model-spec §4.2; 1 when
// no run repeats). x is [T, frame] flat.
func TubeletRepeat(x []float32, T, frame int) int {
	for r := min(8, T); r > 1; r-- {
		if T%r != 0 {
			continue
		}
		ok := true
		for k := 0; k < T/r && ok; k++ {
			first := x[k*r*frame : (k*r+1)*frame]
			for j := 1; j < r && ok; j++ {
				other := x[(k*r+j)*frame : (k*r+j+1)*frame]
				for i := range first {
					if math.Float32bits(first[i]) != math.Float32bits(other[i]) {
						ok = false
						break
					}
				}
			}
		}
		if ok {
			return r
		}
	}
	return 1
}

// FrameDifference scores every frame t ≥ r of x [T,P,D] by the mean over the P tokens of
// ‖x[t] − x[t−r]‖₂, r = TubeletRepeat; frames t < r have no previous tubelet and are NaN.
func FrameDifference(x []float32, T, P, D int) ([]float64, error) {
	if T < 1 || P < 1 || D < 1 || len(x) != T*P*D {
		return nil, fmt.Errorf("frame difference: %d values for [%d,%d,%d]", len(x), T, P, D)
	}
	frame := P * D
	r := TubeletRepeat(x, T, frame)
	out := make([]float64, T)
	for t := range out {
		if t < r {
			out[t] = math.NaN()
			continue
		}
		s, err := WindowScore(x[t*frame:(t+1)*frame], x[(t-r)*frame:(t-r+1)*frame], D)
		if err != nil {
			return nil, err
		}
		out[t] = s
	}
	return out, nil
}

// CopyLast predicts B windows' Tf future frames by repeating each window's last context
// frame; ctx is [B, Tc, frame], the result [B, Tf, frame].
func CopyLast(ctx []float32, B, Tc, Tf, frame int) []float32 {
	out := make([]float32, 0, B*Tf*frame)
	for b := 0; b < B; b++ {
		last := ctx[((b+1)*Tc-1)*frame : (b+1)*Tc*frame]
		for f := 0; f < Tf; f++ {
			out = append(out, last...)
		}
	}
	return out
}
