package kern

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func randVec(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

// gradCheck compares analytic gradients of L = Σ fwd()·gout against float64 central
// differences. fwd reads the (closed-over) inputs; bwd returns the accumulated gradient
// of every input (nil: not checked). The backward is run on gradients pre-filled with
// ones and the ones are subtracted, which also checks that backward accumulates.
func gradCheck(t *testing.T, name string, rng *rand.Rand, inputs [][]float64, fwd func() []float64, bwd func(gout []float64, grads [][]float64)) {
	t.Helper()
	out := fwd()
	gout := randVec(rng, len(out))
	grads := make([][]float64, len(inputs))
	for i, in := range inputs {
		grads[i] = make([]float64, len(in))
		for j := range grads[i] {
			grads[i][j] = 1
		}
	}
	bwd(gout, grads)
	loss := func() float64 {
		o := fwd()
		var s float64
		for i := range o {
			s += o[i] * gout[i]
		}
		return s
	}
	const h = 1e-6
	for i, in := range inputs {
		if grads[i] == nil {
			continue
		}
		var num2, diff2 float64
		worst := 0.0
		for j := range in {
			x := in[j]
			in[j] = x + h
			lp := loss()
			in[j] = x - h
			lm := loss()
			in[j] = x
			n := (lp - lm) / (2 * h)
			a := grads[i][j] - 1
			num2 += n * n
			diff2 += (a - n) * (a - n)
			worst = max(worst, math.Abs(a-n)/(1+math.Abs(n)))
		}
		rel := math.Sqrt(diff2 / math.Max(num2, 1e-30))
		if rel > 1e-6 || worst > 1e-6 || num2 == 0 {
			t.Errorf("%s: input %d: gradient rel err %.3g, worst elem %.3g (|num|²=%.3g)", name, i, rel, worst, num2)
		}
	}
	fwd() // leave forward state consistent
}

func TestLinearGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	M, K, N := 3, 5, 4
	in, w, b := randVec(rng, M*K), randVec(rng, N*K), randVec(rng, N)
	out := make([]float64, M*N)
	for _, withBias := range []bool{true, false} {
		bb := b
		if !withBias {
			bb = nil
		}
		gradCheck(t, fmt.Sprintf("linear bias=%v", withBias), rng, [][]float64{in, w, b},
			func() []float64 { Linear(out, in, w, bb, M, K, N); return out },
			func(g []float64, gr [][]float64) {
				db := gr[2]
				if !withBias {
					db = nil
					gr[2] = nil
				}
				LinearBackward(gr[0], gr[1], db, g, in, w, M, K, N)
			})
	}
	// Forward against a direct sum.
	Linear(out, in, w, b, M, K, N)
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			s := b[j]
			for k := 0; k < K; k++ {
				s += in[i*K+k] * w[j*K+k]
			}
			if math.Abs(s-out[i*N+j]) > 1e-12 {
				t.Fatalf("linear out[%d,%d] = %g, want %g", i, j, out[i*N+j], s)
			}
		}
	}
}

func TestLayerNormGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	M, C := 37, 6 // 37 rows: several parallel chunks
	in, w, b := randVec(rng, M*C), randVec(rng, C), randVec(rng, C)
	out, mean, rstd := make([]float64, M*C), make([]float64, M), make([]float64, M)
	for _, affine := range []bool{true, false} {
		ww, bb := w, b
		if !affine {
			ww, bb = nil, nil
		}
		gradCheck(t, fmt.Sprintf("layernorm affine=%v", affine), rng, [][]float64{in, w, b},
			func() []float64 { LayerNorm(out, mean, rstd, in, ww, bb, M, C, 1e-6); return out },
			func(g []float64, gr [][]float64) {
				if !affine {
					gr[1], gr[2] = nil, nil
				}
				LayerNormBackward(gr[0], gr[1], gr[2], g, in, ww, mean, rstd, M, C)
			})
	}
	// Forward: normalised rows have mean 0 and (biased) variance 1/(1+eps/var).
	LayerNorm(out, mean, rstd, in, nil, nil, M, C, 0)
	for i := 0; i < M; i++ {
		var s, ss float64
		for _, v := range out[i*C : (i+1)*C] {
			s += v
			ss += v * v
		}
		if math.Abs(s) > 1e-12 || math.Abs(ss/float64(C)-1) > 1e-12 {
			t.Fatalf("row %d: mean %g, var %g", i, s/float64(C), ss/float64(C))
		}
	}
}

func TestGELUGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	in := randVec(rng, 50)
	out := make([]float64, 50)
	gradCheck(t, "gelu", rng, [][]float64{in},
		func() []float64 { GELU(out, in); return out },
		func(g []float64, gr [][]float64) { GELUBackward(gr[0], g, in) })
	// Known values of x·Φ(x).
	for _, c := range []struct{ x, y float64 }{{1, 0.8413447460685429}, {-1, -0.15865525393145707}, {0, 0}, {2, 1.9544997361036416}} {
		o := []float64{0}
		GELU(o, []float64{c.x})
		if math.Abs(o[0]-c.y) > 1e-12 {
			t.Errorf("gelu(%g) = %.17g, want %.17g", c.x, o[0], c.y)
		}
	}
}

func TestElementwiseGrads(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	n := 20
	a, b := randVec(rng, n), randVec(rng, n)
	out := make([]float64, n)
	gradCheck(t, "abs", rng, [][]float64{a},
		func() []float64 { Abs(out, a); return out },
		func(g []float64, gr [][]float64) { AbsBackward(gr[0], g, a) })
	gradCheck(t, "tanh", rng, [][]float64{a},
		func() []float64 { Tanh(out, a); return out },
		func(g []float64, gr [][]float64) { TanhBackward(gr[0], g, out) })
	gradCheck(t, "mse", rng, [][]float64{a, b},
		func() []float64 { return []float64{MSE(a, b)} },
		func(g []float64, gr [][]float64) {
			MSEBackward(gr[0], a, b, g[0])
			gr[1] = nil
		})
	gradCheck(t, "sumsquares", rng, [][]float64{a},
		func() []float64 { return []float64{SumSquares(a)} },
		func(g []float64, gr [][]float64) {
			for i := range a {
				gr[0][i] += 2 * a[i] * g[0]
			}
		})
	Mul(out, a, b)
	Add(out, out, a)
	Scale(out, out, 2)
	for i := range out {
		if want := 2 * (a[i]*b[i] + a[i]); math.Abs(out[i]-want) > 1e-14 {
			t.Fatalf("mul/add/scale [%d] = %g, want %g", i, out[i], want)
		}
	}
}

func TestFiLMGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	B, N, C := 2, 3, 4
	x, g, be := randVec(rng, B*N*C), randVec(rng, B*C), randVec(rng, B*C)
	out := make([]float64, B*N*C)
	gradCheck(t, "film", rng, [][]float64{x, g, be},
		func() []float64 { FiLM(out, x, g, be, B, N, C); return out },
		func(d []float64, gr [][]float64) { FiLMBackward(gr[0], gr[1], gr[2], d, x, g, B, N, C) })
}

func TestLayoutGrads(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	B, N, H, hd := 2, 3, 2, 4
	n := B * N * H * hd
	qkv := randVec(rng, 3*n)
	q, k, v := make([]float64, n), make([]float64, n), make([]float64, n)
	gradCheck(t, "splitheads", rng, [][]float64{qkv},
		func() []float64 {
			SplitHeads(q, k, v, qkv, B, N, H, hd)
			return append(append(append([]float64{}, q...), k...), v...)
		},
		func(g []float64, gr [][]float64) { SplitHeadsBackward(gr[0], g[:n], g[n:2*n], g[2*n:], B, N, H, hd) })
	// q[b,h,n,d] = qkv[b,n,0,h,d], v from slot 2.
	if q[((1*H+1)*N+2)*hd+3] != qkv[((1*N+2)*3+0)*H*hd+1*hd+3] || v[((0*H+1)*N+1)*hd+2] != qkv[((0*N+1)*3+2)*H*hd+1*hd+2] {
		t.Fatal("SplitHeads layout wrong")
	}
	x := randVec(rng, n)
	mo := make([]float64, n)
	gradCheck(t, "mergeheads", rng, [][]float64{x},
		func() []float64 { MergeHeads(mo, x, B, N, H, hd); return mo },
		func(g []float64, gr [][]float64) { MergeHeadsBackward(gr[0], g, B, N, H, hd) })
	if mo[((1*N+2)*H+1)*hd+3] != x[((1*H+1)*N+2)*hd+3] {
		t.Fatal("MergeHeads layout wrong")
	}

	in := randVec(rng, 5*3)
	idx := []int32{4, 0, 4, 2}
	gout := make([]float64, 4*3)
	gradCheck(t, "gather", rng, [][]float64{in},
		func() []float64 { GatherRows(gout, in, idx, 3); return gout },
		func(g []float64, gr [][]float64) { ScatterAddRows(gr[0], g, idx, 3) })

	p0, p1 := randVec(rng, 3*2), randVec(rng, 3*5)
	cat := make([]float64, 3*7)
	gradCheck(t, "concat", rng, [][]float64{p0, p1},
		func() []float64 { ConcatCols(cat, [][]float64{p0, p1}, 3, []int{2, 5}); return cat },
		func(g []float64, gr [][]float64) { SplitColsAdd(gr, g, 3, []int{2, 5}) })

	G, S, C := 2, 3, 4
	ws := []float32{0.5, 0.25, 0, 1, -2, 0.125}
	win := randVec(rng, G*S*C)
	wout := make([]float64, G*C)
	gradCheck(t, "weightedrowsum", rng, [][]float64{win},
		func() []float64 { WeightedRowSum(wout, win, ws, G, S, C); return wout },
		func(g []float64, gr [][]float64) { WeightedRowSumBackward(gr[0], g, ws, G, S, C) })
}

func TestPatchEmbedGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	B, T, Hh, Ww, tt, p, D := 2, 4, 6, 4, 2, 2, 3
	video := randVec(rng, B*3*T*Hh*Ww)
	K := 3 * tt * p * p
	w, b := randVec(rng, D*K), randVec(rng, D)
	Tp, Hp, Wp := T/tt, Hh/p, Ww/p
	N := Tp * Hp * Wp
	out := make([]float64, B*N*D)
	PatchEmbed3D(out, video, w, b, B, T, Hh, Ww, tt, p, D)
	// Direct Conv3d with kernel = stride, tokens time → row → column.
	for bi := 0; bi < B; bi++ {
		for ti := 0; ti < Tp; ti++ {
			for hi := 0; hi < Hp; hi++ {
				for wi := 0; wi < Wp; wi++ {
					n := (ti*Hp+hi)*Wp + wi
					for o := 0; o < D; o++ {
						s := b[o]
						for c := 0; c < 3; c++ {
							for dt := 0; dt < tt; dt++ {
								for dy := 0; dy < p; dy++ {
									for dx := 0; dx < p; dx++ {
										s += w[(((o*3+c)*tt+dt)*p+dy)*p+dx] * video[(((bi*3+c)*T+ti*tt+dt)*Hh+hi*p+dy)*Ww+wi*p+dx]
									}
								}
							}
						}
						if got := out[(bi*N+n)*D+o]; math.Abs(got-s) > 1e-12 {
							t.Fatalf("patch embed [%d,%d,%d] = %g, want %g", bi, n, o, got, s)
						}
					}
				}
			}
		}
	}
	gradCheck(t, "patchembed", rng, [][]float64{w, b},
		func() []float64 { PatchEmbed3D(out, video, w, b, B, T, Hh, Ww, tt, p, D); return out },
		func(g []float64, gr [][]float64) {
			PatchEmbed3DBackward(gr[0], gr[1], g, video, B, T, Hh, Ww, tt, p, D)
		})
}

func TestAdamW(t *testing.T) {
	// Step 1 in closed form: m̂ = g, v̂ = g², so p₁ = p₀(1−lr·wd) − lr·g/(|g|+eps).
	p := []float64{0.5, -1.5, 2}
	g := []float64{0.1, -0.3, 0}
	m, v := make([]float64, 3), make([]float64, 3)
	lr, b1, b2, eps, wd := 0.01, 0.9, 0.999, 1e-8, 0.05
	want := make([]float64, 3)
	for i := range p {
		want[i] = p[i]*(1-lr*wd) - lr*g[i]/(math.Abs(g[i])+eps)
	}
	AdamW(p, g, m, v, lr, b1, b2, eps, wd, 1)
	for i := range p {
		if math.Abs(p[i]-want[i]) > 1e-15 {
			t.Fatalf("step 1: p[%d] = %.17g, want %.17g", i, p[i], want[i])
		}
	}
	// Steps 2 and 3 following torch.optim.AdamW's single-tensor code line by line.
	pr, mr, vr := append([]float64{}, p...), append([]float64{}, m...), append([]float64{}, v...)
	grads := [][]float64{{-0.2, 0.4, 1}, {0.05, 0.05, -2}}
	for s, gs := range grads {
		step := float64(s + 2)
		for i := range pr {
			pr[i] *= 1 - lr*wd
			mr[i] += (gs[i] - mr[i]) * (1 - b1) // exp_avg.lerp_(grad, 1-beta1)
			vr[i] = vr[i]*b2 + (1-b2)*gs[i]*gs[i]
			bc1 := 1 - math.Pow(b1, step)
			bc2 := 1 - math.Pow(b2, step)
			denom := math.Sqrt(vr[i])/math.Sqrt(bc2) + eps
			pr[i] += -(lr / bc1) * mr[i] / denom
		}
		AdamW(p, gs, m, v, lr, b1, b2, eps, wd, s+2)
		for i := range p {
			if math.Abs(p[i]-pr[i]) > 1e-14 || math.Abs(m[i]-mr[i]) > 1e-14 || math.Abs(v[i]-vr[i]) > 1e-14 {
				t.Fatalf("step %d [%d]: p %g m %g v %g, want %g %g %g", s+2, i, p[i], m[i], v[i], pr[i], mr[i], vr[i])
			}
		}
	}
}
