package anomaly

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
)

// Exact t-SNE (van der Maaten & Hinton 2008) for the window embedding, as upstream's
// visualize_latent_anomaly_tsne.py draws it with scikit-learn: z-scored inputs, perplexity
// min(p, max(2, (n−1)/3)), two output dimensions. The optimiser follows van der Maaten's
// reference implementation (bhtsne with θ = 0): early exaggeration 12 for the first 250
// iterations, momentum 0.5 then 0.8, per-coordinate gains (+0.2 / ×0.8, floor 0.01), the
// embedding re-centred every iteration, 1000 iterations, a Gaussian start of standard
// deviation 1e-4 drawn from the seed. The learning rate is scikit-learn's "auto" (the one
// upstream uses), max(n / (4·exaggeration), 50), for the gradient 4·Σ(p − q)·w·(yᵢ − yⱼ).
//
// Upstream's picture differs from ours anyway: scikit-learn defaults to Barnes–Hut and a
// PCA start. Everything here is float64, sequential per point, and reduced in point
// order, so a seed gives the same output on every machine and with any GOMAXPROCS.
// Memory and time are O(n²): TSNEMaxPoints bounds what callers should pass.

// TSNEDefaultPerplexity and TSNEDefaultSeed are upstream's --perplexity and --seed
// defaults.
const (
	TSNEDefaultPerplexity = 30.0
	TSNEDefaultSeed       = 42
	// TSNEMaxPoints is the most windows the anomaly stage embeds with t-SNE by default
	// (one n×n float64 matrix, 72 MB, and about 35 s on two shared cores for 1024-value
	// windows at this size); above it the windows are subsampled (SubsampleIndices).
	TSNEMaxPoints = 3000
)

// TSNEConfig sets the t-SNE run; zero fields take the reference values.
type TSNEConfig struct {
	Perplexity        float64 // requested; the run uses EffectivePerplexity (0: 30)
	Seed              uint64
	Iterations        int     // 0: 1000
	Exaggeration      float64 // 0: 12
	ExaggerationIters int     // 0: 250 (also when the momentum switches from 0.5 to 0.8)
	LearningRate      float64 // 0: max(n / (4·exaggeration), 50)
}

// TSNEInfo reports what a run used.
type TSNEInfo struct {
	Perplexity   float64 // effective perplexity
	LearningRate float64
	Iterations   int
	KL           float64 // final KL(P‖Q)
}

// EffectivePerplexity is upstream's clamp min(p, max(2, (n−1)/3)) for n points.
func EffectivePerplexity(p float64, n int) float64 {
	return math.Min(p, math.Max(2, float64(n-1)/3))
}

// SubsampleIndices picks max of n indices evenly (⌊k·n/max⌋, k = 0..max−1), in order;
// all of them when n ≤ max.
func SubsampleIndices(n, max int) []int {
	if max <= 0 || n <= max {
		max = n
	}
	idx := make([]int, max)
	for k := range idx {
		idx[k] = int(int64(k) * int64(n) / int64(max))
	}
	return idx
}

// TSNE embeds rows in two dimensions. Rows are z-scored per column first (constant
// columns become 0, as in PCA2). Fewer than two rows, ragged or non-finite rows are errors.
func TSNE(rows [][]float64, cfg TSNEConfig) ([][2]float64, TSNEInfo, error) {
	x, n, d, err := zscore(rows)
	if err != nil {
		return nil, TSNEInfo{}, err
	}
	if cfg.Perplexity == 0 {
		cfg.Perplexity = TSNEDefaultPerplexity
	}
	if !(cfg.Perplexity > 0) || math.IsInf(cfg.Perplexity, 0) {
		return nil, TSNEInfo{}, fmt.Errorf("t-SNE: perplexity must be positive and finite, got %v", cfg.Perplexity)
	}
	if cfg.Iterations <= 0 {
		cfg.Iterations = 1000
	}
	if cfg.Exaggeration <= 0 {
		cfg.Exaggeration = 12
	}
	if cfg.ExaggerationIters <= 0 {
		cfg.ExaggerationIters = 250
	}
	if cfg.LearningRate <= 0 {
		cfg.LearningRate = math.Max(float64(n)/(4*cfg.Exaggeration), 50)
	}
	info := TSNEInfo{Perplexity: EffectivePerplexity(cfg.Perplexity, n), LearningRate: cfg.LearningRate, Iterations: cfg.Iterations}
	P := sqDistances(x, n, d)
	calibrate(P, n, info.Perplexity)
	symmetrize(P, n)

	rng := rand.New(rand.NewPCG(cfg.Seed, 0x74736e65)) // "tsne"
	y := make([]float64, 2*n)
	for i := range y {
		y[i] = 1e-4 * rng.NormFloat64()
	}
	grad := make([]float64, 2*n)
	upd := make([]float64, 2*n)
	gains := make([]float64, 2*n)
	for i := range gains {
		gains[i] = 1
	}
	g := newGradWork(n)
	for it := 0; it < cfg.Iterations; it++ {
		alpha, mom := cfg.Exaggeration, 0.5
		if it >= cfg.ExaggerationIters {
			alpha, mom = 1, 0.8
		}
		g.gradient(P, y, n, alpha, grad)
		for k := range y {
			if (grad[k] > 0) != (upd[k] > 0) {
				gains[k] += 0.2
			} else {
				gains[k] *= 0.8
			}
			gains[k] = math.Max(gains[k], 0.01)
			upd[k] = mom*upd[k] - cfg.LearningRate*gains[k]*grad[k]
			y[k] += upd[k]
		}
		var mx, my float64
		for i := 0; i < n; i++ {
			mx += y[2*i]
			my += y[2*i+1]
		}
		mx /= float64(n)
		my /= float64(n)
		for i := 0; i < n; i++ {
			y[2*i] -= mx
			y[2*i+1] -= my
		}
	}
	info.KL = tsneObjective(P, y, n, 1)
	out := make([][2]float64, n)
	for i := range out {
		out[i] = [2]float64{y[2*i], y[2*i+1]}
	}
	return out, info, nil
}

// zscore validates rows and returns them flat [n,d], each column standardised with its
// population standard deviation (constant columns, s ≤ 1e-12, become 0).
func zscore(rows [][]float64) (x []float64, n, d int, err error) {
	n = len(rows)
	if n < 2 {
		return nil, 0, 0, fmt.Errorf("embedding: %d windows, need at least 2", n)
	}
	d = len(rows[0])
	x = make([]float64, n*d)
	for i, r := range rows {
		if len(r) != d {
			return nil, 0, 0, fmt.Errorf("embedding: window %d has %d values, window 0 %d", i, len(r), d)
		}
		for j, v := range r {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, 0, 0, fmt.Errorf("embedding: window %d value %d is %v", i, j, v)
			}
			x[i*d+j] = v
		}
	}
	for j := 0; j < d; j++ {
		var m, s float64
		for i := 0; i < n; i++ {
			m += x[i*d+j]
		}
		m /= float64(n)
		for i := 0; i < n; i++ {
			s += (x[i*d+j] - m) * (x[i*d+j] - m)
		}
		s = math.Sqrt(s / float64(n))
		for i := 0; i < n; i++ {
			v := 0.0
			if s > 1e-12 {
				v = (x[i*d+j] - m) / s
			}
			x[i*d+j] = v
		}
	}
	return x, n, d, nil
}

// parallelRows runs f over [0, n) in contiguous blocks on GOMAXPROCS goroutines. Each
// row's work is done by one goroutine in a fixed order, so results do not depend on the
// split.
func parallelRows(n int, f func(lo, hi int)) {
	w := min(runtime.GOMAXPROCS(0), n)
	if w <= 1 || n < 64 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for k := 0; k < w; k++ {
		lo, hi := k*n/w, (k+1)*n/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}

// sqDistances is the n×n matrix of squared Euclidean distances between the rows of x.
func sqDistances(x []float64, n, d int) []float64 {
	D := make([]float64, n*n)
	parallelRows(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xi := x[i*d : (i+1)*d]
			for j := 0; j < n; j++ {
				if j == i {
					continue
				}
				xj := x[j*d : (j+1)*d]
				var s float64
				for k, v := range xi {
					t := v - xj[k]
					s += t * t
				}
				D[i*n+j] = s
			}
		}
	})
	return D
}

// calibrate turns each row of the squared distances D (n×n, diagonal ignored) in place
// into the conditional distribution p_{j|i} ∝ exp(−βᵢ·d_ij) whose Shannon entropy (in
// nats) is log(perplexity), βᵢ found by bisection (the reference's doubling/halving
// search, run to a tolerance of 1e-10 nats or 200 steps). Distances are shifted by the
// row's smallest so that large inputs do not underflow; that does not change p. Returns
// the βs. When the target is out of reach (a row with fewer than perplexity distinct
// neighbours), the search ends at the nearest entropy it can reach.
func calibrate(D []float64, n int, perplexity float64) []float64 {
	target := math.Log(perplexity)
	betas := make([]float64, n)
	parallelRows(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := D[i*n : (i+1)*n]
			dmin := math.Inf(1)
			for j, v := range row {
				if j != i && v < dmin {
					dmin = v
				}
			}
			beta, bmin, bmax := 1.0, math.Inf(-1), math.Inf(1)
			var h float64
			for step := 0; step < 200; step++ {
				h = rowEntropy(row, i, dmin, beta)
				if math.Abs(h-target) < 1e-10 {
					break
				}
				if h > target { // too flat: sharpen
					bmin = beta
					if math.IsInf(bmax, 1) {
						beta *= 2
					} else {
						beta = (beta + bmax) / 2
					}
				} else {
					bmax = beta
					if math.IsInf(bmin, -1) {
						beta /= 2
					} else {
						beta = (beta + bmin) / 2
					}
				}
			}
			betas[i] = beta
			var sum float64
			for j, v := range row {
				if j == i {
					continue
				}
				sum += math.Exp(-beta * (v - dmin))
			}
			for j, v := range row {
				if j == i {
					row[j] = 0
					continue
				}
				row[j] = math.Exp(-beta*(v-dmin)) / sum
			}
		}
	})
	return betas
}

// rowEntropy is the entropy of p_j ∝ exp(−β(d_j − dmin)), j ≠ i:
// H = log Σ e_j + β·Σ e_j (d_j − dmin) / Σ e_j.
func rowEntropy(row []float64, i int, dmin, beta float64) float64 {
	var sum, sd float64
	for j, v := range row {
		if j == i {
			continue
		}
		e := math.Exp(-beta * (v - dmin))
		sum += e
		sd += e * (v - dmin)
	}
	return math.Log(sum) + beta*sd/sum
}

// symmetrize makes the joint P in place: p_ij = (p_{j|i} + p_{i|j}) / (2n), floored at
// 1e-12 off the diagonal (as the reference), 0 on it.
func symmetrize(P []float64, n int) {
	for i := 0; i < n; i++ {
		P[i*n+i] = 0
		for j := i + 1; j < n; j++ {
			v := math.Max((P[i*n+j]+P[j*n+i])/float64(2*n), 1e-12)
			P[i*n+j], P[j*n+i] = v, v
		}
	}
}

// gradWork holds the per-row partial sums of one gradient evaluation.
type gradWork struct {
	z, attr, rep []float64
}

func newGradWork(n int) *gradWork {
	return &gradWork{z: make([]float64, n), attr: make([]float64, 2*n), rep: make([]float64, 2*n)}
}

// gradient writes into grad the gradient of the t-SNE objective with P scaled by alpha:
// ∂/∂yᵢ = 4·Σⱼ (α·p_ij − q_ij)·w_ij·(yᵢ − yⱼ), w_ij = 1/(1 + ‖yᵢ − yⱼ‖²),
// q_ij = w_ij / Σ_{k≠l} w_kl. With α = 1 it is the gradient of KL(P‖Q); with α ≠ 1, of
// tsneObjective(α) (early exaggeration).
func (g *gradWork) gradient(P, y []float64, n int, alpha float64, grad []float64) {
	parallelRows(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			yi0, yi1 := y[2*i], y[2*i+1]
			prow := P[i*n : (i+1)*n]
			var z, a0, a1, r0, r1 float64
			for j := 0; j < n; j++ {
				if j == i {
					continue
				}
				d0, d1 := yi0-y[2*j], yi1-y[2*j+1]
				w := 1 / (1 + d0*d0 + d1*d1)
				z += w
				pw := prow[j] * w
				a0 += pw * d0
				a1 += pw * d1
				ww := w * w
				r0 += ww * d0
				r1 += ww * d1
			}
			g.z[i] = z
			g.attr[2*i], g.attr[2*i+1] = a0, a1
			g.rep[2*i], g.rep[2*i+1] = r0, r1
		}
	})
	var Z float64
	for _, v := range g.z {
		Z += v
	}
	for k := range grad {
		grad[k] = 4 * (alpha*g.attr[k] - g.rep[k]/Z)
	}
}

// tsneObjective is C(α) = Σ_{i≠j} α·p_ij·log(α·p_ij) − Σ_{i≠j} α·p_ij·log w_ij + log Z,
// Z = Σ_{k≠l} w_kl, whose gradient is gradient(α). At α = 1 (Σ p = 1) it is KL(P‖Q).
func tsneObjective(P, y []float64, n int, alpha float64) float64 {
	var plogp, plogw, Z float64
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if j == i {
				continue
			}
			d0, d1 := y[2*i]-y[2*j], y[2*i+1]-y[2*j+1]
			w := 1 / (1 + d0*d0 + d1*d1)
			Z += w
			if p := alpha * P[i*n+j]; p > 0 {
				plogp += p * math.Log(p)
				plogw += p * math.Log(w)
			}
		}
	}
	return plogp - plogw + math.Log(Z)
}
