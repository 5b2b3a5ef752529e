// Package film is ThinkJEPA's guidance bank (model-spec §4.5): it turns cached VLM
// hidden states (the "thinker" features vlm_old / vlm_new) into per-block FiLM
// parameters γ_l, β_l [B,C] for the ThinkJEPA predictor.
//
// For predictor block l:
//
//	ō, n̄ = masked-mean(old_adapter(vlm_old[src(l)])), masked-mean(new_adapter(vlm_new[src(l)]))
//	s    = [ō, n̄, |ō−n̄|, ō⊙n̄]                         (zero summaries beyond the pyramid)
//	γ|β  = tanh(g_l) · MLP_l(s),   MLP_l = LN(4C) → Linear(4C→H) → GELU → Linear(H→2C)
//
// g is zero-initialised, so at the start FiLM is the identity x·(1+0)+0.
// Forward and backward are written over nn.Engine like every model in the project.
package film

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/thinkjepa/thinkjepa/nn"
)

// Config sizes the guidance bank.
type Config struct {
	VLMDim    int `json:"vlm_dim"`    // Dv, hidden size of the VLM (2048 for Qwen3-VL-2B)
	Width     int `json:"width"`      // C, predictor width (384)
	Hidden    int `json:"hidden"`     // fusion MLP hidden size (512)
	NumBlocks int `json:"num_blocks"` // predictor depth (12): one MLP and one gate per block
	// LastOnly is v1's "--thinkjepa_vlm_layer_selector last": only the last cached VLM
	// layer is used, and it guides block 0; every other block gets the constant MLP_l(0).
	LastOnly bool `json:"last_only"`
	// BatchMean is v1's batch-averaged guidance: VLM tensors are averaged over the batch
	// (masks OR-ed) so every sample of a batch receives the same γ, β.
	BatchMean bool `json:"batch_mean"`
}

// LNEps is the epsilon of the fusion MLPs' LayerNorm (PyTorch default; model-spec §4.4).
const LNEps = 1e-5

// Validate checks the sizes.
func (c Config) Validate() error {
	if c.VLMDim <= 0 || c.Width <= 0 || c.Hidden <= 0 || c.NumBlocks <= 0 {
		return fmt.Errorf("film config: vlm_dim, width, hidden and num_blocks must be positive, got %+v", c)
	}
	return nil
}

// Bank holds the guidance parameters.
type Bank struct {
	Cfg    Config
	Params *nn.ParamSet

	oldW, newW *nn.Param
	lnW, lnB   []*nn.Param
	fc1W, fc1B []*nn.Param
	fc2W, fc2B []*nn.Param
	gate       *nn.Param
}

// mlpName is the checkpoint name of a parameter of block i's fusion MLP.
func mlpName(i int, rest string) string { return fmt.Sprintf("guidance_fusion_mlps.%d.%s", i, rest) }

// New allocates a bank (zero weights; call Init for the PyTorch-style initialisation).
func New(e nn.Engine, cfg Config) (*Bank, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	C, Dv, H := cfg.Width, cfg.VLMDim, cfg.Hidden
	ps := nn.NewParamSet()
	b := &Bank{Cfg: cfg, Params: ps}
	b.oldW = ps.Add(e, "guidance_old_adapter.weight", C, Dv)
	b.newW = ps.Add(e, "guidance_new_adapter.weight", C, Dv)
	for i := 0; i < cfg.NumBlocks; i++ {
		b.lnW = append(b.lnW, ps.Add(e, mlpName(i, "0.weight"), 4*C))
		b.lnB = append(b.lnB, ps.Add(e, mlpName(i, "0.bias"), 4*C))
		b.fc1W = append(b.fc1W, ps.Add(e, mlpName(i, "1.weight"), H, 4*C))
		b.fc1B = append(b.fc1B, ps.Add(e, mlpName(i, "1.bias"), H))
		b.fc2W = append(b.fc2W, ps.Add(e, mlpName(i, "3.weight"), 2*C, H))
		b.fc2B = append(b.fc2B, ps.Add(e, mlpName(i, "3.bias"), 2*C))
	}
	b.gate = ps.Add(e, "guidance_layer_scale", cfg.NumBlocks, 1, 1)
	return b, nil
}

// Init applies PyTorch's default initialisation (Linear: U(±1/√fan_in) for weight and
// bias; LayerNorm: 1, 0) and the zero gate.
func (b *Bank) Init(e nn.Engine, rng *rand.Rand) {
	C, Dv, H := b.Cfg.Width, b.Cfg.VLMDim, b.Cfg.Hidden
	nn.InitUniform(e, b.oldW, rng, 1/math.Sqrt(float64(Dv)))
	nn.InitUniform(e, b.newW, rng, 1/math.Sqrt(float64(Dv)))
	for i := range b.lnW {
		nn.InitConst(e, b.lnW[i], 1)
		nn.InitConst(e, b.lnB[i], 0)
		nn.InitUniform(e, b.fc1W[i], rng, 1/math.Sqrt(float64(4*C)))
		nn.InitUniform(e, b.fc1B[i], rng, 1/math.Sqrt(float64(4*C)))
		nn.InitUniform(e, b.fc2W[i], rng, 1/math.Sqrt(float64(H)))
		nn.InitUniform(e, b.fc2B[i], rng, 1/math.Sqrt(float64(H)))
	}
	nn.InitConst(e, b.gate, 0)
}

// Stream is one VLM token stream (old = prompt/"encoder" tokens, new = generated tokens)
// for a batch: X [B, L, S, Dv] on the engine, Mask [B·L·S] on the host (1 valid, 0 pad).
// Padded rows must be finite; they are excluded by the mask.
type Stream struct {
	X    *nn.Tensor
	Mask []float32
	L, S int
}

// Input is the guidance input of one batch. A nil stream is "missing": its summary is a
// zero vector (model-spec §4.5 step 1).
type Input struct {
	B        int
	Old, New *Stream
}

// layerCount is the number of cached VLM layers present in the input.
func (in *Input) layerCount() int {
	L := 0
	for _, s := range []*Stream{in.Old, in.New} {
		if s != nil && s.L > L {
			L = s.L
		}
	}
	return L
}

// Output holds γ_l, β_l [B,C] for every block, and what backward needs.
type Output struct {
	Gamma, Beta []*nn.Tensor

	b   *Bank
	in  *Input
	src []int // block → VLM layer index, -1 for "beyond the pyramid"

	oldA, newA *nn.Tensor // adapted tokens [B·L·S, C]
	oldP, newP *nn.Tensor // pooled per (b, l) [B·L, C]
	oldW, newW []float32  // pooling weights
	blocks     []blockCache
	tanhG      []float32
	zero       *nn.Tensor // [B,C] zeros for missing summaries
	tmp        []*nn.Tensor
}

type blockCache struct {
	o, n, diff, abs, prod, sig *nn.Tensor // [B,C] ... [B,4C]
	ln, mean, rstd             *nn.Tensor
	h1, g1, raw                *nn.Tensor
	oIdx, nIdx                 []int32 // rows of oldP/newP gathered (nil if missing)
}

// Gates returns tanh(g_l) per block: 0 is the identity FiLM, the zero-init start.
func (b *Bank) Gates(e nn.Engine) []float64 {
	g := e.ToHost(b.gate.W)
	out := make([]float64, len(g))
	for i, v := range g {
		out[i] = math.Tanh(float64(v))
	}
	return out
}

// blockSource maps predictor blocks to VLM layers: block k ← layer k (pyramid, v2), or
// block 0 ← the last layer (v1 LastOnly); -1 beyond.
func (b *Bank) blockSource(L int) []int {
	src := make([]int, b.Cfg.NumBlocks)
	for k := range src {
		src[k] = -1
		switch {
		case b.Cfg.LastOnly:
			if k == 0 && L > 0 {
				src[k] = L - 1
			}
		case k < L:
			src[k] = k
		}
	}
	return src
}

func (o *Output) alloc(e nn.Engine, shape ...int) *nn.Tensor {
	t := e.Zeros(shape...)
	o.tmp = append(o.tmp, t)
	return t
}

// poolWeights computes the masked-mean weights per (b, l, s). With batch mean, each
// sample's valid rows are weighted by 1/(B·count of the OR-ed mask) so that summing the
// pooled rows over b gives the v1 batch-averaged summary (padded rows count as zeros,
// as in the zero-padded v1 tensors).
func poolWeights(s *Stream, B int, batchMean bool) ([]float32, error) {
	L, S := s.L, s.S
	if len(s.Mask) != B*L*S {
		return nil, fmt.Errorf("film: mask has %d entries, want B·L·S = %d·%d·%d", len(s.Mask), B, L, S)
	}
	w := make([]float32, B*L*S)
	if batchMean {
		for l := 0; l < L; l++ {
			count := 0
			or := make([]bool, S)
			for i := 0; i < S; i++ {
				for bb := 0; bb < B; bb++ {
					if s.Mask[(bb*L+l)*S+i] != 0 {
						or[i] = true
					}
				}
				if or[i] {
					count++
				}
			}
			if count == 0 {
				continue
			}
			for bb := 0; bb < B; bb++ {
				for i := 0; i < S; i++ {
					if or[i] && s.Mask[(bb*L+l)*S+i] != 0 {
						w[(bb*L+l)*S+i] = 1 / float32(B*count)
					}
				}
			}
		}
		return w, nil
	}
	for g := 0; g < B*L; g++ {
		count := 0
		for i := 0; i < S; i++ {
			if s.Mask[g*S+i] != 0 {
				count++
			}
		}
		if count == 0 {
			continue // nothing valid: zero summary (PyTorch clamps the count at 1)
		}
		for i := 0; i < S; i++ {
			if s.Mask[g*S+i] != 0 {
				w[g*S+i] = 1 / float32(count)
			}
		}
	}
	return w, nil
}

// Forward computes γ_l, β_l for every block. Call Release on the output when done.
func (b *Bank) Forward(e nn.Engine, in *Input) (*Output, error) {
	B, C, Dv := in.B, b.Cfg.Width, b.Cfg.VLMDim
	if B <= 0 {
		return nil, fmt.Errorf("film: batch size %d", B)
	}
	out := &Output{b: b, in: in}
	L := in.layerCount()
	for _, s := range []*Stream{in.Old, in.New} {
		if s == nil {
			continue
		}
		if s.L != L {
			return nil, fmt.Errorf("film: old and new streams have different layer counts")
		}
		if s.X.Len() != B*s.L*s.S*Dv {
			return nil, fmt.Errorf("film: stream has %d values, want B·L·S·Dv = %d·%d·%d·%d", s.X.Len(), B, s.L, s.S, Dv)
		}
	}
	out.src = b.blockSource(L)

	// Adapt and pool every (sample, layer) once: one GEMM per stream.
	adaptPool := func(s *Stream, w *nn.Param) (a, p *nn.Tensor, pw []float32, err error) {
		if s == nil {
			return nil, nil, nil, nil
		}
		pw, err = poolWeights(s, B, b.Cfg.BatchMean)
		if err != nil {
			return nil, nil, nil, err
		}
		rows := B * s.L * s.S
		a = out.alloc(e, rows, C)
		e.Linear(a, s.X, w.W, nil, rows, Dv, C)
		p = out.alloc(e, B*s.L, C)
		e.WeightedRowSum(p, a, pw, B*s.L, s.S, C)
		return a, p, pw, nil
	}
	var err error
	if out.oldA, out.oldP, out.oldW, err = adaptPool(in.Old, b.oldW); err != nil {
		return nil, err
	}
	if out.newA, out.newP, out.newW, err = adaptPool(in.New, b.newW); err != nil {
		return nil, err
	}

	gates := e.ToHost(b.gate.W)
	out.tanhG = make([]float32, len(gates))
	for i, g := range gates {
		out.tanhG[i] = float32(math.Tanh(float64(g)))
	}
	out.zero = out.alloc(e, B, C)
	H := b.Cfg.Hidden
	for k := 0; k < b.Cfg.NumBlocks; k++ {
		var bc blockCache
		summary := func(p *nn.Tensor, L int) (*nn.Tensor, []int32) {
			if p == nil || out.src[k] < 0 {
				return out.zero, nil
			}
			idx := summaryRows(B, L, out.src[k], b.Cfg.BatchMean)
			t := out.alloc(e, B, C)
			gatherSummed(e, out, t, p, idx, B, C, b.Cfg.BatchMean)
			return t, idx
		}
		bc.o, bc.oIdx = summary(out.oldP, L)
		bc.n, bc.nIdx = summary(out.newP, L)
		n := B * C
		bc.diff = out.alloc(e, B, C)
		e.Scale(bc.diff, bc.n, -1, n)
		e.Add(bc.diff, bc.o, bc.diff, n)
		bc.abs = out.alloc(e, B, C)
		e.Abs(bc.abs, bc.diff, n)
		bc.prod = out.alloc(e, B, C)
		e.Mul(bc.prod, bc.o, bc.n, n)
		bc.sig = out.alloc(e, B, 4*C)
		e.ConcatCols(bc.sig, []*nn.Tensor{bc.o, bc.n, bc.abs, bc.prod}, B, []int{C, C, C, C})
		bc.ln = out.alloc(e, B, 4*C)
		bc.mean = out.alloc(e, B)
		bc.rstd = out.alloc(e, B)
		e.LayerNorm(bc.ln, bc.mean, bc.rstd, bc.sig, b.lnW[k].W, b.lnB[k].W, B, 4*C, LNEps)
		bc.h1 = out.alloc(e, B, H)
		e.Linear(bc.h1, bc.ln, b.fc1W[k].W, b.fc1B[k].W, B, 4*C, H)
		bc.g1 = out.alloc(e, B, H)
		e.GELU(bc.g1, bc.h1, B*H)
		bc.raw = out.alloc(e, B, 2*C)
		e.Linear(bc.raw, bc.g1, b.fc2W[k].W, b.fc2B[k].W, B, H, 2*C)
		scaled := out.alloc(e, B, 2*C)
		e.Scale(scaled, bc.raw, out.tanhG[k], B*2*C)
		gam, bet := out.alloc(e, B, C), out.alloc(e, B, C)
		e.SplitColsAdd([]*nn.Tensor{gam, bet}, scaled, B, []int{C, C})
		out.Gamma = append(out.Gamma, gam)
		out.Beta = append(out.Beta, bet)
		out.blocks = append(out.blocks, bc)
	}
	return out, nil
}

// summaryRows lists the pooled rows (b·L + l) that make block k's summaries: one per
// sample, or all samples' rows when they are summed for the batch mean.
func summaryRows(B, L, l int, batchMean bool) []int32 {
	idx := make([]int32, B)
	for bb := range idx {
		idx[bb] = int32(bb*L + l)
	}
	return idx
}

// gatherSummed fills dst [B,C] with the rows idx of p, or, with batch mean, with the
// sum of those rows broadcast to every sample.
func gatherSummed(e nn.Engine, out *Output, dst, p *nn.Tensor, idx []int32, B, C int, batchMean bool) {
	if !batchMean {
		e.GatherRows(dst, p, idx, C)
		return
	}
	rows := out.alloc(e, B, C)
	e.GatherRows(rows, p, idx, C)
	sum := out.alloc(e, 1, C)
	e.WeightedRowSum(sum, rows, ones(B), 1, B, C)
	e.GatherRows(dst, sum, make([]int32, B), C)
}

// gatherSummedBackward is gatherSummed's transpose: dP[idx] += dDst (summed over the
// batch first in batch-mean mode).
func gatherSummedBackward(e nn.Engine, out *Output, dP, dDst *nn.Tensor, idx []int32, B, C int, batchMean bool) {
	if !batchMean {
		e.ScatterAddRows(dP, dDst, idx, C)
		return
	}
	dSum := out.alloc(e, 1, C)
	e.ScatterAddRows(dSum, dDst, make([]int32, B), C)
	dRows := out.alloc(e, B, C)
	e.WeightedRowSumBackward(dRows, dSum, ones(B), 1, B, C)
	e.ScatterAddRows(dP, dRows, idx, C)
}

func ones(n int) []float32 {
	w := make([]float32, n)
	for i := range w {
		w[i] = 1
	}
	return w
}

// Backward accumulates parameter gradients (and, when dOld/dNew are non-nil, the
// gradients of the VLM inputs, [B·L·S·Dv]) from dγ_l, dβ_l [B,C] per block. A nil
// dGamma[k] and dBeta[k] pair skips block k.
func (o *Output) Backward(e nn.Engine, dGamma, dBeta []*nn.Tensor, dOld, dNew *nn.Tensor) {
	b, in := o.b, o.in
	B, C, H, Dv := in.B, b.Cfg.Width, b.Cfg.Hidden, b.Cfg.VLMDim
	var dOldP, dNewP *nn.Tensor
	if o.oldP != nil {
		dOldP = o.alloc(e, B*in.Old.L, C)
	}
	if o.newP != nil {
		dNewP = o.alloc(e, B*in.New.L, C)
	}
	dGate := make([]float32, b.Cfg.NumBlocks)
	n := B * C
	for k := range o.blocks {
		if dGamma[k] == nil && dBeta[k] == nil {
			continue
		}
		bc := &o.blocks[k]
		dScaled := o.alloc(e, B, 2*C)
		parts := []*nn.Tensor{dGamma[k], dBeta[k]}
		for i, p := range parts {
			if p == nil {
				parts[i] = o.alloc(e, B, C)
			}
		}
		e.ConcatCols(dScaled, parts, B, []int{C, C})
		// d tanh(g) = Σ dScaled ⊙ raw, as a 1×K · K×1 GEMM; dg = (1 − tanh²)·that.
		dot := o.alloc(e, 1, 1)
		e.Linear(dot, dScaled, bc.raw, nil, 1, B*2*C, 1)
		t := o.tanhG[k]
		dGate[k] = (1 - t*t) * e.ToHost(dot)[0]
		dRaw := o.alloc(e, B, 2*C)
		e.Scale(dRaw, dScaled, t, B*2*C)
		dG1 := o.alloc(e, B, H)
		e.LinearBackward(dG1, b.fc2W[k].G, b.fc2B[k].G, dRaw, bc.g1, b.fc2W[k].W, B, H, 2*C)
		dH1 := o.alloc(e, B, H)
		e.GELUBackward(dH1, dG1, bc.h1, B*H)
		dLN := o.alloc(e, B, 4*C)
		e.LinearBackward(dLN, b.fc1W[k].G, b.fc1B[k].G, dH1, bc.ln, b.fc1W[k].W, B, 4*C, H)
		dSig := o.alloc(e, B, 4*C)
		e.LayerNormBackward(dSig, b.lnW[k].G, b.lnB[k].G, dLN, bc.sig, b.lnW[k].W, bc.mean, bc.rstd, B, 4*C)
		if bc.oIdx == nil && bc.nIdx == nil {
			continue // constant block: no path back to the VLM features
		}
		dO, dN, dAbs, dProd := o.alloc(e, B, C), o.alloc(e, B, C), o.alloc(e, B, C), o.alloc(e, B, C)
		e.SplitColsAdd([]*nn.Tensor{dO, dN, dAbs, dProd}, dSig, B, []int{C, C, C, C})
		dDiff := o.alloc(e, B, C)
		e.AbsBackward(dDiff, dAbs, bc.diff, n)
		e.AddInPlace(dO, dDiff, n)
		negDiff := o.alloc(e, B, C)
		e.Scale(negDiff, dDiff, -1, n)
		e.AddInPlace(dN, negDiff, n)
		tmp := o.alloc(e, B, C)
		e.Mul(tmp, dProd, bc.n, n)
		e.AddInPlace(dO, tmp, n)
		e.Mul(tmp, dProd, bc.o, n)
		e.AddInPlace(dN, tmp, n)
		if bc.oIdx != nil {
			gatherSummedBackward(e, o, dOldP, dO, bc.oIdx, B, C, b.Cfg.BatchMean)
		}
		if bc.nIdx != nil {
			gatherSummedBackward(e, o, dNewP, dN, bc.nIdx, B, C, b.Cfg.BatchMean)
		}
	}
	streamBack := func(s *Stream, a, dP *nn.Tensor, pw []float32, w *nn.Param, dX *nn.Tensor) {
		if s == nil {
			return
		}
		rows := B * s.L * s.S
		dA := o.alloc(e, rows, C)
		e.WeightedRowSumBackward(dA, dP, pw, B*s.L, s.S, C)
		e.LinearBackward(dX, w.G, nil, dA, s.X, w.W, rows, Dv, C)
	}
	streamBack(in.Old, o.oldA, dOldP, o.oldW, b.oldW, dOld)
	streamBack(in.New, o.newA, dNewP, o.newW, b.newW, dNew)
	g := e.FromHost(dGate, b.Cfg.NumBlocks, 1, 1)
	e.AddInPlace(b.gate.G, g, b.Cfg.NumBlocks)
	e.Free(g)
}

// Release frees every tensor the output holds (γ, β included).
func (o *Output) Release(e nn.Engine) {
	for _, t := range o.tmp {
		e.Free(t)
	}
	o.tmp, o.Gamma, o.Beta, o.blocks = nil, nil, nil, nil
}
