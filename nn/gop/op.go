// Package gop exposes thinkjepa's fused layers as gorgonia.org/gorgonia operations
// (LayerNorm, GELU, 3-D RoPE, attention with an optional block-causal mask, linear,
// tubelet patch embedding, FiLM, and the head split/merge layout moves). Each op is an
// SDOp whose symbolic derivative is one private backward op computing every input
// gradient in a single Do with the same nn/kern kernels the CPU engine runs; small
// "pick" ops then hand each input its slice of that packed gradient. Ops run in float64
// and float32.
package gop

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// impl is one precision's forward and backward. bwd accumulates into zeroed grads
// (nil entries are inputs without a gradient).
type impl[T float32 | float64] struct {
	fwd func(out []T, in [][]T, shapes []tensor.Shape)
	bwd func(grads [][]T, gout, out []T, in [][]T, shapes []tensor.Shape)
}

// fusedOp is a forward op of the package.
type fusedOp struct {
	name    string
	inDims  []int
	outDims int
	diff    []bool
	shape   func(in []tensor.Shape) (tensor.Shape, error)
	i64     impl[float64]
	i32     impl[float32]
}

func (op *fusedOp) Arity() int { return len(op.inDims) }

func (op *fusedOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, 0, len(op.inDims)+1)
	for _, d := range op.inDims {
		ts = append(ts, G.TensorType{Dims: d, Of: a})
	}
	ts = append(ts, G.TensorType{Dims: op.outDims, Of: a})
	return hm.NewFnType(ts...)
}

func shapesOf(in []G.DimSizer) ([]tensor.Shape, error) {
	s := make([]tensor.Shape, len(in))
	for i, d := range in {
		sh, ok := d.(tensor.Shape)
		if !ok {
			return nil, fmt.Errorf("input %d: shape of type %T", i, d)
		}
		s[i] = sh
	}
	return s, nil
}

func (op *fusedOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shapesOf(in)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op.name, err)
	}
	return op.shape(s)
}

func valueShapes(vs []G.Value) []tensor.Shape {
	s := make([]tensor.Shape, len(vs))
	for i, v := range vs {
		s[i] = v.Shape()
	}
	return s
}

func (op *fusedOp) Do(vs ...G.Value) (G.Value, error) {
	if len(vs) != op.Arity() {
		return nil, fmt.Errorf("%s: %d inputs, want %d", op.name, len(vs), op.Arity())
	}
	shapes := valueShapes(vs)
	outShape, err := op.shape(shapes)
	if err != nil {
		return nil, err
	}
	switch vs[0].Data().(type) {
	case []float64:
		in, err := datas[float64](op.name, vs)
		if err != nil {
			return nil, err
		}
		out := make([]float64, outShape.TotalSize())
		op.i64.fwd(out, in, shapes)
		return tensor.New(tensor.WithShape(outShape...), tensor.WithBacking(out)), nil
	case []float32:
		in, err := datas[float32](op.name, vs)
		if err != nil {
			return nil, err
		}
		out := make([]float32, outShape.TotalSize())
		op.i32.fwd(out, in, shapes)
		return tensor.New(tensor.WithShape(outShape...), tensor.WithBacking(out)), nil
	}
	return nil, fmt.Errorf("%s: unsupported data type %T", op.name, vs[0].Data())
}

func datas[T float32 | float64](name string, vs []G.Value) ([][]T, error) {
	out := make([][]T, len(vs))
	for i, v := range vs {
		d, ok := v.Data().([]T)
		if !ok {
			return nil, fmt.Errorf("%s: input %d has data %T, want %T", name, i, v.Data(), d)
		}
		out[i] = d
	}
	return out, nil
}

func (op *fusedOp) ReturnsPtr() bool      { return false }
func (op *fusedOp) CallsExtern() bool     { return false }
func (op *fusedOp) OverwritesInput() int  { return -1 }
func (op *fusedOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s@%p", op.name, op) }
func (op *fusedOp) Hashcode() uint32      { return hashOf(op) }
func (op *fusedOp) String() string        { return op.name }

func hashOf(op interface{ WriteHash(hash.Hash) }) uint32 {
	h := newFNV()
	op.WriteHash(h)
	return h.Sum32()
}

func (op *fusedOp) DiffWRT(n int) []bool { return append([]bool(nil), op.diff...) }

// SymDiff applies the backward op once and picks each input's gradient out of its
// packed result.
func (op *fusedOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	args := append(append(G.Nodes{}, inputs...), output, grad)
	packed, err := G.ApplyOp(&backwardOp{fwd: op}, args...)
	if err != nil {
		return nil, fmt.Errorf("%s backward: %w", op.name, err)
	}
	res := make(G.Nodes, len(inputs))
	off := 0
	for i, in := range inputs {
		n := in.Shape().TotalSize()
		if !op.diff[i] {
			continue
		}
		res[i], err = G.ApplyOp(&pickOp{offset: off, shape: in.Shape().Clone(), dims: op.inDims[i]}, packed)
		if err != nil {
			return nil, fmt.Errorf("%s backward pick %d: %w", op.name, i, err)
		}
		off += n
	}
	return res, nil
}

// backwardOp computes all differentiable input gradients of fwd in one Do and returns
// them concatenated (flattened, in input order) as one vector.
type backwardOp struct{ fwd *fusedOp }

func (op *backwardOp) Arity() int { return len(op.fwd.inDims) + 2 }

func (op *backwardOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, 0, len(op.fwd.inDims)+3)
	for _, d := range op.fwd.inDims {
		ts = append(ts, G.TensorType{Dims: d, Of: a})
	}
	ts = append(ts, G.TensorType{Dims: op.fwd.outDims, Of: a}, G.TensorType{Dims: op.fwd.outDims, Of: a}, G.TensorType{Dims: 1, Of: a})
	return hm.NewFnType(ts...)
}

func (op *backwardOp) packedLen(shapes []tensor.Shape) int {
	n := 0
	for i, s := range shapes[:len(op.fwd.inDims)] {
		if op.fwd.diff[i] {
			n += s.TotalSize()
		}
	}
	return n
}

func (op *backwardOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shapesOf(in)
	if err != nil {
		return nil, fmt.Errorf("%s backward: %w", op.fwd.name, err)
	}
	return tensor.Shape{op.packedLen(s)}, nil
}

func (op *backwardOp) Do(vs ...G.Value) (G.Value, error) {
	if len(vs) != op.Arity() {
		return nil, fmt.Errorf("%s backward: %d inputs, want %d", op.fwd.name, len(vs), op.Arity())
	}
	shapes := valueShapes(vs)
	switch vs[0].Data().(type) {
	case []float64:
		return runBackward(op, op.fwd.i64, vs, shapes)
	case []float32:
		return runBackward(op, op.fwd.i32, vs, shapes)
	}
	return nil, fmt.Errorf("%s backward: unsupported data type %T", op.fwd.name, vs[0].Data())
}

func runBackward[T float32 | float64](op *backwardOp, im impl[T], vs []G.Value, shapes []tensor.Shape) (G.Value, error) {
	all, err := datas[T](op.fwd.name+" backward", vs)
	if err != nil {
		return nil, err
	}
	n := len(op.fwd.inDims)
	packed := make([]T, op.packedLen(shapes))
	grads := make([][]T, n)
	off := 0
	for i := 0; i < n; i++ {
		if op.fwd.diff[i] {
			sz := shapes[i].TotalSize()
			grads[i] = packed[off : off+sz]
			off += sz
		}
	}
	im.bwd(grads, all[n+1], all[n], all[:n], shapes[:n])
	return tensor.New(tensor.WithShape(len(packed)), tensor.WithBacking(packed)), nil
}

func (op *backwardOp) ReturnsPtr() bool      { return false }
func (op *backwardOp) CallsExtern() bool     { return false }
func (op *backwardOp) OverwritesInput() int  { return -1 }
func (op *backwardOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%sBackward@%p", op.fwd.name, op.fwd) }
func (op *backwardOp) Hashcode() uint32      { return hashOf(op) }
func (op *backwardOp) String() string        { return op.fwd.name + "Backward" }

// pickOp copies one input's gradient out of a packed gradient vector.
type pickOp struct {
	offset int
	shape  tensor.Shape
	dims   int
}

func (op *pickOp) Arity() int { return 1 }
func (op *pickOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 1, Of: a}, G.TensorType{Dims: op.dims, Of: a})
}
func (op *pickOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.shape.Clone(), nil }
func (op *pickOp) Do(vs ...G.Value) (G.Value, error) {
	n := op.shape.TotalSize()
	switch d := vs[0].Data().(type) {
	case []float64:
		return tensor.New(tensor.WithShape(op.shape.Clone()...), tensor.WithBacking(append([]float64(nil), d[op.offset:op.offset+n]...))), nil
	case []float32:
		return tensor.New(tensor.WithShape(op.shape.Clone()...), tensor.WithBacking(append([]float32(nil), d[op.offset:op.offset+n]...))), nil
	}
	return nil, fmt.Errorf("pick: unsupported data type %T", vs[0].Data())
}
func (op *pickOp) ReturnsPtr() bool     { return false }
func (op *pickOp) CallsExtern() bool    { return false }
func (op *pickOp) OverwritesInput() int { return -1 }
func (op *pickOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "pick{%d,%v}", op.offset, op.shape)
}
func (op *pickOp) Hashcode() uint32 { return hashOf(op) }
func (op *pickOp) String() string   { return fmt.Sprintf("pick{%d,%v}", op.offset, op.shape) }

var (
	_ G.SDOp = &fusedOp{}
	_ G.Op   = &backwardOp{}
	_ G.Op   = &pickOp{}
)
