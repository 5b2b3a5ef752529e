package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/nn/kern"
)

// Each engine method (float32) is compared with the float64 kernel it wraps on the same
// inputs; the kernels themselves are checked against central differences in nn/kern.

type fixture struct {
	t   *testing.T
	e   nn.Engine
	rng *rand.Rand
}

func (f *fixture) rand(n int) (*nn.Tensor, []float64) {
	h := make([]float32, n)
	d := make([]float64, n)
	for i := range h {
		h[i] = float32(f.rng.NormFloat64())
		d[i] = float64(h[i])
	}
	return f.e.FromHost(h, n), d
}

func (f *fixture) check(name string, got *nn.Tensor, want []float64, tol float64) {
	f.t.Helper()
	h := f.e.ToHost(got)
	if len(h) != len(want) {
		f.t.Fatalf("%s: %d values, want %d", name, len(h), len(want))
	}
	var d2, w2 float64
	for i := range h {
		d := float64(h[i]) - want[i]
		d2 += d * d
		w2 += want[i] * want[i]
	}
	if rel := math.Sqrt(d2 / math.Max(w2, 1e-30)); rel > tol || w2 == 0 {
		f.t.Errorf("%s: rel err %g (|want|²=%g)", name, rel, w2)
	}
}

func ones(n int) []float64 {
	o := make([]float64, n)
	for i := range o {
		o[i] = 1
	}
	return o
}

func (f *fixture) onesT(n int) *nn.Tensor {
	t := f.e.Zeros(n)
	f.e.Fill(t, 1)
	return t
}

func TestEngineMatchesKernels(t *testing.T) {
	f := &fixture{t: t, e: New(), rng: rand.New(rand.NewPCG(1, 1))}
	e := f.e
	const tol = 2e-6

	// Linear.
	M, K, N := 7, 5, 6
	in, inD := f.rand(M * K)
	w, wD := f.rand(N * K)
	b, bD := f.rand(N)
	out := e.Zeros(M, N)
	outD := make([]float64, M*N)
	e.Linear(out, in, w, b, M, K, N)
	kern.Linear(outD, inD, wD, bD, M, K, N)
	f.check("Linear", out, outD, tol)
	dOut, dOutD := f.rand(M * N)
	dIn, dW, dB := f.onesT(M*K), f.onesT(N*K), f.onesT(N)
	dInD, dWD, dBD := ones(M*K), ones(N*K), ones(N)
	e.LinearBackward(dIn, dW, dB, dOut, in, w, M, K, N)
	kern.LinearBackward(dInD, dWD, dBD, dOutD, inD, wD, M, K, N)
	f.check("LinearBackward dIn", dIn, dInD, tol)
	f.check("LinearBackward dW", dW, dWD, tol)
	f.check("LinearBackward dB", dB, dBD, tol)
	e.LinearBackward(nil, nil, nil, dOut, in, w, M, K, N) // nil gradients are skipped

	// BatchedMatMul with transposes.
	a, aD := f.rand(3 * 4 * 5)
	bb, bbD := f.rand(3 * 5 * 2)
	c, cD := f.rand(3 * 4 * 2)
	e.BatchedMatMul(c, a, bb, 3, 4, 2, 5, true, true, 0.5, 2)
	kern.BatchedMatMul(cD, aD, bbD, 3, 4, 2, 5, true, true, 0.5, 2.0)
	f.check("BatchedMatMul", c, cD, tol)

	// LayerNorm.
	mean, rstd := e.Zeros(M), e.Zeros(M)
	meanD, rstdD := make([]float64, M), make([]float64, M)
	lw, lwD := f.rand(K)
	lb, lbD := f.rand(K)
	lo := e.Zeros(M, K)
	loD := make([]float64, M*K)
	e.LayerNorm(lo, mean, rstd, in, lw, lb, M, K, 1e-6)
	kern.LayerNorm(loD, meanD, rstdD, inD, lwD, lbD, M, K, 1e-6)
	f.check("LayerNorm", lo, loD, tol)
	g, gD := f.rand(M * K)
	dIn, dInD = f.onesT(M*K), ones(M*K)
	dLW, dLB := f.onesT(K), f.onesT(K)
	dLWD, dLBD := ones(K), ones(K)
	e.LayerNormBackward(dIn, dLW, dLB, g, in, lw, mean, rstd, M, K)
	kern.LayerNormBackward(dInD, dLWD, dLBD, gD, inD, lwD, meanD, rstdD, M, K)
	f.check("LayerNormBackward dIn", dIn, dInD, 1e-5)
	f.check("LayerNormBackward dW", dLW, dLWD, 1e-5)
	f.check("LayerNormBackward dB", dLB, dLBD, 1e-5)

	// GELU, Tanh, Abs, Mul, Add, Scale, AddInPlace.
	n := M * K
	ge := e.Zeros(n)
	geD := make([]float64, n)
	e.GELU(ge, in, n)
	kern.GELU(geD, inD)
	f.check("GELU", ge, geD, tol)
	dIn, dInD = f.onesT(n), ones(n)
	e.GELUBackward(dIn, g, in, n)
	kern.GELUBackward(dInD, gD, inD)
	f.check("GELUBackward", dIn, dInD, tol)
	e.Tanh(ge, in, n)
	kern.Tanh(geD, inD)
	f.check("Tanh", ge, geD, tol)
	dIn, dInD = f.onesT(n), ones(n)
	e.TanhBackward(dIn, g, ge, n)
	kern.TanhBackward(dInD, gD, geD)
	f.check("TanhBackward", dIn, dInD, 1e-5)
	e.Abs(ge, in, n)
	kern.Abs(geD, inD)
	f.check("Abs", ge, geD, tol)
	dIn, dInD = f.onesT(n), ones(n)
	e.AbsBackward(dIn, g, in, n)
	kern.AbsBackward(dInD, gD, inD)
	f.check("AbsBackward", dIn, dInD, tol)
	e.Mul(ge, in, g, n)
	kern.Mul(geD, inD, gD)
	f.check("Mul", ge, geD, tol)
	e.Add(ge, in, g, n)
	kern.Add(geD, inD, gD)
	f.check("Add", ge, geD, tol)
	e.Scale(ge, ge, -1.5, n)
	kern.Scale(geD, geD, -1.5)
	f.check("Scale", ge, geD, tol)
	e.AddInPlace(ge, in, n)
	kern.AddInPlace(geD, inD)
	f.check("AddInPlace", ge, geD, tol)

	// MSE, SumSquares, AdamW.
	if got, want := float64(e.MSE(in, g, n)), kern.MSE(inD, gD); math.Abs(got-want) > 1e-6*want {
		t.Errorf("MSE %g, want %g", got, want)
	}
	if got, want := e.SumSquares(in, n), kern.SumSquares(inD); math.Abs(got-want) > 1e-9*want {
		t.Errorf("SumSquares %g, want %g", got, want)
	}
	dIn, dInD = f.onesT(n), ones(n)
	e.MSEBackward(dIn, in, g, n, 0.5)
	kern.MSEBackward(dInD, inD, gD, 0.5)
	f.check("MSEBackward", dIn, dInD, tol)
	p, pD := f.rand(n)
	mm, vv := e.Zeros(n), e.Zeros(n)
	mmD, vvD := make([]float64, n), make([]float64, n)
	for step := 1; step <= 3; step++ {
		e.AdamW(p, g, mm, vv, n, 1e-3, 0.9, 0.999, 1e-8, 0.05, step)
		kern.AdamW(pD, gD, mmD, vvD, 1e-3, 0.9, 0.999, 1e-8, 0.05, step)
	}
	f.check("AdamW", p, pD, 1e-6)

	// Heads, RoPE, attention (masked and cross).
	B, H, T, hd := 2, 2, 300, 64 // T spans several attention tiles
	nh := B * H * T * hd
	qkv, qkvD := f.rand(3 * nh)
	q, k, v := e.Zeros(nh), e.Zeros(nh), e.Zeros(nh)
	qD, kD, vD := make([]float64, nh), make([]float64, nh), make([]float64, nh)
	e.SplitHeads(q, k, v, qkv, B, T, H, hd)
	kern.SplitHeads(qD, kD, vD, qkvD, B, T, H, hd)
	f.check("SplitHeads v", v, vD, 0)
	pos := make([]int32, 3*B*T)
	for i := range pos {
		pos[i] = int32(f.rng.IntN(16))
	}
	rope := &nn.RoPE3D{Pos: pos, DSub: 20}
	e.RoPE(q, rope, B, H, T, hd)
	kern.RoPE(qD, pos, 20, B, H, T, hd)
	f.check("RoPE", q, qD, tol)
	mask := &nn.AttnMask{QueryGroup: make([]int32, B*T), KeyGroup: make([]int32, B*T)}
	for i := range mask.QueryGroup {
		mask.QueryGroup[i] = int32((i % T) / 16)
		mask.KeyGroup[i] = mask.QueryGroup[i]
	}
	groups := []kern.AttnGroups{{Q: mask.QueryGroup[:T], K: mask.KeyGroup[:T]}, {Q: mask.QueryGroup[T:], K: mask.KeyGroup[T:]}}
	ao, lse := e.Zeros(nh), e.Zeros(B*H*T)
	aoD, lseD := make([]float64, nh), make([]float64, B*H*T)
	e.Attention(ao, lse, q, k, v, B, H, T, hd, 0.125, mask)
	kern.Attention(aoD, lseD, qD, kD, vD, B*H, H, T, T, hd, 0.125, groups)
	f.check("Attention", ao, aoD, 1e-5)
	da, daD := f.rand(nh)
	dq, dk, dv := f.onesT(nh), f.onesT(nh), f.onesT(nh)
	dqD, dkD, dvD := ones(nh), ones(nh), ones(nh)
	e.AttentionBackward(dq, dk, dv, da, ao, lse, q, k, v, B, H, T, hd, 0.125, mask)
	kern.AttentionBackward(dqD, dkD, dvD, daD, aoD, lseD, qD, kD, vD, B*H, H, T, T, hd, 0.125, groups)
	f.check("AttentionBackward dq", dq, dqD, 1e-5)
	f.check("AttentionBackward dk", dk, dkD, 1e-5)
	f.check("AttentionBackward dv", dv, dvD, 1e-5)
	e.RoPEBackward(dq, rope, B, H, T, hd)
	kern.RoPEBackward(dqD, pos, 20, B, H, T, hd)
	f.check("RoPEBackward", dq, dqD, 1e-5)
	dqkv := f.onesT(3 * nh)
	dqkvD := ones(3 * nh)
	e.SplitHeadsBackward(dqkv, dq, nil, dv, B, T, H, hd)
	kern.SplitHeadsBackward(dqkvD, dqD, nil, dvD, B, T, H, hd)
	f.check("SplitHeadsBackward", dqkv, dqkvD, 1e-5)
	mo := e.Zeros(nh)
	moD := make([]float64, nh)
	e.MergeHeads(mo, ao, B, T, H, hd)
	kern.MergeHeads(moD, aoD, B, T, H, hd)
	f.check("MergeHeads", mo, moD, 1e-5)
	dx := f.onesT(nh)
	dxD := ones(nh)
	e.MergeHeadsBackward(dx, da, B, T, H, hd)
	kern.MergeHeadsBackward(dxD, daD, B, T, H, hd)
	f.check("MergeHeadsBackward", dx, dxD, tol)

	Nq := 3
	cq, cqD := f.rand(B * H * Nq * hd)
	co, cl := e.Zeros(B*H*Nq*hd), e.Zeros(B*H*Nq)
	coD, clD := make([]float64, B*H*Nq*hd), make([]float64, B*H*Nq)
	e.CrossAttention(co, cl, cq, k, v, B, H, Nq, T, hd, 0.125)
	kern.Attention(coD, clD, cqD, kD, vD, B*H, H, Nq, T, hd, 0.125, nil)
	f.check("CrossAttention", co, coD, 1e-5)
	cg, cgD := f.rand(B * H * Nq * hd)
	dcq, dk2, dv2 := f.onesT(B*H*Nq*hd), f.onesT(nh), f.onesT(nh)
	dcqD, dk2D, dv2D := ones(B*H*Nq*hd), ones(nh), ones(nh)
	e.CrossAttentionBackward(dcq, dk2, dv2, cg, co, cl, cq, k, v, B, H, Nq, T, hd, 0.125)
	kern.AttentionBackward(dcqD, dk2D, dv2D, cgD, coD, clD, cqD, kD, vD, B*H, H, Nq, T, hd, 0.125, nil)
	f.check("CrossAttentionBackward dq", dcq, dcqD, 1e-5)
	f.check("CrossAttentionBackward dk", dk2, dk2D, 1e-5)
	f.check("CrossAttentionBackward dv", dv2, dv2D, 1e-5)

	// PatchEmbed3D.
	Tt, Hh, Ww, tub, pt, D := 4, 8, 8, 2, 4, 5
	vid, vidD := f.rand(B * 3 * Tt * Hh * Ww)
	pw, pwD := f.rand(D * 3 * tub * pt * pt)
	pb, pbD := f.rand(D)
	Np := (Tt / tub) * (Hh / pt) * (Ww / pt)
	po := e.Zeros(B, Np, D)
	poD := make([]float64, B*Np*D)
	e.PatchEmbed3D(po, vid, pw, pb, B, Tt, Hh, Ww, tub, pt, D)
	kern.PatchEmbed3D(poD, vidD, pwD, pbD, B, Tt, Hh, Ww, tub, pt, D)
	f.check("PatchEmbed3D", po, poD, tol)
	pg, pgD := f.rand(B * Np * D)
	dpw, dpb := f.onesT(len(pwD)), f.onesT(D)
	dpwD, dpbD := ones(len(pwD)), ones(D)
	e.PatchEmbed3DBackward(dpw, dpb, pg, vid, B, Tt, Hh, Ww, tub, pt, D)
	kern.PatchEmbed3DBackward(dpwD, dpbD, pgD, vidD, B, Tt, Hh, Ww, tub, pt, D)
	f.check("PatchEmbed3DBackward dW", dpw, dpwD, tol)
	f.check("PatchEmbed3DBackward dB", dpb, dpbD, tol)

	// FiLM, gather/scatter, concat/split, weighted row sum.
	C := 6
	fx, fxD := f.rand(B * T * C)
	fg, fgD := f.rand(B * C)
	fb, fbD := f.rand(B * C)
	fo := e.Zeros(B * T * C)
	foD := make([]float64, B*T*C)
	e.FiLM(fo, fx, fg, fb, B, T, C)
	kern.FiLM(foD, fxD, fgD, fbD, B, T, C)
	f.check("FiLM", fo, foD, tol)
	fd, fdD := f.rand(B * T * C)
	dfx, dfg, dfb := f.onesT(B*T*C), f.onesT(B*C), f.onesT(B*C)
	dfxD, dfgD, dfbD := ones(B*T*C), ones(B*C), ones(B*C)
	e.FiLMBackward(dfx, dfg, dfb, fd, fx, fg, B, T, C)
	kern.FiLMBackward(dfxD, dfgD, dfbD, fdD, fxD, fgD, B, T, C)
	f.check("FiLMBackward dx", dfx, dfxD, tol)
	f.check("FiLMBackward dGamma", dfg, dfgD, 1e-5)
	f.check("FiLMBackward dBeta", dfb, dfbD, 1e-5)
	idx := []int32{3, 0, 3, 9}
	gro := e.Zeros(4 * C)
	groD := make([]float64, 4*C)
	e.GatherRows(gro, fx, idx, C)
	kern.GatherRows(groD, fxD, idx, C)
	f.check("GatherRows", gro, groD, 0)
	e.ScatterAddRows(dfx, gro, idx, C)
	kern.ScatterAddRows(dfxD, groD, idx, C)
	f.check("ScatterAddRows", dfx, dfxD, tol)
	cat := e.Zeros(B * (C + C))
	catD := make([]float64, B*2*C)
	e.ConcatCols(cat, []*nn.Tensor{fg, fb}, B, []int{C, C})
	kern.ConcatCols(catD, [][]float64{fgD, fbD}, B, []int{C, C})
	f.check("ConcatCols", cat, catD, 0)
	e.SplitColsAdd([]*nn.Tensor{dfg, nil}, cat, B, []int{C, C})
	kern.SplitColsAdd([][]float64{dfgD, nil}, catD, B, []int{C, C})
	f.check("SplitColsAdd", dfg, dfgD, 1e-5)
	wts := []float32{0.5, 0.5, 1, -1}
	wro := e.Zeros(2 * C)
	wroD := make([]float64, 2*C)
	e.WeightedRowSum(wro, fx, wts, 2, 2, C)
	kern.WeightedRowSum(wroD, fxD[:4*C], wts, 2, 2, C)
	f.check("WeightedRowSum", wro, wroD, tol)
	e.WeightedRowSumBackward(dfx, wro, wts, 2, 2, C)
	kern.WeightedRowSumBackward(dfxD[:4*C], wroD, wts, 2, 2, C)
	f.check("WeightedRowSumBackward", dfx, dfxD, 1e-5)
}

func TestMemory(t *testing.T) {
	e := New()
	x := e.FromHost([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	if x.Len() != 6 || x.Shape[1] != 3 {
		t.Fatalf("shape %v", x.Shape)
	}
	y := e.Zeros(6)
	e.CopyInto(y, x)
	h := e.ToHost(y)
	h[0] = 100 // ToHost copies
	if y.Data[0] != 1 || h[5] != 6 {
		t.Fatalf("CopyInto/ToHost: %v %v", y.Data, h)
	}
	e.Fill(y, 2.5)
	if y.Data[3] != 2.5 {
		t.Fatal("Fill")
	}
	if err := e.Sync(); err != nil {
		t.Fatal(err)
	}
	e.Free(y)
}
