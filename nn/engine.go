// Package nn is the compute layer under every model in thinkjepa.
//
// Models (jepa, film, rollout) are written once, as explicit forward and backward
// passes over the Engine interface below, in the style of llm.c: each layer is a
// forward/backward pair whose shapes are in its signature. An Engine owns the memory
// of its tensors and runs the kernels: the CPU engine (package nn/cpu) runs them in Go
// with OpenBLAS GEMMs; the CUDA engine (package cuda, build tag cuda) runs the same set
// on an NVIDIA GPU. Nothing above this package knows which engine runs.
//
// Conventions shared by every method:
//   - Tensors are dense, row-major float32. Shapes in comments are the logical
//     shapes the method reads; the Tensor's own Shape is informational.
//   - Linear weights use PyTorch's layout [out, in], so checkpoints load as they are.
//   - Forward methods overwrite their outputs.
//   - Backward methods ACCUMULATE (+=) into every gradient they write, so a tensor
//     used twice (a residual branch, a shared weight) simply receives both
//     contributions. A nil gradient argument means "not needed" and is skipped.
//   - Methods may run asynchronously on device engines; ToHost and Sync wait.
package nn

// Tensor is a dense row-major float32 array living on one Engine.
type Tensor struct {
	Shape []int
	// Data is the host storage on the CPU engine; nil on device engines.
	Data []float32
	// Dev is engine-owned device storage (nil on the CPU engine).
	Dev any
}

// Len is the number of elements.
func (t *Tensor) Len() int {
	n := 1
	for _, s := range t.Shape {
		n *= s
	}
	return n
}

// AttnMask restricts which keys each query may attend to. Query i may attend key j iff
// KeyGroup[j] <= QueryGroup[i]. With groups = frame index this is the block-causal
// (frame-causal) mask of V-JEPA 2-AC and ThinkJEPA v2. Both slices are per batch row:
// length B*N, index b*N+i. A nil *AttnMask means full (bidirectional) attention.
type AttnMask struct {
	QueryGroup []int32
	KeyGroup   []int32
}

// RoPE3D describes the V-JEPA 2 3-D rotary embedding applied to q and k.
//
// Per head, the first 3*DSub channels are split into time, height and width parts of
// DSub channels each (DSub = 2*((headDim/3)/2)); the remaining headDim-3*DSub channels are
// not rotated. Positions are per token: Pos has length B*N*3 holding (t, h, w) for token
// b*N+i. The frequency "tiling" quirk of upstream V-JEPA 2 is reproduced exactly
// (see nn/cpu's rope kernel and model-spec §1.4): cos/sin vectors are tiled, not
// interleaved, so the two elements of a pair use different angles.
type RoPE3D struct {
	Pos  []int32
	DSub int
}

// Engine runs the kernels. Shapes: B batch, N tokens, C channels, H heads, hd head dim.
type Engine interface {
	Name() string

	// Memory.
	Zeros(shape ...int) *Tensor
	// Empty is Zeros without the clearing: its contents are undefined (recycled memory on
	// the CPU engine). Only for a tensor that a forward method fully overwrites before
	// anything reads it, never for a gradient (backward methods accumulate).
	Empty(shape ...int) *Tensor
	FromHost(data []float32, shape ...int) *Tensor // copies data
	ToHost(t *Tensor) []float32                    // copies out; waits for pending work
	CopyInto(dst, src *Tensor)                     // same length
	Fill(t *Tensor, v float32)
	Free(t *Tensor)
	Sync() error

	// Linear: out[M,N] = in[M,K] · w[N,K]ᵀ + b[N]. b may be nil.
	Linear(out, in, w, b *Tensor, M, K, N int)
	// LinearBackward: dIn[M,K] += dOut·w; dW[N,K] += dOutᵀ·in; dB[N] += Σ_rows dOut.
	LinearBackward(dIn, dW, dB, dOut, in, w *Tensor, M, K, N int)
	// BatchedMatMul: for each of batch: C[M,N] = α·op(A)[M,K]·op(B)[K,N] + β·C, where op
	// transposes when the flag is set. A, B, C are contiguous stacks of matrices.
	BatchedMatMul(c, a, b *Tensor, batch, M, N, K int, transA, transB bool, alpha, beta float32)

	// LayerNorm over the last dim C of [M,C]; mean and rstd [M] are saved for backward.
	// w and b may be nil (parameter-free layer norm).
	LayerNorm(out, mean, rstd, in, w, b *Tensor, M, C int, eps float32)
	LayerNormBackward(dIn, dW, dB, dOut, in, w, mean, rstd *Tensor, M, C int)

	// GELU, the exact erf form: out = x·Φ(x).
	GELU(out, in *Tensor, n int)
	GELUBackward(dIn, dOut, in *Tensor, n int)

	// Elementwise: out = a + b; out = a·s; dst += src.
	Add(out, a, b *Tensor, n int)
	Scale(out, a *Tensor, s float32, n int)
	AddInPlace(dst, src *Tensor, n int)

	// SplitHeads takes the fused qkv projection [B,N,3,H,hd] (PyTorch's reshape of the
	// qkv Linear output) to q, k, v each [B,H,N,hd]; MergeHeads takes [B,H,N,hd] back
	// to [B,N,H*hd]. Their backward passes are each other's layout moves.
	SplitHeads(q, k, v, qkv *Tensor, B, N, H, hd int)
	SplitHeadsBackward(dqkv, dq, dk, dv *Tensor, B, N, H, hd int)
	MergeHeads(out, x *Tensor, B, N, H, hd int)
	MergeHeadsBackward(dx, dOut *Tensor, B, N, H, hd int)

	// RoPE rotates x [B,H,N,hd] in place; RoPEBackward applies the transpose rotation to
	// a gradient in place (the rotation is linear, so its backward is its transpose).
	RoPE(x *Tensor, r *RoPE3D, B, H, N, hd int)
	RoPEBackward(dx *Tensor, r *RoPE3D, B, H, N, hd int)

	// Attention: out[B,H,N,hd] = softmax(q·kᵀ·scale + mask)·v, never materialising the
	// full N×N matrix for long sequences; lse [B,H,N] (log-sum-exp of each query row)
	// is saved for the backward pass, which recomputes the probabilities.
	Attention(out, lse, q, k, v *Tensor, B, H, N, hd int, scale float32, mask *AttnMask)
	AttentionBackward(dq, dk, dv, dOut, out, lse, q, k, v *Tensor, B, H, N, hd int, scale float32, mask *AttnMask)

	// Cross attention with separate query and key lengths (the trajectory head's
	// attention pooling): q [B,H,Nq,hd], k and v [B,H,Nk,hd], out [B,H,Nq,hd].
	CrossAttention(out, lse, q, k, v *Tensor, B, H, Nq, Nk, hd int, scale float32)
	CrossAttentionBackward(dq, dk, dv, dOut, out, lse, q, k, v *Tensor, B, H, Nq, Nk, hd int, scale float32)

	// PatchEmbed3D is Conv3d with kernel = stride = (tubelet, patch, patch):
	// video [B,3,T,Hh,Ww] → out [B, N, D] with token order time → row → column;
	// w [D,3,tubelet,patch,patch], b [D].
	PatchEmbed3D(out, video, w, b *Tensor, B, T, Hh, Ww, tubelet, patch, D int)
	PatchEmbed3DBackward(dW, dB, dOut, video *Tensor, B, T, Hh, Ww, tubelet, patch, D int)

	// FiLM: x[B,N,C] ← x·(1+γ[B,C]) + β[B,C], per sample, broadcast over tokens.
	FiLM(out, x, gamma, beta *Tensor, B, N, C int)
	FiLMBackward(dx, dGamma, dBeta, dOut, x, gamma *Tensor, B, N, C int)

	// Gather rows: out[i,:] = in[idx[i],:] for rows of width C; ScatterAddRows is its
	// backward: dIn[idx[i],:] += dOut[i,:].
	GatherRows(out, in *Tensor, idx []int32, C int)
	ScatterAddRows(dIn, dOut *Tensor, idx []int32, C int)

	// Mul: out = a⊙b. Abs: out = |a|; AbsBackward: dIn += sign(in)·dOut.
	// Tanh: out = tanh(a); TanhBackward: dIn += (1-out²)·dOut.
	Mul(out, a, b *Tensor, n int)
	Abs(out, a *Tensor, n int)
	AbsBackward(dIn, dOut, in *Tensor, n int)
	Tanh(out, a *Tensor, n int)
	TanhBackward(dIn, dOut, out *Tensor, n int)

	// ConcatCols: out[M, Σw] = [parts[0] | parts[1] | …], parts[i] is [M, widths[i]].
	// SplitColsAdd is its backward: dParts[i] += the matching column block of dOut
	// (a nil dParts[i] is skipped).
	ConcatCols(out *Tensor, parts []*Tensor, M int, widths []int)
	SplitColsAdd(dParts []*Tensor, dOut *Tensor, M int, widths []int)

	// WeightedRowSum: out[G,C] = Σ_s w[g·S+s]·in[g,s,:] for in [G,S,C] and host weights
	// (masked mean pooling: w = mask/count; temporal AvgPool1d(2): S=2, w=0.5).
	// Backward: dIn[g,s,:] += w[g·S+s]·dOut[g,:].
	WeightedRowSum(out, in *Tensor, w []float32, G, S, C int)
	WeightedRowSumBackward(dIn, dOut *Tensor, w []float32, G, S, C int)

	// SumSquares returns Σ t² over n elements (for global gradient-norm clipping).
	SumSquares(t *Tensor, n int) float64

	// MSE: returns mean((a-b)²) over n elements; backward dA += scale·2(a-b)/n.
	MSE(a, b *Tensor, n int) float32
	MSEBackward(dA, a, b *Tensor, n int, scale float32)

	// Dropout (inverted, for training): out = in·keep/(1−p) over n elements, where
	// keep[i] is a pure function of (seed, i) (kern.DropoutKeep: a counter-based hash).
	// Nothing is stored: the backward regenerates the mask from the same seed, and a
	// run resumed from a checkpoint that derives the same seed draws the same mask.
	// p must be in [0,1); p = 0 copies. out may alias in.
	Dropout(out, in *Tensor, seed uint64, p float32, n int)
	// DropoutBackward: dIn += dOut·keep/(1−p) with the forward's seed and p.
	DropoutBackward(dIn, dOut *Tensor, seed uint64, p float32, n int)

	// AdamW step on a flat parameter tensor (decoupled weight decay, PyTorch semantics,
	// bias correction with step t ≥ 1).
	AdamW(param, grad, m, v *Tensor, n int, lr, beta1, beta2, eps, weightDecay float32, t int)
}
