package nn

import (
	"fmt"
	"math/rand/v2"
	"sort"
)

// Param is one named parameter with its gradient, both on the engine.
type Param struct {
	Name  string
	Shape []int
	W, G  *Tensor
	// NoDecay excludes the parameter from weight decay (kept false by default to match
	// PyTorch's AdamW over all parameters, as ThinkJEPA trains).
	NoDecay bool
}

// Len is the number of elements.
func (p *Param) Len() int { return p.W.Len() }

// ParamSet is an ordered set of parameters, keyed by their checkpoint names
// (PyTorch state-dict names, so checkpoints load without renaming).
type ParamSet struct {
	list   []*Param
	byName map[string]*Param
}

// NewParamSet makes an empty set.
func NewParamSet() *ParamSet { return &ParamSet{byName: map[string]*Param{}} }

// Add allocates a zero parameter and its zero gradient.
func (ps *ParamSet) Add(e Engine, name string, shape ...int) *Param {
	if _, dup := ps.byName[name]; dup {
		panic("nn: duplicate parameter " + name)
	}
	p := &Param{Name: name, Shape: append([]int(nil), shape...), W: e.Zeros(shape...), G: e.Zeros(shape...)}
	ps.list = append(ps.list, p)
	ps.byName[name] = p
	return p
}

// Get returns the named parameter or nil.
func (ps *ParamSet) Get(name string) *Param { return ps.byName[name] }

// List returns the parameters in the order they were added.
func (ps *ParamSet) List() []*Param { return ps.list }

// Names returns the parameter names, sorted.
func (ps *ParamSet) Names() []string {
	names := make([]string, 0, len(ps.list))
	for _, p := range ps.list {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return names
}

// Count is the total number of scalar parameters.
func (ps *ParamSet) Count() int {
	n := 0
	for _, p := range ps.list {
		n += p.Len()
	}
	return n
}

// ZeroGrad clears every gradient.
func (ps *ParamSet) ZeroGrad(e Engine) {
	for _, p := range ps.list {
		e.Fill(p.G, 0)
	}
}

// Set copies host data into the named parameter after checking its shape.
func (ps *ParamSet) Set(e Engine, name string, shape []int, data []float32) error {
	p := ps.byName[name]
	if p == nil {
		return fmt.Errorf("unknown parameter %q", name)
	}
	if !sameShape(p.Shape, shape) {
		return fmt.Errorf("parameter %q: shape %v, model expects %v", name, shape, p.Shape)
	}
	if len(data) != p.Len() {
		return fmt.Errorf("parameter %q: %d values, want %d", name, len(data), p.Len())
	}
	src := e.FromHost(data, p.Shape...)
	e.CopyInto(p.W, src)
	e.Free(src)
	return nil
}

// Host returns a host copy of every parameter, by name.
func (ps *ParamSet) Host(e Engine) map[string][]float32 {
	out := make(map[string][]float32, len(ps.list))
	for _, p := range ps.list {
		out[p.Name] = e.ToHost(p.W)
	}
	return out
}

func sameShape(a, b []int) bool {
	// A [1,1,C] parameter and a [C] tensor are not the same thing: shapes must match exactly.
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Init helpers (host-side, seeded, so runs are reproducible on every engine).

// InitNormal fills p with N(0, std²) draws from rng.
func InitNormal(e Engine, p *Param, rng *rand.Rand, std float64) {
	data := make([]float32, p.Len())
	for i := range data {
		data[i] = float32(rng.NormFloat64() * std)
	}
	copyHost(e, p, data)
}

// InitTruncNormal fills p with N(0, std²) truncated to ±2 (absolute), as
// timm's trunc_normal_(std=0.02) used by V-JEPA 2.
func InitTruncNormal(e Engine, p *Param, rng *rand.Rand, std float64) {
	data := make([]float32, p.Len())
	for i := range data {
		for {
			v := rng.NormFloat64() * std
			if v >= -2 && v <= 2 {
				data[i] = float32(v)
				break
			}
		}
	}
	copyHost(e, p, data)
}

// InitUniform fills p with U(-a, a) (PyTorch's default Linear init uses a = 1/√fan_in).
func InitUniform(e Engine, p *Param, rng *rand.Rand, a float64) {
	data := make([]float32, p.Len())
	for i := range data {
		data[i] = float32((rng.Float64()*2 - 1) * a)
	}
	copyHost(e, p, data)
}

// InitConst fills p with v (LayerNorm weights 1, biases 0).
func InitConst(e Engine, p *Param, v float32) { e.Fill(p.W, v) }

func copyHost(e Engine, p *Param, data []float32) {
	tmp := e.FromHost(data, p.Shape...)
	e.CopyInto(p.W, tmp)
	e.Free(tmp)
}
