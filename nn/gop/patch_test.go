package gop

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestPatchFiLMGradients checks PatchEmbed3D → FiLM → GELU → LayerNorm (no affine) in a
// float64 graph against central differences, and the float32 graph against float64.
func TestPatchFiLMGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	B, T, H, W, tt, p, D := 2, 4, 4, 6, 2, 2, 5
	N := (T / tt) * (H / p) * (W / p)
	randT := func(dt tensor.Dtype, shape ...int) []float64 {
		n := 1
		for _, s := range shape {
			n *= s
		}
		d := make([]float64, n)
		for i := range d {
			d[i] = rng.NormFloat64()
		}
		return d
	}
	vals := map[string][]float64{
		"video": randT(tensor.Float64, B, 3, T, H, W), "w": randT(tensor.Float64, D, 3, tt, p, p), "b": randT(tensor.Float64, D),
		"gamma": randT(tensor.Float64, B, D), "beta": randT(tensor.Float64, B, D), "gout": randT(tensor.Float64, B, N, D),
	}
	shapes := map[string][]int{"video": {B, 3, T, H, W}, "w": {D, 3, tt, p, p}, "b": {D}, "gamma": {B, D}, "beta": {B, D}, "gout": {B, N, D}}
	build := func(dt tensor.Dtype) (*G.ExprGraph, map[string]*G.Node, *G.Node) {
		g := G.NewGraph()
		nodes := map[string]*G.Node{}
		for name, s := range shapes {
			var val tensor.Tensor
			if dt == tensor.Float64 {
				val = tensor.New(tensor.WithShape(s...), tensor.WithBacking(vals[name]))
			} else {
				f := make([]float32, len(vals[name]))
				for i, v := range vals[name] {
					f[i] = float32(v)
				}
				val = tensor.New(tensor.WithShape(s...), tensor.WithBacking(f))
			}
			nodes[name] = G.NewTensor(g, dt, len(s), G.WithShape(s...), G.WithName(name), G.WithValue(val))
		}
		must := func(n *G.Node, err error) *G.Node {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		x := must(PatchEmbed3D(nodes["video"], nodes["w"], nodes["b"]))
		x = must(FiLM(x, nodes["gamma"], nodes["beta"]))
		x = must(GELU(x))
		x = must(LayerNorm(x, nil, nil, 1e-5))
		cost := must(G.Sum(must(G.HadamardProd(x, nodes["gout"]))))
		return g, nodes, cost
	}
	wrt := []string{"w", "b", "gamma", "beta"}
	grads := map[tensor.Dtype][][]float64{}
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		g, nodes, cost := build(dt)
		var ws []*G.Node
		for _, name := range wrt {
			ws = append(ws, nodes[name])
		}
		gn, err := G.Grad(cost, ws...)
		if err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g)
		run := func() float64 {
			vm.Reset()
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			switch v := cost.Value().Data().(type) {
			case float64:
				return v
			case float32:
				return float64(v)
			}
			t.Fatalf("cost of type %T", cost.Value().Data())
			return 0
		}
		run()
		for _, n := range gn {
			switch d := n.Value().Data().(type) {
			case []float64:
				grads[dt] = append(grads[dt], append([]float64(nil), d...))
			case []float32:
				grads[dt] = append(grads[dt], toF64(d))
			}
		}
		if dt == tensor.Float64 {
			const h = 1e-6
			for i, n := range ws {
				data := n.Value().Data().([]float64)
				worst := 0.0
				for j := range data {
					v := data[j]
					data[j] = v + h
					lp := run()
					data[j] = v - h
					lm := run()
					data[j] = v
					num := (lp - lm) / (2 * h)
					worst = max(worst, math.Abs(num-grads[dt][i][j])/(1+math.Abs(num)))
				}
				if worst > 1e-6 {
					t.Errorf("%s: gradient vs central differences: worst %g", wrt[i], worst)
				}
			}
		}
		vm.Close()
	}
	for i, name := range wrt {
		a, b := grads[tensor.Float32][i], grads[tensor.Float64][i]
		var d2, w2 float64
		for j := range a {
			d2 += (a[j] - b[j]) * (a[j] - b[j])
			w2 += b[j] * b[j]
		}
		if r := math.Sqrt(d2 / w2); r > 1e-4 {
			t.Errorf("%s: float32 graph vs float64: rel err %g", name, r)
		}
	}
}
