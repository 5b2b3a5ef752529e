package kern

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// ropeSpec transcribes model-spec §1.4 directly for one head vector at (t,h,w).
func ropeSpec(x []float64, pos [3]int32, dsub int) []float64 {
	out := append([]float64(nil), x...)
	M := dsub / 2
	for a := 0; a < 3; a++ {
		sub := x[a*dsub : (a+1)*dsub]
		C := make([]float64, dsub)
		S := make([]float64, dsub)
		for k := 0; k < dsub; k++ {
			omega := math.Pow(10000, -float64(k%M)/float64(M))
			theta := float64(pos[a]) * omega
			C[k], S[k] = math.Cos(theta), math.Sin(theta)
		}
		for k := 0; k < dsub; k++ {
			var y float64
			if k%2 == 0 {
				y = -sub[k+1]
			} else {
				y = sub[k-1]
			}
			out[a*dsub+k] = sub[k]*C[k] + y*S[k]
		}
	}
	return out
}

func randPos(rng *rand.Rand, n int) []int32 {
	p := make([]int32, 3*n)
	for i := range p {
		p[i] = int32(rng.IntN(16))
	}
	return p
}

func TestRoPEMatchesSpec(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, c := range []struct{ hd, dsub int }{{64, 20}, {32, 10}, {80, 26}} {
		B, H, N := 2, 2, 5
		x := randVec(rng, B*H*N*c.hd)
		pos := randPos(rng, B*N)
		y := append([]float64(nil), x...)
		RoPE(y, pos, c.dsub, B, H, N, c.hd)
		worst := 0.0
		for b := 0; b < B; b++ {
			for h := 0; h < H; h++ {
				for n := 0; n < N; n++ {
					off := ((b*H+h)*N + n) * c.hd
					p := [3]int32{pos[3*(b*N+n)], pos[3*(b*N+n)+1], pos[3*(b*N+n)+2]}
					want := ropeSpec(x[off:off+c.hd], p, c.dsub)
					for i, w := range want {
						worst = max(worst, math.Abs(y[off+i]-w))
					}
					for i := 3 * c.dsub; i < c.hd; i++ {
						if y[off+i] != x[off+i] {
							t.Fatalf("hd %d: tail channel %d changed", c.hd, i)
						}
					}
				}
			}
		}
		// ω is computed in float32 as upstream does for fp32 q/k: agreement to ~1e-6.
		if worst > 1e-5 {
			t.Errorf("hd %d dsub %d: max |rope − spec| = %g", c.hd, c.dsub, worst)
		}
	}
	// The quirk: a pair's elements use different angles, so the norm is not preserved.
	x := []float64{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	y := append([]float64(nil), x...)
	RoPE(y, []int32{3, 0, 0}, 4, 1, 1, 1, 12)
	M := 2
	if want := math.Cos(3 * math.Pow(10000, -float64(0)/float64(M))); math.Abs(y[0]-want) > 1e-6 {
		t.Errorf("y[0] = %g, want cos(3) = %g", y[0], want)
	}
	if want := math.Sin(3 * math.Pow(10000, -1/float64(M))); math.Abs(y[1]-want) > 1e-6 {
		t.Errorf("y[1] = %g, want sin(3·ω₁) = %g (tiled angle)", y[1], want)
	}
}

func TestRoPEGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	B, H, N, hd, dsub := 2, 2, 3, 16, 4
	x := randVec(rng, B*H*N*hd)
	pos := randPos(rng, B*N)
	y := make([]float64, len(x))
	gradCheck(t, "rope", rng, [][]float64{x},
		func() []float64 { copy(y, x); RoPE(y, pos, dsub, B, H, N, hd); return y },
		func(g []float64, gr [][]float64) {
			d := append([]float64(nil), g...)
			RoPEBackward(d, pos, dsub, B, H, N, hd)
			AddInPlace(gr[0], d)
		})
}

// naiveAttention is the textbook softmax(q·kᵀ·s + mask)·v with the full score matrix.
func naiveAttention(q, k, v []float64, BH, H, Nq, Nk, hd int, scale float64, groups []AttnGroups) []float64 {
	out := make([]float64, BH*Nq*hd)
	for bh := 0; bh < BH; bh++ {
		for i := 0; i < Nq; i++ {
			s := make([]float64, Nk)
			mx := math.Inf(-1)
			for j := 0; j < Nk; j++ {
				if groups != nil && groups[bh/H].K[j] > groups[bh/H].Q[i] {
					s[j] = math.Inf(-1)
					continue
				}
				for c := 0; c < hd; c++ {
					s[j] += q[(bh*Nq+i)*hd+c] * k[(bh*Nk+j)*hd+c]
				}
				s[j] *= scale
				mx = max(mx, s[j])
			}
			if math.IsInf(mx, -1) {
				continue
			}
			var z float64
			for j := range s {
				s[j] = math.Exp(s[j] - mx)
				z += s[j]
			}
			for j := range s {
				for c := 0; c < hd; c++ {
					out[(bh*Nq+i)*hd+c] += s[j] / z * v[(bh*Nk+j)*hd+c]
				}
			}
		}
	}
	return out
}

// frameGroups gives B batch rows of N tokens in frames of tpf tokens (block-causal).
func frameGroups(B, N, tpf int) []AttnGroups {
	g := make([]AttnGroups, B)
	for b := range g {
		g[b].Q, g[b].K = make([]int32, N), make([]int32, N)
		for i := 0; i < N; i++ {
			g[b].Q[i], g[b].K[i] = int32(i/tpf), int32(i/tpf)
		}
	}
	return g
}

func withBlocks(bq, bk int, f func()) {
	oq, ok := attnBQ, attnBK
	attnBQ, attnBK = bq, bk
	defer func() { attnBQ, attnBK = oq, ok }()
	f()
}

func TestAttentionMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	B, H, hd := 2, 3, 8
	for _, c := range []struct {
		Nq, Nk int
		masked bool
	}{{300, 300, false}, {300, 300, true}, {5, 300, false}, {200, 7, false}, {1, 1, false}} {
		BH := B * H
		q, k, v := randVec(rng, BH*c.Nq*hd), randVec(rng, BH*c.Nk*hd), randVec(rng, BH*c.Nk*hd)
		var g []AttnGroups
		if c.masked {
			g = frameGroups(B, c.Nq, 40)
		}
		want := naiveAttention(q, k, v, BH, H, c.Nq, c.Nk, hd, 0.3, g)
		for _, th := range []int{1, 2} {
			SetThreads(th)
			out, lse := make([]float64, BH*c.Nq*hd), make([]float64, BH*c.Nq)
			Attention(out, lse, q, k, v, BH, H, c.Nq, c.Nk, hd, 0.3, g)
			for i := range want {
				if math.Abs(out[i]-want[i]) > 1e-12 {
					t.Fatalf("%+v threads %d: out[%d] = %g, want %g", c, th, i, out[i], want[i])
				}
			}
		}
	}
	// float32 path (the engine's) against the float64 reference.
	q, k, v := randVec(rng, 2*300*64), randVec(rng, 2*300*64), randVec(rng, 2*300*64)
	g := frameGroups(1, 300, 64)
	want := naiveAttention(q, k, v, 2, 2, 300, 300, 64, 0.125, g)
	f := func(x []float64) []float32 {
		y := make([]float32, len(x))
		for i := range x {
			y[i] = float32(x[i])
		}
		return y
	}
	out, lse := make([]float32, len(want)), make([]float32, 600)
	Attention(out, lse, f(q), f(k), f(v), 2, 2, 300, 300, 64, 0.125, g)
	var d2, w2 float64
	for i := range want {
		d2 += (float64(out[i]) - want[i]) * (float64(out[i]) - want[i])
		w2 += want[i] * want[i]
	}
	if rel := math.Sqrt(d2 / w2); rel > 1e-6 {
		t.Errorf("float32 attention rel err %g", rel)
	}
}

func TestAttentionGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	B, H, hd := 2, 2, 4
	for _, c := range []struct {
		Nq, Nk int
		masked bool
	}{{21, 21, false}, {21, 21, true}, {6, 19, false}} {
		BH := B * H
		q, k, v := randVec(rng, BH*c.Nq*hd), randVec(rng, BH*c.Nk*hd), randVec(rng, BH*c.Nk*hd)
		var g []AttnGroups
		if c.masked {
			g = frameGroups(B, c.Nq, 5)
		}
		out, lse := make([]float64, BH*c.Nq*hd), make([]float64, BH*c.Nq)
		// Blocks of 4 queries × 8 keys: the gradient check spans many tiles.
		withBlocks(4, 8, func() {
			gradCheck(t, fmt.Sprintf("attention %+v", c), rng, [][]float64{q, k, v},
				func() []float64 { Attention(out, lse, q, k, v, BH, H, c.Nq, c.Nk, hd, 0.7, g); return out },
				func(d []float64, gr [][]float64) {
					AttentionBackward(gr[0], gr[1], gr[2], d, out, lse, q, k, v, BH, H, c.Nq, c.Nk, hd, 0.7, g)
				})
		})
	}
}

// TestAttentionGradDefaultBlocks checks the backward at the default block sizes with N
// spanning several blocks, against the backward of the naive formula written out.
func TestAttentionGradDefaultBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	B, H, hd, N := 1, 2, 8, 290
	BH := B * H
	q, k, v := randVec(rng, BH*N*hd), randVec(rng, BH*N*hd), randVec(rng, BH*N*hd)
	g := frameGroups(B, N, 50)
	scale := 0.35
	out, lse := make([]float64, BH*N*hd), make([]float64, BH*N)
	Attention(out, lse, q, k, v, BH, H, N, N, hd, scale, g)
	dO := randVec(rng, BH*N*hd)
	dq, dk, dv := make([]float64, len(q)), make([]float64, len(k)), make([]float64, len(v))
	AttentionBackward(dq, dk, dv, dO, out, lse, q, k, v, BH, H, N, N, hd, scale, g)
	// Naive: P = softmax(S); dV = Pᵀ dO; dP = dO Vᵀ; dS = P∘(dP − rowsum(dP∘P)); dQ = s·dS K; dK = s·dSᵀ Q.
	wq, wk, wv := make([]float64, len(q)), make([]float64, len(k)), make([]float64, len(v))
	for bh := 0; bh < BH; bh++ {
		P := make([]float64, N*N)
		for i := 0; i < N; i++ {
			mx := math.Inf(-1)
			for j := 0; j < N; j++ {
				if g[bh/H].K[j] > g[bh/H].Q[i] {
					P[i*N+j] = math.Inf(-1)
					continue
				}
				var s float64
				for c := 0; c < hd; c++ {
					s += q[(bh*N+i)*hd+c] * k[(bh*N+j)*hd+c]
				}
				P[i*N+j] = s * scale
				mx = max(mx, P[i*N+j])
			}
			var z float64
			for j := 0; j < N; j++ {
				P[i*N+j] = math.Exp(P[i*N+j] - mx)
				z += P[i*N+j]
			}
			for j := 0; j < N; j++ {
				P[i*N+j] /= z
			}
		}
		for i := 0; i < N; i++ {
			dP := make([]float64, N)
			var rs float64
			for j := 0; j < N; j++ {
				for c := 0; c < hd; c++ {
					dP[j] += dO[(bh*N+i)*hd+c] * v[(bh*N+j)*hd+c]
					wv[(bh*N+j)*hd+c] += P[i*N+j] * dO[(bh*N+i)*hd+c]
				}
				rs += dP[j] * P[i*N+j]
			}
			for j := 0; j < N; j++ {
				ds := P[i*N+j] * (dP[j] - rs) * scale
				for c := 0; c < hd; c++ {
					wq[(bh*N+i)*hd+c] += ds * k[(bh*N+j)*hd+c]
					wk[(bh*N+j)*hd+c] += ds * q[(bh*N+i)*hd+c]
				}
			}
		}
	}
	for name, pair := range map[string][2][]float64{"dq": {dq, wq}, "dk": {dk, wk}, "dv": {dv, wv}} {
		for i := range pair[0] {
			if math.Abs(pair[0][i]-pair[1][i]) > 1e-10 {
				t.Fatalf("%s[%d] = %g, naive %g", name, i, pair[0][i], pair[1][i])
			}
		}
	}
}

// TestAttentionFullyMaskedRows: a query that may attend no key gets a zero output, a
// −inf log-sum-exp and zero gradients, in both precisions.
func TestAttentionFullyMaskedRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(37, 38))
	N, hd := 150, 8
	g := frameGroups(1, N, 30)
	for i := 0; i < N; i += 7 {
		g[0].Q[i] = -1
	}
	q, k, v := randVec(rng, N*hd), randVec(rng, N*hd), randVec(rng, N*hd)
	want := naiveAttention(q, k, v, 1, 1, N, N, hd, 0.5, g)
	dO := randVec(rng, N*hd)
	f := func(x []float64) []float32 {
		y := make([]float32, len(x))
		for i := range x {
			y[i] = float32(x[i])
		}
		return y
	}
	out, lse := make([]float32, N*hd), make([]float32, N)
	Attention(out, lse, f(q), f(k), f(v), 1, 1, N, N, hd, 0.5, g)
	dq, dk, dv := make([]float32, N*hd), make([]float32, N*hd), make([]float32, N*hd)
	AttentionBackward(dq, dk, dv, f(dO), out, lse, f(q), f(k), f(v), 1, 1, N, N, hd, 0.5, g)
	for i := 0; i < N; i++ {
		for c := 0; c < hd; c++ {
			if math.Abs(float64(out[i*hd+c])-want[i*hd+c]) > 1e-5 {
				t.Fatalf("out[%d,%d] = %g, want %g", i, c, out[i*hd+c], want[i*hd+c])
			}
			if math.IsNaN(float64(dq[i*hd+c])) || math.IsNaN(float64(dk[i*hd+c])) || math.IsNaN(float64(dv[i*hd+c])) {
				t.Fatalf("NaN gradient at row %d", i)
			}
		}
		if i%7 == 0 {
			if !math.IsInf(float64(lse[i]), -1) || dq[i*hd] != 0 {
				t.Fatalf("masked row %d: lse %g, dq %g", i, lse[i], dq[i*hd])
			}
		}
	}
	out64, lse64 := make([]float64, N*hd), make([]float64, N)
	Attention(out64, lse64, q, k, v, 1, 1, N, N, hd, 0.5, g)
	for i := range want {
		if math.Abs(out64[i]-want[i]) > 1e-12 {
			t.Fatalf("float64 out[%d] = %g, want %g", i, out64[i], want[i])
		}
	}
}

// The tabulated path (one cos/sin table over the position range) must give exactly the
// per-token tables' result, in both directions and both precisions.
func TestRoPETableMatchesPerToken(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	B, H, N, hd, dsub := 2, 3, 7, 64, 20
	pos := randPos(rng, B*N)
	pos[4] = -3 // negative positions index the table from its low end
	x := randVec(rng, B*H*N*hd)
	x32 := make([]float32, len(x))
	for i, v := range x {
		x32[i] = float32(v)
	}
	for _, transpose := range []bool{false, true} {
		tab, per := append([]float64(nil), x...), append([]float64(nil), x...)
		tab32, per32 := append([]float32(nil), x32...), append([]float32(nil), x32...)
		ropeApply(tab, pos, dsub, B, H, N, hd, transpose)
		ropeApply(tab32, pos, dsub, B, H, N, hd, transpose)
		old := maxRoPETable
		maxRoPETable = 0
		ropeApply(per, pos, dsub, B, H, N, hd, transpose)
		ropeApply(per32, pos, dsub, B, H, N, hd, transpose)
		maxRoPETable = old
		for i := range tab {
			if tab[i] != per[i] || tab32[i] != per32[i] {
				t.Fatalf("transpose=%v: element %d: table %g/%g, per-token %g/%g", transpose, i, tab[i], tab32[i], per[i], per32[i])
			}
		}
	}
}
