package gop

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/nn/kern"
)

func lastDim(s tensor.Shape) (rows, cols int) {
	cols = s[len(s)-1]
	return s.TotalSize() / max(cols, 1), cols
}

func apply(op *fusedOp, xs ...*G.Node) (*G.Node, error) {
	n, err := G.ApplyOp(op, xs...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op.name, err)
	}
	return n, nil
}

// LayerNorm normalises the last dimension of x with weight w and bias b ([C] each);
// w and b may both be nil for the parameter-free form.
func LayerNorm(x, w, b *G.Node, eps float64) (*G.Node, error) {
	affine := w != nil
	if (w == nil) != (b == nil) {
		return nil, fmt.Errorf("LayerNorm: weight and bias must both be given or both nil")
	}
	op := &fusedOp{name: fmt.Sprintf("LayerNorm{%g}", eps), outDims: x.Dims(),
		shape: func(in []tensor.Shape) (tensor.Shape, error) {
			if affine && (in[1].TotalSize() != in[0][len(in[0])-1] || in[2].TotalSize() != in[1].TotalSize()) {
				return nil, fmt.Errorf("LayerNorm: x %v, w %v, b %v", in[0], in[1], in[2])
			}
			return in[0].Clone(), nil
		}}
	if affine {
		op.inDims, op.diff = []int{x.Dims(), 1, 1}, []bool{true, true, true}
	} else {
		op.inDims, op.diff = []int{x.Dims()}, []bool{true}
	}
	op.i64, op.i32 = lnImpl[float64](affine, eps), lnImpl[float32](affine, eps)
	if affine {
		return apply(op, x, w, b)
	}
	return apply(op, x)
}

func lnImpl[T float32 | float64](affine bool, eps float64) impl[T] {
	wb := func(in [][]T) ([]T, []T) {
		if affine {
			return in[1], in[2]
		}
		return nil, nil
	}
	return impl[T]{
		fwd: func(out []T, in [][]T, s []tensor.Shape) {
			M, C := lastDim(s[0])
			w, b := wb(in)
			kern.LayerNorm(out, make([]T, M), make([]T, M), in[0], w, b, M, C, T(eps))
		},
		bwd: func(g [][]T, gout, _ []T, in [][]T, s []tensor.Shape) {
			M, C := lastDim(s[0])
			w, b := wb(in)
			mean, rstd := make([]T, M), make([]T, M)
			kern.LayerNorm(make([]T, M*C), mean, rstd, in[0], w, b, M, C, T(eps))
			var dw, db []T
			if affine {
				dw, db = g[1], g[2]
			}
			kern.LayerNormBackward(g[0], dw, db, gout, in[0], w, mean, rstd, M, C)
		},
	}
}

// GELU is the exact erf GELU, elementwise.
func GELU(x *G.Node) (*G.Node, error) {
	op := &fusedOp{name: "GELU", inDims: []int{x.Dims()}, outDims: x.Dims(), diff: []bool{true},
		shape: func(in []tensor.Shape) (tensor.Shape, error) { return in[0].Clone(), nil }}
	op.i64, op.i32 = geluImpl[float64](), geluImpl[float32]()
	return apply(op, x)
}

func geluImpl[T float32 | float64]() impl[T] {
	return impl[T]{
		fwd: func(out []T, in [][]T, _ []tensor.Shape) { kern.GELU(out, in[0]) },
		bwd: func(g [][]T, gout, _ []T, in [][]T, _ []tensor.Shape) { kern.GELUBackward(g[0], gout, in[0]) },
	}
}

// RoPE3D applies V-JEPA 2's 3-D rotary embedding (with its frequency-tiling quirk) to
// x [B,H,N,hd]; r.Pos holds (t,h,w) per token b·N+n.
func RoPE3D(x *G.Node, r *nn.RoPE3D) (*G.Node, error) {
	op := &fusedOp{name: "RoPE3D", inDims: []int{4}, outDims: 4, diff: []bool{true},
		shape: func(in []tensor.Shape) (tensor.Shape, error) {
			s := in[0]
			if len(r.Pos) < 3*s[0]*s[2] || 3*r.DSub > s[3] || r.DSub%2 != 0 {
				return nil, fmt.Errorf("RoPE3D: x %v with %d positions and DSub %d", s, len(r.Pos), r.DSub)
			}
			return s.Clone(), nil
		}}
	op.i64, op.i32 = ropeImpl[float64](r), ropeImpl[float32](r)
	return apply(op, x)
}

func ropeImpl[T float32 | float64](r *nn.RoPE3D) impl[T] {
	return impl[T]{
		fwd: func(out []T, in [][]T, s []tensor.Shape) {
			copy(out, in[0])
			kern.RoPE(out, r.Pos, r.DSub, s[0][0], s[0][1], s[0][2], s[0][3])
		},
		bwd: func(g [][]T, gout, _ []T, _ [][]T, s []tensor.Shape) {
			copy(g[0], gout)
			kern.RoPEBackward(g[0], r.Pos, r.DSub, s[0][0], s[0][1], s[0][2], s[0][3])
		},
	}
}

// Attention is softmax(q·kᵀ·scale + mask)·v for q [B,H,Nq,hd] and k, v [B,H,Nk,hd]
// (cross attention when Nq ≠ Nk); mask (nil: full) needs Nq = Nk.
func Attention(q, k, v *G.Node, scale float64, mask *nn.AttnMask) (*G.Node, error) {
	op := &fusedOp{name: "Attention", inDims: []int{4, 4, 4}, outDims: 4, diff: []bool{true, true, true},
		shape: func(in []tensor.Shape) (tensor.Shape, error) {
			qs, ks, vs := in[0], in[1], in[2]
			if len(qs) != 4 || !ks.Eq(vs) || qs[0] != ks[0] || qs[1] != ks[1] || qs[3] != ks[3] {
				return nil, fmt.Errorf("Attention: q %v, k %v, v %v", qs, ks, vs)
			}
			if mask != nil && (qs[2] != ks[2] || len(mask.QueryGroup) < qs[0]*qs[2] || len(mask.KeyGroup) < qs[0]*qs[2]) {
				return nil, fmt.Errorf("Attention: mask needs Nq = Nk and B·N groups (q %v, k %v)", qs, ks)
			}
			return qs.Clone(), nil
		}}
	op.i64, op.i32 = attnImpl[float64](scale, mask), attnImpl[float32](scale, mask)
	return apply(op, q, k, v)
}

func attnGroups(mask *nn.AttnMask, B, N int) []kern.AttnGroups {
	if mask == nil {
		return nil
	}
	g := make([]kern.AttnGroups, B)
	for b := range g {
		g[b] = kern.AttnGroups{Q: mask.QueryGroup[b*N : (b+1)*N], K: mask.KeyGroup[b*N : (b+1)*N]}
	}
	return g
}

func attnImpl[T float32 | float64](scale float64, mask *nn.AttnMask) impl[T] {
	dims := func(s []tensor.Shape) (B, H, Nq, Nk, hd int) {
		return s[0][0], s[0][1], s[0][2], s[1][2], s[0][3]
	}
	return impl[T]{
		fwd: func(out []T, in [][]T, s []tensor.Shape) {
			B, H, Nq, Nk, hd := dims(s)
			kern.Attention(out, make([]T, B*H*Nq), in[0], in[1], in[2], B*H, H, Nq, Nk, hd, T(scale), attnGroups(mask, B, Nq))
		},
		bwd: func(g [][]T, gout, out []T, in [][]T, s []tensor.Shape) {
			B, H, Nq, Nk, hd := dims(s)
			// The log-sum-exp is recomputed rather than carried through the graph.
			o, lse := make([]T, len(out)), make([]T, B*H*Nq)
			grp := attnGroups(mask, B, Nq)
			kern.Attention(o, lse, in[0], in[1], in[2], B*H, H, Nq, Nk, hd, T(scale), grp)
			kern.AttentionBackward(g[0], g[1], g[2], gout, o, lse, in[0], in[1], in[2], B*H, H, Nq, Nk, hd, T(scale), grp)
		},
	}
}

// Linear is x[..., K]·w[N,K]ᵀ + b[N] (b may be nil).
func Linear(x, w, b *G.Node) (*G.Node, error) {
	hasB := b != nil
	op := &fusedOp{name: "Linear", outDims: x.Dims(),
		shape: func(in []tensor.Shape) (tensor.Shape, error) {
			xs, ws := in[0], in[1]
			if len(ws) != 2 || xs[len(xs)-1] != ws[1] || (hasB && in[2].TotalSize() != ws[0]) {
				return nil, fmt.Errorf("Linear: x %v, w %v", xs, ws)
			}
			out := xs.Clone()
			out[len(out)-1] = ws[0]
			return out, nil
		}}
	if hasB {
		op.inDims, op.diff = []int{x.Dims(), 2, 1}, []bool{true, true, true}
	} else {
		op.inDims, op.diff = []int{x.Dims(), 2}, []bool{true, true}
	}
	op.i64, op.i32 = linImpl[float64](hasB), linImpl[float32](hasB)
	if hasB {
		return apply(op, x, w, b)
	}
	return apply(op, x, w)
}

func linImpl[T float32 | float64](hasB bool) impl[T] {
	return impl[T]{
		fwd: func(out []T, in [][]T, s []tensor.Shape) {
			M, K := lastDim(s[0])
			var b []T
			if hasB {
				b = in[2]
			}
			kern.Linear(out, in[0], in[1], b, M, K, s[1][0])
		},
		bwd: func(g [][]T, gout, _ []T, in [][]T, s []tensor.Shape) {
			M, K := lastDim(s[0])
			var db []T
			if hasB {
				db = g[2]
			}
			kern.LinearBackward(g[0], g[1], db, gout, in[0], in[1], M, K, s[1][0])
		},
	}
}

// PatchEmbed3D is Conv3d with kernel = stride = (tubelet, patch, patch): video
// [B,3,T,H,W], w [D,3,tubelet,patch,patch], b [D] → [B,N,D], tokens time → row → column.
// The video gets no gradient.
func PatchEmbed3D(video, w, b *G.Node) (*G.Node, error) {
	op := &fusedOp{name: "PatchEmbed3D", inDims: []int{5, 5, 1}, outDims: 3, diff: []bool{false, true, true},
		shape: func(in []tensor.Shape) (tensor.Shape, error) {
			vs, ws := in[0], in[1]
			if vs[1] != 3 || ws[1] != 3 || ws[3] != ws[4] || vs[2]%ws[2] != 0 || vs[3]%ws[3] != 0 || vs[4]%ws[4] != 0 || in[2].TotalSize() != ws[0] {
				return nil, fmt.Errorf("PatchEmbed3D: video %v, w %v, b %v", vs, ws, in[2])
			}
			return tensor.Shape{vs[0], (vs[2] / ws[2]) * (vs[3] / ws[3]) * (vs[4] / ws[4]), ws[0]}, nil
		}}
	op.i64, op.i32 = patchImpl[float64](), patchImpl[float32]()
	return apply(op, video, w, b)
}

func patchImpl[T float32 | float64]() impl[T] {
	return impl[T]{
		fwd: func(out []T, in [][]T, s []tensor.Shape) {
			v, w := s[0], s[1]
			kern.PatchEmbed3D(out, in[0], in[1], in[2], v[0], v[2], v[3], v[4], w[2], w[3], w[0])
		},
		bwd: func(g [][]T, gout, _ []T, in [][]T, s []tensor.Shape) {
			v, w := s[0], s[1]
			kern.PatchEmbed3DBackward(g[1], g[2], gout, in[0], v[0], v[2], v[3], v[4], w[2], w[3], w[0])
		},
	}
}

// FiLM is x[B,N,C]·(1+γ[B,C]) + β[B,C].
func FiLM(x, gamma, beta *G.Node) (*G.Node, error) {
	op := &fusedOp{name: "FiLM", inDims: []int{3, 2, 2}, outDims: 3, diff: []bool{true, true, true},
		shape: func(in []tensor.Shape) (tensor.Shape, error) {
			xs := in[0]
			if !in[1].Eq(tensor.Shape{xs[0], xs[2]}) || !in[2].Eq(in[1]) {
				return nil, fmt.Errorf("FiLM: x %v, gamma %v, beta %v", xs, in[1], in[2])
			}
			return xs.Clone(), nil
		}}
	op.i64, op.i32 = filmImpl[float64](), filmImpl[float32]()
	return apply(op, x, gamma, beta)
}

func filmImpl[T float32 | float64]() impl[T] {
	return impl[T]{
		fwd: func(out []T, in [][]T, s []tensor.Shape) {
			kern.FiLM(out, in[0], in[1], in[2], s[0][0], s[0][1], s[0][2])
		},
		bwd: func(g [][]T, gout, _ []T, in [][]T, s []tensor.Shape) {
			kern.FiLMBackward(g[0], g[1], g[2], gout, in[0], in[1], s[0][0], s[0][1], s[0][2])
		},
	}
}

// Heads takes part which (0 q, 1 k, 2 v) of a fused qkv projection [B,N,3·H·hd] to
// [B,H,N,hd], as PyTorch's reshape(B,N,3,H,hd).permute(2,0,3,1,4)[which].
func Heads(qkv *G.Node, H, which int) (*G.Node, error) {
	op := &fusedOp{name: fmt.Sprintf("Heads{%d,%d}", H, which), inDims: []int{3}, outDims: 4, diff: []bool{true},
		shape: func(in []tensor.Shape) (tensor.Shape, error) {
			s := in[0]
			if s[2]%(3*H) != 0 {
				return nil, fmt.Errorf("Heads: qkv %v not divisible into 3×%d heads", s, H)
			}
			return tensor.Shape{s[0], H, s[1], s[2] / (3 * H)}, nil
		}}
	op.i64, op.i32 = headsImpl[float64](H, which), headsImpl[float32](H, which)
	return apply(op, qkv)
}

func headsImpl[T float32 | float64](H, which int) impl[T] {
	return impl[T]{
		fwd: func(out []T, in [][]T, s []tensor.Shape) {
			B, N, hd := s[0][0], s[0][1], s[0][2]/(3*H)
			parts := [3][]T{make([]T, len(out)), make([]T, len(out)), make([]T, len(out))}
			kern.SplitHeads(parts[0], parts[1], parts[2], in[0], B, N, H, hd)
			copy(out, parts[which])
		},
		bwd: func(g [][]T, gout, _ []T, _ [][]T, s []tensor.Shape) {
			B, N, hd := s[0][0], s[0][1], s[0][2]/(3*H)
			var parts [3][]T
			parts[which] = gout
			kern.SplitHeadsBackward(g[0], parts[0], parts[1], parts[2], B, N, H, hd)
		},
	}
}

// MergeHeads takes x [B,H,N,hd] to [B,N,H·hd].
func MergeHeads(x *G.Node) (*G.Node, error) {
	op := &fusedOp{name: "MergeHeads", inDims: []int{4}, outDims: 3, diff: []bool{true},
		shape: func(in []tensor.Shape) (tensor.Shape, error) {
			s := in[0]
			return tensor.Shape{s[0], s[2], s[1] * s[3]}, nil
		}}
	op.i64, op.i32 = mergeImpl[float64](), mergeImpl[float32]()
	return apply(op, x)
}

func mergeImpl[T float32 | float64]() impl[T] {
	return impl[T]{
		fwd: func(out []T, in [][]T, s []tensor.Shape) {
			kern.MergeHeads(out, in[0], s[0][0], s[0][2], s[0][1], s[0][3])
		},
		bwd: func(g [][]T, gout, _ []T, _ [][]T, s []tensor.Shape) {
			kern.MergeHeadsBackward(g[0], gout, s[0][0], s[0][2], s[0][1], s[0][3])
		},
	}
}
