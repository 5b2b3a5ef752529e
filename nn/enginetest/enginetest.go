// Package enginetest is the conformance suite of nn.Engine: every method, at odd sizes
// (not multiples of any kernel's tile), with masks, with nil gradients and with
// pre-filled gradients (backward methods accumulate), checked against the float64
// kernels of nn/kern. The CPU engine and the CUDA engine (on its emulator here, on a GPU
// in the GPU bundle) run the same suite; with a second engine given, it also tabulates
// the error of one engine against the other.
//
// Errors: rel = ‖got − want‖₂ / ‖want‖₂ (the tolerance each check states is on this),
// maxAbs = max |got − want|, maxRel = maxAbs / max |want|.
package enginetest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/nn/kern"
)

// Row is one output of one check: its error against the float64 reference, and against
// the other engine when one was given.
type Row struct {
	Name                string
	Rel, MaxAbs, MaxRel float64 // vs the float64 reference
	Tol                 float64
	// Against the other engine (NaN when none).
	OtherMaxAbs, OtherMaxRel float64
}

// Suite runs the checks on E (and Other, when set).
type Suite struct {
	T     *testing.T
	E     nn.Engine
	Other nn.Engine
	// Scale multiplies every tolerance (a GPU run with TF32 GEMMs sets it > 1).
	Scale float64
	Rows  []Row
	rng   *rand.Rand
}

// Run runs every check of the suite on e (and other, if not nil) and returns the rows.
func Run(t *testing.T, e, other nn.Engine) []Row {
	s := &Suite{T: t, E: e, Other: other, Scale: 1}
	s.RunAll()
	return s.Rows
}

// RunAll runs every check.
func (s *Suite) RunAll() {
	if s.Scale == 0 {
		s.Scale = 1
	}
	s.rng = rand.New(rand.NewPCG(11, 7))
	for _, c := range []struct {
		name string
		fn   func()
	}{
		{"Memory", s.memory}, {"Linear", s.linear}, {"BatchedMatMul", s.batchedMatMul}, {"LayerNorm", s.layerNorm},
		{"Elementwise", s.elementwise}, {"Heads", s.heads}, {"RoPE", s.rope}, {"Attention", s.attention},
		{"CrossAttention", s.crossAttention}, {"PatchEmbed3D", s.patchEmbed}, {"FiLM", s.film}, {"Rows", s.rows},
		{"Cols", s.cols}, {"WeightedRowSum", s.weightedRowSum}, {"Reductions", s.reductions}, {"Dropout", s.dropout},
		{"AdamW", s.adamw},
	} {
		s.T.Run(c.name, func(t *testing.T) {
			old := s.T
			s.T = t
			defer func() { s.T = old }()
			c.fn()
		})
	}
}

// Table formats the rows as a fixed-width table.
func Table(rows []Row, other string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-44s %10s %10s %10s %8s", "check", "rel", "maxAbs", "maxRel", "tol")
	if other != "" {
		fmt.Fprintf(&b, " %12s %12s", "maxAbs-"+other, "maxRel-"+other)
	}
	b.WriteString("\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-44s %10.2e %10.2e %10.2e %8.0e", r.Name, r.Rel, r.MaxAbs, r.MaxRel, r.Tol)
		if other != "" {
			fmt.Fprintf(&b, " %12.2e %12.2e", r.OtherMaxAbs, r.OtherMaxRel)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (s *Suite) vec(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(s.rng.NormFloat64())
	}
	return v
}

func f64(v []float32) []float64 {
	o := make([]float64, len(v))
	for i, x := range v {
		o[i] = float64(x)
	}
	return o
}

func up(e nn.Engine, v []float32) *nn.Tensor {
	if v == nil {
		return nil
	}
	return e.FromHost(v, len(v))
}

func host(e nn.Engine, ts ...*nn.Tensor) [][]float32 {
	out := make([][]float32, len(ts))
	for i, t := range ts {
		if t != nil {
			out[i] = e.ToHost(t)
		}
	}
	return out
}

// errs returns rel, maxAbs, maxRel of got against want; positions where both are the
// same infinity count as exact.
func errs(got []float32, want []float64) (rel, maxAbs, maxRel float64) {
	var d2, w2, wmax float64
	for i := range want {
		g, w := float64(got[i]), want[i]
		if g == w {
			continue
		}
		d := math.Abs(g - w)
		if math.IsNaN(d) || math.IsInf(d, 0) {
			return math.Inf(1), math.Inf(1), math.Inf(1)
		}
		d2 += d * d
		maxAbs = math.Max(maxAbs, d)
	}
	for _, w := range want {
		if !math.IsInf(w, 0) {
			w2 += w * w
			wmax = math.Max(wmax, math.Abs(w))
		}
	}
	if w2 == 0 {
		return math.Sqrt(d2), maxAbs, maxAbs
	}
	return math.Sqrt(d2 / w2), maxAbs, maxAbs / wmax
}

// check runs run on E (and Other), and compares each output with want under tol.
// names label the outputs; a nil want entry skips that output.
func (s *Suite) check(name string, tol float64, names []string, want [][]float64, run func(e nn.Engine) [][]float32) {
	s.T.Helper()
	got := run(s.E)
	var oth [][]float32
	if s.Other != nil {
		oth = run(s.Other)
	}
	for i, w := range want {
		if w == nil {
			continue
		}
		label := name + " " + names[i]
		if len(got[i]) < len(w) {
			s.T.Errorf("%s: %d values, want %d", label, len(got[i]), len(w))
			continue
		}
		rel, ma, mr := errs(got[i][:len(w)], w)
		row := Row{Name: label, Rel: rel, MaxAbs: ma, MaxRel: mr, Tol: tol * s.Scale, OtherMaxAbs: math.NaN(), OtherMaxRel: math.NaN()}
		if oth != nil {
			_, row.OtherMaxAbs, row.OtherMaxRel = errs(got[i][:len(w)], f64(oth[i][:len(w)]))
		}
		s.Rows = append(s.Rows, row)
		if !(rel <= tol*s.Scale) {
			s.T.Errorf("%s on %s: relative error %.3g > %.0e (max abs %.3g)", label, s.E.Name(), rel, tol*s.Scale, ma)
		}
	}
}

func (s *Suite) memory() {
	e := s.E
	v := s.vec(37)
	a := e.FromHost(v, 37)
	b := e.Zeros(37)
	e.CopyInto(b, a)
	c := e.Empty(37)
	e.Fill(c, 2.5)
	z := e.Zeros(5, 3)
	for i, x := range e.ToHost(b) {
		if x != v[i] {
			s.T.Fatalf("CopyInto/ToHost: [%d] = %g, want %g", i, x, v[i])
		}
	}
	for _, x := range e.ToHost(c) {
		if x != 2.5 {
			s.T.Fatalf("Fill: %g, want 2.5", x)
		}
	}
	for _, x := range e.ToHost(z) {
		if x != 0 {
			s.T.Fatalf("Zeros: %g", x)
		}
	}
	if z.Len() != 15 || len(e.ToHost(z)) != 15 {
		t := s.T
		t.Fatalf("Zeros(5,3) has %d elements", z.Len())
	}
	e.Free(a)
	e.Free(b)
	e.Free(c)
	e.Free(z)
	if err := e.Sync(); err != nil {
		s.T.Fatal(err)
	}
}

func (s *Suite) linear() {
	M, K, N := 37, 45, 29
	in, w, b, dOut := s.vec(M*K), s.vec(N*K), s.vec(N), s.vec(M*N)
	dIn0, dW0, dB0 := s.vec(M*K), s.vec(N*K), s.vec(N)
	const tol = 2e-6
	for _, withBias := range []bool{true, false} {
		bb := b
		if !withBias {
			bb = nil
		}
		want := make([]float64, M*N)
		kern.Linear(want, f64(in), f64(w), nilOr(bb), M, K, N)
		s.check(fmt.Sprintf("Linear bias=%v", withBias), tol, []string{"out"}, [][]float64{want}, func(e nn.Engine) [][]float32 {
			out := e.Empty(M, N)
			e.Linear(out, up(e, in), up(e, w), up(e, bb), M, K, N)
			return host(e, out)
		})
	}
	dIn, dW, dB := f64(dIn0), f64(dW0), f64(dB0)
	kern.LinearBackward(dIn, dW, dB, f64(dOut), f64(in), f64(w), M, K, N)
	s.check("LinearBackward", tol, []string{"dIn", "dW", "dB"}, [][]float64{dIn, dW, dB}, func(e nn.Engine) [][]float32 {
		gi, gw, gb := up(e, dIn0), up(e, dW0), up(e, dB0)
		e.LinearBackward(gi, gw, gb, up(e, dOut), up(e, in), up(e, w), M, K, N)
		return host(e, gi, gw, gb)
	})
	// A tall matrix: the bias gradient sums over several row chunks.
	{
		M, K, N := 600, 5, 40
		in, w, dOut, dB0 := s.vec(M*K), s.vec(N*K), s.vec(M*N), s.vec(N)
		dB := f64(dB0)
		kern.LinearBackward(nil, nil, dB, f64(dOut), f64(in), f64(w), M, K, N)
		s.check("LinearBackward tall dB", tol, []string{"dB"}, [][]float64{dB}, func(e nn.Engine) [][]float32 {
			gb := up(e, dB0)
			e.LinearBackward(nil, nil, gb, up(e, dOut), up(e, in), up(e, w), M, K, N)
			return host(e, gb)
		})
	}
	// Only dW: nil gradients are skipped.
	dW = f64(dW0)
	kern.LinearBackward(nil, dW, nil, f64(dOut), f64(in), f64(w), M, K, N)
	s.check("LinearBackward dW only", tol, []string{"dW"}, [][]float64{dW}, func(e nn.Engine) [][]float32 {
		gw := up(e, dW0)
		e.LinearBackward(nil, gw, nil, up(e, dOut), up(e, in), up(e, w), M, K, N)
		return host(e, gw)
	})
}

func nilOr(v []float32) []float64 {
	if v == nil {
		return nil
	}
	return f64(v)
}

func (s *Suite) batchedMatMul() {
	batch, M, N, K := 3, 7, 5, 9
	a, b, c0 := s.vec(batch*M*K), s.vec(batch*K*N), s.vec(batch*M*N)
	for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		want := f64(c0)
		kern.BatchedMatMul(want, f64(a), f64(b), batch, M, N, K, tr[0], tr[1], 0.5, 2.0)
		s.check(fmt.Sprintf("BatchedMatMul tA=%v tB=%v", tr[0], tr[1]), 2e-6, []string{"C"}, [][]float64{want}, func(e nn.Engine) [][]float32 {
			c := up(e, c0)
			e.BatchedMatMul(c, up(e, a), up(e, b), batch, M, N, K, tr[0], tr[1], 0.5, 2)
			return host(e, c)
		})
	}
}

func (s *Suite) layerNorm() {
	s.layerNormSize(13, 203)
	s.layerNormSize(521, 37) // several row chunks in the dW/dB sums
}

func (s *Suite) layerNormSize(M, C int) {
	in, w, b, g := s.vec(M*C), s.vec(C), s.vec(C), s.vec(M*C)
	for i := range in { // an offset mean, as activations have
		in[i] = 3 + 0.5*in[i]
	}
	dIn0, dW0, dB0 := s.vec(M*C), s.vec(C), s.vec(C)
	for _, affine := range []bool{true, false} {
		ww, bb := w, b
		if !affine {
			ww, bb = nil, nil
		}
		out, mean, rstd := make([]float64, M*C), make([]float64, M), make([]float64, M)
		kern.LayerNorm(out, mean, rstd, f64(in), nilOr(ww), nilOr(bb), M, C, 1e-6)
		s.check(fmt.Sprintf("LayerNorm M%d C%d affine=%v", M, C, affine), 2e-6, []string{"out", "mean", "rstd"}, [][]float64{out, mean, rstd}, func(e nn.Engine) [][]float32 {
			o, m, r := e.Empty(M, C), e.Empty(M), e.Empty(M)
			e.LayerNorm(o, m, r, up(e, in), up(e, ww), up(e, bb), M, C, 1e-6)
			return host(e, o, m, r)
		})
		dIn, dW, dB := f64(dIn0), f64(dW0), f64(dB0)
		if !affine {
			dW, dB = nil, nil
		}
		kern.LayerNormBackward(dIn, dW, dB, f64(g), f64(in), nilOr(ww), mean, rstd, M, C)
		s.check(fmt.Sprintf("LayerNormBackward M%d C%d affine=%v", M, C, affine), 1e-5, []string{"dIn", "dW", "dB"}, [][]float64{dIn, dW, dB}, func(e nn.Engine) [][]float32 {
			o, m, r := e.Empty(M, C), e.Empty(M), e.Empty(M)
			x := up(e, in)
			e.LayerNorm(o, m, r, x, up(e, ww), up(e, bb), M, C, 1e-6)
			gi := up(e, dIn0)
			var gw, gb *nn.Tensor
			if affine {
				gw, gb = up(e, dW0), up(e, dB0)
			}
			e.LayerNormBackward(gi, gw, gb, up(e, g), x, up(e, ww), m, r, M, C)
			return host(e, gi, gw, gb)
		})
	}
}

func (s *Suite) elementwise() {
	n := 1031
	a, b, g, acc := s.vec(n), s.vec(n), s.vec(n), s.vec(n)
	a[3], a[10] = 0, 0 // sign(0) = 0 in AbsBackward
	type un struct {
		name string
		tol  float64
		eng  func(e nn.Engine, out, x *nn.Tensor)
		ref  func(out, x []float64)
	}
	for _, u := range []un{
		{"GELU", 2e-6, func(e nn.Engine, o, x *nn.Tensor) { e.GELU(o, x, n) }, func(o, x []float64) { kern.GELU(o, x) }},
		{"Tanh", 2e-6, func(e nn.Engine, o, x *nn.Tensor) { e.Tanh(o, x, n) }, func(o, x []float64) { kern.Tanh(o, x) }},
		{"Abs", 0, func(e nn.Engine, o, x *nn.Tensor) { e.Abs(o, x, n) }, func(o, x []float64) { kern.Abs(o, x) }},
		{"Scale", 1e-7, func(e nn.Engine, o, x *nn.Tensor) { e.Scale(o, x, -1.5, n) }, func(o, x []float64) { kern.Scale(o, x, -1.5) }},
	} {
		want := make([]float64, n)
		u.ref(want, f64(a))
		s.check(u.name, u.tol, []string{"out"}, [][]float64{want}, func(e nn.Engine) [][]float32 {
			o := e.Empty(n)
			u.eng(e, o, up(e, a))
			return host(e, o)
		})
	}
	type bin struct {
		name string
		tol  float64
		eng  func(e nn.Engine, out, x, y *nn.Tensor)
		ref  func(out, x, y []float64)
	}
	tanhA := make([]float64, n)
	kern.Tanh(tanhA, f64(a))
	tanhA32 := make([]float32, n)
	for i, v := range tanhA {
		tanhA32[i] = float32(v)
	}
	for _, u := range []bin{
		{"Add", 1e-7, func(e nn.Engine, o, x, y *nn.Tensor) { e.Add(o, x, y, n) }, func(o, x, y []float64) { kern.Add(o, x, y) }},
		{"Mul", 1e-7, func(e nn.Engine, o, x, y *nn.Tensor) { e.Mul(o, x, y, n) }, func(o, x, y []float64) { kern.Mul(o, x, y) }},
	} {
		want := make([]float64, n)
		u.ref(want, f64(a), f64(b))
		s.check(u.name, u.tol, []string{"out"}, [][]float64{want}, func(e nn.Engine) [][]float32 {
			o := e.Empty(n)
			u.eng(e, o, up(e, a), up(e, b))
			return host(e, o)
		})
	}
	// Backward passes accumulate into acc; in for Tanh is its output.
	for _, u := range []bin{
		{"GELUBackward", 2e-6, func(e nn.Engine, d, g, x *nn.Tensor) { e.GELUBackward(d, g, x, n) }, func(d, g, x []float64) { kern.GELUBackward(d, g, x) }},
		{"AbsBackward", 1e-7, func(e nn.Engine, d, g, x *nn.Tensor) { e.AbsBackward(d, g, x, n) }, func(d, g, x []float64) { kern.AbsBackward(d, g, x) }},
		{"AddInPlace", 1e-7, func(e nn.Engine, d, g, _ *nn.Tensor) { e.AddInPlace(d, g, n) }, func(d, g, _ []float64) { kern.AddInPlace(d, g) }},
	} {
		want := f64(acc)
		u.ref(want, f64(g), f64(a))
		s.check(u.name, u.tol, []string{"dIn"}, [][]float64{want}, func(e nn.Engine) [][]float32 {
			d := up(e, acc)
			u.eng(e, d, up(e, g), up(e, a))
			u.eng(e, nil, up(e, g), up(e, a)) // nil gradient: skipped
			return host(e, d)
		})
	}
	want := f64(acc)
	kern.TanhBackward(want, f64(g), f64(tanhA32))
	s.check("TanhBackward", 2e-6, []string{"dIn"}, [][]float64{want}, func(e nn.Engine) [][]float32 {
		d := up(e, acc)
		e.TanhBackward(d, up(e, g), up(e, tanhA32), n)
		return host(e, d)
	})
}

func (s *Suite) heads() {
	B, N, H, hd := 2, 7, 3, 5
	n := B * N * H * hd
	qkv, dq, dv, acc, acc3 := s.vec(3*n), s.vec(n), s.vec(n), s.vec(n), s.vec(3*n)
	q, k, v := make([]float64, n), make([]float64, n), make([]float64, n)
	kern.SplitHeads(q, k, v, f64(qkv), B, N, H, hd)
	s.check("SplitHeads", 0, []string{"q", "k", "v"}, [][]float64{q, k, v}, func(e nn.Engine) [][]float32 {
		a, b, c := e.Empty(n), e.Empty(n), e.Empty(n)
		e.SplitHeads(a, b, c, up(e, qkv), B, N, H, hd)
		return host(e, a, b, c)
	})
	d3 := f64(acc3)
	kern.SplitHeadsBackward(d3, f64(dq), nil, f64(dv), B, N, H, hd)
	s.check("SplitHeadsBackward dk=nil", 1e-7, []string{"dqkv"}, [][]float64{d3}, func(e nn.Engine) [][]float32 {
		d := up(e, acc3)
		e.SplitHeadsBackward(d, up(e, dq), nil, up(e, dv), B, N, H, hd)
		return host(e, d)
	})
	m := make([]float64, n)
	kern.MergeHeads(m, f64(dq), B, N, H, hd)
	s.check("MergeHeads", 0, []string{"out"}, [][]float64{m}, func(e nn.Engine) [][]float32 {
		o := e.Empty(n)
		e.MergeHeads(o, up(e, dq), B, N, H, hd)
		return host(e, o)
	})
	dx := f64(acc)
	kern.MergeHeadsBackward(dx, f64(dv), B, N, H, hd)
	s.check("MergeHeadsBackward", 1e-7, []string{"dx"}, [][]float64{dx}, func(e nn.Engine) [][]float32 {
		d := up(e, acc)
		e.MergeHeadsBackward(d, up(e, dv), B, N, H, hd)
		return host(e, d)
	})
}

func (s *Suite) positions(n, max int) []int32 {
	pos := make([]int32, n)
	for i := range pos {
		pos[i] = int32(s.rng.IntN(max))
	}
	return pos
}

func (s *Suite) rope() {
	// hd = 20: dsub = 2·((20/3)/2) = 6, 18 rotated channels and 2 left alone.
	B, H, N, hd, dsub := 2, 3, 11, 20, 6
	n := B * H * N * hd
	x := s.vec(n)
	pos := s.positions(3*B*N, 16)
	r := &nn.RoPE3D{Pos: pos, DSub: dsub}
	want := f64(x)
	kern.RoPE(want, pos, dsub, B, H, N, hd)
	s.check("RoPE", 2e-6, []string{"x"}, [][]float64{want}, func(e nn.Engine) [][]float32 {
		t := up(e, x)
		e.RoPE(t, r, B, H, N, hd)
		return host(e, t)
	})
	want = f64(x)
	kern.RoPEBackward(want, pos, dsub, B, H, N, hd)
	s.check("RoPEBackward", 2e-6, []string{"dx"}, [][]float64{want}, func(e nn.Engine) [][]float32 {
		t := up(e, x)
		e.RoPEBackward(t, r, B, H, N, hd)
		return host(e, t)
	})
}

// frameMask is the frame-causal mask with per tokens per frame; with empty set, the
// queries of the first frame of batch row 0 see no key at all (group −1).
func frameMask(B, N, per int, empty bool) (*nn.AttnMask, []kern.AttnGroups) {
	m := &nn.AttnMask{QueryGroup: make([]int32, B*N), KeyGroup: make([]int32, B*N)}
	for b := 0; b < B; b++ {
		for i := 0; i < N; i++ {
			f := int32(i / per)
			m.QueryGroup[b*N+i], m.KeyGroup[b*N+i] = f, f
			if empty && b == 0 && f == 0 {
				m.QueryGroup[b*N+i] = -1
			}
		}
	}
	g := make([]kern.AttnGroups, B)
	for b := range g {
		g[b] = kern.AttnGroups{Q: m.QueryGroup[b*N : (b+1)*N], K: m.KeyGroup[b*N : (b+1)*N]}
	}
	return m, g
}

func (s *Suite) attention() {
	for _, c := range []struct {
		B, H, N, hd int
		mask, empty bool
	}{
		{2, 3, 70, 16, false, false}, // three key tiles, the last partial
		{2, 3, 70, 16, true, false},  // frame-causal, 5 tokens a frame
		{1, 2, 37, 80, true, true},   // head dim 80 (smaller tiles), queries that see nothing
		{1, 1, 5, 64, false, false},  // one partial tile
	} {
		B, H, N, hd := c.B, c.H, c.N, c.hd
		n := B * H * N * hd
		q, k, v, g := s.vec(n), s.vec(n), s.vec(n), s.vec(n)
		dq0, dk0, dv0 := s.vec(n), s.vec(n), s.vec(n)
		scale := float32(1 / math.Sqrt(float64(hd)))
		var mask *nn.AttnMask
		var groups []kern.AttnGroups
		if c.mask {
			mask, groups = frameMask(B, N, 5, c.empty)
		}
		name := fmt.Sprintf("Attention B%d H%d N%d hd%d mask=%v empty=%v", B, H, N, hd, c.mask, c.empty)
		out, lse := make([]float64, n), make([]float64, B*H*N)
		kern.Attention(out, lse, f64(q), f64(k), f64(v), B*H, H, N, N, hd, float64(scale), groups)
		s.check(name, 5e-6, []string{"out", "lse"}, [][]float64{out, lse}, func(e nn.Engine) [][]float32 {
			o, l := e.Empty(n), e.Empty(B*H*N)
			e.Attention(o, l, up(e, q), up(e, k), up(e, v), B, H, N, hd, scale, mask)
			return host(e, o, l)
		})
		dq, dk, dv := f64(dq0), f64(dk0), f64(dv0)
		kern.AttentionBackward(dq, dk, dv, f64(g), out, lse, f64(q), f64(k), f64(v), B*H, H, N, N, hd, float64(scale), groups)
		s.check(name+" backward", 2e-5, []string{"dq", "dk", "dv"}, [][]float64{dq, dk, dv}, func(e nn.Engine) [][]float32 {
			o, l := e.Empty(n), e.Empty(B*H*N)
			qq, kk, vv := up(e, q), up(e, k), up(e, v)
			e.Attention(o, l, qq, kk, vv, B, H, N, hd, scale, mask)
			a, b, cc := up(e, dq0), up(e, dk0), up(e, dv0)
			e.AttentionBackward(a, b, cc, up(e, g), o, l, qq, kk, vv, B, H, N, hd, scale, mask)
			return host(e, a, b, cc)
		})
		// dq only (dk, dv nil).
		dq = f64(dq0)
		kern.AttentionBackward(dq, nil, nil, f64(g), out, lse, f64(q), f64(k), f64(v), B*H, H, N, N, hd, float64(scale), groups)
		s.check(name+" backward dq only", 2e-5, []string{"dq"}, [][]float64{dq}, func(e nn.Engine) [][]float32 {
			o, l := e.Empty(n), e.Empty(B*H*N)
			qq, kk, vv := up(e, q), up(e, k), up(e, v)
			e.Attention(o, l, qq, kk, vv, B, H, N, hd, scale, mask)
			a := up(e, dq0)
			e.AttentionBackward(a, nil, nil, up(e, g), o, l, qq, kk, vv, B, H, N, hd, scale, mask)
			return host(e, a)
		})
	}
}

func (s *Suite) crossAttention() {
	for _, c := range []struct{ B, H, Nq, Nk, hd int }{{2, 3, 37, 45, 80}, {3, 2, 5, 70, 16}} {
		B, H, Nq, Nk, hd := c.B, c.H, c.Nq, c.Nk, c.hd
		nq, nk := B*H*Nq*hd, B*H*Nk*hd
		q, k, v, g := s.vec(nq), s.vec(nk), s.vec(nk), s.vec(nq)
		dq0, dk0, dv0 := s.vec(nq), s.vec(nk), s.vec(nk)
		scale := float32(1 / math.Sqrt(float64(hd)))
		name := fmt.Sprintf("CrossAttention B%d H%d Nq%d Nk%d hd%d", B, H, Nq, Nk, hd)
		out, lse := make([]float64, nq), make([]float64, B*H*Nq)
		kern.Attention(out, lse, f64(q), f64(k), f64(v), B*H, H, Nq, Nk, hd, float64(scale), nil)
		s.check(name, 5e-6, []string{"out", "lse"}, [][]float64{out, lse}, func(e nn.Engine) [][]float32 {
			o, l := e.Empty(nq), e.Empty(B*H*Nq)
			e.CrossAttention(o, l, up(e, q), up(e, k), up(e, v), B, H, Nq, Nk, hd, scale)
			return host(e, o, l)
		})
		dq, dk, dv := f64(dq0), f64(dk0), f64(dv0)
		kern.AttentionBackward(dq, dk, dv, f64(g), out, lse, f64(q), f64(k), f64(v), B*H, H, Nq, Nk, hd, float64(scale), nil)
		s.check(name+" backward", 2e-5, []string{"dq", "dk", "dv"}, [][]float64{dq, dk, dv}, func(e nn.Engine) [][]float32 {
			o, l := e.Empty(nq), e.Empty(B*H*Nq)
			qq, kk, vv := up(e, q), up(e, k), up(e, v)
			e.CrossAttention(o, l, qq, kk, vv, B, H, Nq, Nk, hd, scale)
			a, b, cc := up(e, dq0), up(e, dk0), up(e, dv0)
			e.CrossAttentionBackward(a, b, cc, up(e, g), o, l, qq, kk, vv, B, H, Nq, Nk, hd, scale)
			return host(e, a, b, cc)
		})
	}
}

func (s *Suite) patchEmbed() {
	B, T, Hh, Ww, tt, p, D := 2, 4, 6, 10, 2, 2, 7
	N := (T / tt) * (Hh / p) * (Ww / p)
	K := 3 * tt * p * p
	video, w, b, g := s.vec(B*3*T*Hh*Ww), s.vec(D*K), s.vec(D), s.vec(B*N*D)
	dW0, dB0 := s.vec(D*K), s.vec(D)
	out := make([]float64, B*N*D)
	kern.PatchEmbed3D(out, f64(video), f64(w), f64(b), B, T, Hh, Ww, tt, p, D)
	s.check("PatchEmbed3D", 2e-6, []string{"out"}, [][]float64{out}, func(e nn.Engine) [][]float32 {
		o := e.Empty(B, N, D)
		e.PatchEmbed3D(o, up(e, video), up(e, w), up(e, b), B, T, Hh, Ww, tt, p, D)
		return host(e, o)
	})
	dW, dB := f64(dW0), f64(dB0)
	kern.PatchEmbed3DBackward(dW, dB, f64(g), f64(video), B, T, Hh, Ww, tt, p, D)
	s.check("PatchEmbed3DBackward", 2e-6, []string{"dW", "dB"}, [][]float64{dW, dB}, func(e nn.Engine) [][]float32 {
		a, c := up(e, dW0), up(e, dB0)
		e.PatchEmbed3DBackward(a, c, up(e, g), up(e, video), B, T, Hh, Ww, tt, p, D)
		return host(e, a, c)
	})
}

func (s *Suite) film() {
	B, N, C := 3, 11, 37
	x, gm, bt, g := s.vec(B*N*C), s.vec(B*C), s.vec(B*C), s.vec(B*N*C)
	dx0, dg0, db0 := s.vec(B*N*C), s.vec(B*C), s.vec(B*C)
	out := make([]float64, B*N*C)
	kern.FiLM(out, f64(x), f64(gm), f64(bt), B, N, C)
	s.check("FiLM", 1e-7, []string{"out"}, [][]float64{out}, func(e nn.Engine) [][]float32 {
		o := e.Empty(B * N * C)
		e.FiLM(o, up(e, x), up(e, gm), up(e, bt), B, N, C)
		return host(e, o)
	})
	dx, dg, db := f64(dx0), f64(dg0), f64(db0)
	kern.FiLMBackward(dx, dg, db, f64(g), f64(x), f64(gm), B, N, C)
	s.check("FiLMBackward", 2e-6, []string{"dx", "dGamma", "dBeta"}, [][]float64{dx, dg, db}, func(e nn.Engine) [][]float32 {
		a, b, c := up(e, dx0), up(e, dg0), up(e, db0)
		e.FiLMBackward(a, b, c, up(e, g), up(e, x), up(e, gm), B, N, C)
		return host(e, a, b, c)
	})
	dg = f64(dg0)
	kern.FiLMBackward(nil, dg, nil, f64(g), f64(x), f64(gm), B, N, C)
	s.check("FiLMBackward dGamma only", 2e-6, []string{"dGamma"}, [][]float64{dg}, func(e nn.Engine) [][]float32 {
		b := up(e, dg0)
		e.FiLMBackward(nil, b, nil, up(e, g), up(e, x), up(e, gm), B, N, C)
		return host(e, b)
	})
}

func (s *Suite) rows() {
	R, C := 9, 37
	in, acc := s.vec(R*C), s.vec(R*C)
	idx := []int32{4, 0, 4, 8, 2, 4, 7} // duplicates accumulate
	g := s.vec(len(idx) * C)
	out := make([]float64, len(idx)*C)
	kern.GatherRows(out, f64(in), idx, C)
	s.check("GatherRows", 0, []string{"out"}, [][]float64{out}, func(e nn.Engine) [][]float32 {
		o := e.Empty(len(idx) * C)
		e.GatherRows(o, up(e, in), idx, C)
		return host(e, o)
	})
	d := f64(acc)
	kern.ScatterAddRows(d, f64(g), idx, C)
	s.check("ScatterAddRows", 1e-7, []string{"dIn"}, [][]float64{d}, func(e nn.Engine) [][]float32 {
		t := up(e, acc)
		e.ScatterAddRows(t, up(e, g), idx, C)
		e.ScatterAddRows(nil, up(e, g), idx, C)
		return host(e, t)
	})
}

func (s *Suite) cols() {
	M := 13
	widths := []int{5, 1, 17}
	W := 23
	parts := [][]float32{s.vec(M * 5), s.vec(M * 1), s.vec(M * 17)}
	acc := [][]float32{s.vec(M * 5), nil, s.vec(M * 17)}
	g := s.vec(M * W)
	out := make([]float64, M*W)
	kern.ConcatCols(out, [][]float64{f64(parts[0]), f64(parts[1]), f64(parts[2])}, M, widths)
	s.check("ConcatCols", 0, []string{"out"}, [][]float64{out}, func(e nn.Engine) [][]float32 {
		o := e.Empty(M, W)
		e.ConcatCols(o, []*nn.Tensor{up(e, parts[0]), up(e, parts[1]), up(e, parts[2])}, M, widths)
		return host(e, o)
	})
	d := [][]float64{f64(acc[0]), nil, f64(acc[2])}
	kern.SplitColsAdd(d, f64(g), M, widths)
	s.check("SplitColsAdd (middle nil)", 1e-7, []string{"d0", "d1", "d2"}, d, func(e nn.Engine) [][]float32 {
		ts := []*nn.Tensor{up(e, acc[0]), nil, up(e, acc[2])}
		e.SplitColsAdd(ts, up(e, g), M, widths)
		return host(e, ts...)
	})
}

func (s *Suite) weightedRowSum() {
	G, S, C := 5, 3, 37
	in, g, acc := s.vec(G*S*C), s.vec(G*C), s.vec(G*S*C)
	w := s.vec(G * S)
	out := make([]float64, G*C)
	kern.WeightedRowSum(out, f64(in), w, G, S, C)
	s.check("WeightedRowSum", 2e-7, []string{"out"}, [][]float64{out}, func(e nn.Engine) [][]float32 {
		o := e.Empty(G, C)
		e.WeightedRowSum(o, up(e, in), w, G, S, C)
		return host(e, o)
	})
	d := f64(acc)
	kern.WeightedRowSumBackward(d, f64(g), w, G, S, C)
	s.check("WeightedRowSumBackward", 2e-7, []string{"dIn"}, [][]float64{d}, func(e nn.Engine) [][]float32 {
		t := up(e, acc)
		e.WeightedRowSumBackward(t, up(e, g), w, G, S, C)
		return host(e, t)
	})
}

func (s *Suite) reductions() {
	n := 10007
	a, b, acc := s.vec(n), s.vec(n), s.vec(n)
	wantSS, wantMSE := kern.SumSquares(f64(a)), kern.MSE(f64(a), f64(b))
	s.check("SumSquares/MSE", 1e-6, []string{"SumSquares", "MSE"}, [][]float64{{wantSS}, {wantMSE}}, func(e nn.Engine) [][]float32 {
		x, y := up(e, a), up(e, b)
		return [][]float32{{float32(e.SumSquares(x, n))}, {e.MSE(x, y, n)}}
	})
	d := f64(acc)
	kern.MSEBackward(d, f64(a), f64(b), 0.5)
	s.check("MSEBackward", 1e-7, []string{"dA"}, [][]float64{d}, func(e nn.Engine) [][]float32 {
		t := up(e, acc)
		e.MSEBackward(t, up(e, a), up(e, b), n, 0.5)
		return host(e, t)
	})
}

func (s *Suite) dropout() {
	n := 4099
	x, g, acc := s.vec(n), s.vec(n), s.vec(n)
	const seed = 0x1234_5678_9abc
	for _, p := range []float32{0, 0.3} {
		out := make([]float64, n)
		kern.Dropout(out, f64(x), seed, float64(p))
		got := s.E.ToHost(func() *nn.Tensor {
			t := up(s.E, x)
			s.E.Dropout(t, t, seed, p, n) // out may alias in
			return t
		}())
		for i := range out {
			if (out[i] == 0) != (got[i] == 0) || (kern.DropoutKeep(seed, i, float64(p)) != (got[i] != 0)) {
				s.T.Fatalf("Dropout p=%g: element %d kept=%v, kern.DropoutKeep says %v", p, i, got[i] != 0, kern.DropoutKeep(seed, i, float64(p)))
			}
		}
		s.check(fmt.Sprintf("Dropout p=%g", p), 1e-7, []string{"out"}, [][]float64{out}, func(e nn.Engine) [][]float32 {
			o := e.Empty(n)
			e.Dropout(o, up(e, x), seed, p, n)
			return host(e, o)
		})
		d := f64(acc)
		kern.DropoutBackward(d, f64(g), seed, float64(p))
		s.check(fmt.Sprintf("DropoutBackward p=%g", p), 1e-7, []string{"dIn"}, [][]float64{d}, func(e nn.Engine) [][]float32 {
			t := up(e, acc)
			e.DropoutBackward(t, up(e, g), seed, p, n)
			return host(e, t)
		})
	}
}

func (s *Suite) adamw() {
	n := 1003
	p0, g := s.vec(n), s.vec(n)
	p, m, v := f64(p0), make([]float64, n), make([]float64, n)
	for step := 1; step <= 3; step++ {
		kern.AdamW(p, f64(g), m, v, 1e-3, 0.9, 0.999, 1e-8, 0.05, step)
	}
	// 2e-5: 1−β2 = 0.001 is 0.00099998713 in float32, a 1.3e-5 relative offset in v that
	// every float32 implementation (PyTorch's too) shares.
	s.check("AdamW 3 steps", 2e-5, []string{"param", "m", "v"}, [][]float64{p, m, v}, func(e nn.Engine) [][]float32 {
		pp, mm, vv, gg := up(e, p0), e.Zeros(n), e.Zeros(n), up(e, g)
		for step := 1; step <= 3; step++ {
			e.AdamW(pp, gg, mm, vv, n, 1e-3, 0.9, 0.999, 1e-8, 0.05, step)
		}
		return host(e, pp, mm, vv)
	})
}

// Worst returns the rows sorted by relative error, worst first (for logs).
func Worst(rows []Row, k int) []Row {
	r := append([]Row(nil), rows...)
	sort.Slice(r, func(i, j int) bool { return r[i].Rel > r[j].Rel })
	return r[:min(k, len(r))]
}
