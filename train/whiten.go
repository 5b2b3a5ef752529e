package train

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/thinkjepa/thinkjepa/nn/kern"
)

// LatentWhitening is an optional fixed affine map of the cached V-JEPA latents,
// x ↦ W·(x − μ) per token, applied to the predictor's inputs and its latent-loss targets
// alike (sample config "whiten"). μ is the training split's mean token and W = Σ^{-1/2}
// (ZCA, eigenvalues floored at 1e-3·λ_max) its inverse square-root covariance.
//
// Why: upstream regresses raw features, and so does this port by default. The demo's
// small untrained encoder, however, yields tokens whose channels are strongly correlated
// and dominated by a few directions (background, camera pose); the hand and object
// signal the trajectory head needs lies in low-variance directions, along which gradient
// descent moves slowly (in an offline check, a linear readout of pooled demo latents got
// within 0.3 cm of the least-squares ADE in 800 Adam steps after whitening, and stalled
// 2.4 cm above it without). Whitening is invertible, so no information is lost; the
// latent loss is then measured in whitened units, which weighs faint (noisy) directions
// as much as strong ones: in the demo the predictor then barely learned, so the demo
// does not use it.
type LatentWhitening struct {
	D    int
	Mean []float32 // [D]
	W    []float32 // [D,D] row-major, symmetric
	bias []float32 // −W·μ
}

// maxWhitenRows caps the tokens used to estimate the covariance (evenly strided).
const maxWhitenRows = 200000

// FitWhitening estimates μ and W from every latent token of the dataset's clips.
func FitWhitening(fs *FileSet) (*LatentWhitening, error) {
	var D int
	var rows int
	for i := range fs.clips {
		obs, fut, P, d, err := fs.latents(&fs.clips[i])
		if err != nil {
			return nil, err
		}
		_ = P
		D = d
		rows += (len(obs) + len(fut)) / d
	}
	if D == 0 || rows < 2 {
		return nil, fmt.Errorf("whitening: no latent tokens in the training set")
	}
	stride := max(1, rows/maxWhitenRows)
	mean := make([]float64, D)
	cov := make([]float64, D*D)
	var n float64
	k := 0
	for i := range fs.clips {
		obs, fut, _, _, err := fs.latents(&fs.clips[i])
		if err != nil {
			return nil, err
		}
		for _, v := range [][]float32{obs, fut} {
			for r := 0; r+D <= len(v); r += D {
				k++
				if k%stride != 0 {
					continue
				}
				x := v[r : r+D]
				n++
				// Welford-style running mean and co-moment (numerically stable in one pass).
				delta := make([]float64, D)
				for a := range x {
					delta[a] = float64(x[a]) - mean[a]
					mean[a] += delta[a] / n
				}
				for a := 0; a < D; a++ {
					da := delta[a]
					row := cov[a*D : (a+1)*D]
					for b := 0; b < D; b++ {
						row[b] += da * (float64(x[b]) - mean[b])
					}
				}
			}
		}
	}
	for i := range cov {
		cov[i] /= n
	}
	sym := mat.NewSymDense(D, nil)
	for a := 0; a < D; a++ {
		for b := a; b < D; b++ {
			sym.SetSym(a, b, 0.5*(cov[a*D+b]+cov[b*D+a]))
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(sym, true) {
		return nil, fmt.Errorf("whitening: eigendecomposition of the latent covariance failed")
	}
	vals := eig.Values(nil)
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	lmax := 0.0
	for _, l := range vals {
		lmax = math.Max(lmax, l)
	}
	if lmax <= 0 {
		return nil, fmt.Errorf("whitening: the training latents have zero variance")
	}
	floor := 1e-3 * lmax
	w := &LatentWhitening{D: D, Mean: make([]float32, D), W: make([]float32, D*D)}
	for a := 0; a < D; a++ {
		w.Mean[a] = float32(mean[a])
		for b := 0; b < D; b++ {
			var s float64
			for j, l := range vals {
				s += vecs.At(a, j) * vecs.At(b, j) / math.Sqrt(math.Max(l, 0)+floor)
			}
			w.W[a*D+b] = float32(s)
		}
	}
	return w, w.init()
}

// LatentStandardization is the lighter alternative (sample config "standardize"):
// x[p,c] ↦ (x[p,c] − μ[p,c]) / σ[p,c] per token position p and channel c, with μ, σ over
// the training split's frames. It removes what is constant at each position across clips
// (the static scene), which otherwise dominates the head's attention pooling: on the
// demo's raw latents the trained head's pooled vector varied by ~4% between clips and the
// head regressed a constant. The latent loss is then in units of each position's spread;
// in the demo the predictor did not get below predicting the mean that way, so the demo
// does not use it either.
type LatentStandardization struct {
	P, D      int
	Mean, Inv []float32 // [P,D]; Inv = 1/σ (σ floored at 1e-3·max σ)
}

// FitStandardization estimates μ and σ per (token position, channel) on the dataset.
func FitStandardization(fs *FileSet) (*LatentStandardization, error) {
	var s, ss []float64
	var n float64
	P, D := 0, 0
	for i := range fs.clips {
		obs, fut, p, d, err := fs.latents(&fs.clips[i])
		if err != nil {
			return nil, err
		}
		if s == nil {
			P, D = p, d
			s, ss = make([]float64, P*D), make([]float64, P*D)
		} else if p != P || d != D {
			return nil, fmt.Errorf("standardization: clip %s has %d×%d tokens, the first clip %d×%d", fs.clips[i].id, p, d, P, D)
		}
		for _, v := range [][]float32{obs, fut} {
			for f := 0; f+P*D <= len(v); f += P * D {
				for k, x := range v[f : f+P*D] {
					s[k] += float64(x)
					ss[k] += float64(x) * float64(x)
				}
				n++
			}
		}
	}
	if n < 2 {
		return nil, fmt.Errorf("standardization: no latent frames in the training set")
	}
	st := &LatentStandardization{P: P, D: D, Mean: make([]float32, P*D), Inv: make([]float32, P*D)}
	sd := make([]float64, P*D)
	maxSD := 0.0
	for k := range s {
		m := s[k] / n
		sd[k] = math.Sqrt(math.Max(ss[k]/n-m*m, 0))
		maxSD = math.Max(maxSD, sd[k])
		st.Mean[k] = float32(m)
	}
	if maxSD == 0 {
		return nil, fmt.Errorf("standardization: the training latents have zero variance")
	}
	for k := range sd {
		st.Inv[k] = float32(1 / math.Max(sd[k], 1e-3*maxSD))
	}
	return st, nil
}

// Apply maps x (frames of P×D) to (x − μ)/σ, in a new slice.
func (st *LatentStandardization) Apply(x []float32) ([]float32, error) {
	F := st.P * st.D
	if len(x)%F != 0 {
		return nil, fmt.Errorf("standardization: %d values are not frames of %d×%d", len(x), st.P, st.D)
	}
	out := make([]float32, len(x))
	for f := 0; f < len(x); f += F {
		for k := 0; k < F; k++ {
			out[f+k] = (x[f+k] - st.Mean[k]) * st.Inv[k]
		}
	}
	return out, nil
}

// LatentMap is a fixed map of the cached latents applied to every batch a run serves
// (whitening or standardization).
type LatentMap interface {
	Apply(x []float32) ([]float32, error)
}

// NewLatentStandardization rebuilds a standardization from stored μ and 1/σ [P,D].
func NewLatentStandardization(P, D int, mean, inv []float32) (*LatentStandardization, error) {
	if P <= 0 || D <= 0 || len(mean) != P*D || len(inv) != P*D {
		return nil, fmt.Errorf("standardization: %d and %d values for [%d,%d]", len(mean), len(inv), P, D)
	}
	return &LatentStandardization{P: P, D: D, Mean: mean, Inv: inv}, nil
}

// NewLatentWhitening rebuilds a whitening from stored μ and W (checkpoints).
func NewLatentWhitening(mean, w []float32) (*LatentWhitening, error) {
	lw := &LatentWhitening{D: len(mean), Mean: mean, W: w}
	return lw, lw.init()
}

func (w *LatentWhitening) init() error {
	if w.D == 0 || len(w.W) != w.D*w.D {
		return fmt.Errorf("whitening: mean has %d values and W %d, want D and D² with D > 0", len(w.Mean), len(w.W))
	}
	w.bias = make([]float32, w.D)
	for a := 0; a < w.D; a++ {
		var s float64
		for b := 0; b < w.D; b++ {
			s += float64(w.W[a*w.D+b]) * float64(w.Mean[b])
		}
		w.bias[a] = float32(-s)
	}
	return nil
}

// Apply maps x (rows of D) to W·(x − μ), in a new slice.
func (w *LatentWhitening) Apply(x []float32) ([]float32, error) {
	if len(x)%w.D != 0 {
		return nil, fmt.Errorf("whitening: %d values are not rows of %d channels", len(x), w.D)
	}
	out := make([]float32, len(x))
	kern.Linear(out, x, w.W, w.bias, len(x)/w.D, w.D, w.D)
	return out, nil
}
