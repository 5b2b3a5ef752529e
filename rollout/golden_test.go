package rollout

import (
	"encoding/json"
	"math"
	"path/filepath"
	"testing"

	"github.com/thinkjepa/thinkjepa/internal/golden"
	"github.com/thinkjepa/thinkjepa/internal/npy"
	"github.com/thinkjepa/thinkjepa/nn"
)

// TestGoldenHeadTiny checks forward and backward against the PyTorch reference
// (tools/reference, case head_tiny): the fixture's own run, then its small-variance run
// ("lowvar.": scaled weights, where ln_in's and ln_out's eps matter; no parameter gradients
// stored).
func TestGoldenHeadTiny(t *testing.T) {
	c, err := golden.Open(filepath.Join("..", "testdata", "golden", "head_tiny"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.IO.Close()
	var gc headConfig
	if err := json.Unmarshal(c.Config, &gc); err != nil {
		t.Fatal(err)
	}
	runs, err := c.Runs(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range golden.Engines() {
		for _, r := range runs {
			t.Run(golden.EngineName(e)+"/"+r.Name, func(t *testing.T) { headGolden(t, e, c.IO, r.Prefix, r.Weights, c.Shapes, gc) })
		}
	}
}

type headConfig struct {
	EmbedDim int `json:"embed_dim"`
	Heads    int `json:"num_heads"`
	T        int `json:"num_frames"`
	P        int `json:"tokens_per_frame"`
	Joints   int `json:"num_joints"`
	Batch    int `json:"batch"`
}

// headGolden runs one variant: io.npz keys under prefix pre, weights ws. Parameter
// gradients are checked only where the fixture stores them.
func headGolden(t *testing.T, e nn.Engine, z *npy.NPZ, pre string, ws map[string][]float32, shapes map[string][]int, gc headConfig) {
	h, err := NewHead(e, HeadConfig{Dim: gc.EmbedDim, Hidden: gc.EmbedDim, Heads: gc.Heads, Joints: gc.Joints})
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != len(h.Params.List()) {
		t.Fatalf("fixture has %d tensors, head has %d", len(ws), len(h.Params.List()))
	}
	for k, v := range ws {
		if err := h.Params.Set(e, k, shapes[k], v); err != nil {
			t.Fatal(err)
		}
	}
	f64 := func(key string) []float64 {
		a, err := z.Get(pre + key)
		if err != nil {
			t.Fatal(err)
		}
		v, err := a.Float64s()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	f32 := func(v []float64) []float32 {
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = float32(x)
		}
		return out
	}
	B, T, P, D := gc.Batch, gc.T, gc.P, gc.EmbedDim
	x := e.FromHost(f32(f64("x")), B, T, P, D)
	o, err := h.Forward(e, x, B, T, P)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Release(e)
	r := golden.RelErr(e.ToHost(o.Out), f64("out"))
	t.Logf("%sout: relative error %.2e", pre, r)
	if r > 1e-5 {
		t.Errorf("%sout: relative error %.2e", pre, r)
	}
	dX := e.Zeros(B, T, P, D)
	h.Params.ZeroGrad(e)
	o.Backward(e, e.FromHost(f32(f64("grad_out")), B, T/2, gc.Joints, 3), dX)
	var worst float64
	check := func(name string, got []float32) {
		r := golden.RelErr(got, f64("grad."+name))
		worst = math.Max(worst, r)
		if r > 1e-4 {
			t.Errorf("%sgrad.%s: relative error %.2e", pre, name, r)
		}
	}
	if pre == "" {
		for _, p := range h.Params.List() {
			check(p.Name, e.ToHost(p.G))
		}
	}
	check("x", e.ToHost(dX))
	t.Logf("worst gradient relative error %.2e", worst)
}
