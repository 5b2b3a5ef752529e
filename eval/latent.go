package eval

import (
	"fmt"
	"math"
)

// LatentMetrics compare predicted and target latents [B,T,P,D] (model-spec §4.9,
// ThinkJEPA compute_predicted_latent_metrics).
type LatentMetrics struct {
	MSE      float64 `json:"mse"`       // mean of Δ² over all elements (the training loss)
	L2       float64 `json:"l2"`        // mean over tokens of ‖Δ‖₂ over the D channels
	SmoothL1 float64 `json:"smooth_l1"` // F.smooth_l1_loss, β = 1, mean over elements
	CosDist  float64 `json:"cos_dist"`  // 1 − mean over tokens of cosine similarity
}

// cosEps is PyTorch's F.cosine_similarity eps, applied to each norm.
const cosEps = 1e-8

// Latent computes the latent metrics; pred and tgt are flat with the last dimension d
// (channels) and any number of tokens (B·T·P) before it.
func Latent(pred, tgt []float32, d int) (LatentMetrics, error) {
	if d <= 0 {
		return LatentMetrics{}, fmt.Errorf("latent channel size %d", d)
	}
	if len(pred) != len(tgt) {
		return LatentMetrics{}, fmt.Errorf("latent pred has %d values, target %d", len(pred), len(tgt))
	}
	if len(pred) == 0 || len(pred)%d != 0 {
		return LatentMetrics{}, fmt.Errorf("latent length %d is not a positive multiple of D=%d", len(pred), d)
	}
	tokens := len(pred) / d
	var sq, sl1, l2, cos float64
	for tk := 0; tk < tokens; tk++ {
		var tsq, dot, na, nb float64
		for c := 0; c < d; c++ {
			a, b := float64(pred[tk*d+c]), float64(tgt[tk*d+c])
			if math.IsNaN(a) || math.IsInf(a, 0) {
				return LatentMetrics{}, fmt.Errorf("latent pred is %v at token %d channel %d", a, tk, c)
			}
			diff := a - b
			tsq += diff * diff
			if ad := math.Abs(diff); ad < 1 {
				sl1 += 0.5 * diff * diff
			} else {
				sl1 += ad - 0.5
			}
			dot += a * b
			na += a * a
			nb += b * b
		}
		sq += tsq
		l2 += math.Sqrt(tsq)
		cos += dot / (math.Max(math.Sqrt(na), cosEps) * math.Max(math.Sqrt(nb), cosEps))
	}
	n := float64(len(pred))
	return LatentMetrics{
		MSE:      sq / n,
		L2:       l2 / float64(tokens),
		SmoothL1: sl1 / n,
		CosDist:  1 - cos/float64(tokens),
	}, nil
}
