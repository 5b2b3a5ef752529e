package film

import (
	"encoding/json"
	"math"
	"path/filepath"
	"testing"

	"github.com/thinkjepa/thinkjepa/internal/golden"
	"github.com/thinkjepa/thinkjepa/internal/npy"
	"github.com/thinkjepa/thinkjepa/nn"
)

// TestGoldenGuidanceTiny checks forward and backward against the PyTorch reference
// (tools/reference, case guidance_tiny): the fixture's own run, then its small-variance run
// ("lowvar.": small VLM features, where the fusion LayerNorm's eps matters; no parameter
// gradients stored).
func TestGoldenGuidanceTiny(t *testing.T) {
	c, err := golden.Open(filepath.Join("..", "testdata", "golden", "guidance_tiny"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.IO.Close()
	var gc guidanceConfig
	if err := json.Unmarshal(c.Config, &gc); err != nil {
		t.Fatal(err)
	}
	runs, err := c.Runs(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range golden.Engines() {
		for _, r := range runs {
			t.Run(golden.EngineName(e)+"/"+r.Name, func(t *testing.T) { guidanceGolden(t, e, c.IO, r.Prefix, r.Weights, c.Shapes, gc) })
		}
	}
}

type guidanceConfig struct {
	EmbedDim  int `json:"embed_dim"`
	VLMDim    int `json:"vlm_dim"`
	Depth     int `json:"depth"`
	Hidden    int `json:"fusion_hidden_dim"`
	SOld      int `json:"s_old"`
	SNew      int `json:"s_new"`
	Batch     int `json:"batch"`
	NumLayers int `json:"num_pyramid_layers"`
}

// guidanceGolden runs one variant: io.npz keys under prefix pre, weights ws. Parameter
// gradients are checked only where the fixture stores them.
func guidanceGolden(t *testing.T, e nn.Engine, z *npy.NPZ, pre string, ws map[string][]float32, shapes map[string][]int, gc guidanceConfig) {
	bank, err := New(e, Config{VLMDim: gc.VLMDim, Width: gc.EmbedDim, Hidden: gc.Hidden, NumBlocks: gc.Depth})
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != len(bank.Params.List()) {
		t.Fatalf("fixture has %d tensors, bank has %d", len(ws), len(bank.Params.List()))
	}
	for k, v := range ws {
		if err := bank.Params.Set(e, k, shapes[k], v); err != nil {
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
	B, L, C := gc.Batch, gc.NumLayers, gc.EmbedDim
	oldX := e.FromHost(f32(f64("vlm_old")), B, L, gc.SOld, gc.VLMDim)
	newX := e.FromHost(f32(f64("vlm_new")), B, L, gc.SNew, gc.VLMDim)
	in := &Input{B: B,
		Old: &Stream{X: oldX, Mask: f32(f64("vlm_old_mask")), L: L, S: gc.SOld},
		New: &Stream{X: newX, Mask: f32(f64("vlm_new_mask")), L: L, S: gc.SNew},
	}
	out, err := bank.Forward(e, in)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release(e)
	// Reference layout [depth, B, C].
	var gotG, gotB []float32
	for k := range out.Gamma {
		gotG = append(gotG, e.ToHost(out.Gamma[k])...)
		gotB = append(gotB, e.ToHost(out.Beta[k])...)
	}
	for name, got := range map[string][]float32{"gammas": gotG, "betas": gotB} {
		r := golden.RelErr(got, f64("out."+name))
		t.Logf("%sout.%s: relative error %.2e", pre, name, r)
		if r > 1e-5 {
			t.Errorf("%sout.%s: relative error %.2e", pre, name, r)
		}
	}
	gg, gb := f32(f64("grad_out.gammas")), f32(f64("grad_out.betas"))
	var dG, dB []*nn.Tensor
	for k := 0; k < gc.Depth; k++ {
		dG = append(dG, e.FromHost(gg[k*B*C:(k+1)*B*C], B, C))
		dB = append(dB, e.FromHost(gb[k*B*C:(k+1)*B*C], B, C))
	}
	dOld, dNew := e.Zeros(oldX.Shape...), e.Zeros(newX.Shape...)
	bank.Params.ZeroGrad(e)
	out.Backward(e, dG, dB, dOld, dNew)
	var worst float64
	check := func(name string, got []float32) {
		r := golden.RelErr(got, f64("grad."+name))
		worst = math.Max(worst, r)
		if r > 1e-4 {
			t.Errorf("%sgrad.%s: relative error %.2e", pre, name, r)
		}
	}
	if pre == "" {
		for _, p := range bank.Params.List() {
			check(p.Name, e.ToHost(p.G))
		}
	}
	check("vlm_old", e.ToHost(dOld))
	check("vlm_new", e.ToHost(dNew))
	t.Logf("worst gradient relative error %.2e", worst)
}
