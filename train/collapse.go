package train

import (
	"fmt"
	"math"
)

// LatentHealth summarises how the predicted future latents of a validation pass compare
// with the targets, to catch a predictor that has collapsed (model-spec §4.6 note: a FiLM
// bank whose γ, β blow up makes the predicted latents constant within a clip, and the
// latent MSE then sits flat at a high value).
type LatentHealth struct {
	// MSE of the predictions (the latent loss).
	MSE float64
	// CopyLastMSE is the MSE of the trivial forecaster that repeats the last observed
	// latent frame for every future frame (the latent analogue of "hands stay still").
	CopyLastMSE float64
	// Spread is the predictions' variation over the future frames of a clip relative to
	// the targets': Σ_clips Σ_{token,channel} Var_frames(pred) / the same for the
	// targets. Near 1 for a predictor that forecasts motion, near 0 for one whose output
	// does not change from frame to frame.
	Spread float64
}

// latentStats accumulates LatentHealth over batches.
type latentStats struct {
	se, seCopy     float64
	n              int
	varPred, varGT float64
}

// add takes one batch: pred and target [B,Tf,P,D], ctx [B,Tc,P,D].
func (s *latentStats) add(pred, target, ctx []float32, B, Tc, Tf, P, D int) {
	frame := P * D
	for b := 0; b < B; b++ {
		last := ctx[(b*Tc+Tc-1)*frame : (b*Tc+Tc)*frame]
		pb := pred[b*Tf*frame : (b+1)*Tf*frame]
		tb := target[b*Tf*frame : (b+1)*Tf*frame]
		for i := range pb {
			d := float64(pb[i]) - float64(tb[i])
			s.se += d * d
			c := float64(last[i%frame]) - float64(tb[i])
			s.seCopy += c * c
		}
		s.n += len(pb)
		s.varPred += timeVariance(pb, Tf, frame)
		s.varGT += timeVariance(tb, Tf, frame)
	}
}

// timeVariance is Σ_d Var_r x[r,d] over the rows (frames) r of x [R,D].
func timeVariance(x []float32, R, D int) float64 {
	var total float64
	for d := 0; d < D; d++ {
		var sum, sq float64
		for r := 0; r < R; r++ {
			v := float64(x[r*D+d])
			sum += v
			sq += v * v
		}
		m := sum / float64(R)
		total += sq/float64(R) - m*m
	}
	return total
}

func (s *latentStats) health() LatentHealth {
	n := float64(max(s.n, 1))
	h := LatentHealth{MSE: s.se / n, CopyLastMSE: s.seCopy / n}
	if s.varGT > 0 {
		h.Spread = s.varPred / s.varGT
	}
	return h
}

// Collapse thresholds: a predictor is called collapsed when, after CollapseMinEpochs
// epochs, its predictions vary over time less than CollapseSpread of the targets' do, or its latent MSE is no better than repeating the last observed frame.
const (
	CollapseMinEpochs = 3
	CollapseSpread    = 0.05
)

// DetectCollapse returns why the validation pass after epoch (0-based) looks collapsed,
// or "" when it does not (or it is too early to say).
func DetectCollapse(epoch int, h LatentHealth) string {
	if epoch+1 < CollapseMinEpochs || h.CopyLastMSE == 0 || math.IsNaN(h.MSE) {
		return ""
	}
	switch {
	case h.Spread < CollapseSpread:
		return fmt.Sprintf("predicted latents barely change from frame to frame (spread %.3g of the targets', below %.2g): the predictor forecasts no motion", h.Spread, CollapseSpread)
	case h.MSE >= h.CopyLastMSE:
		return fmt.Sprintf("latent MSE %.4g is no better than repeating the last observed frame (%.4g)", h.MSE, h.CopyLastMSE)
	}
	return ""
}
