// Package cuda is the CUDA implementation of nn.Engine: the kernels of kernels/*.cu on
// a device backend. Two backends exist: the GPU (build tag cuda: the CUDA driver and
// cuBLAS, both loaded at run time) and a CPU emulator that runs the same kernel sources
// compiled as C++ (kernels/emu.h), which is how every kernel is tested without a GPU.
//
// Semantics are nn.Engine's and nn/cpu's: forward methods overwrite, backward methods
// accumulate, nil gradients are skipped. Tensors live in device memory (Tensor.Dev);
// Tensor.Data is always nil, so code that reads Data behind the engine's back fails on
// the emulator exactly as it would on a GPU.
package cuda

import (
	"fmt"
	"math"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/thinkjepa/thinkjepa/nn"
)

// Engine runs nn.Engine on one device backend.
type Engine struct {
	b backend
}

var _ nn.Engine = (*Engine)(nil)

// NewEmu returns the engine on the CPU emulator backend (available in every build).
func NewEmu() *Engine { return &Engine{b: newEmu()} }

// Name is "cuda/<backend>".
func (e *Engine) Name() string { return "cuda/" + e.b.name() }

// PoisonEmpty makes Empty fill its tensors with NaN (tests set it, as for nn/cpu).
var PoisonEmpty = false

// buf is the device storage of one tensor.
type buf struct {
	ptr   uintptr
	n     int // float32 elements
	freed atomic.Bool
}

// i64 marks a kernel argument that is a 64-bit integer (the kernels' i64); a plain Go int
// is passed as a 32-bit int.
type i64 int64

// devptr is a raw device address passed to a kernel.
type devptr uintptr

func (e *Engine) newTensor(n int, shape []int) *nn.Tensor {
	t := &nn.Tensor{Shape: append([]int(nil), shape...)}
	bf := &buf{ptr: e.b.alloc(4 * n), n: n}
	t.Dev = bf
	// Memory of a tensor dropped without Free goes back when the tensor is collected
	// (the CPU engine leaves such tensors to the garbage collector too).
	b := e.b
	runtime.AddCleanup(t, func(bf *buf) {
		if !bf.freed.Swap(true) {
			b.free(bf.ptr, 4*bf.n)
		}
	}, bf)
	return t
}

func bufOf(t *nn.Tensor) *buf {
	if t == nil {
		return nil
	}
	bf, ok := t.Dev.(*buf)
	if !ok || bf == nil {
		panic(fmt.Sprintf("cuda: tensor %v is not a live tensor of this engine (Dev %T; freed, or from another engine)", t.Shape, t.Dev))
	}
	return bf
}

// p returns t's device address for a kernel argument (0 for nil) after checking that t
// holds at least n elements, which catches wrong shapes as nn/cpu's checks do.
func p(t *nn.Tensor, n int, what string) devptr {
	if t == nil {
		return 0
	}
	bf := bufOf(t)
	if bf.n < n {
		panic(fmt.Sprintf("cuda: %s has %d elements, need %d", what, bf.n, n))
	}
	return devptr(bf.ptr)
}

// Zeros allocates a cleared tensor.
func (e *Engine) Zeros(shape ...int) *nn.Tensor {
	t := e.newTensor(shapeLen(shape), shape)
	e.b.zero(bufOf(t).ptr, 4*bufOf(t).n)
	return t
}

// Empty allocates without clearing.
func (e *Engine) Empty(shape ...int) *nn.Tensor {
	t := e.newTensor(shapeLen(shape), shape)
	if PoisonEmpty {
		e.Fill(t, float32(math.NaN()))
	}
	return t
}

func shapeLen(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}

// FromHost copies data to a new device tensor.
func (e *Engine) FromHost(data []float32, shape ...int) *nn.Tensor {
	if n := shapeLen(shape); n != len(data) {
		panic(fmt.Sprintf("cuda: FromHost: %d values for shape %v", len(data), shape))
	}
	t := e.newTensor(len(data), shape)
	if len(data) > 0 {
		e.b.upload(bufOf(t).ptr, unsafe.Pointer(&data[0]), 4*len(data))
	}
	return t
}

// ToHost copies t out, after the work queued before it.
func (e *Engine) ToHost(t *nn.Tensor) []float32 {
	bf := bufOf(t)
	out := make([]float32, bf.n)
	if bf.n > 0 {
		e.b.download(unsafe.Pointer(&out[0]), bf.ptr, 4*bf.n)
	}
	return out
}

// CopyInto copies src to dst (same length).
func (e *Engine) CopyInto(dst, src *nn.Tensor) {
	d, s := bufOf(dst), bufOf(src)
	if d.n != s.n {
		panic(fmt.Sprintf("cuda: CopyInto: lengths %d and %d", d.n, s.n))
	}
	e.b.copyDD(d.ptr, s.ptr, 4*d.n)
}

// Fill sets every element to v.
func (e *Engine) Fill(t *nn.Tensor, v float32) {
	n := bufOf(t).n
	e.elementwise("tj_fill", n, t, v, i64(n))
}

// Free releases t's device memory now and leaves t empty, so a use after Free fails.
func (e *Engine) Free(t *nn.Tensor) {
	if t == nil || t.Dev == nil {
		return
	}
	bf := bufOf(t)
	if !bf.freed.Swap(true) {
		e.b.free(bf.ptr, 4*bf.n)
	}
	t.Dev = nil
}

// Sync waits for queued work and reports a device error.
func (e *Engine) Sync() error { return e.b.sync() }

// launch encodes the arguments into 8-byte slots (see backend) and launches.
func (e *Engine) launch(kernel string, grid, block dim3, smem int, args ...any) {
	slots := make([]uint64, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case devptr:
			slots[i] = uint64(v)
		case int:
			if v != int(int32(v)) {
				panic(fmt.Sprintf("cuda: %s argument %d: %d overflows int32", kernel, i, v))
			}
			slots[i] = uint64(uint32(int32(v)))
		case i64:
			slots[i] = uint64(v)
		case float32:
			slots[i] = uint64(math.Float32bits(v))
		case uint64:
			slots[i] = v
		case *nn.Tensor:
			if v != nil {
				slots[i] = uint64(bufOf(v).ptr)
			}
		default:
			panic(fmt.Sprintf("cuda: %s argument %d has type %T", kernel, i, a))
		}
	}
	e.b.launch(kernel, grid, block, smem, slots)
}

// elementwise launches a grid-stride kernel over n items: 256 threads a block, at most
// 4096 blocks (each thread then loops).
func (e *Engine) elementwise(kernel string, n int, args ...any) {
	if n <= 0 {
		return
	}
	blocks := min((n+255)/256, 4096)
	e.launch(kernel, dim3{blocks, 1, 1}, dim3{256, 1, 1}, 0, args...)
}

// tmp is a scratch device buffer for host-side index arrays and workspaces.
type tmp struct {
	e     *Engine
	ptr   uintptr
	bytes int
}

func (e *Engine) upload32(data unsafe.Pointer, n int) tmp {
	t := e.scratch(4 * n)
	if n > 0 {
		e.b.upload(t.ptr, data, 4*n)
	}
	return t
}

func (e *Engine) int32s(v []int32) tmp {
	if len(v) == 0 {
		return e.upload32(nil, 0)
	}
	return e.upload32(unsafe.Pointer(&v[0]), len(v))
}

func (e *Engine) float32s(v []float32) tmp {
	if len(v) == 0 {
		return e.upload32(nil, 0)
	}
	return e.upload32(unsafe.Pointer(&v[0]), len(v))
}

func (e *Engine) scratch(bytes int) tmp { return tmp{e: e, ptr: e.b.alloc(bytes), bytes: bytes} }

func (t tmp) free()       { t.e.b.free(t.ptr, t.bytes) }
func (t tmp) dev() devptr { return devptr(t.ptr) }

// ---- GEMMs ----

func (e *Engine) gemm(transA, transB bool, m, n, k int, alpha float32, a devptr, lda int, b devptr, ldb int, beta float32, c devptr, ldc int) {
	e.b.gemm(&gemmArgs{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
		a: uintptr(a), b: uintptr(b), c: uintptr(c), lda: lda, ldb: ldb, ldc: ldc, batch: 1})
}

// Linear: out[M,N] = in[M,K]·w[N,K]ᵀ + b[N].
func (e *Engine) Linear(out, in, w, b *nn.Tensor, M, K, N int) {
	o := p(out, M*N, "Linear out")
	x, wt := p(in, M*K, "Linear in"), p(w, N*K, "Linear w")
	beta := float32(0)
	if b != nil {
		e.elementwise("tj_bias_rows", M*N, o, p(b, N, "Linear b"), N, i64(M*N))
		beta = 1
	}
	e.gemm(false, true, M, N, K, 1, x, K, wt, K, beta, o, N)
}

// LinearBackward: dIn += dOut·w; dW += dOutᵀ·in; dB += Σ_rows dOut.
func (e *Engine) LinearBackward(dIn, dW, dB, dOut, in, w *nn.Tensor, M, K, N int) {
	g := p(dOut, M*N, "LinearBackward dOut")
	if dIn != nil {
		e.gemm(false, false, M, K, N, 1, g, N, p(w, N*K, "LinearBackward w"), K, 1, p(dIn, M*K, "dIn"), K)
	}
	if dW != nil {
		e.gemm(true, false, N, K, M, 1, g, N, p(in, M*K, "LinearBackward in"), K, 1, p(dW, N*K, "dW"), K)
	}
	if dB != nil {
		e.colSum(p(dB, N, "dB"), g, M, N)
	}
}

// colChunkRows is the row chunk of the two-pass column sums: a tall [M, N] matrix gets
// ceil(N/32)·ceil(M/256) blocks instead of ceil(N/32), which for a bias gradient over a
// batch of tokens (M in the tens of thousands, N a few hundred) is the difference between
// a dozen busy SMs and all of them.
const colChunkRows = 256

func colChunks(M int) int {
	c := (M + colChunkRows - 1) / colChunkRows
	if c > 65535 {
		panic(fmt.Sprintf("cuda: column sum over %d rows exceeds the grid", M))
	}
	return c
}

// colSum: out[j] += Σ_i x[i, j] for x [M, N].
func (e *Engine) colSum(out, x devptr, M, N int) {
	if N == 0 || M == 0 {
		return
	}
	chunks := colChunks(M)
	part := e.scratch(4 * chunks * N)
	defer part.free()
	e.launch("tj_col_partial", dim3{(N + 31) / 32, chunks, 1}, dim3{32, 8, 1}, 0, part.dev(), x, M, N, colChunkRows)
	e.elementwise("tj_col_finish", N, out, part.dev(), chunks, N)
}

// BatchedMatMul: C_i = α·op(A_i)·op(B_i) + β·C_i over contiguous stacks.
func (e *Engine) BatchedMatMul(c, a, b *nn.Tensor, batch, M, N, K int, transA, transB bool, alpha, beta float32) {
	lda, ldb := K, N
	if transA {
		lda = M
	}
	if transB {
		ldb = K
	}
	e.b.gemm(&gemmArgs{transA: transA, transB: transB, m: M, n: N, k: K, alpha: alpha, beta: beta,
		a: uintptr(p(a, batch*M*K, "BatchedMatMul a")), b: uintptr(p(b, batch*K*N, "BatchedMatMul b")), c: uintptr(p(c, batch*M*N, "BatchedMatMul c")),
		lda: lda, ldb: ldb, ldc: N, strideA: int64(M * K), strideB: int64(K * N), strideC: int64(M * N), batch: batch})
}

// ---- normalisation and activations ----

// normThreads is the block size of the row kernels: enough lanes for ViT-L's C = 1024
// at a few elements each, a multiple of 32 for the warp reductions.
func normThreads(C int) int {
	switch {
	case C <= 64:
		return 32
	case C <= 256:
		return 64
	default:
		return 128
	}
}

// LayerNorm over rows of width C; mean and rstd saved.
func (e *Engine) LayerNorm(out, mean, rstd, in, w, b *nn.Tensor, M, C int, eps float32) {
	if M == 0 {
		return
	}
	e.launch("tj_layernorm", dim3{M, 1, 1}, dim3{normThreads(C), 1, 1}, 0,
		p(out, M*C, "LayerNorm out"), p(mean, M, "mean"), p(rstd, M, "rstd"), p(in, M*C, "LayerNorm in"), p(w, C, "LayerNorm w"), p(b, C, "LayerNorm b"), C, eps)
}

// LayerNormBackward accumulates dIn, dW, dB (nil ones skipped).
func (e *Engine) LayerNormBackward(dIn, dW, dB, dOut, in, w, mean, rstd *nn.Tensor, M, C int) {
	if M == 0 {
		return
	}
	g, x := p(dOut, M*C, "LayerNormBackward dOut"), p(in, M*C, "LayerNormBackward in")
	mu, rs := p(mean, M, "mean"), p(rstd, M, "rstd")
	if dIn != nil {
		e.launch("tj_layernorm_bwd_dx", dim3{M, 1, 1}, dim3{normThreads(C), 1, 1}, 0, p(dIn, M*C, "dIn"), g, x, p(w, C, "w"), mu, rs, C)
	}
	if w != nil && (dW != nil || dB != nil) {
		chunks := colChunks(M)
		pw, pb := e.scratch(4*chunks*C), e.scratch(4*chunks*C)
		defer pw.free()
		defer pb.free()
		e.launch("tj_layernorm_bwd_wb_partial", dim3{(C + 31) / 32, chunks, 1}, dim3{32, 8, 1}, 0, pw.dev(), pb.dev(), g, x, mu, rs, M, C, colChunkRows)
		if dW != nil {
			e.elementwise("tj_col_finish", C, p(dW, C, "dW"), pw.dev(), chunks, C)
		}
		if dB != nil {
			e.elementwise("tj_col_finish", C, p(dB, C, "dB"), pb.dev(), chunks, C)
		}
	}
}

// GELU (erf form).
func (e *Engine) GELU(out, in *nn.Tensor, n int) {
	e.elementwise("tj_gelu", n, p(out, n, "GELU out"), p(in, n, "GELU in"), i64(n))
}

// GELUBackward: dIn += dOut·GELU'(in).
func (e *Engine) GELUBackward(dIn, dOut, in *nn.Tensor, n int) {
	if dIn == nil {
		return
	}
	e.elementwise("tj_gelu_bwd", n, p(dIn, n, "dIn"), p(dOut, n, "dOut"), p(in, n, "in"), i64(n))
}

// Add: out = a + b.
func (e *Engine) Add(out, a, b *nn.Tensor, n int) {
	e.elementwise("tj_add", n, p(out, n, "out"), p(a, n, "a"), p(b, n, "b"), i64(n))
}

// Scale: out = a·s.
func (e *Engine) Scale(out, a *nn.Tensor, s float32, n int) {
	e.elementwise("tj_scale", n, p(out, n, "out"), p(a, n, "a"), s, i64(n))
}

// AddInPlace: dst += src.
func (e *Engine) AddInPlace(dst, src *nn.Tensor, n int) {
	if dst == nil {
		return
	}
	e.elementwise("tj_add_inplace", n, p(dst, n, "dst"), p(src, n, "src"), i64(n))
}

// Mul: out = a⊙b.
func (e *Engine) Mul(out, a, b *nn.Tensor, n int) {
	e.elementwise("tj_mul", n, p(out, n, "out"), p(a, n, "a"), p(b, n, "b"), i64(n))
}

// Abs: out = |a|.
func (e *Engine) Abs(out, a *nn.Tensor, n int) {
	e.elementwise("tj_abs", n, p(out, n, "out"), p(a, n, "a"), i64(n))
}

// AbsBackward: dIn += sign(in)·dOut.
func (e *Engine) AbsBackward(dIn, dOut, in *nn.Tensor, n int) {
	if dIn == nil {
		return
	}
	e.elementwise("tj_abs_bwd", n, p(dIn, n, "dIn"), p(dOut, n, "dOut"), p(in, n, "in"), i64(n))
}

// Tanh: out = tanh(a).
func (e *Engine) Tanh(out, a *nn.Tensor, n int) {
	e.elementwise("tj_tanh", n, p(out, n, "out"), p(a, n, "a"), i64(n))
}

// TanhBackward: dIn += (1−out²)·dOut.
func (e *Engine) TanhBackward(dIn, dOut, out *nn.Tensor, n int) {
	if dIn == nil {
		return
	}
	e.elementwise("tj_tanh_bwd", n, p(dIn, n, "dIn"), p(dOut, n, "dOut"), p(out, n, "out"), i64(n))
}

// ---- layouts ----

// SplitHeads: qkv [B,N,3,H,hd] → q, k, v [B,H,N,hd].
func (e *Engine) SplitHeads(q, k, v, qkv *nn.Tensor, B, N, H, hd int) {
	n := B * N * H * hd
	e.elementwise("tj_split_heads", n, p(q, n, "q"), p(k, n, "k"), p(v, n, "v"), p(qkv, 3*n, "qkv"), N, H, hd, i64(n))
}

// SplitHeadsBackward: dqkv += the [B,N,3,H,hd] layout of dq, dk, dv (nil ones skipped).
func (e *Engine) SplitHeadsBackward(dqkv, dq, dk, dv *nn.Tensor, B, N, H, hd int) {
	if dqkv == nil || (dq == nil && dk == nil && dv == nil) {
		return
	}
	n := B * N * H * hd
	e.elementwise("tj_split_heads_bwd", 3*n, p(dqkv, 3*n, "dqkv"), p(dq, n, "dq"), p(dk, n, "dk"), p(dv, n, "dv"), N, H, hd, i64(3*n))
}

// MergeHeads: x [B,H,N,hd] → out [B,N,H·hd].
func (e *Engine) MergeHeads(out, x *nn.Tensor, B, N, H, hd int) {
	n := B * N * H * hd
	e.elementwise("tj_merge_heads", n, p(out, n, "out"), p(x, n, "x"), N, H, hd, i64(n))
}

// MergeHeadsBackward: dx [B,H,N,hd] += dOut rearranged.
func (e *Engine) MergeHeadsBackward(dx, dOut *nn.Tensor, B, N, H, hd int) {
	if dx == nil {
		return
	}
	n := B * N * H * hd
	e.elementwise("tj_merge_heads_bwd", n, p(dx, n, "dx"), p(dOut, n, "dOut"), N, H, hd, i64(n))
}

// ropeOmega is ω_j = 1/10000^(j/M), j < M = dsub/2, rounded to float32 at each step as
// upstream V-JEPA 2 (and nn/kern) compute it.
func ropeOmega(dsub int) []float32 {
	M := dsub / 2
	omega := make([]float32, M)
	for j := range omega {
		omega[j] = float32(1 / math.Pow(10000, float64(float32(j)/float32(M))))
	}
	return omega
}

func (e *Engine) rope(x *nn.Tensor, r *nn.RoPE3D, B, H, N, hd int, transpose int) {
	if len(r.Pos) < 3*B*N {
		panic(fmt.Sprintf("cuda: RoPE: %d positions, need %d", len(r.Pos), 3*B*N))
	}
	if r.DSub%2 != 0 || 3*r.DSub > hd || r.DSub <= 0 {
		panic(fmt.Sprintf("cuda: RoPE: DSub %d invalid for head dim %d", r.DSub, hd))
	}
	pos, om := e.int32s(r.Pos[:3*B*N]), e.float32s(ropeOmega(r.DSub))
	defer pos.free()
	defer om.free()
	n := B * H * N * (3 * r.DSub / 2)
	e.elementwise("tj_rope", n, p(x, B*H*N*hd, "RoPE x"), pos.dev(), om.dev(), r.DSub, H, N, hd, transpose, i64(n))
}

// RoPE rotates x [B,H,N,hd] in place.
func (e *Engine) RoPE(x *nn.Tensor, r *nn.RoPE3D, B, H, N, hd int) { e.rope(x, r, B, H, N, hd, 0) }

// RoPEBackward applies the transposed rotation to dx in place.
func (e *Engine) RoPEBackward(dx *nn.Tensor, r *nn.RoPE3D, B, H, N, hd int) {
	if dx == nil {
		return
	}
	e.rope(dx, r, B, H, N, hd, 1)
}

// ---- attention ----

// attnThreads is the block size of the attention kernels; each thread holds at most
// attnR elements of an output tile in registers (TJ_ATTN_R in attention.cu).
const attnThreads, attnR = 128, 16

// attnTiles picks the forward query tile bq and key tile bk for head dim hd: bq·hd must
// fit the registers (≤ attnThreads·attnR) and the tiles the 48 KiB of shared memory a
// kernel gets without opting in.
func attnTiles(hd int) (bq, bk int) {
	if hd < 1 || hd > 256 {
		panic(fmt.Sprintf("cuda: attention head dim %d outside 1..256", hd))
	}
	bq = 32
	for bq*hd > attnThreads*attnR {
		bq /= 2
	}
	bk = 32
	if hd > 128 {
		bk = 16
	}
	return bq, bk
}

func attnFwdSmem(hd, bq, bk int) int { return 4 * (bq*hd + bk*(hd+1) + bk*hd + bq*bk + 3*bq) }

// attnBwdTile is the square tile of the backward kernels (their accumulators hold a
// [tile, hd] block in registers).
func attnBwdTile(hd int) int {
	t, _ := attnTiles(hd)
	return t
}

func attnBwdSmem(hd, t int) int { return 4 * (4*t*(hd+1) + 2*t*t + 2*t) }

func maskArgs(e *Engine, mask *nn.AttnMask, B, N int) (qg, kg devptr, free func()) {
	if mask == nil {
		return 0, 0, func() {}
	}
	if len(mask.QueryGroup) < B*N || len(mask.KeyGroup) < B*N {
		panic(fmt.Sprintf("cuda: AttnMask has %d/%d groups, need %d", len(mask.QueryGroup), len(mask.KeyGroup), B*N))
	}
	q, k := e.int32s(mask.QueryGroup[:B*N]), e.int32s(mask.KeyGroup[:B*N])
	return q.dev(), k.dev(), func() { q.free(); k.free() }
}

func (e *Engine) attention(out, lse, q, k, v *nn.Tensor, B, H, Nq, Nk, hd int, scale float32, qg, kg devptr) {
	nq, nk := B*H*Nq*hd, B*H*Nk*hd
	o, l := p(out, nq, "attention out"), p(lse, B*H*Nq, "attention lse")
	qq, kk, vv := p(q, nq, "attention q"), p(k, nk, "attention k"), p(v, nk, "attention v")
	if B*H*Nq == 0 {
		return
	}
	bq, bk := attnTiles(hd)
	e.launch("tj_attn_fwd", dim3{(Nq + bq - 1) / bq, B * H, 1}, dim3{attnThreads, 1, 1}, attnFwdSmem(hd, bq, bk),
		o, l, qq, kk, vv, qg, kg, H, Nq, Nk, hd, scale, bq, bk)
}

func (e *Engine) attentionBackward(dq, dk, dv, dOut, out, lse, q, k, v *nn.Tensor, B, H, Nq, Nk, hd int, scale float32, qg, kg devptr) {
	nq, nk := B*H*Nq*hd, B*H*Nk*hd
	if B*H*Nq == 0 || (dq == nil && dk == nil && dv == nil) {
		return
	}
	g, o, l := p(dOut, nq, "attention dOut"), p(out, nq, "attention out"), p(lse, B*H*Nq, "attention lse")
	qq, kk, vv := p(q, nq, "attention q"), p(k, nk, "attention k"), p(v, nk, "attention v")
	rows := B * H * Nq
	D := e.scratch(4 * rows)
	defer D.free()
	e.elementwise("tj_rowdot", rows, D.dev(), g, o, hd, i64(rows))
	t := attnBwdTile(hd)
	smem := attnBwdSmem(hd, t)
	if dk != nil || dv != nil {
		e.launch("tj_attn_bwd_kv", dim3{(Nk + t - 1) / t, B * H, 1}, dim3{attnThreads, 1, 1}, smem,
			p(dk, nk, "dk"), p(dv, nk, "dv"), g, l, D.dev(), qq, kk, vv, qg, kg, H, Nq, Nk, hd, scale, t, t)
	}
	if dq != nil {
		e.launch("tj_attn_bwd_q", dim3{(Nq + t - 1) / t, B * H, 1}, dim3{attnThreads, 1, 1}, smem,
			p(dq, nq, "dq"), g, l, D.dev(), qq, kk, vv, qg, kg, H, Nq, Nk, hd, scale, t, t)
	}
}

// Attention: out = softmax(q·kᵀ·scale + mask)·v, lse saved.
func (e *Engine) Attention(out, lse, q, k, v *nn.Tensor, B, H, N, hd int, scale float32, mask *nn.AttnMask) {
	qg, kg, free := maskArgs(e, mask, B, N)
	defer free()
	e.attention(out, lse, q, k, v, B, H, N, N, hd, scale, qg, kg)
}

// AttentionBackward accumulates dq, dk, dv (nil ones skipped).
func (e *Engine) AttentionBackward(dq, dk, dv, dOut, out, lse, q, k, v *nn.Tensor, B, H, N, hd int, scale float32, mask *nn.AttnMask) {
	qg, kg, free := maskArgs(e, mask, B, N)
	defer free()
	e.attentionBackward(dq, dk, dv, dOut, out, lse, q, k, v, B, H, N, N, hd, scale, qg, kg)
}

// CrossAttention: q [B,H,Nq,hd] over k, v [B,H,Nk,hd].
func (e *Engine) CrossAttention(out, lse, q, k, v *nn.Tensor, B, H, Nq, Nk, hd int, scale float32) {
	e.attention(out, lse, q, k, v, B, H, Nq, Nk, hd, scale, 0, 0)
}

// CrossAttentionBackward accumulates dq, dk, dv (nil ones skipped).
func (e *Engine) CrossAttentionBackward(dq, dk, dv, dOut, out, lse, q, k, v *nn.Tensor, B, H, Nq, Nk, hd int, scale float32) {
	e.attentionBackward(dq, dk, dv, dOut, out, lse, q, k, v, B, H, Nq, Nk, hd, scale, 0, 0)
}

// ---- patch embedding, FiLM, rows and columns ----

func checkPatch(T, Hh, Ww, tubelet, patch int) {
	if T%tubelet != 0 || Hh%patch != 0 || Ww%patch != 0 {
		panic(fmt.Sprintf("cuda: PatchEmbed3D: video %dx%dx%d not divisible by tubelet %d, patch %d", T, Hh, Ww, tubelet, patch))
	}
}

func (e *Engine) im2col(video *nn.Tensor, B, T, Hh, Ww, tubelet, patch int) (tmp, int, int) {
	N := (T / tubelet) * (Hh / patch) * (Ww / patch)
	K := 3 * tubelet * patch * patch
	cols := e.scratch(4 * B * N * K)
	e.elementwise("tj_im2col3d", B*N*K, cols.dev(), p(video, B*3*T*Hh*Ww, "video"), T, Hh, Ww, tubelet, patch, i64(B*N*K))
	return cols, N, K
}

// PatchEmbed3D: Conv3d with kernel = stride, as im2col + GEMM.
func (e *Engine) PatchEmbed3D(out, video, w, b *nn.Tensor, B, T, Hh, Ww, tubelet, patch, D int) {
	checkPatch(T, Hh, Ww, tubelet, patch)
	cols, N, K := e.im2col(video, B, T, Hh, Ww, tubelet, patch)
	defer cols.free()
	o := p(out, B*N*D, "PatchEmbed3D out")
	beta := float32(0)
	if b != nil {
		e.elementwise("tj_bias_rows", B*N*D, o, p(b, D, "PatchEmbed3D b"), D, i64(B*N*D))
		beta = 1
	}
	e.gemm(false, true, B*N, D, K, 1, cols.dev(), K, p(w, D*K, "PatchEmbed3D w"), K, beta, o, D)
}

// PatchEmbed3DBackward accumulates dW and dB (no video gradient).
func (e *Engine) PatchEmbed3DBackward(dW, dB, dOut, video *nn.Tensor, B, T, Hh, Ww, tubelet, patch, D int) {
	checkPatch(T, Hh, Ww, tubelet, patch)
	N := (T / tubelet) * (Hh / patch) * (Ww / patch)
	K := 3 * tubelet * patch * patch
	g := p(dOut, B*N*D, "PatchEmbed3DBackward dOut")
	if dW != nil {
		cols, _, _ := e.im2col(video, B, T, Hh, Ww, tubelet, patch)
		defer cols.free()
		e.gemm(true, false, D, K, B*N, 1, g, D, cols.dev(), K, 1, p(dW, D*K, "dW"), K)
	}
	if dB != nil {
		e.colSum(p(dB, D, "dB"), g, B*N, D)
	}
}

// FiLM: out = x·(1+γ) + β per sample.
func (e *Engine) FiLM(out, x, gamma, beta *nn.Tensor, B, N, C int) {
	n := B * N * C
	e.elementwise("tj_film", n, p(out, n, "FiLM out"), p(x, n, "FiLM x"), p(gamma, B*C, "gamma"), p(beta, B*C, "beta"), N, C, i64(n))
}

// FiLMBackward: dx += dOut·(1+γ); dγ += Σ_n dOut·x; dβ += Σ_n dOut.
func (e *Engine) FiLMBackward(dx, dGamma, dBeta, dOut, x, gamma *nn.Tensor, B, N, C int) {
	n := B * N * C
	g := p(dOut, n, "FiLMBackward dOut")
	if dx != nil {
		e.elementwise("tj_film_bwd_dx", n, p(dx, n, "dx"), g, p(gamma, B*C, "gamma"), N, C, i64(n))
	}
	if (dGamma != nil || dBeta != nil) && B*C > 0 {
		e.launch("tj_film_bwd_gb", dim3{(C + 31) / 32, B, 1}, dim3{32, 8, 1}, 0,
			p(dGamma, B*C, "dGamma"), p(dBeta, B*C, "dBeta"), g, p(x, n, "FiLMBackward x"), N, C)
	}
}

// GatherRows: out[i,:] = in[idx[i],:].
func (e *Engine) GatherRows(out, in *nn.Tensor, idx []int32, C int) {
	if len(idx) == 0 {
		return
	}
	src := bufOf(in)
	for _, r := range idx {
		if r < 0 || (int(r)+1)*C > src.n {
			panic(fmt.Sprintf("cuda: GatherRows: row %d outside a tensor of %d rows", r, src.n/max(C, 1)))
		}
	}
	ix := e.int32s(idx)
	defer ix.free()
	n := len(idx) * C
	e.elementwise("tj_gather_rows", n, p(out, n, "GatherRows out"), devptr(src.ptr), ix.dev(), C, i64(n))
}

// ScatterAddRows: dIn[idx[i],:] += dOut[i,:]. Sources are grouped by target row on the
// host so the kernel needs no atomics and adds in the CPU's order.
func (e *Engine) ScatterAddRows(dIn, dOut *nn.Tensor, idx []int32, C int) {
	if dIn == nil || len(idx) == 0 {
		return
	}
	dst := bufOf(dIn)
	order := map[int32]int{}
	var targets []int32
	var lists [][]int32
	for i, r := range idx {
		if r < 0 || (int(r)+1)*C > dst.n {
			panic(fmt.Sprintf("cuda: ScatterAddRows: row %d outside a tensor of %d rows", r, dst.n/max(C, 1)))
		}
		j, ok := order[r]
		if !ok {
			j = len(targets)
			order[r] = j
			targets = append(targets, r)
			lists = append(lists, nil)
		}
		lists[j] = append(lists[j], int32(i))
	}
	starts := make([]int32, 0, len(targets)+1)
	srcs := make([]int32, 0, len(idx))
	for _, l := range lists {
		starts = append(starts, int32(len(srcs)))
		srcs = append(srcs, l...)
	}
	starts = append(starts, int32(len(srcs)))
	tg, st, sr := e.int32s(targets), e.int32s(starts), e.int32s(srcs)
	defer tg.free()
	defer st.free()
	defer sr.free()
	n := len(targets) * C
	e.elementwise("tj_scatter_rows", n, devptr(dst.ptr), p(dOut, len(idx)*C, "ScatterAddRows dOut"), tg.dev(), st.dev(), sr.dev(), C, i64(n))
}

// ConcatCols: out[M, Σw] = [parts[0] | parts[1] | …].
func (e *Engine) ConcatCols(out *nn.Tensor, parts []*nn.Tensor, M int, widths []int) {
	W := 0
	for _, w := range widths {
		W += w
	}
	o := p(out, M*W, "ConcatCols out")
	off := 0
	for i, part := range parts {
		w := widths[i]
		e.elementwise("tj_copy_cols", M*w, o, p(part, M*w, "ConcatCols part"), W, off, w, i64(M*w))
		off += w
	}
}

// SplitColsAdd: dParts[i] += the matching column block of dOut (nil skipped).
func (e *Engine) SplitColsAdd(dParts []*nn.Tensor, dOut *nn.Tensor, M int, widths []int) {
	W := 0
	for _, w := range widths {
		W += w
	}
	g := p(dOut, M*W, "SplitColsAdd dOut")
	off := 0
	for i, part := range dParts {
		w := widths[i]
		if part != nil {
			e.elementwise("tj_add_cols", M*w, p(part, M*w, "SplitColsAdd part"), g, W, off, w, i64(M*w))
		}
		off += w
	}
}

// WeightedRowSum: out[G,C] = Σ_s w[g·S+s]·in[g,s,:].
func (e *Engine) WeightedRowSum(out, in *nn.Tensor, w []float32, G, S, C int) {
	if len(w) < G*S {
		panic(fmt.Sprintf("cuda: WeightedRowSum: %d weights, need %d", len(w), G*S))
	}
	wt := e.float32s(w[:G*S])
	defer wt.free()
	e.elementwise("tj_wrowsum", G*C, p(out, G*C, "WeightedRowSum out"), p(in, G*S*C, "WeightedRowSum in"), wt.dev(), S, C, i64(G*C))
}

// WeightedRowSumBackward: dIn[g,s,:] += w[g·S+s]·dOut[g,:].
func (e *Engine) WeightedRowSumBackward(dIn, dOut *nn.Tensor, w []float32, G, S, C int) {
	if dIn == nil {
		return
	}
	if len(w) < G*S {
		panic(fmt.Sprintf("cuda: WeightedRowSumBackward: %d weights, need %d", len(w), G*S))
	}
	wt := e.float32s(w[:G*S])
	defer wt.free()
	e.elementwise("tj_wrowsum_bwd", G*S*C, p(dIn, G*S*C, "dIn"), p(dOut, G*C, "dOut"), wt.dev(), S, C, i64(G*S*C))
}

// ---- reductions, losses, dropout, optimiser ----

// sqSum returns Σ a² (b nil) or Σ (a−b)², in double: per-block partials on the device,
// added in block order on the host (deterministic for a given n).
func (e *Engine) sqSum(a, b devptr, n int) float64 {
	if n <= 0 {
		return 0
	}
	blocks := min((n+255)/256, 256)
	part := e.scratch(8 * blocks)
	defer part.free()
	e.launch("tj_sq_partial", dim3{blocks, 1, 1}, dim3{256, 1, 1}, 0, part.dev(), a, b, i64(n))
	h := make([]float64, blocks)
	e.b.download(unsafe.Pointer(&h[0]), part.ptr, 8*blocks)
	var s float64
	for _, v := range h {
		s += v
	}
	return s
}

// SumSquares returns Σ t².
func (e *Engine) SumSquares(t *nn.Tensor, n int) float64 {
	return e.sqSum(p(t, n, "SumSquares t"), 0, n)
}

// MSE returns mean((a−b)²).
func (e *Engine) MSE(a, b *nn.Tensor, n int) float32 {
	if n == 0 {
		return 0
	}
	return float32(e.sqSum(p(a, n, "MSE a"), p(b, n, "MSE b"), n) / float64(n))
}

// MSEBackward: dA += scale·2(a−b)/n.
func (e *Engine) MSEBackward(dA, a, b *nn.Tensor, n int, scale float32) {
	if dA == nil || n == 0 {
		return
	}
	f := scale * 2 / float32(n) // float32 arithmetic, as kern.MSEBackward
	e.elementwise("tj_mse_bwd", n, p(dA, n, "dA"), p(a, n, "a"), p(b, n, "b"), f, i64(n))
}

func checkDropP(p float32) {
	if !(p >= 0 && p < 1) {
		panic(fmt.Sprintf("cuda: dropout probability %v, expected 0 ≤ p < 1", p))
	}
}

// dropoutThreshold is kern's: an element is dropped iff its hash is below 2^64·p.
func dropoutThreshold(p float64) uint64 {
	if p <= 0 {
		return 0
	}
	return uint64(p*(1<<63)) << 1
}

// Dropout: out = in·keep/(1−p) with keep = kern.DropoutKeep(seed, i, p).
func (e *Engine) Dropout(out, in *nn.Tensor, seed uint64, pr float32, n int) {
	checkDropP(pr)
	o, x := p(out, n, "Dropout out"), p(in, n, "Dropout in")
	if pr == 0 {
		if o != x {
			e.b.copyDD(uintptr(o), uintptr(x), 4*n)
		}
		return
	}
	scale := float32(1 / (1 - float64(pr)))
	e.elementwise("tj_dropout", n, o, x, seed, dropoutThreshold(float64(pr)), scale, i64(n))
}

// DropoutBackward: dIn += dOut·keep/(1−p).
func (e *Engine) DropoutBackward(dIn, dOut *nn.Tensor, seed uint64, pr float32, n int) {
	checkDropP(pr)
	if dIn == nil {
		return
	}
	if pr == 0 {
		e.AddInPlace(dIn, dOut, n)
		return
	}
	scale := float32(1 / (1 - float64(pr)))
	e.elementwise("tj_dropout_bwd", n, p(dIn, n, "dIn"), p(dOut, n, "dOut"), seed, dropoutThreshold(float64(pr)), scale, i64(n))
}

// AdamW: one PyTorch-semantics step (t ≥ 1).
func (e *Engine) AdamW(param, grad, m, v *nn.Tensor, n int, lr, beta1, beta2, eps, weightDecay float32, t int) {
	if t < 1 {
		panic(fmt.Sprintf("cuda: AdamW step %d, want ≥ 1", t))
	}
	bc1 := 1 - math.Pow(float64(beta1), float64(t))
	bc2 := 1 - math.Pow(float64(beta2), float64(t))
	step := float32(float64(lr) / bc1)
	sbc2 := float32(math.Sqrt(bc2))
	decay := 1 - lr*weightDecay
	e.elementwise("tj_adamw", n, p(param, n, "param"), p(grad, n, "grad"), p(m, n, "m"), p(v, n, "v"),
		beta1, beta2, eps, decay, step, sbc2, i64(n))
}
