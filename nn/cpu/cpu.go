// Package cpu is the CPU implementation of nn.Engine: float32 tensors in Go memory, the
// kernels of nn/kern, GEMMs on OpenBLAS (pure-Go gonum under the noopenblas tag).
package cpu

import (
	"fmt"
	"math"
	"sync"
	"unsafe"

	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/nn/kern"
)

// Engine is the CPU engine. It holds no state; all methods are safe to call from one
// goroutine at a time per tensor.
type Engine struct{}

// New returns the CPU engine.
func New() nn.Engine { return Engine{} }

var _ nn.Engine = Engine{}

// Name is "cpu/<blas>".
func (Engine) Name() string { return "cpu/" + kern.BLASName }

func d(t *nn.Tensor) []float32 {
	if t == nil {
		return nil
	}
	return t.Data
}

// pre returns the first n elements of t's data, or nil for a nil tensor, and panics with
// a clear message when t is too short (a programming error in the caller's shapes).
func pre(t *nn.Tensor, n int, what string) []float32 {
	if t == nil {
		return nil
	}
	if len(t.Data) < n {
		panic(fmt.Sprintf("cpu: %s has %d elements, need %d", what, len(t.Data), n))
	}
	return t.Data[:n]
}

func (Engine) Zeros(shape ...int) *nn.Tensor {
	t := &nn.Tensor{Shape: append([]int(nil), shape...)}
	t.Data = buffers.get(t.Len())
	clear(t.Data)
	return t
}

// Empty skips the clear: a recycled buffer keeps whatever its last user left in it.
func (Engine) Empty(shape ...int) *nn.Tensor {
	t := &nn.Tensor{Shape: append([]int(nil), shape...)}
	t.Data = buffers.get(t.Len())
	if PoisonEmpty {
		nan := float32(math.NaN())
		for i := range t.Data {
			t.Data[i] = nan
		}
	}
	return t
}

// PoisonEmpty makes Empty fill its tensors with NaN, so that a test of a model that
// reads an Empty element before writing it fails instead of passing on lucky zeros.
// Tests set it (TestMain); it costs a pass over the memory, so nothing else should.
var PoisonEmpty = false

func (Engine) FromHost(data []float32, shape ...int) *nn.Tensor {
	t := &nn.Tensor{Shape: append([]int(nil), shape...)}
	if n := t.Len(); n != len(data) {
		panic(fmt.Sprintf("cpu: FromHost: %d values for shape %v", len(data), shape))
	}
	t.Data = buffers.get(len(data))
	copy(t.Data, data)
	return t
}

func (Engine) ToHost(t *nn.Tensor) []float32 { return append([]float32(nil), t.Data...) }

func (Engine) CopyInto(dst, src *nn.Tensor) {
	if len(dst.Data) != len(src.Data) {
		panic(fmt.Sprintf("cpu: CopyInto: lengths %d and %d", len(dst.Data), len(src.Data)))
	}
	copy(dst.Data, src.Data)
}

func (Engine) Fill(t *nn.Tensor, v float32) {
	for i := range t.Data {
		t.Data[i] = v
	}
}

// Free hands t's memory back to the engine's buffer pool for the next Zeros/FromHost of
// the same length and leaves t empty (nil Data), so a use after Free fails loudly.
func (Engine) Free(t *nn.Tensor) {
	if t != nil && t.Data != nil {
		buffers.put(t.Data)
		t.Data = nil
	}
}

// bufferPool recycles freed tensor memory by exact length. A training step allocates and
// frees the same activation and gradient shapes every iteration; without reuse each step
// takes every buffer fresh from the OS (about a million page faults for a ViT-L-width
// predictor run) and leaves the garbage collector to find them again. Only memory that
// was Freed enters the pool, and the pool holds at most maxPooledBytes; beyond that freed
// buffers go to the garbage collector as before.
type bufferPool struct {
	mu    sync.Mutex
	free  map[int][][]float32
	bytes int64
}

const maxPooledBytes = 2 << 30

var buffers = bufferPool{free: map[int][][]float32{}}

func (p *bufferPool) get(n int) []float32 {
	p.mu.Lock()
	if l := p.free[n]; len(l) > 0 {
		b := l[len(l)-1]
		l[len(l)-1] = nil
		p.free[n] = l[:len(l)-1]
		p.bytes -= int64(4 * cap(b))
		p.mu.Unlock()
		return b[:n]
	}
	p.mu.Unlock()
	return alignedFloats(n)
}

// alignment is the byte alignment of every tensor buffer. OpenBLAS kernels and gcc's
// vectorised loops treat a buffer's unaligned head separately, so the rounding of some
// reductions depends on where a buffer starts; Go aligns small allocations only to their
// size class. With every buffer on a 64-byte boundary (one AVX-512 register, one cache
// line) results no longer depend on allocation history, and a resumed training run
// retraces the straight one bit for bit.
const alignment = 64

// alignedFloats returns n zeroed float32s starting on an alignment boundary, with cap n.
func alignedFloats(n int) []float32 {
	const extra = alignment/4 - 1
	b := make([]float32, n+extra)
	off := 0
	if n > 0 {
		if r := uintptr(unsafe.Pointer(&b[0])) % alignment; r != 0 {
			off = int(alignment-r) / 4
		}
	}
	return b[off : off+n : off+n]
}

func (p *bufferPool) put(b []float32) {
	if cap(b) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bytes+int64(4*cap(b)) > maxPooledBytes {
		return
	}
	p.free[cap(b)] = append(p.free[cap(b)], b[:cap(b)])
	p.bytes += int64(4 * cap(b))
}

func (Engine) Sync() error { return nil }

func (Engine) Linear(out, in, w, b *nn.Tensor, M, K, N int) {
	kern.Linear(pre(out, M*N, "Linear out"), pre(in, M*K, "Linear in"), pre(w, N*K, "Linear w"), pre(b, N, "Linear b"), M, K, N)
}

func (Engine) LinearBackward(dIn, dW, dB, dOut, in, w *nn.Tensor, M, K, N int) {
	kern.LinearBackward(pre(dIn, M*K, "dIn"), pre(dW, N*K, "dW"), pre(dB, N, "dB"), pre(dOut, M*N, "dOut"), pre(in, M*K, "in"), pre(w, N*K, "w"), M, K, N)
}

func (Engine) BatchedMatMul(c, a, b *nn.Tensor, batch, M, N, K int, transA, transB bool, alpha, beta float32) {
	kern.BatchedMatMul(pre(c, batch*M*N, "c"), pre(a, batch*M*K, "a"), pre(b, batch*K*N, "b"), batch, M, N, K, transA, transB, alpha, beta)
}

func (Engine) LayerNorm(out, mean, rstd, in, w, b *nn.Tensor, M, C int, eps float32) {
	kern.LayerNorm(pre(out, M*C, "out"), pre(mean, M, "mean"), pre(rstd, M, "rstd"), pre(in, M*C, "in"), pre(w, C, "w"), pre(b, C, "b"), M, C, eps)
}

func (Engine) LayerNormBackward(dIn, dW, dB, dOut, in, w, mean, rstd *nn.Tensor, M, C int) {
	kern.LayerNormBackward(pre(dIn, M*C, "dIn"), pre(dW, C, "dW"), pre(dB, C, "dB"), pre(dOut, M*C, "dOut"), pre(in, M*C, "in"), pre(w, C, "w"), pre(mean, M, "mean"), pre(rstd, M, "rstd"), M, C)
}

func (Engine) GELU(out, in *nn.Tensor, n int) { kern.GELU(pre(out, n, "out"), pre(in, n, "in")) }

func (Engine) GELUBackward(dIn, dOut, in *nn.Tensor, n int) {
	if dIn == nil {
		return
	}
	kern.GELUBackward(pre(dIn, n, "dIn"), pre(dOut, n, "dOut"), pre(in, n, "in"))
}

func (Engine) Add(out, a, b *nn.Tensor, n int) {
	kern.Add(pre(out, n, "out"), pre(a, n, "a"), pre(b, n, "b"))
}

func (Engine) Scale(out, a *nn.Tensor, s float32, n int) {
	kern.Scale(pre(out, n, "out"), pre(a, n, "a"), s)
}

func (Engine) AddInPlace(dst, src *nn.Tensor, n int) {
	if dst == nil {
		return
	}
	kern.AddInPlace(pre(dst, n, "dst"), pre(src, n, "src"))
}

func (Engine) SplitHeads(q, k, v, qkv *nn.Tensor, B, N, H, hd int) {
	n := B * N * H * hd
	kern.SplitHeads(pre(q, n, "q"), pre(k, n, "k"), pre(v, n, "v"), pre(qkv, 3*n, "qkv"), B, N, H, hd)
}

func (Engine) SplitHeadsBackward(dqkv, dq, dk, dv *nn.Tensor, B, N, H, hd int) {
	if dqkv == nil {
		return
	}
	n := B * N * H * hd
	kern.SplitHeadsBackward(pre(dqkv, 3*n, "dqkv"), pre(dq, n, "dq"), pre(dk, n, "dk"), pre(dv, n, "dv"), B, N, H, hd)
}

func (Engine) MergeHeads(out, x *nn.Tensor, B, N, H, hd int) {
	n := B * N * H * hd
	kern.MergeHeads(pre(out, n, "out"), pre(x, n, "x"), B, N, H, hd)
}

func (Engine) MergeHeadsBackward(dx, dOut *nn.Tensor, B, N, H, hd int) {
	if dx == nil {
		return
	}
	n := B * N * H * hd
	kern.MergeHeadsBackward(pre(dx, n, "dx"), pre(dOut, n, "dOut"), B, N, H, hd)
}

func checkRoPE(r *nn.RoPE3D, B, N, hd int) {
	if len(r.Pos) < 3*B*N {
		panic(fmt.Sprintf("cpu: RoPE: %d positions, need %d", len(r.Pos), 3*B*N))
	}
	if r.DSub%2 != 0 || 3*r.DSub > hd || r.DSub <= 0 {
		panic(fmt.Sprintf("cpu: RoPE: DSub %d invalid for head dim %d", r.DSub, hd))
	}
}

func (Engine) RoPE(x *nn.Tensor, r *nn.RoPE3D, B, H, N, hd int) {
	checkRoPE(r, B, N, hd)
	kern.RoPE(pre(x, B*H*N*hd, "x"), r.Pos, r.DSub, B, H, N, hd)
}

func (Engine) RoPEBackward(dx *nn.Tensor, r *nn.RoPE3D, B, H, N, hd int) {
	if dx == nil {
		return
	}
	checkRoPE(r, B, N, hd)
	kern.RoPEBackward(pre(dx, B*H*N*hd, "dx"), r.Pos, r.DSub, B, H, N, hd)
}

func groups(mask *nn.AttnMask, B, N int) []kern.AttnGroups {
	if mask == nil {
		return nil
	}
	if len(mask.QueryGroup) < B*N || len(mask.KeyGroup) < B*N {
		panic(fmt.Sprintf("cpu: AttnMask has %d/%d groups, need %d", len(mask.QueryGroup), len(mask.KeyGroup), B*N))
	}
	g := make([]kern.AttnGroups, B)
	for b := range g {
		g[b] = kern.AttnGroups{Q: mask.QueryGroup[b*N : (b+1)*N], K: mask.KeyGroup[b*N : (b+1)*N]}
	}
	return g
}

func (Engine) Attention(out, lse, q, k, v *nn.Tensor, B, H, N, hd int, scale float32, mask *nn.AttnMask) {
	n := B * H * N * hd
	kern.Attention(pre(out, n, "out"), pre(lse, B*H*N, "lse"), pre(q, n, "q"), pre(k, n, "k"), pre(v, n, "v"), B*H, H, N, N, hd, scale, groups(mask, B, N))
}

func (Engine) AttentionBackward(dq, dk, dv, dOut, out, lse, q, k, v *nn.Tensor, B, H, N, hd int, scale float32, mask *nn.AttnMask) {
	n := B * H * N * hd
	kern.AttentionBackward(pre(dq, n, "dq"), pre(dk, n, "dk"), pre(dv, n, "dv"), pre(dOut, n, "dOut"), pre(out, n, "out"), pre(lse, B*H*N, "lse"),
		pre(q, n, "q"), pre(k, n, "k"), pre(v, n, "v"), B*H, H, N, N, hd, scale, groups(mask, B, N))
}

func (Engine) CrossAttention(out, lse, q, k, v *nn.Tensor, B, H, Nq, Nk, hd int, scale float32) {
	nq, nk := B*H*Nq*hd, B*H*Nk*hd
	kern.Attention(pre(out, nq, "out"), pre(lse, B*H*Nq, "lse"), pre(q, nq, "q"), pre(k, nk, "k"), pre(v, nk, "v"), B*H, H, Nq, Nk, hd, scale, nil)
}

func (Engine) CrossAttentionBackward(dq, dk, dv, dOut, out, lse, q, k, v *nn.Tensor, B, H, Nq, Nk, hd int, scale float32) {
	nq, nk := B*H*Nq*hd, B*H*Nk*hd
	kern.AttentionBackward(pre(dq, nq, "dq"), pre(dk, nk, "dk"), pre(dv, nk, "dv"), pre(dOut, nq, "dOut"), pre(out, nq, "out"), pre(lse, B*H*Nq, "lse"),
		pre(q, nq, "q"), pre(k, nk, "k"), pre(v, nk, "v"), B*H, H, Nq, Nk, hd, scale, nil)
}

func checkPatch(T, Hh, Ww, tubelet, patch int) {
	if T%tubelet != 0 || Hh%patch != 0 || Ww%patch != 0 {
		panic(fmt.Sprintf("cpu: PatchEmbed3D: video %dx%dx%d not divisible by tubelet %d, patch %d", T, Hh, Ww, tubelet, patch))
	}
}

func (Engine) PatchEmbed3D(out, video, w, b *nn.Tensor, B, T, Hh, Ww, tubelet, patch, D int) {
	checkPatch(T, Hh, Ww, tubelet, patch)
	N := (T / tubelet) * (Hh / patch) * (Ww / patch)
	K := 3 * tubelet * patch * patch
	kern.PatchEmbed3D(pre(out, B*N*D, "out"), pre(video, B*3*T*Hh*Ww, "video"), pre(w, D*K, "w"), pre(b, D, "b"), B, T, Hh, Ww, tubelet, patch, D)
}

func (Engine) PatchEmbed3DBackward(dW, dB, dOut, video *nn.Tensor, B, T, Hh, Ww, tubelet, patch, D int) {
	checkPatch(T, Hh, Ww, tubelet, patch)
	N := (T / tubelet) * (Hh / patch) * (Ww / patch)
	K := 3 * tubelet * patch * patch
	kern.PatchEmbed3DBackward(pre(dW, D*K, "dW"), pre(dB, D, "dB"), pre(dOut, B*N*D, "dOut"), pre(video, B*3*T*Hh*Ww, "video"), B, T, Hh, Ww, tubelet, patch, D)
}

func (Engine) FiLM(out, x, gamma, beta *nn.Tensor, B, N, C int) {
	kern.FiLM(pre(out, B*N*C, "out"), pre(x, B*N*C, "x"), pre(gamma, B*C, "gamma"), pre(beta, B*C, "beta"), B, N, C)
}

func (Engine) FiLMBackward(dx, dGamma, dBeta, dOut, x, gamma *nn.Tensor, B, N, C int) {
	kern.FiLMBackward(pre(dx, B*N*C, "dx"), pre(dGamma, B*C, "dGamma"), pre(dBeta, B*C, "dBeta"), pre(dOut, B*N*C, "dOut"), pre(x, B*N*C, "x"), pre(gamma, B*C, "gamma"), B, N, C)
}

func (Engine) GatherRows(out, in *nn.Tensor, idx []int32, C int) {
	kern.GatherRows(pre(out, len(idx)*C, "out"), d(in), idx, C)
}

func (Engine) ScatterAddRows(dIn, dOut *nn.Tensor, idx []int32, C int) {
	if dIn == nil {
		return
	}
	kern.ScatterAddRows(d(dIn), pre(dOut, len(idx)*C, "dOut"), idx, C)
}

func (Engine) Mul(out, a, b *nn.Tensor, n int) {
	kern.Mul(pre(out, n, "out"), pre(a, n, "a"), pre(b, n, "b"))
}

func (Engine) Abs(out, a *nn.Tensor, n int) { kern.Abs(pre(out, n, "out"), pre(a, n, "a")) }

func (Engine) AbsBackward(dIn, dOut, in *nn.Tensor, n int) {
	if dIn == nil {
		return
	}
	kern.AbsBackward(pre(dIn, n, "dIn"), pre(dOut, n, "dOut"), pre(in, n, "in"))
}

func (Engine) Tanh(out, a *nn.Tensor, n int) { kern.Tanh(pre(out, n, "out"), pre(a, n, "a")) }

func (Engine) TanhBackward(dIn, dOut, out *nn.Tensor, n int) {
	if dIn == nil {
		return
	}
	kern.TanhBackward(pre(dIn, n, "dIn"), pre(dOut, n, "dOut"), pre(out, n, "out"))
}

func (Engine) ConcatCols(out *nn.Tensor, parts []*nn.Tensor, M int, widths []int) {
	ps := make([][]float32, len(parts))
	W := 0
	for i, p := range parts {
		ps[i] = pre(p, M*widths[i], "ConcatCols part")
		W += widths[i]
	}
	kern.ConcatCols(pre(out, M*W, "out"), ps, M, widths)
}

func (Engine) SplitColsAdd(dParts []*nn.Tensor, dOut *nn.Tensor, M int, widths []int) {
	ps := make([][]float32, len(dParts))
	W := 0
	for i, p := range dParts {
		ps[i] = pre(p, M*widths[i], "SplitColsAdd part")
		W += widths[i]
	}
	kern.SplitColsAdd(ps, pre(dOut, M*W, "dOut"), M, widths)
}

func (Engine) WeightedRowSum(out, in *nn.Tensor, w []float32, G, S, C int) {
	kern.WeightedRowSum(pre(out, G*C, "out"), pre(in, G*S*C, "in"), w, G, S, C)
}

func (Engine) WeightedRowSumBackward(dIn, dOut *nn.Tensor, w []float32, G, S, C int) {
	if dIn == nil {
		return
	}
	kern.WeightedRowSumBackward(pre(dIn, G*S*C, "dIn"), pre(dOut, G*C, "dOut"), w, G, S, C)
}

func (Engine) SumSquares(t *nn.Tensor, n int) float64 { return kern.SumSquares(pre(t, n, "t")) }

func (Engine) MSE(a, b *nn.Tensor, n int) float32 {
	return float32(kern.MSE(pre(a, n, "a"), pre(b, n, "b")))
}

func (Engine) MSEBackward(dA, a, b *nn.Tensor, n int, scale float32) {
	if dA == nil {
		return
	}
	kern.MSEBackward(pre(dA, n, "dA"), pre(a, n, "a"), pre(b, n, "b"), scale)
}

func (Engine) AdamW(param, grad, m, v *nn.Tensor, n int, lr, beta1, beta2, eps, weightDecay float32, t int) {
	if t < 1 {
		panic(fmt.Sprintf("cpu: AdamW step %d, want ≥ 1", t))
	}
	kern.AdamW(pre(param, n, "param"), pre(grad, n, "grad"), pre(m, n, "m"), pre(v, n, "v"), lr, beta1, beta2, eps, weightDecay, t)
}
