package kern

import "math"

// Linear: out[M,N] = in[M,K]·w[N,K]ᵀ + b[N] (b may be nil).
func Linear[T Float](out, in, w, b []T, M, K, N int) {
	beta := T(0)
	if b != nil {
		for i := 0; i < M; i++ {
			copy(out[i*N:(i+1)*N], b[:N])
		}
		beta = 1
	}
	Gemm(false, true, M, N, K, 1, in, K, w, K, beta, out, N)
}

// LinearBackward: dIn[M,K] += dOut·w; dW[N,K] += dOutᵀ·in; dB[N] += Σ_rows dOut.
func LinearBackward[T Float](dIn, dW, dB, dOut, in, w []T, M, K, N int) {
	if dIn != nil {
		Gemm(false, false, M, K, N, 1, dOut, N, w, K, 1, dIn, K)
	}
	if dW != nil {
		Gemm(true, false, N, K, M, 1, dOut, N, in, K, 1, dW, K)
	}
	if dB != nil {
		for i := 0; i < M; i++ {
			row := dOut[i*N : (i+1)*N]
			for j, g := range row {
				dB[j] += g
			}
		}
	}
}

// LayerNorm over the last dim C of [M,C]; saves mean and rstd [M]. w, b may be nil.
func LayerNorm[T Float](out, mean, rstd, in, w, b []T, M, C int, eps T) {
	parallelFor(M, 8, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x := in[i*C : (i+1)*C]
			var s float64
			for _, v := range x {
				s += float64(v)
			}
			m := s / float64(C)
			var ss float64
			for _, v := range x {
				d := float64(v) - m
				ss += d * d
			}
			rs := 1 / math.Sqrt(ss/float64(C)+float64(eps))
			mean[i], rstd[i] = T(m), T(rs)
			o := out[i*C : (i+1)*C]
			mt, rt := T(m), T(rs)
			switch {
			case w != nil && b != nil:
				for j, v := range x {
					o[j] = (v-mt)*rt*w[j] + b[j]
				}
			case w != nil:
				for j, v := range x {
					o[j] = (v - mt) * rt * w[j]
				}
			default:
				for j, v := range x {
					o[j] = (v - mt) * rt
				}
			}
		}
	})
}

// LayerNormBackward accumulates dIn, dW, dB (each may be nil; w nil = no affine).
func LayerNormBackward[T Float](dIn, dW, dB, dOut, in, w, mean, rstd []T, M, C int) {
	nt := min(Threads(), max(1, M/8))
	var pw, pb [][]T
	if w != nil && (dW != nil || dB != nil) {
		pw, pb = make([][]T, nt), make([][]T, nt)
	}
	chunk := func(t, lo, hi int) {
		var lw, lb []T
		if pw != nil {
			lw, lb = make([]T, C), make([]T, C)
			pw[t], pb[t] = lw, lb
		}
		for i := lo; i < hi; i++ {
			x := in[i*C : (i+1)*C]
			g := dOut[i*C : (i+1)*C]
			m, rs := mean[i], rstd[i]
			var sd, sdn float64
			for j, gv := range g {
				n := (x[j] - m) * rs
				dn := gv
				if w != nil {
					dn *= w[j]
				}
				sd += float64(dn)
				sdn += float64(dn * n)
				if lw != nil {
					lw[j] += gv * n
					lb[j] += gv
				}
			}
			if dIn != nil {
				md, mdn := T(sd/float64(C)), T(sdn/float64(C))
				d := dIn[i*C : (i+1)*C]
				for j, gv := range g {
					n := (x[j] - m) * rs
					dn := gv
					if w != nil {
						dn *= w[j]
					}
					d[j] += (dn - md - n*mdn) * rs
				}
			}
		}
	}
	if nt <= 1 {
		chunk(0, 0, M)
	} else {
		done := make(chan struct{}, nt)
		for t := 0; t < nt; t++ {
			go func() { chunk(t, t*M/nt, (t+1)*M/nt); done <- struct{}{} }()
		}
		for t := 0; t < nt; t++ {
			<-done
		}
	}
	for t := range pw {
		if dW != nil {
			for j, v := range pw[t] {
				dW[j] += v
			}
		}
		if dB != nil {
			for j, v := range pb[t] {
				dB[j] += v
			}
		}
	}
}

const invSqrt2 = 0.70710678118654752440
const invSqrt2Pi = 0.39894228040143267794

// GELU, exact erf form: out = x·Φ(x).
func GELU[T Float](out, in []T) {
	if haveFast && is32[T]() {
		parallelFor(len(in), 4096, func(lo, hi int) { fastGELU32(as32(out[lo:hi]), as32(in[lo:hi])) })
		return
	}
	parallelFor(len(in), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x := float64(in[i])
			out[i] = T(0.5 * x * (1 + math.Erf(x*invSqrt2)))
		}
	})
}

// GELUBackward: dIn += dOut·(Φ(x) + x·φ(x)).
func GELUBackward[T Float](dIn, dOut, in []T) {
	if haveFast && is32[T]() {
		parallelFor(len(in), 4096, func(lo, hi int) { fastGELUBwd32(as32(dIn[lo:hi]), as32(dOut[lo:hi]), as32(in[lo:hi])) })
		return
	}
	parallelFor(len(in), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x := float64(in[i])
			d := 0.5*(1+math.Erf(x*invSqrt2)) + x*invSqrt2Pi*math.Exp(-0.5*x*x)
			dIn[i] += T(d) * dOut[i]
		}
	})
}

// Add: out = a + b.
func Add[T Float](out, a, b []T) {
	for i := range out {
		out[i] = a[i] + b[i]
	}
}

// Scale: out = a·s.
func Scale[T Float](out, a []T, s T) {
	for i := range out {
		out[i] = a[i] * s
	}
}

// AddInPlace: dst += src.
func AddInPlace[T Float](dst, src []T) {
	for i := range dst {
		dst[i] += src[i]
	}
}

// Mul: out = a⊙b.
func Mul[T Float](out, a, b []T) {
	for i := range out {
		out[i] = a[i] * b[i]
	}
}

// Abs: out = |a|.
func Abs[T Float](out, a []T) {
	for i := range out {
		out[i] = T(math.Abs(float64(a[i])))
	}
}

// AbsBackward: dIn += sign(in)·dOut (sign(0) = 0, as PyTorch).
func AbsBackward[T Float](dIn, dOut, in []T) {
	for i := range dIn {
		switch {
		case in[i] > 0:
			dIn[i] += dOut[i]
		case in[i] < 0:
			dIn[i] -= dOut[i]
		}
	}
}

// Tanh: out = tanh(a).
func Tanh[T Float](out, a []T) {
	for i := range out {
		out[i] = T(math.Tanh(float64(a[i])))
	}
}

// TanhBackward: dIn += (1-out²)·dOut.
func TanhBackward[T Float](dIn, dOut, out []T) {
	for i := range dIn {
		dIn[i] += (1 - out[i]*out[i]) * dOut[i]
	}
}

// SplitHeads: qkv [B,N,3,H,hd] → q, k, v [B,H,N,hd].
func SplitHeads[T Float](q, k, v, qkv []T, B, N, H, hd int) {
	dst := [3][]T{q, k, v}
	for b := 0; b < B; b++ {
		for n := 0; n < N; n++ {
			row := qkv[(b*N+n)*3*H*hd:]
			for s := 0; s < 3; s++ {
				for h := 0; h < H; h++ {
					copy(dst[s][((b*H+h)*N+n)*hd:][:hd], row[(s*H+h)*hd:][:hd])
				}
			}
		}
	}
}

// SplitHeadsBackward: dqkv += the [B,N,3,H,hd] layout of dq, dk, dv (nil ones skipped).
func SplitHeadsBackward[T Float](dqkv, dq, dk, dv []T, B, N, H, hd int) {
	src := [3][]T{dq, dk, dv}
	for b := 0; b < B; b++ {
		for n := 0; n < N; n++ {
			row := dqkv[(b*N+n)*3*H*hd:]
			for s := 0; s < 3; s++ {
				if src[s] == nil {
					continue
				}
				for h := 0; h < H; h++ {
					AddInPlace(row[(s*H+h)*hd:][:hd], src[s][((b*H+h)*N+n)*hd:][:hd])
				}
			}
		}
	}
}

// MergeHeads: x [B,H,N,hd] → out [B,N,H*hd].
func MergeHeads[T Float](out, x []T, B, N, H, hd int) {
	for b := 0; b < B; b++ {
		for h := 0; h < H; h++ {
			for n := 0; n < N; n++ {
				copy(out[((b*N+n)*H+h)*hd:][:hd], x[((b*H+h)*N+n)*hd:][:hd])
			}
		}
	}
}

// MergeHeadsBackward: dx [B,H,N,hd] += dOut [B,N,H*hd] rearranged.
func MergeHeadsBackward[T Float](dx, dOut []T, B, N, H, hd int) {
	for b := 0; b < B; b++ {
		for h := 0; h < H; h++ {
			for n := 0; n < N; n++ {
				AddInPlace(dx[((b*H+h)*N+n)*hd:][:hd], dOut[((b*N+n)*H+h)*hd:][:hd])
			}
		}
	}
}

// FiLM: out[B,N,C] = x·(1+γ[B,C]) + β[B,C]. out may alias x.
func FiLM[T Float](out, x, gamma, beta []T, B, N, C int) {
	for b := 0; b < B; b++ {
		g, be := gamma[b*C:(b+1)*C], beta[b*C:(b+1)*C]
		for n := 0; n < N; n++ {
			o, xi := out[(b*N+n)*C:][:C], x[(b*N+n)*C:][:C]
			for c := range o {
				o[c] = xi[c]*(1+g[c]) + be[c]
			}
		}
	}
}

// FiLMBackward: dx += dOut·(1+γ); dγ += Σ_n dOut·x; dβ += Σ_n dOut.
func FiLMBackward[T Float](dx, dGamma, dBeta, dOut, x, gamma []T, B, N, C int) {
	for b := 0; b < B; b++ {
		g := gamma[b*C : (b+1)*C]
		for n := 0; n < N; n++ {
			d, xi := dOut[(b*N+n)*C:][:C], x[(b*N+n)*C:][:C]
			if dx != nil {
				o := dx[(b*N+n)*C:][:C]
				for c := range o {
					o[c] += d[c] * (1 + g[c])
				}
			}
			if dGamma != nil {
				dg := dGamma[b*C:][:C]
				for c := range dg {
					dg[c] += d[c] * xi[c]
				}
			}
			if dBeta != nil {
				AddInPlace(dBeta[b*C:][:C], d)
			}
		}
	}
}

// GatherRows: out[i,:] = in[idx[i],:].
func GatherRows[T Float](out, in []T, idx []int32, C int) {
	for i, r := range idx {
		copy(out[i*C:(i+1)*C], in[int(r)*C:(int(r)+1)*C])
	}
}

// ScatterAddRows: dIn[idx[i],:] += dOut[i,:].
func ScatterAddRows[T Float](dIn, dOut []T, idx []int32, C int) {
	for i, r := range idx {
		AddInPlace(dIn[int(r)*C:(int(r)+1)*C], dOut[i*C:(i+1)*C])
	}
}

// ConcatCols: out[M, Σw] = [parts[0] | parts[1] | …].
func ConcatCols[T Float](out []T, parts [][]T, M int, widths []int) {
	W := 0
	for _, w := range widths {
		W += w
	}
	for i := 0; i < M; i++ {
		off := i * W
		for p, w := range widths {
			copy(out[off:off+w], parts[p][i*w:(i+1)*w])
			off += w
		}
	}
}

// SplitColsAdd: dParts[i] += the matching column block of dOut (nil skipped).
func SplitColsAdd[T Float](dParts [][]T, dOut []T, M int, widths []int) {
	W := 0
	for _, w := range widths {
		W += w
	}
	for i := 0; i < M; i++ {
		off := i * W
		for p, w := range widths {
			if dParts[p] != nil {
				AddInPlace(dParts[p][i*w:(i+1)*w], dOut[off:off+w])
			}
			off += w
		}
	}
}

// WeightedRowSum: out[G,C] = Σ_s w[g·S+s]·in[g,s,:].
func WeightedRowSum[T Float](out, in []T, w []float32, G, S, C int) {
	for g := 0; g < G; g++ {
		o := out[g*C : (g+1)*C]
		clear(o)
		for s := 0; s < S; s++ {
			ws := T(w[g*S+s])
			x := in[(g*S+s)*C:][:C]
			for c := range o {
				o[c] += ws * x[c]
			}
		}
	}
}

// WeightedRowSumBackward: dIn[g,s,:] += w[g·S+s]·dOut[g,:].
func WeightedRowSumBackward[T Float](dIn, dOut []T, w []float32, G, S, C int) {
	for g := 0; g < G; g++ {
		d := dOut[g*C : (g+1)*C]
		for s := 0; s < S; s++ {
			ws := T(w[g*S+s])
			x := dIn[(g*S+s)*C:][:C]
			for c := range d {
				x[c] += ws * d[c]
			}
		}
	}
}

// SumSquares returns Σ t² in float64.
func SumSquares[T Float](t []T) float64 {
	var s float64
	for _, v := range t {
		s += float64(v) * float64(v)
	}
	return s
}

// MSE returns mean((a-b)²), accumulated in float64.
func MSE[T Float](a, b []T) float64 {
	if len(a) == 0 {
		return 0
	}
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return s / float64(len(a))
}

// MSEBackward: dA += scale·2(a-b)/n.
func MSEBackward[T Float](dA, a, b []T, scale T) {
	f := scale * 2 / T(len(a))
	for i := range dA {
		dA[i] += f * (a[i] - b[i])
	}
}

// AdamW performs one PyTorch-semantics AdamW step (t ≥ 1):
// p ← p − lr·wd·p; m ← β1m + (1−β1)g; v ← β2v + (1−β2)g²;
// p ← p − (lr/(1−β1ᵗ))·m / (√v/√(1−β2ᵗ) + eps).
func AdamW[T Float](param, grad, m, v []T, lr, beta1, beta2, eps, weightDecay T, t int) {
	bc1 := 1 - math.Pow(float64(beta1), float64(t))
	bc2 := 1 - math.Pow(float64(beta2), float64(t))
	step := T(float64(lr) / bc1)
	sbc2 := T(math.Sqrt(bc2))
	decay := 1 - lr*weightDecay
	for i := range param {
		g := grad[i]
		p := param[i] * decay
		mi := beta1*m[i] + (1-beta1)*g
		vi := beta2*v[i] + (1-beta2)*g*g
		m[i], v[i] = mi, vi
		param[i] = p - step*mi/(T(math.Sqrt(float64(vi)))/sbc2+eps)
	}
}

// PatchEmbed3DIm2col lays video [B,3,T,Hh,Ww] out as cols [B·N, 3·tt·p·p] with tokens in
// time → row → column order and columns in Conv3d weight order (c, dt, dy, dx).
func PatchEmbed3DIm2col[T Float](cols, video []T, B, T_, Hh, Ww, tt, p int) {
	Tp, Hp, Wp := T_/tt, Hh/p, Ww/p
	K := 3 * tt * p * p
	N := Tp * Hp * Wp
	parallelFor(B*N, 16, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			b, n := r/N, r%N
			ti, hi2, wi := n/(Hp*Wp), (n/Wp)%Hp, n%Wp
			dst := cols[r*K : (r+1)*K]
			o := 0
			for c := 0; c < 3; c++ {
				for dt := 0; dt < tt; dt++ {
					for dy := 0; dy < p; dy++ {
						src := (((b*3+c)*T_+ti*tt+dt)*Hh+hi2*p+dy)*Ww + wi*p
						copy(dst[o:o+p], video[src:src+p])
						o += p
					}
				}
			}
		}
	})
}

// PatchEmbed3D is Conv3d with kernel = stride: out [B,N,D] = im2col(video)·wᵀ + b.
func PatchEmbed3D[T Float](out, video, w, b []T, B, T_, Hh, Ww, tt, p, D int) {
	N := (T_ / tt) * (Hh / p) * (Ww / p)
	K := 3 * tt * p * p
	cols := make([]T, B*N*K)
	PatchEmbed3DIm2col(cols, video, B, T_, Hh, Ww, tt, p)
	Linear(out, cols, w, b, B*N, K, D)
}

// PatchEmbed3DBackward accumulates dW [D,3,tt,p,p] and dB [D] (no video gradient).
func PatchEmbed3DBackward[T Float](dW, dB, dOut, video []T, B, T_, Hh, Ww, tt, p, D int) {
	N := (T_ / tt) * (Hh / p) * (Ww / p)
	K := 3 * tt * p * p
	var cols []T
	if dW != nil {
		cols = make([]T, B*N*K)
		PatchEmbed3DIm2col(cols, video, B, T_, Hh, Ww, tt, p)
	}
	LinearBackward(nil, dW, dB, dOut, cols, nil, B*N, K, D)
}
