package jepa

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/thinkjepa/thinkjepa/arch"
	"github.com/thinkjepa/thinkjepa/nn"
)

// core is what the V-JEPA 2 mask-token predictor and the ThinkJEPA predictor share:
// embed the context features, place one learned query token at each target position,
// run the blocks over the sequence in ascending global index with RoPE positions from
// those indices, normalise, keep the target rows and project back to the encoder width.
type core struct {
	De, D, H     int // encoder width, predictor width, heads
	eps          float32
	embedW       *nn.Param // [D,De]
	embedB       *nn.Param
	tokens       []*nn.Param // [1,1,D] each
	blocks       []*block
	normW, normB *nn.Param
	projW, projB *nn.Param // [De,D]
}

func newCore(e nn.Engine, ps *nn.ParamSet, names [5]string, De, D, H, depth, hidden, nTokens int, eps float64) *core {
	// names: embed, tokens, blocks, norm, proj prefixes.
	c := &core{De: De, D: D, H: H, eps: float32(eps)}
	c.embedW = ps.Add(e, names[0]+".weight", D, De)
	c.embedB = ps.Add(e, names[0]+".bias", D)
	for k := 0; k < nTokens; k++ {
		c.tokens = append(c.tokens, ps.Add(e, fmt.Sprintf("%s.%d", names[1], k), 1, 1, D))
	}
	for i := 0; i < depth; i++ {
		c.blocks = append(c.blocks, newBlock(e, ps, fmt.Sprintf("%s.%d.", names[2], i), D, H, hidden, eps))
	}
	c.normW = ps.Add(e, names[3]+".weight", D)
	c.normB = ps.Add(e, names[3]+".bias", D)
	c.projW = ps.Add(e, names[4]+".weight", De, D)
	c.projB = ps.Add(e, names[4]+".bias", De)
	return c
}

// layout says where each context and target token sits in the sorted sequence.
type layout struct {
	B, Nc, Nt, N int
	ctxRows      []int32 // [B·Nc] rows of the [B·N] sequence holding context token i of row b
	tgtRows      []int32 // [B·Nt] rows holding target token i of row b (masks_y order)
	rope         *nn.RoPE3D
	mask         *nn.AttnMask
}

// film is one layer's FiLM parameters, [B,D] each.
type film struct{ gamma, beta *nn.Tensor }

// coreCache keeps a training forward's activations.
type coreCache struct {
	lay        *layout
	xCtx       *nn.Tensor   // [B·Nc,De] input (caller's)
	xin        []*nn.Tensor // per layer: pre-FiLM input [B,N,D]
	xblk       []*nn.Tensor // per layer: block input (post-FiLM, or xin without FiLM)
	blocks     []*blockCache
	xLast      *nn.Tensor // [B,N,D] after the last block
	mean, rstd *nn.Tensor
	normed     *nn.Tensor // [B·Nt,D] normalised target rows
	films      []film
	tokenIdx   int
}

func (cc *coreCache) free(e nn.Engine) {
	for _, b := range cc.blocks {
		b.free(e)
	}
	for i, t := range cc.xin {
		e.Free(t)
		if cc.xblk[i] != t {
			e.Free(cc.xblk[i])
		}
	}
	for _, t := range []*nn.Tensor{cc.xLast, cc.mean, cc.rstd, cc.normed} {
		e.Free(t)
	}
}

// coreDrop is a training forward's randomness: dropout rate p in every block, drop-path
// rate pathRate·l/(depth−1) in block l (torch.linspace(0, pathRate, depth)), all masks
// derived from seed.
type coreDrop struct {
	p, pathRate float64
	seed        uint64
}

// block returns block l's randomness for a batch of B, or nil when both rates are 0.
func (d *coreDrop) block(l, depth, B int) *blockDrop {
	if d == nil {
		return nil
	}
	path := 0.0
	if depth > 1 {
		path = d.pathRate * float64(l) / float64(depth-1)
	}
	if d.p <= 0 && path <= 0 {
		return nil
	}
	return newBlockDrop(float32(d.p), float32(path), mixSeed(d.seed, uint64(1000+l)), B)
}

// forward runs the core. xCtx [B·Nc,De]; films (nil or one per block); drop (nil: none)
// is the training-time randomness and needs train; returns [B·Nt,De].
func (c *core) forward(e nn.Engine, xCtx *nn.Tensor, lay *layout, tokenIdx int, films []film, train bool, drop *coreDrop) (*nn.Tensor, *coreCache) {
	B, N, Nc, Nt, D, De := lay.B, lay.N, lay.Nc, lay.Nt, c.D, c.De
	cc := &coreCache{lay: lay, xCtx: xCtx, films: films, tokenIdx: tokenIdx}
	// z = embed(xCtx) [B·Nc,D], scattered to its sorted rows of x [B·N,D].
	z := e.Zeros(B*Nc, D)
	e.Linear(z, xCtx, c.embedW.W, c.embedB.W, B*Nc, De, D)
	x := e.Zeros(B, N, D)
	e.ScatterAddRows(x, z, lay.ctxRows, D)
	e.Free(z)
	// The query token broadcast to every target row.
	q := e.Zeros(B*Nt, D)
	e.GatherRows(q, c.tokens[tokenIdx].W, make([]int32, B*Nt), D)
	e.ScatterAddRows(x, q, lay.tgtRows, D)
	e.Free(q)
	for l, bl := range c.blocks {
		xb := x
		if films != nil {
			xb = e.Zeros(B, N, D)
			e.FiLM(xb, x, films[l].gamma, films[l].beta, B, N, D)
		}
		y := e.Zeros(B, N, D)
		bc := bl.forward(e, y, xb, B, N, lay.rope, lay.mask, train, drop.block(l, len(c.blocks), B))
		if train {
			cc.xin = append(cc.xin, x)
			cc.xblk = append(cc.xblk, xb)
			cc.blocks = append(cc.blocks, bc)
		} else {
			if xb != x {
				e.Free(xb)
			}
			e.Free(x)
		}
		x = y
	}
	// Keep the target rows, then normalise them (LayerNorm is per row, so gathering
	// first gives the same result as upstream's norm-then-gather with less work).
	tg := e.Zeros(B*Nt, D)
	e.GatherRows(tg, x, lay.tgtRows, D)
	if train {
		cc.xLast = tg
	} else {
		e.Free(x)
	}
	normed, mean, rstd := e.Zeros(B*Nt, D), e.Zeros(B*Nt), e.Zeros(B*Nt)
	e.LayerNorm(normed, mean, rstd, tg, c.normW.W, c.normB.W, B*Nt, D, c.eps)
	out := e.Zeros(B*Nt, De)
	e.Linear(out, normed, c.projW.W, c.projB.W, B*Nt, D, De)
	if !train {
		for _, t := range []*nn.Tensor{tg, normed, mean, rstd} {
			e.Free(t)
		}
		return out, nil
	}
	e.Free(x)
	cc.mean, cc.rstd, cc.normed = mean, rstd, normed
	return out, cc
}

// backward accumulates parameter gradients from dOut [B·Nt,De]; it adds into dXCtx
// [B·Nc,De] and into dFilms[l].gamma/beta [B,D] when those are non-nil.
func (c *core) backward(e nn.Engine, cc *coreCache, dOut, dXCtx *nn.Tensor, dFilms []film) {
	lay := cc.lay
	B, N, Nc, Nt, D, De := lay.B, lay.N, lay.Nc, lay.Nt, c.D, c.De
	dNormed := e.Zeros(B*Nt, D)
	e.LinearBackward(dNormed, c.projW.G, c.projB.G, dOut, cc.normed, c.projW.W, B*Nt, D, De)
	dTg := e.Zeros(B*Nt, D)
	e.LayerNormBackward(dTg, c.normW.G, c.normB.G, dNormed, cc.xLast, c.normW.W, cc.mean, cc.rstd, B*Nt, D)
	e.Free(dNormed)
	dx := e.Zeros(B, N, D)
	e.ScatterAddRows(dx, dTg, lay.tgtRows, D)
	e.Free(dTg)
	for l := len(c.blocks) - 1; l >= 0; l-- {
		dxb := e.Zeros(B, N, D)
		c.blocks[l].backward(e, dxb, dx, cc.blocks[l], B, N, lay.rope, lay.mask)
		e.Free(dx)
		if cc.films != nil {
			dxin := e.Zeros(B, N, D)
			var dg, db *nn.Tensor
			if dFilms != nil {
				dg, db = dFilms[l].gamma, dFilms[l].beta
			}
			e.FiLMBackward(dxin, dg, db, dxb, cc.xin[l], cc.films[l].gamma, B, N, D)
			e.Free(dxb)
			dxb = dxin
		}
		dx = dxb
	}
	// Query token: Σ over target rows.
	dq := e.Zeros(B*Nt, D)
	e.GatherRows(dq, dx, lay.tgtRows, D)
	e.ScatterAddRows(c.tokens[cc.tokenIdx].G, dq, make([]int32, B*Nt), D)
	e.Free(dq)
	dz := e.Zeros(B*Nc, D)
	e.GatherRows(dz, dx, lay.ctxRows, D)
	e.Free(dx)
	e.LinearBackward(dXCtx, c.embedW.G, c.embedB.G, dz, cc.xCtx, c.embedW.W, B*Nc, De, D)
	e.Free(dz)
}

// ---------------------------------------------------------------------------------------
// V-JEPA 2 mask-token predictor (§2.1).

// VJEPAPredictor is the V-JEPA 2 pretraining predictor.
type VJEPAPredictor struct {
	Cfg    arch.PredictorConfig
	Params *nn.ParamSet
	c      *core
}

// NewVJEPAPredictor allocates the predictor with zero parameters.
func NewVJEPAPredictor(e nn.Engine, cfg arch.PredictorConfig) (*VJEPAPredictor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ps := nn.NewParamSet()
	c := newCore(e, ps, [5]string{"predictor_embed", "mask_tokens", "predictor_blocks", "predictor_norm", "predictor_proj"},
		cfg.EmbedDim, cfg.PredictorEmbedDim, cfg.NumHeads, cfg.Depth, cfg.Hidden(), cfg.NumMaskTokens, cfg.NormEps)
	return &VJEPAPredictor{Cfg: cfg, Params: ps, c: c}, nil
}

// Load copies a name → tensor map into the predictor and returns the unused names.
func (p *VJEPAPredictor) Load(e nn.Engine, tensors map[string]HostTensor) ([]string, error) {
	return LoadParams(e, p.Params, tensors)
}

// PredictorCache holds a training forward's activations.
type PredictorCache struct{ cc *coreCache }

// Free releases the activations.
func (pc *PredictorCache) Free(e nn.Engine) { pc.cc.free(e) }

// vjepaLayout sorts each row's [masks_x; masks_y] ids (stable) and derives RoPE positions.
func (p *VJEPAPredictor) vjepaLayout(masksX, masksY [][]int32) (*layout, error) {
	B := len(masksX)
	if B == 0 || len(masksY) != B {
		return nil, fmt.Errorf("vjepa predictor: masks_x has %d rows and masks_y %d; want the same, ≥ 1", len(masksX), len(masksY))
	}
	Nc, Nt := len(masksX[0]), len(masksY[0])
	g := p.Cfg.GridSize()
	maxID := int32(p.Cfg.NumFrames / p.Cfg.TubeletSize * g * g)
	lay := &layout{B: B, Nc: Nc, Nt: Nt, N: Nc + Nt, ctxRows: make([]int32, B*Nc), tgtRows: make([]int32, B*Nt)}
	N := lay.N
	pos := make([]int32, 3*B*N)
	for b := 0; b < B; b++ {
		if len(masksX[b]) != Nc || len(masksY[b]) != Nt {
			return nil, fmt.Errorf("vjepa predictor: row %d has %d context / %d target ids, want %d / %d", b, len(masksX[b]), len(masksY[b]), Nc, Nt)
		}
		ids := append(append([]int32(nil), masksX[b]...), masksY[b]...)
		for _, id := range ids {
			if id < 0 || id >= maxID {
				return nil, fmt.Errorf("vjepa predictor: row %d: token id %d outside 0..%d", b, id, maxID-1)
			}
		}
		order := make([]int, N)
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(i, j int) bool { return ids[order[i]] < ids[order[j]] })
		sorted := make([]int32, N)
		for r, src := range order {
			sorted[r] = ids[src]
			if src < Nc {
				lay.ctxRows[b*Nc+src] = int32(b*N + r)
			} else {
				lay.tgtRows[b*Nt+src-Nc] = int32(b*N + r)
			}
		}
		positions(pos[3*b*N:3*(b+1)*N], sorted, g*g, g)
	}
	lay.rope = &nn.RoPE3D{Pos: pos, DSub: arch.RoPEDSub(p.Cfg.PredictorEmbedDim / p.Cfg.NumHeads)}
	return lay, nil
}

// Forward predicts the target tokens: xCtx [B,Nc,De] (encoder features at masksX),
// masks [B][Nc] and [B][Nt] global token ids, maskIndex selects mask_tokens[k mod n].
// Returns [B,Nt,De] in masksY order.
func (p *VJEPAPredictor) Forward(e nn.Engine, xCtx *nn.Tensor, masksX, masksY [][]int32, maskIndex int, train bool) (*nn.Tensor, *PredictorCache, error) {
	lay, err := p.vjepaLayout(masksX, masksY)
	if err != nil {
		return nil, nil, err
	}
	if want := lay.B * lay.Nc * p.Cfg.EmbedDim; xCtx.Len() != want {
		return nil, nil, fmt.Errorf("vjepa predictor: x has %d values, want B·Nc·D = %d", xCtx.Len(), want)
	}
	k := ((maskIndex % p.Cfg.NumMaskTokens) + p.Cfg.NumMaskTokens) % p.Cfg.NumMaskTokens
	// The V-JEPA 2 predictor is used for inference and parity only: no training
	// randomness (its released models have drop_path = dropout = 0, model-spec §1.3).
	out, cc := p.c.forward(e, xCtx, lay, k, nil, train, nil)
	out.Shape = []int{lay.B, lay.Nt, p.Cfg.EmbedDim}
	if !train {
		return out, nil, nil
	}
	return out, &PredictorCache{cc: cc}, nil
}

// Backward accumulates the parameter gradients from dOut [B,Nt,De] and adds the gradient
// w.r.t. xCtx into dXCtx (nil: not needed).
func (p *VJEPAPredictor) Backward(e nn.Engine, pc *PredictorCache, dOut, dXCtx *nn.Tensor) {
	p.c.backward(e, pc.cc, dOut, dXCtx, nil)
}

// ---------------------------------------------------------------------------------------
// ThinkJEPA predictor (§4.4).

// ThinkPredictor is ThinkJEPA's CortexGuidedVideoPredictor without its guidance bank:
// the caller (package film) supplies per-layer, per-sample FiLM parameters γ_l, β_l.
type ThinkPredictor struct {
	Cfg    arch.ThinkPredictorConfig
	Params *nn.ParamSet
	c      *core
}

// NewThinkPredictor allocates the predictor with zero parameters.
func NewThinkPredictor(e nn.Engine, cfg arch.ThinkPredictorConfig) (*ThinkPredictor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.QueryIndex%cfg.NumQueryTemplates < 0 {
		return nil, fmt.Errorf("thinkjepa predictor: bad query_index %d", cfg.QueryIndex)
	}
	ps := nn.NewParamSet()
	c := newCore(e, ps, [5]string{"context_adapter", "query_templates", "rollout_layers", "rollout_norm", "output_adapter"},
		cfg.EmbedDim, cfg.PredictorEmbedDim, cfg.NumHeads, cfg.Depth, cfg.Hidden(), cfg.NumQueryTemplates, cfg.NormEps)
	return &ThinkPredictor{Cfg: cfg, Params: ps, c: c}, nil
}

// Load copies a name → tensor map into the predictor and returns the unused names
// (guidance_* tensors belong to package film).
func (p *ThinkPredictor) Load(e nn.Engine, tensors map[string]HostTensor) ([]string, error) {
	return LoadParams(e, p.Params, tensors)
}

// ThinkCache holds a training forward's activations.
type ThinkCache struct{ cc *coreCache }

// Free releases the activations.
func (tc *ThinkCache) Free(e nn.Engine) { tc.cc.free(e) }

func (p *ThinkPredictor) layout(B int) *layout {
	cfg := p.Cfg
	P := cfg.TokensPerFrame
	Nc, Nt := cfg.ContextFrames()*P, cfg.TargetFrames()*P
	N := Nc + Nt
	lay := &layout{B: B, Nc: Nc, Nt: Nt, N: N, ctxRows: make([]int32, B*Nc), tgtRows: make([]int32, B*Nt)}
	// ids[r] is the global token index of row r, its ctx/tgt rows in sorted order:
	// forecasting, context n = t·P+p for the past frames then the queries after them;
	// track (idx_tgt = idx_ctx), each context token followed by the query at its index.
	// Upstream concatenates [ctx; tgt] and argsorts the indices; the order among equal
	// indices does not matter (attention is permutation-equivariant, positions and the
	// frame-causal groups are per index).
	ids := make([]int32, N)
	ctxRow, tgtRow := make([]int32, Nc), make([]int32, Nt)
	for i := 0; i < Nc; i++ {
		if cfg.Track {
			ctxRow[i], tgtRow[i] = int32(2*i), int32(2*i+1)
			ids[2*i], ids[2*i+1] = int32(i), int32(i)
		} else {
			ctxRow[i], ids[i] = int32(i), int32(i)
		}
	}
	if !cfg.Track {
		for i := 0; i < Nt; i++ {
			tgtRow[i], ids[Nc+i] = int32(Nc+i), int32(Nc+i)
		}
	}
	// Upstream builds the predictor over a fake P×1 image, so grid_size = P and ids are
	// decomposed with tokens_per_frame P², tokens_per_row P: for N ≤ P² this gives t = 0,
	// h = n div P (frame), w = n mod P (token) (model-spec §4.4 quirk).
	one := make([]int32, 3*N)
	positions(one, ids, P*P, P)
	pos := make([]int32, 0, 3*B*N)
	var groups []int32
	if cfg.Causal {
		groups = make([]int32, 0, B*N)
	}
	for b := 0; b < B; b++ {
		pos = append(pos, one...)
		for i := 0; i < Nc; i++ {
			lay.ctxRows[b*Nc+i] = int32(b*N) + ctxRow[i]
		}
		for i := 0; i < Nt; i++ {
			lay.tgtRows[b*Nt+i] = int32(b*N) + tgtRow[i]
		}
		if cfg.Causal {
			for n := 0; n < N; n++ {
				groups = append(groups, ids[n]/int32(P))
			}
		}
	}
	lay.rope = &nn.RoPE3D{Pos: pos, DSub: arch.RoPEDSub(cfg.PredictorEmbedDim / cfg.NumHeads)}
	if cfg.Causal {
		lay.mask = &nn.AttnMask{QueryGroup: groups, KeyGroup: groups}
	}
	return lay
}

// Forward predicts the future tokens. xCtx [B, past·P, De] (ground-truth features of the
// past frames, token n = t·P + p); gammas, betas: one [B,D] tensor per block (FiLM before
// each block; nil slices mean no FiLM). Returns y_future [B, future·P, De]. With train the
// activations are kept for Backward; Forward is deterministic either way (no dropout or
// drop path: see ForwardDrop).
func (p *ThinkPredictor) Forward(e nn.Engine, xCtx *nn.Tensor, B int, gammas, betas []*nn.Tensor, train bool) (*nn.Tensor, *ThinkCache, error) {
	return p.forward(e, xCtx, B, gammas, betas, train, nil)
}

// ForwardDrop is the training forward (activations kept for Backward) with the
// predictor's training-time randomness: Cfg.DropRate dropout and Cfg.DropPathRate
// stochastic depth (see arch.ThinkPredictorConfig and block). Every mask is a pure
// function of (seed, block, site, index), so the same seed gives the same masks; callers
// derive it from (run seed, step) so a resumed run retraces the straight one. With both
// rates 0 it equals Forward(…, true).
func (p *ThinkPredictor) ForwardDrop(e nn.Engine, xCtx *nn.Tensor, B int, gammas, betas []*nn.Tensor, seed uint64) (*nn.Tensor, *ThinkCache, error) {
	if err := p.Cfg.Validate(); err != nil { // the rates may have been set after construction
		return nil, nil, err
	}
	return p.forward(e, xCtx, B, gammas, betas, true, &coreDrop{p: p.Cfg.DropRate, pathRate: p.Cfg.DropPathRate, seed: seed})
}

func (p *ThinkPredictor) forward(e nn.Engine, xCtx *nn.Tensor, B int, gammas, betas []*nn.Tensor, train bool, drop *coreDrop) (*nn.Tensor, *ThinkCache, error) {
	cfg := p.Cfg
	if B <= 0 {
		return nil, nil, fmt.Errorf("thinkjepa predictor: batch %d", B)
	}
	if want := B * cfg.ContextFrames() * cfg.TokensPerFrame * cfg.EmbedDim; xCtx.Len() != want {
		return nil, nil, fmt.Errorf("thinkjepa predictor: x_ctx has %d values, want B·context frames·P·D = %d·%d·%d·%d = %d",
			xCtx.Len(), B, cfg.ContextFrames(), cfg.TokensPerFrame, cfg.EmbedDim, want)
	}
	var films []film
	if gammas != nil || betas != nil {
		if len(gammas) != cfg.Depth || len(betas) != cfg.Depth {
			return nil, nil, fmt.Errorf("thinkjepa predictor: %d gammas and %d betas for depth %d", len(gammas), len(betas), cfg.Depth)
		}
		for l := range gammas {
			if gammas[l] == nil || betas[l] == nil || gammas[l].Len() != B*cfg.PredictorEmbedDim || betas[l].Len() != B*cfg.PredictorEmbedDim {
				return nil, nil, fmt.Errorf("thinkjepa predictor: FiLM layer %d: gamma and beta must be [B,D] = [%d,%d]", l, B, cfg.PredictorEmbedDim)
			}
			films = append(films, film{gammas[l], betas[l]})
		}
	}
	lay := p.layout(B)
	out, cc := p.c.forward(e, xCtx, lay, cfg.QueryIndex%cfg.NumQueryTemplates, films, train, drop)
	out.Shape = []int{B, lay.Nt, cfg.EmbedDim}
	if !train {
		return out, nil, nil
	}
	return out, &ThinkCache{cc: cc}, nil
}

// Backward takes dY [B, future·P, De], accumulates the parameter gradients, adds
// dγ_l, dβ_l [B,D] into dGammas[l], dBetas[l] (nil: not needed) and the gradient w.r.t.
// x_ctx into dXCtx (nil: not needed).
func (p *ThinkPredictor) Backward(e nn.Engine, tc *ThinkCache, dY *nn.Tensor, dGammas, dBetas []*nn.Tensor, dXCtx *nn.Tensor) error {
	var dF []film
	if dGammas != nil || dBetas != nil {
		if tc.cc.films == nil {
			return fmt.Errorf("thinkjepa predictor backward: FiLM gradients requested but the forward had no FiLM")
		}
		if len(dGammas) != p.Cfg.Depth || len(dBetas) != p.Cfg.Depth {
			return fmt.Errorf("thinkjepa predictor backward: %d dGammas and %d dBetas for depth %d", len(dGammas), len(dBetas), p.Cfg.Depth)
		}
		for l := range dGammas {
			dF = append(dF, film{dGammas[l], dBetas[l]})
		}
	}
	p.c.backward(e, tc.cc, dY, dXCtx, dF)
	return nil
}

// init applies the V-JEPA 2 predictor initialisation (trunc_normal std 0.02 Linear
// weights, zero biases, unit LayerNorms, rescaled residual projections, zero query
// tokens as zero_init_mask_tokens).
func (c *core) init(e nn.Engine, rng *rand.Rand) {
	const std = 0.02
	nn.InitTruncNormal(e, c.embedW, rng, std)
	nn.InitConst(e, c.embedB, 0)
	for _, t := range c.tokens {
		nn.InitConst(e, t, 0)
	}
	initBlocks(e, c.blocks, rng, std)
	nn.InitConst(e, c.normW, 1)
	nn.InitConst(e, c.normB, 0)
	nn.InitTruncNormal(e, c.projW, rng, std)
	nn.InitConst(e, c.projB, 0)
}

// Init initialises the ThinkJEPA predictor for training from scratch (§4.4), seeded.
func (p *ThinkPredictor) Init(e nn.Engine, seed uint64) {
	p.c.init(e, rand.New(rand.NewPCG(seed, 0x7a1e)))
}

// Init initialises the V-JEPA 2 predictor, seeded.
func (p *VJEPAPredictor) Init(e nn.Engine, seed uint64) {
	p.c.init(e, rand.New(rand.NewPCG(seed, 0x7a1f)))
}
