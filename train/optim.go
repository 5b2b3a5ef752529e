package train

import (
	"fmt"
	"math"

	"github.com/thinkjepa/thinkjepa/nn"
)

// AdamW hyper-parameters shared by both groups (PyTorch defaults, weight decay 1e-4 as
// ThinkJEPA trains).
const (
	adamBeta1 = 0.9
	adamBeta2 = 0.999
	adamEps   = 1e-8
)

// Group is one AdamW instance: its parameters, moments and step counter.
// ThinkJEPA trains two: the head (lr 1e-3, ×0.1 at 1/3 and 2/3 of the epochs) and the
// predictor with its guidance bank (lr 1e-4, constant).
type Group struct {
	Name        string
	Params      []*nn.Param
	M, V        []*nn.Tensor
	Step        int
	WeightDecay float32
}

// NewGroup allocates zero moments for params.
func NewGroup(e nn.Engine, name string, params []*nn.Param, wd float32) *Group {
	g := &Group{Name: name, Params: params, WeightDecay: wd}
	for _, p := range params {
		g.M = append(g.M, e.Zeros(p.Shape...))
		g.V = append(g.V, e.Zeros(p.Shape...))
	}
	return g
}

// Update applies one AdamW step with learning rate lr.
func (g *Group) Update(e nn.Engine, lr float32) {
	g.Step++
	for i, p := range g.Params {
		wd := g.WeightDecay
		if p.NoDecay {
			wd = 0
		}
		e.AdamW(p.W, p.G, g.M[i], g.V[i], p.Len(), lr, adamBeta1, adamBeta2, adamEps, wd, g.Step)
	}
}

// ZeroGrad clears the group's gradients.
func (g *Group) ZeroGrad(e nn.Engine) {
	for _, p := range g.Params {
		e.Fill(p.G, 0)
	}
}

// ClipGradNorm scales every gradient of the groups so that the global L2 norm is at
// most maxNorm (torch.nn.utils.clip_grad_norm_ semantics, coefficient max/(norm+1e-6)).
// It returns the norm before clipping; maxNorm ≤ 0 only measures. A non-finite norm is
// an error: the step must be skipped rather than poison the weights.
func ClipGradNorm(e nn.Engine, maxNorm float64, groups ...*Group) (float64, error) {
	var ss float64
	for _, g := range groups {
		for _, p := range g.Params {
			ss += e.SumSquares(p.G, p.Len())
		}
	}
	norm := math.Sqrt(ss)
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return norm, fmt.Errorf("gradient norm is %v", norm)
	}
	if maxNorm > 0 && norm > maxNorm {
		coef := float32(maxNorm / (norm + 1e-6))
		for _, g := range groups {
			for _, p := range g.Params {
				e.Scale(p.G, p.G, coef, p.Len())
			}
		}
	}
	return norm, nil
}

// MultiStepLR is base ×0.1 for every milestone ⌊f·epochs⌋ (f a fraction) that epoch
// has reached.
func MultiStepLR(base float64, epoch, epochs int, fractions []float64) float64 {
	lr := base
	for _, f := range fractions {
		if epoch >= int(f*float64(epochs)) {
			lr *= 0.1
		}
	}
	return lr
}

// HeadLR is the head's MultiStepLR: base, ×0.1 from epoch ⌊E/3⌋, ×0.01 from ⌊2E/3⌋
// (milestones as ThinkJEPA computes them from the epoch count).
func HeadLR(base float64, epoch, epochs int) float64 {
	lr := base
	for _, m := range []int{epochs / 3, 2 * epochs / 3} {
		if m > 0 && epoch >= m {
			lr *= 0.1
		}
	}
	return lr
}
