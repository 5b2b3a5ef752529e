// Package golden holds what the PyTorch-parity tests share: reading a fixture's
// weights (testdata/golden/<case>/weights.safetensors, through the weights package's
// reader), the small-variance run's weight scaling, and the relative error used by every
// parity tolerance.
package golden

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/thinkjepa/thinkjepa/internal/npy"
	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/nn/cpu"
	"github.com/thinkjepa/thinkjepa/nn/cuda"
	"github.com/thinkjepa/thinkjepa/weights"
)

// Case is one fixture directory, testdata/golden/<name>: its config.json, its weights
// (another case's when config.json says "weights_from": weights are stored once) and its
// io.npz of inputs, outputs and gradients.
type Case struct {
	Dir     string
	Config  []byte
	Weights map[string][]float32
	Shapes  map[string][]int
	IO      *npy.NPZ
}

// Run is one set of weights to check a case with: "main" (the fixture's own, key prefix
// "") and, when config.json has one, "lowvar" (scaled weights, keys "lowvar.…").
type Run struct {
	Name, Prefix string
	Weights      map[string][]float32
}

// Open reads the case in dir. Close its IO when done.
func Open(dir string) (*Case, error) {
	cfg, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("fixture %s: %w (regenerate with tools/reference/make_golden.py)", dir, err)
	}
	var shared struct {
		WeightsFrom string `json:"weights_from"`
	}
	if err := json.Unmarshal(cfg, &shared); err != nil {
		return nil, fmt.Errorf("fixture %s: config.json: %w", dir, err)
	}
	wdir := dir
	if shared.WeightsFrom != "" {
		wdir = filepath.Join(dir, "..", shared.WeightsFrom)
	}
	vals, shapes, err := Weights(filepath.Join(wdir, "weights.safetensors"))
	if err != nil {
		return nil, fmt.Errorf("fixture %s: %w", dir, err)
	}
	z, err := npy.OpenNPZ(filepath.Join(dir, "io.npz"))
	if err != nil {
		return nil, fmt.Errorf("fixture %s: %w", dir, err)
	}
	return &Case{Dir: dir, Config: cfg, Weights: vals, Shapes: shapes, IO: z}, nil
}

// Runs lists the weight sets to check the case with: main, then lowvar when config.json
// has a "lowvar" entry. needLowVar makes a missing entry an error (cases whose LayerNorm
// eps must be pinned by a small-variance run).
func (c *Case) Runs(needLowVar bool) ([]Run, error) {
	runs := []Run{{Name: "main", Weights: c.Weights}}
	lv, err := ReadLowVar(c.Config)
	if err != nil {
		return nil, fmt.Errorf("fixture %s: %w", c.Dir, err)
	}
	if lv == nil {
		if needLowVar {
			return nil, fmt.Errorf("fixture %s: config.json has no lowvar run (regenerate with tools/reference/make_golden.py)", c.Dir)
		}
		return runs, nil
	}
	scaled, err := lv.Apply(c.Weights)
	if err != nil {
		return nil, fmt.Errorf("fixture %s: %w", c.Dir, err)
	}
	return append(runs, Run{Name: "lowvar", Prefix: "lowvar.", Weights: scaled}), nil
}

// Weights reads a fixture's weights.safetensors into values and shapes by name.
func Weights(path string) (map[string][]float32, map[string][]int, error) {
	f, err := weights.ReadSafetensors(path)
	if err != nil {
		return nil, nil, err
	}
	vals, shapes := map[string][]float32{}, map[string][]int{}
	for name, t := range f.Tensors {
		vals[name], shapes[name] = t.Data, t.Shape
	}
	return vals, shapes, nil
}

// RelErr is ‖got−ref‖/‖ref‖ (the absolute norm when ref is all zero).
func RelErr(got []float32, ref []float64) float64 {
	var num, den float64
	for i := range ref {
		d := float64(got[i]) - ref[i]
		num += d * d
		den += ref[i] * ref[i]
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

// LowVar describes a fixture's small-variance run (config.json "lowvar", arrays under the
// "lowvar." prefix of io.npz): the same weights with ScaledWeights multiplied by Scale, a
// power of two, so that every LayerNorm input has per-row variance ~1e-5..1e-4 and a wrong
// eps moves the outputs far past the parity tolerance (tools/reference/README.md).
type LowVar struct {
	Scale         float64  `json:"scale"`
	ScaledWeights []string `json:"scaled_weights"`
}

// ReadLowVar returns config.json's "lowvar" entry, or nil when the case has none.
func ReadLowVar(config []byte) (*LowVar, error) {
	var c struct {
		LowVar *LowVar `json:"lowvar"`
	}
	if err := json.Unmarshal(config, &c); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	if c.LowVar == nil {
		return nil, nil
	}
	if frac, _ := math.Frexp(c.LowVar.Scale); frac != 0.5 {
		return nil, fmt.Errorf("config.json: lowvar.scale %g: want a power of two (exact in float32)", c.LowVar.Scale)
	}
	return c.LowVar, nil
}

// Apply returns a copy of vals with every ScaledWeights entry multiplied by Scale (exact:
// a power of two); the other entries are shared, not copied.
func (lv *LowVar) Apply(vals map[string][]float32) (map[string][]float32, error) {
	out := make(map[string][]float32, len(vals))
	for k, v := range vals {
		out[k] = v
	}
	s := float32(lv.Scale)
	for _, k := range lv.ScaledWeights {
		v, ok := vals[k]
		if !ok {
			return nil, fmt.Errorf("lowvar.scaled_weights: %q is not in the weights", k)
		}
		c := make([]float32, len(v))
		for i, x := range v {
			c[i] = x * s
		}
		out[k] = c
	}
	return out, nil
}

// Engines are the engines every parity test runs on: the CPU engine and the CUDA engine
// on its CPU emulator (nn/cuda), so each PyTorch fixture also checks the CUDA kernels;
// with THINKJEPA_GPU_TESTS set (scripts/gpu-check.sh, in a binary built with -tags cuda)
// also the CUDA engine on the GPU, with fp32 GEMMs (the fixtures' tolerances are fp32's).
func Engines() []nn.Engine {
	es := []nn.Engine{cpu.New(), cuda.NewEmu()}
	if os.Getenv("THINKJEPA_GPU_TESTS") != "" {
		gpuOnce.Do(func() { gpuEngine, gpuErr = cuda.New(cuda.Options{Precision: "fp32"}) })
		if gpuErr != nil {
			panic(fmt.Sprintf("THINKJEPA_GPU_TESTS is set but the GPU engine does not open: %v", gpuErr))
		}
		es = append(es, gpuEngine)
	}
	return es
}

var (
	gpuOnce   sync.Once
	gpuEngine *cuda.Engine
	gpuErr    error
)

// EngineName is e's name as a subtest name ("cpu_openblas", "cuda_emu").
func EngineName(e nn.Engine) string { return strings.ReplaceAll(e.Name(), "/", "_") }
