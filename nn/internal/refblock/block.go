// Package refblock is a pre-norm V-JEPA-style transformer block (LN → qkv → RoPE →
// attention → proj, LN → fc1 → GELU → fc2, two residuals) written over nn.Engine. It
// exists for the compute layer's own tests and benchmarks: the gorgonia graph of the same
// block is checked against it, and the benchmarks time it at ViT-L width.
package refblock

import (
	"math"
	"math/rand/v2"

	"github.com/thinkjepa/thinkjepa/nn"
)

// Config is the block's shape.
type Config struct {
	B, N, D, H, Hidden int
	DSub               int // RoPE sub-dimension; 0 disables RoPE
	Eps                float32
}

// Block holds parameters and the activations saved for backward.
type Block struct {
	Cfg    Config
	Params *nn.ParamSet
	Pos    []int32
	Mask   *nn.AttnMask

	// Saved activations.
	x, ln1, m1, r1, qkv, q, k, v, att, lse, merged, x1, ln2, m2, r2, h, hg *nn.Tensor
}

// New makes a block with random parameters (seeded) and random 3-D positions.
func New(e nn.Engine, c Config, seed uint64) *Block {
	rng := rand.New(rand.NewPCG(seed, 7))
	ps := nn.NewParamSet()
	D, F := c.D, c.Hidden
	add := func(name string, std float64, shape ...int) {
		p := ps.Add(e, name, shape...)
		nn.InitNormal(e, p, rng, std)
	}
	add("norm1.weight", 0.5, D)
	add("norm1.bias", 0.5, D)
	add("attn.qkv.weight", 1/math.Sqrt(float64(D)), 3*D, D)
	add("attn.qkv.bias", 0.1, 3*D)
	add("attn.proj.weight", 1/math.Sqrt(float64(D)), D, D)
	add("attn.proj.bias", 0.1, D)
	add("norm2.weight", 0.5, D)
	add("norm2.bias", 0.5, D)
	add("mlp.fc1.weight", 1/math.Sqrt(float64(D)), F, D)
	add("mlp.fc1.bias", 0.1, F)
	add("mlp.fc2.weight", 1/math.Sqrt(float64(F)), D, F)
	add("mlp.fc2.bias", 0.1, D)
	for _, p := range ps.List() { // LayerNorm weights around 1
		if p.Name == "norm1.weight" || p.Name == "norm2.weight" {
			h := e.ToHost(p.W)
			for i := range h {
				h[i] += 1
			}
			_ = ps.Set(e, p.Name, p.Shape, h)
		}
	}
	pos := make([]int32, 3*c.B*c.N)
	for i := range pos {
		pos[i] = int32(rng.IntN(8))
	}
	b := &Block{Cfg: c, Params: ps, Pos: pos}
	M, hd := c.B*c.N, D/c.H
	b.ln1, b.m1, b.r1 = e.Zeros(M, D), e.Zeros(M), e.Zeros(M)
	b.qkv = e.Zeros(M, 3*D)
	b.q, b.k, b.v = e.Zeros(c.B, c.H, c.N, hd), e.Zeros(c.B, c.H, c.N, hd), e.Zeros(c.B, c.H, c.N, hd)
	b.att, b.lse = e.Zeros(c.B, c.H, c.N, hd), e.Zeros(c.B, c.H, c.N)
	b.merged, b.x1 = e.Zeros(M, D), e.Zeros(M, D)
	b.ln2, b.m2, b.r2 = e.Zeros(M, D), e.Zeros(M), e.Zeros(M)
	b.h, b.hg = e.Zeros(M, F), e.Zeros(M, F)
	return b
}

func (b *Block) p(name string) *nn.Tensor { return b.Params.Get(name).W }
func (b *Block) g(name string) *nn.Tensor { return b.Params.Get(name).G }

// Forward computes out [B,N,D] from x [B,N,D]; x must stay unchanged until Backward.
func (b *Block) Forward(e nn.Engine, out, x *nn.Tensor) {
	c := b.Cfg
	M, D, H, hd, F := c.B*c.N, c.D, c.H, c.D/c.H, c.Hidden
	b.x = x
	e.LayerNorm(b.ln1, b.m1, b.r1, x, b.p("norm1.weight"), b.p("norm1.bias"), M, D, c.Eps)
	e.Linear(b.qkv, b.ln1, b.p("attn.qkv.weight"), b.p("attn.qkv.bias"), M, D, 3*D)
	e.SplitHeads(b.q, b.k, b.v, b.qkv, c.B, c.N, H, hd)
	if c.DSub > 0 {
		r := &nn.RoPE3D{Pos: b.Pos, DSub: c.DSub}
		e.RoPE(b.q, r, c.B, H, c.N, hd)
		e.RoPE(b.k, r, c.B, H, c.N, hd)
	}
	e.Attention(b.att, b.lse, b.q, b.k, b.v, c.B, H, c.N, hd, float32(1/math.Sqrt(float64(hd))), b.Mask)
	e.MergeHeads(b.merged, b.att, c.B, c.N, H, hd)
	e.Linear(b.x1, b.merged, b.p("attn.proj.weight"), b.p("attn.proj.bias"), M, D, D)
	e.AddInPlace(b.x1, x, M*D)
	e.LayerNorm(b.ln2, b.m2, b.r2, b.x1, b.p("norm2.weight"), b.p("norm2.bias"), M, D, c.Eps)
	e.Linear(b.h, b.ln2, b.p("mlp.fc1.weight"), b.p("mlp.fc1.bias"), M, D, F)
	e.GELU(b.hg, b.h, M*F)
	e.Linear(out, b.hg, b.p("mlp.fc2.weight"), b.p("mlp.fc2.bias"), M, F, D)
	e.AddInPlace(out, b.x1, M*D)
}

// Backward accumulates parameter gradients and dx (may be nil) from dOut.
func (b *Block) Backward(e nn.Engine, dx, dOut *nn.Tensor) {
	c := b.Cfg
	M, D, H, hd, F := c.B*c.N, c.D, c.H, c.D/c.H, c.Hidden
	dx1 := e.Zeros(M, D)
	e.AddInPlace(dx1, dOut, M*D)
	dhg := e.Zeros(M, F)
	e.LinearBackward(dhg, b.g("mlp.fc2.weight"), b.g("mlp.fc2.bias"), dOut, b.hg, b.p("mlp.fc2.weight"), M, F, D)
	dh := e.Zeros(M, F)
	e.GELUBackward(dh, dhg, b.h, M*F)
	dln2 := e.Zeros(M, D)
	e.LinearBackward(dln2, b.g("mlp.fc1.weight"), b.g("mlp.fc1.bias"), dh, b.ln2, b.p("mlp.fc1.weight"), M, D, F)
	e.LayerNormBackward(dx1, b.g("norm2.weight"), b.g("norm2.bias"), dln2, b.x1, b.p("norm2.weight"), b.m2, b.r2, M, D)
	if dx != nil {
		e.AddInPlace(dx, dx1, M*D)
	}
	dmerged := e.Zeros(M, D)
	e.LinearBackward(dmerged, b.g("attn.proj.weight"), b.g("attn.proj.bias"), dx1, b.merged, b.p("attn.proj.weight"), M, D, D)
	datt := e.Zeros(c.B, H, c.N, hd)
	e.MergeHeadsBackward(datt, dmerged, c.B, c.N, H, hd)
	dq, dk, dv := e.Zeros(c.B, H, c.N, hd), e.Zeros(c.B, H, c.N, hd), e.Zeros(c.B, H, c.N, hd)
	e.AttentionBackward(dq, dk, dv, datt, b.att, b.lse, b.q, b.k, b.v, c.B, H, c.N, hd, float32(1/math.Sqrt(float64(hd))), b.Mask)
	if c.DSub > 0 {
		r := &nn.RoPE3D{Pos: b.Pos, DSub: c.DSub}
		e.RoPEBackward(dq, r, c.B, H, c.N, hd)
		e.RoPEBackward(dk, r, c.B, H, c.N, hd)
	}
	dqkv := e.Zeros(M, 3*D)
	e.SplitHeadsBackward(dqkv, dq, dk, dv, c.B, c.N, H, hd)
	dln1 := e.Zeros(M, D)
	e.LinearBackward(dln1, b.g("attn.qkv.weight"), b.g("attn.qkv.bias"), dqkv, b.ln1, b.p("attn.qkv.weight"), M, D, 3*D)
	if dx != nil {
		e.LayerNormBackward(dx, b.g("norm1.weight"), b.g("norm1.bias"), dln1, b.x, b.p("norm1.weight"), b.m1, b.r1, M, D)
	} else {
		e.LayerNormBackward(nil, b.g("norm1.weight"), b.g("norm1.bias"), dln1, b.x, b.p("norm1.weight"), b.m1, b.r1, M, D)
	}
	for _, t := range []*nn.Tensor{dx1, dhg, dh, dln2, dmerged, datt, dq, dk, dv, dqkv, dln1} {
		e.Free(t)
	}
}
