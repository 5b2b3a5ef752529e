package gop

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/nn/cpu"
	"github.com/thinkjepa/thinkjepa/nn/internal/refblock"
)

// graphBlock builds the pre-norm block of refblock as a gorgonia graph.
type graphBlock struct {
	g      *G.ExprGraph
	x      *G.Node
	params map[string]*G.Node
	out    *G.Node
	cost   *G.Node
}

var blockParams = []string{"norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
	"norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"}

func toF64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

func buildGraph(t *testing.T, c refblock.Config, host map[string][]float32, shapes map[string][]int, x, gout []float64, pos []int32, mask *nn.AttnMask) *graphBlock {
	must := func(n *G.Node, err error) *G.Node {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	g := G.NewGraph()
	gb := &graphBlock{g: g, params: map[string]*G.Node{}}
	gb.x = G.NewTensor(g, tensor.Float64, 3, G.WithShape(c.B, c.N, c.D), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(c.B, c.N, c.D), tensor.WithBacking(x))))
	for _, name := range blockParams {
		s := shapes[name]
		gb.params[name] = G.NewTensor(g, tensor.Float64, len(s), G.WithShape(s...), G.WithName(name),
			G.WithValue(tensor.New(tensor.WithShape(s...), tensor.WithBacking(toF64(host[name])))))
	}
	p := gb.params
	hd := c.D / c.H
	h := must(LayerNorm(gb.x, p["norm1.weight"], p["norm1.bias"], float64(c.Eps)))
	qkv := must(Linear(h, p["attn.qkv.weight"], p["attn.qkv.bias"]))
	q := must(Heads(qkv, c.H, 0))
	k := must(Heads(qkv, c.H, 1))
	v := must(Heads(qkv, c.H, 2))
	r := &nn.RoPE3D{Pos: pos, DSub: c.DSub}
	q = must(RoPE3D(q, r))
	k = must(RoPE3D(k, r))
	a := must(Attention(q, k, v, 1/math.Sqrt(float64(hd)), mask))
	m := must(MergeHeads(a))
	pr := must(Linear(m, p["attn.proj.weight"], p["attn.proj.bias"]))
	x1 := must(G.Add(gb.x, pr))
	h2 := must(LayerNorm(x1, p["norm2.weight"], p["norm2.bias"], float64(c.Eps)))
	f1 := must(Linear(h2, p["mlp.fc1.weight"], p["mlp.fc1.bias"]))
	ge := must(GELU(f1))
	f2 := must(Linear(ge, p["mlp.fc2.weight"], p["mlp.fc2.bias"]))
	gb.out = must(G.Add(x1, f2))
	gn := G.NewTensor(g, tensor.Float64, 3, G.WithShape(c.B, c.N, c.D), G.WithName("gout"), G.WithValue(tensor.New(tensor.WithShape(c.B, c.N, c.D), tensor.WithBacking(gout))))
	gb.cost = must(G.Sum(must(G.HadamardProd(gb.out, gn))))
	return gb
}

func TestBlockGradients(t *testing.T) {
	c := refblock.Config{B: 2, N: 10, D: 16, H: 2, Hidden: 32, DSub: 2, Eps: 1e-6}
	e := cpu.New()
	blk := refblock.New(e, c, 42)
	mask := &nn.AttnMask{QueryGroup: make([]int32, c.B*c.N), KeyGroup: make([]int32, c.B*c.N)}
	for i := range mask.QueryGroup {
		mask.QueryGroup[i] = int32((i % c.N) / 3)
		mask.KeyGroup[i] = mask.QueryGroup[i]
	}
	blk.Mask = mask
	rng := rand.New(rand.NewPCG(1, 2))
	x32 := make([]float32, c.B*c.N*c.D)
	g32 := make([]float32, len(x32))
	for i := range x32 {
		x32[i] = float32(rng.NormFloat64())
		g32[i] = float32(rng.NormFloat64())
	}
	host := blk.Params.Host(e)
	shapes := map[string][]int{}
	for _, p := range blk.Params.List() {
		shapes[p.Name] = p.Shape
	}

	gb := buildGraph(t, c, host, shapes, toF64(x32), toF64(g32), blk.Pos, mask)
	wrt := []*G.Node{gb.x}
	for _, name := range blockParams {
		wrt = append(wrt, gb.params[name])
	}
	grads, err := G.Grad(gb.cost, wrt...)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(gb.g)
	defer vm.Close()
	run := func() float64 {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		return gb.cost.Value().Data().(float64)
	}
	run()
	graphGrads := make([][]float64, len(wrt))
	for i, gn := range grads {
		graphGrads[i] = append([]float64(nil), gn.Value().Data().([]float64)...)
	}
	graphOut := append([]float64(nil), gb.out.Value().Data().([]float64)...)

	// 1. Gorgonia gradients against float64 central differences (a sample of entries of
	// every input, all of x).
	const h = 1e-6
	for i, n := range wrt {
		data := n.Value().Data().([]float64)
		idx := rng.Perm(len(data))
		if n != gb.x && len(idx) > 24 {
			idx = idx[:24]
		}
		worst := 0.0
		for _, j := range idx {
			v := data[j]
			data[j] = v + h
			lp := run()
			data[j] = v - h
			lm := run()
			data[j] = v
			num := (lp - lm) / (2 * h)
			worst = max(worst, math.Abs(num-graphGrads[i][j])/(1+math.Abs(num)))
		}
		t.Logf("%-18s gorgonia vs central differences: worst %.2g", n.Name(), worst)
		if worst > 1e-6 {
			t.Errorf("%s: gorgonia gradient vs central differences: worst rel err %g", n.Name(), worst)
		}
	}

	// 2. The same block through the CPU engine (float32) forward/backward.
	x := e.FromHost(x32, c.B, c.N, c.D)
	out := e.Zeros(c.B, c.N, c.D)
	blk.Params.ZeroGrad(e)
	blk.Forward(e, out, x)
	dx := e.Zeros(c.B, c.N, c.D)
	blk.Backward(e, dx, e.FromHost(g32, c.B, c.N, c.D))
	relErr := func(got []float32, want []float64) float64 {
		var d2, w2 float64
		for i := range got {
			d := float64(got[i]) - want[i]
			d2 += d * d
			w2 += want[i] * want[i]
		}
		return math.Sqrt(d2 / w2)
	}
	if r := relErr(e.ToHost(out), graphOut); r > 1e-5 {
		t.Errorf("engine forward vs gorgonia: rel err %g", r)
	}
	if r := relErr(e.ToHost(dx), graphGrads[0]); r > 1e-4 {
		t.Errorf("engine dx vs gorgonia: rel err %g", r)
	}
	for i, name := range blockParams {
		r := relErr(e.ToHost(blk.Params.Get(name).G), graphGrads[i+1])
		t.Logf("%-18s engine vs gorgonia: rel err %.2g", name, r)
		if r > 1e-4 {
			t.Errorf("engine d%s vs gorgonia: rel err %g", name, r)
		}
	}
}
