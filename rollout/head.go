// Package rollout is ThinkJEPA's trajectory readout (model-spec §4.6): the head that
// reads observed + predicted latents [B,T,P,D] and regresses hand joints [B,T/2,J,3]
// in camera coordinates; the camera→world mapping; and the recursive latent rollout of
// §4.8. Forward and backward are written over nn.Engine.
package rollout

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/thinkjepa/thinkjepa/nn"
)

// HeadConfig sizes the head. PyTorch's TrajectoryReadoutMLP has Dim = Hidden = 1024,
// Heads 8, Joints 52.
type HeadConfig struct {
	Dim    int `json:"dim"`    // latent channels D
	Hidden int `json:"hidden"` // MLP width (= D upstream)
	Heads  int `json:"heads"`  // attention-pooling heads
	Joints int `json:"joints"` // 52
	// NoPool drops the AvgPool1d(2) over time (upstream's downsample=False, used by the
	// `track` and `future` layouts of model-spec §4.6): T input frames give T output
	// steps. The parameters are the same either way.
	NoPool bool `json:"no_pool,omitempty"`
}

// Validate checks the sizes.
func (c HeadConfig) Validate() error {
	if c.Dim <= 0 || c.Hidden <= 0 || c.Heads <= 0 || c.Joints <= 0 || c.Dim%c.Heads != 0 {
		return fmt.Errorf("head config: dim, hidden, heads, joints must be positive and dim divisible by heads, got %+v", c)
	}
	return nil
}

// LNEps of ln_in / ln_out (PyTorch default).
const LNEps = 1e-5

// Head is the trajectory head's parameters.
type Head struct {
	Cfg    HeadConfig
	Params *nn.ParamSet

	query, inW, inB, outW, outB *nn.Param
	lnInW, lnInB, mlpW, mlpB    *nn.Param
	t0W, t0B, t3W, t3B          *nn.Param
	lnOutW, lnOutB, fcW, fcB    *nn.Param
}

// NewHead allocates the head with PyTorch's state-dict names.
func NewHead(e nn.Engine, cfg HeadConfig) (*Head, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	D, Hd, J := cfg.Dim, cfg.Hidden, cfg.Joints
	ps := nn.NewParamSet()
	h := &Head{Cfg: cfg, Params: ps}
	h.query = ps.Add(e, "token_query", 1, 1, D)
	h.inW = ps.Add(e, "token_attn.in_proj_weight", 3*D, D)
	h.inB = ps.Add(e, "token_attn.in_proj_bias", 3*D)
	h.outW = ps.Add(e, "token_attn.out_proj.weight", D, D)
	h.outB = ps.Add(e, "token_attn.out_proj.bias", D)
	h.lnInW = ps.Add(e, "ln_in.weight", D)
	h.lnInB = ps.Add(e, "ln_in.bias", D)
	h.mlpW = ps.Add(e, "mlp_in.0.weight", Hd, D)
	h.mlpB = ps.Add(e, "mlp_in.0.bias", Hd)
	h.t0W = ps.Add(e, "temporal_mlp.0.weight", Hd, Hd)
	h.t0B = ps.Add(e, "temporal_mlp.0.bias", Hd)
	h.t3W = ps.Add(e, "temporal_mlp.3.weight", Hd, Hd)
	h.t3B = ps.Add(e, "temporal_mlp.3.bias", Hd)
	h.lnOutW = ps.Add(e, "ln_out.weight", Hd)
	h.lnOutB = ps.Add(e, "ln_out.bias", Hd)
	h.fcW = ps.Add(e, "fc_out.weight", 3*J, Hd)
	h.fcB = ps.Add(e, "fc_out.bias", 3*J)
	return h, nil
}

// Init follows PyTorch: token_query ~ N(0,1); MultiheadAttention in_proj Xavier-uniform,
// biases 0, out_proj Linear default with bias 0; Linears U(±1/√fan_in); LayerNorms 1/0;
// fc_out Xavier-uniform with bias 0.
func (h *Head) Init(e nn.Engine, rng *rand.Rand) {
	D, Hd, J := h.Cfg.Dim, h.Cfg.Hidden, h.Cfg.Joints
	nn.InitNormal(e, h.query, rng, 1)
	nn.InitUniform(e, h.inW, rng, math.Sqrt(6/float64(D+3*D)))
	nn.InitConst(e, h.inB, 0)
	nn.InitUniform(e, h.outW, rng, 1/math.Sqrt(float64(D)))
	nn.InitConst(e, h.outB, 0)
	for _, p := range []*nn.Param{h.lnInW, h.lnOutW} {
		nn.InitConst(e, p, 1)
	}
	for _, p := range []*nn.Param{h.lnInB, h.lnOutB} {
		nn.InitConst(e, p, 0)
	}
	lin := func(w, b *nn.Param, fanIn int) {
		a := 1 / math.Sqrt(float64(fanIn))
		nn.InitUniform(e, w, rng, a)
		nn.InitUniform(e, b, rng, a)
	}
	lin(h.mlpW, h.mlpB, D)
	lin(h.t0W, h.t0B, Hd)
	lin(h.t3W, h.t3B, Hd)
	nn.InitUniform(e, h.fcW, rng, math.Sqrt(6/float64(Hd+3*J)))
	nn.InitConst(e, h.fcB, 0)
}

// Pool is the number of input frames per output step: 2 (AvgPool1d(2), the default) or
// 1 (NoPool).
func (c HeadConfig) Pool() int {
	if c.NoPool {
		return 1
	}
	return 2
}

// HeadOut is the head's output [B, T/Pool, J, 3] (camera coordinates) and its saved state.
type HeadOut struct {
	Out     *nn.Tensor
	B, T, P int

	h                      *Head
	x                      *nn.Tensor
	wq, wk, wv, bq, bk, bv *nn.Tensor
	q, qh, k, kh, v, vh    *nn.Tensor
	att, lse, pooled       *nn.Tensor
	lnIn, lnInM, lnInR     *nn.Tensor
	m1, h1, t0, t0g, t3    *nn.Tensor
	t3g, hsum, avg         *nn.Tensor
	lnOut, lnOutM, lnOutR  *nn.Tensor
	drop                   Dropout
	tmp                    []*nn.Tensor
}

// Dropout configures the head's training-time dropout (model-spec §4.6: p = 0.1 after
// the GELU of mlp_in and after each GELU of temporal_mlp). Each site draws its mask from
// its own seed derived from Seed (nn.Engine.Dropout), so a step that passes the same
// Seed gets the same masks. P = 0 is evaluation (no dropout).
//
// Not implemented: MultiheadAttention's dropout on the pooling's attention
// probabilities; the engine's fused cross-attention kernel has no dropout.
type Dropout struct {
	P    float32
	Seed uint64
}

// Dropout sites of the head.
const (
	dropMLPIn = iota + 1
	dropTemporal0
	dropTemporal3
)

func (d Dropout) siteSeed(site uint64) uint64 {
	z := d.Seed ^ (site * 0xd1b54a32d192ed03)
	z = (z ^ (z >> 33)) * 0xff51afd7ed558ccd
	return z ^ (z >> 33)
}

// apply runs site's dropout in place on x (n values).
func (d Dropout) apply(e nn.Engine, x *nn.Tensor, site uint64, n int) {
	if d.P > 0 {
		e.Dropout(x, x, d.siteSeed(site), d.P, n)
	}
}

// backward returns dOut with site's mask applied (a new tensor owned by o), or dOut
// itself without dropout.
func (d Dropout) backward(e nn.Engine, o *HeadOut, dOut *nn.Tensor, site uint64, n int) *nn.Tensor {
	if d.P <= 0 {
		return dOut
	}
	g := o.alloc(e, n)
	e.DropoutBackward(g, dOut, d.siteSeed(site), d.P, n)
	return g
}

func (o *HeadOut) alloc(e nn.Engine, shape ...int) *nn.Tensor {
	t := e.Zeros(shape...)
	o.tmp = append(o.tmp, t)
	return t
}

func rangeIdx(from, n int) []int32 {
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(from + i)
	}
	return idx
}

// Forward runs the head on x [B,T,P,D] (T a multiple of Cfg.Pool()) with evaluation
// semantics (no dropout).
func (h *Head) Forward(e nn.Engine, x *nn.Tensor, B, T, P int) (*HeadOut, error) {
	return h.ForwardDrop(e, x, B, T, P, Dropout{})
}

// ForwardDrop is Forward with training-time dropout (drop.P = 0: none).
func (h *Head) ForwardDrop(e nn.Engine, x *nn.Tensor, B, T, P int, drop Dropout) (*HeadOut, error) {
	if !(drop.P >= 0 && drop.P < 1) {
		return nil, fmt.Errorf("trajectory head: dropout %v, expected 0 ≤ p < 1", drop.P)
	}
	D, Hd, J, H := h.Cfg.Dim, h.Cfg.Hidden, h.Cfg.Joints, h.Cfg.Heads
	pool := h.Cfg.Pool()
	if T%pool != 0 || T <= 0 || P <= 0 || B <= 0 {
		return nil, fmt.Errorf("trajectory head: need B, P, T > 0 and T a multiple of %d (the temporal pooling), got B=%d T=%d P=%d", pool, B, T, P)
	}
	if x.Len() != B*T*P*D {
		return nil, fmt.Errorf("trajectory head: input has %d values, want B·T·P·D = %d·%d·%d·%d", x.Len(), B, T, P, D)
	}
	o := &HeadOut{h: h, x: x, B: B, T: T, P: P, drop: drop}
	G := B * T // one pooling query per (sample, frame)
	hd := D / H
	// Slice the fused in_proj into q, k, v weights and biases.
	o.wq, o.wk, o.wv = o.alloc(e, D, D), o.alloc(e, D, D), o.alloc(e, D, D)
	o.bq, o.bk, o.bv = o.alloc(e, D, 1), o.alloc(e, D, 1), o.alloc(e, D, 1)
	for i, pair := range [][2]*nn.Tensor{{o.wq, o.bq}, {o.wk, o.bk}, {o.wv, o.bv}} {
		e.GatherRows(pair[0], h.inW.W, rangeIdx(i*D, D), D)
		e.GatherRows(pair[1], h.inB.W, rangeIdx(i*D, D), 1)
	}
	o.q = o.alloc(e, 1, D)
	e.Linear(o.q, h.query.W, o.wq, o.bq, 1, D, D)
	o.qh = o.alloc(e, G, D) // [G,H,1,hd] == [G,D] when Nq = 1
	e.GatherRows(o.qh, o.q, make([]int32, G), D)
	o.k, o.v = o.alloc(e, G*P, D), o.alloc(e, G*P, D)
	e.Linear(o.k, x, o.wk, o.bk, G*P, D, D)
	e.Linear(o.v, x, o.wv, o.bv, G*P, D, D)
	// [G,P,H,hd] → [G,H,P,hd]: MergeHeads' transpose is exactly this layout move.
	o.kh, o.vh = o.alloc(e, G, H, P, hd), o.alloc(e, G, H, P, hd)
	e.MergeHeadsBackward(o.kh, o.k, G, P, H, hd)
	e.MergeHeadsBackward(o.vh, o.v, G, P, H, hd)
	o.att, o.lse = o.alloc(e, G, H, 1, hd), o.alloc(e, G, H, 1)
	e.CrossAttention(o.att, o.lse, o.qh, o.kh, o.vh, G, H, 1, P, hd, float32(1/math.Sqrt(float64(hd))))
	o.pooled = o.alloc(e, G, D)
	e.Linear(o.pooled, o.att, h.outW.W, h.outB.W, G, D, D)

	o.lnIn, o.lnInM, o.lnInR = o.alloc(e, G, D), o.alloc(e, G), o.alloc(e, G)
	e.LayerNorm(o.lnIn, o.lnInM, o.lnInR, o.pooled, h.lnInW.W, h.lnInB.W, G, D, LNEps)
	o.m1, o.h1 = o.alloc(e, G, Hd), o.alloc(e, G, Hd)
	e.Linear(o.m1, o.lnIn, h.mlpW.W, h.mlpB.W, G, D, Hd)
	e.GELU(o.h1, o.m1, G*Hd)
	drop.apply(e, o.h1, dropMLPIn, G*Hd)
	o.t0, o.t0g = o.alloc(e, G, Hd), o.alloc(e, G, Hd)
	e.Linear(o.t0, o.h1, h.t0W.W, h.t0B.W, G, Hd, Hd)
	e.GELU(o.t0g, o.t0, G*Hd)
	drop.apply(e, o.t0g, dropTemporal0, G*Hd)
	o.t3, o.t3g = o.alloc(e, G, Hd), o.alloc(e, G, Hd)
	e.Linear(o.t3, o.t0g, h.t3W.W, h.t3B.W, G, Hd, Hd)
	e.GELU(o.t3g, o.t3, G*Hd)
	drop.apply(e, o.t3g, dropTemporal3, G*Hd)
	o.hsum = o.alloc(e, G, Hd)
	e.Add(o.hsum, o.h1, o.t3g, G*Hd)
	// AvgPool1d(2, 2) over time: frames 2t and 2t+1 are consecutive rows. Without
	// pooling (weight 1 over groups of one row) this is a copy.
	T2 := T / pool
	o.avg = o.alloc(e, B*T2, Hd)
	e.WeightedRowSum(o.avg, o.hsum, poolWeights(B*T2*pool, pool), B*T2, pool, Hd)
	o.lnOut, o.lnOutM, o.lnOutR = o.alloc(e, B*T2, Hd), o.alloc(e, B*T2), o.alloc(e, B*T2)
	e.LayerNorm(o.lnOut, o.lnOutM, o.lnOutR, o.avg, h.lnOutW.W, h.lnOutB.W, B*T2, Hd, LNEps)
	o.Out = o.alloc(e, B, T2, J, 3)
	e.Linear(o.Out, o.lnOut, h.fcW.W, h.fcB.W, B*T2, Hd, 3*J)
	return o, nil
}

// poolWeights are the averaging weights 1/pool of n rows.
func poolWeights(n, pool int) []float32 {
	w := make([]float32, n)
	for i := range w {
		w[i] = 1 / float32(pool)
	}
	return w
}

// Backward accumulates the head's parameter gradients from dOut [B,T/Pool,J,3]; dX
// [B,T,P,D] (may be nil) receives the input gradient.
func (o *HeadOut) Backward(e nn.Engine, dOut, dX *nn.Tensor) {
	h := o.h
	D, Hd, J, H := h.Cfg.Dim, h.Cfg.Hidden, h.Cfg.Joints, h.Cfg.Heads
	B, T, P := o.B, o.T, o.P
	pool := h.Cfg.Pool()
	G, T2, hd := B*T, T/pool, D/H
	dLnOut := o.alloc(e, B*T2, Hd)
	e.LinearBackward(dLnOut, h.fcW.G, h.fcB.G, dOut, o.lnOut, h.fcW.W, B*T2, Hd, 3*J)
	dAvg := o.alloc(e, B*T2, Hd)
	e.LayerNormBackward(dAvg, h.lnOutW.G, h.lnOutB.G, dLnOut, o.avg, h.lnOutW.W, o.lnOutM, o.lnOutR, B*T2, Hd)
	dH := o.alloc(e, G, Hd) // d hsum; the residual sends it to h1 and to t3g
	e.WeightedRowSumBackward(dH, dAvg, poolWeights(B*T2*pool, pool), B*T2, pool, Hd)
	dT3 := o.alloc(e, G, Hd)
	e.GELUBackward(dT3, o.drop.backward(e, o, dH, dropTemporal3, G*Hd), o.t3, G*Hd)
	dT0g := o.alloc(e, G, Hd)
	e.LinearBackward(dT0g, h.t3W.G, h.t3B.G, dT3, o.t0g, h.t3W.W, G, Hd, Hd)
	dT0 := o.alloc(e, G, Hd)
	e.GELUBackward(dT0, o.drop.backward(e, o, dT0g, dropTemporal0, G*Hd), o.t0, G*Hd)
	dH1 := dH // accumulate the temporal branch into the residual gradient
	e.LinearBackward(dH1, h.t0W.G, h.t0B.G, dT0, o.h1, h.t0W.W, G, Hd, Hd)
	dM1 := o.alloc(e, G, Hd)
	e.GELUBackward(dM1, o.drop.backward(e, o, dH1, dropMLPIn, G*Hd), o.m1, G*Hd)
	dLnIn := o.alloc(e, G, D)
	e.LinearBackward(dLnIn, h.mlpW.G, h.mlpB.G, dM1, o.lnIn, h.mlpW.W, G, D, Hd)
	dPooled := o.alloc(e, G, D)
	e.LayerNormBackward(dPooled, h.lnInW.G, h.lnInB.G, dLnIn, o.pooled, h.lnInW.W, o.lnInM, o.lnInR, G, D)
	dAtt := o.alloc(e, G, D)
	e.LinearBackward(dAtt, h.outW.G, h.outB.G, dPooled, o.att, h.outW.W, G, D, D)
	dqh, dkh, dvh := o.alloc(e, G, D), o.alloc(e, G, H, P, hd), o.alloc(e, G, H, P, hd)
	e.CrossAttentionBackward(dqh, dkh, dvh, dAtt, o.att, o.lse, o.qh, o.kh, o.vh, G, H, 1, P, hd, float32(1/math.Sqrt(float64(hd))))
	dk, dv := o.alloc(e, G*P, D), o.alloc(e, G*P, D)
	e.MergeHeads(dk, dkh, G, P, H, hd)
	e.MergeHeads(dv, dvh, G, P, H, hd)
	dwq, dwk, dwv := o.alloc(e, D, D), o.alloc(e, D, D), o.alloc(e, D, D)
	dbq, dbk, dbv := o.alloc(e, D, 1), o.alloc(e, D, 1), o.alloc(e, D, 1)
	e.LinearBackward(dX, dwk, dbk, dk, o.x, o.wk, G*P, D, D)
	e.LinearBackward(dX, dwv, dbv, dv, o.x, o.wv, G*P, D, D)
	dq := o.alloc(e, 1, D)
	e.ScatterAddRows(dq, dqh, make([]int32, G), D)
	e.LinearBackward(h.query.G, dwq, dbq, dq, h.query.W, o.wq, 1, D, D)
	for i, pair := range [][2]*nn.Tensor{{dwq, dbq}, {dwk, dbk}, {dwv, dbv}} {
		e.ScatterAddRows(h.inW.G, pair[0], rangeIdx(i*D, D), D)
		e.ScatterAddRows(h.inB.G, pair[1], rangeIdx(i*D, D), 1)
	}
}

// Release frees the saved state (Out included).
func (o *HeadOut) Release(e nn.Engine) {
	for _, t := range o.tmp {
		e.Free(t)
	}
	o.tmp, o.Out = nil, nil
}
