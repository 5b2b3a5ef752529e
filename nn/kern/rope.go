package kern

import "math"

// ropeTables fills cos and sin [3·dsub] for one token at positions (t,h,w), following
// V-JEPA 2 exactly (model-spec §1.4): ω_j = 10000^(−j/M) with M = dsub/2, computed in
// float32 as upstream does for fp32 q/k; θ_j = p·ω_j; the cos/sin vectors are tiled,
// C[k] = cos(θ_{k mod M}), not interleaved.
func ropeTables(cos, sin []float64, pos []int32, omega []float32) {
	dsub := 2 * len(omega)
	M := len(omega)
	for a := 0; a < 3; a++ {
		p := float32(pos[a])
		for k := 0; k < dsub; k++ {
			theta := float64(p * omega[k%M])
			cos[a*dsub+k] = math.Cos(theta)
			sin[a*dsub+k] = math.Sin(theta)
		}
	}
}

// ropeOmega returns ω_j = 1/10000^(j/M), j < M, rounded to float32 at each step as
// upstream computes it for float32 q/k.
func ropeOmega(dsub int) []float32 {
	M := dsub / 2
	omega := make([]float32, M)
	for j := range omega {
		omega[j] = float32(1 / math.Pow(10000, float64(float32(j)/float32(M))))
	}
	return omega
}

// RoPE rotates x [B,H,N,hd] in place: for each of the three dsub-channel parts,
// out[k] = x[k]·C[k] + y[k]·S[k] with y[2i] = −x[2i+1], y[2i+1] = x[2i]; channels past
// 3·dsub are left alone. pos holds (t,h,w) per token b·N+n.
func RoPE[T Float](x []T, pos []int32, dsub, B, H, N, hd int) {
	ropeApply(x, pos, dsub, B, H, N, hd, false)
}

// RoPEBackward applies the transpose of RoPE's (linear, not orthogonal) map to dx in
// place: dx[2i] = g[2i]·C[2i] + g[2i+1]·S[2i+1], dx[2i+1] = g[2i+1]·C[2i+1] − g[2i]·S[2i].
func RoPEBackward[T Float](dx []T, pos []int32, dsub, B, H, N, hd int) {
	ropeApply(dx, pos, dsub, B, H, N, hd, true)
}

// ropeTable holds cos/sin [dsub] for every integer position in [lo, lo+n): the angle of a
// channel depends only on the position and the channel, not on the axis, so three axes
// share one table and each token's rotation is three lookups instead of 3·dsub cos/sin.
type ropeTable[T Float] struct {
	lo, dsub int
	cos, sin []T
}

// maxRoPETable bounds the position range tabulated; wider ranges (never seen in practice:
// positions are frame, row and column indices) fall back to per-token tables.
var maxRoPETable = 1 << 16 // a variable so tests can force the fallback

func newRoPETable[T Float](pos []int32, dsub int, omega []float32) *ropeTable[T] {
	if len(pos) == 0 {
		return nil
	}
	lo, hi := pos[0], pos[0]
	for _, p := range pos {
		lo, hi = min(lo, p), max(hi, p)
	}
	n := int(hi) - int(lo) + 1
	if n > maxRoPETable {
		return nil
	}
	tb := &ropeTable[T]{lo: int(lo), dsub: dsub, cos: make([]T, n*dsub), sin: make([]T, n*dsub)}
	cs, sn := make([]float64, 3*dsub), make([]float64, 3*dsub)
	for i := 0; i < n; i++ {
		p := int32(tb.lo + i)
		ropeTables(cs, sn, []int32{p, p, p}, omega)
		for k := 0; k < dsub; k++ {
			tb.cos[i*dsub+k], tb.sin[i*dsub+k] = T(cs[k]), T(sn[k])
		}
	}
	return tb
}

func ropeApply[T Float](x []T, pos []int32, dsub, B, H, N, hd int, transpose bool) {
	R := 3 * dsub
	omega := ropeOmega(dsub)
	tb := newRoPETable[T](pos[:3*B*N], dsub, omega)
	parallelFor(B*N, 16, func(lo, hi int) {
		cs := make([]float64, R)
		sn := make([]float64, R)
		ct := make([]T, R)
		st := make([]T, R)
		for r := lo; r < hi; r++ {
			b, n := r/N, r%N
			if tb != nil {
				for a := 0; a < 3; a++ {
					o := (int(pos[3*r+a]) - tb.lo) * dsub
					copy(ct[a*dsub:(a+1)*dsub], tb.cos[o:o+dsub])
					copy(st[a*dsub:(a+1)*dsub], tb.sin[o:o+dsub])
				}
			} else {
				ropeTables(cs, sn, pos[3*r:3*r+3], omega)
				for k := range ct {
					ct[k], st[k] = T(cs[k]), T(sn[k])
				}
			}
			for h := 0; h < H; h++ {
				v := x[((b*H+h)*N+n)*hd:][:R]
				for k := 0; k < R; k += 2 {
					a0, a1 := v[k], v[k+1]
					if transpose {
						v[k] = a0*ct[k] + a1*st[k+1]
						v[k+1] = a1*ct[k+1] - a0*st[k]
					} else {
						v[k] = a0*ct[k] - a1*st[k]
						v[k+1] = a1*ct[k+1] + a0*st[k+1]
					}
				}
			}
		}
	})
}
