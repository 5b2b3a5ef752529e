package jepa

import (
	"fmt"
	"math/rand/v2"

	"github.com/thinkjepa/thinkjepa/arch"
	"github.com/thinkjepa/thinkjepa/nn"
)

// Encoder is the V-JEPA 2 ViT (model-spec §1.2–§1.4): tubelet patch embedding, pre-norm
// RoPE blocks, final LayerNorm; no CLS token, no position embedding.
type Encoder struct {
	Cfg    arch.EncoderConfig
	Params *nn.ParamSet

	patchW, patchB *nn.Param
	blocks         []*block
	normW, normB   *nn.Param
}

// NewEncoder allocates an encoder with zero parameters (load them with LoadParams).
func NewEncoder(e nn.Engine, cfg arch.EncoderConfig) (*Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ps := nn.NewParamSet()
	D := cfg.EmbedDim
	enc := &Encoder{Cfg: cfg, Params: ps}
	enc.patchW = ps.Add(e, "patch_embed.proj.weight", D, cfg.InChans, cfg.TubeletSize, cfg.PatchSize, cfg.PatchSize)
	enc.patchB = ps.Add(e, "patch_embed.proj.bias", D)
	for i := 0; i < cfg.Depth; i++ {
		enc.blocks = append(enc.blocks, newBlock(e, ps, fmt.Sprintf("blocks.%d.", i), D, cfg.NumHeads, cfg.Hidden(), cfg.NormEps))
	}
	enc.normW = ps.Add(e, "norm.weight", D)
	enc.normB = ps.Add(e, "norm.bias", D)
	return enc, nil
}

// Load copies a name → tensor map into the encoder; it returns the names it did not use
// (e.g. a stray pos_embed).
func (enc *Encoder) Load(e nn.Engine, tensors map[string]HostTensor) ([]string, error) {
	return LoadParams(e, enc.Params, tensors)
}

// EncoderCache holds the activations of one training-mode forward pass.
type EncoderCache struct {
	B, T, Hh, Ww, N int
	video           *nn.Tensor
	rope            *nn.RoPE3D
	xs              []*nn.Tensor // block inputs; xs[depth] is the last block's output
	blocks          []*blockCache
	means, rstds    []*nn.Tensor // final-norm statistics per output
	outLayers       []int
}

// Free releases the cached activations.
func (c *EncoderCache) Free(e nn.Engine) {
	for _, b := range c.blocks {
		b.free(e)
	}
	for _, t := range append(append(c.xs, c.means...), c.rstds...) {
		e.Free(t)
	}
}

// checkInput validates a clip's sizes against the config.
func (enc *Encoder) checkInput(video *nn.Tensor, B, T, Hh, Ww int) error {
	cfg := enc.Cfg
	if B <= 0 || T <= 0 || Hh <= 0 || Ww <= 0 {
		return fmt.Errorf("encoder input: sizes must be positive, got B=%d T=%d H=%d W=%d", B, T, Hh, Ww)
	}
	if T%cfg.TubeletSize != 0 {
		return fmt.Errorf("encoder input: %d frames is not a multiple of tubelet_size %d", T, cfg.TubeletSize)
	}
	if Hh%cfg.PatchSize != 0 || Ww%cfg.PatchSize != 0 {
		return fmt.Errorf("encoder input: %dx%d frames are not multiples of patch_size %d", Hh, Ww, cfg.PatchSize)
	}
	if want := B * cfg.InChans * T * Hh * Ww; video.Len() < want {
		return fmt.Errorf("encoder input: %d values, want B·C·T·H·W = %d", video.Len(), want)
	}
	return nil
}

// ropeFor returns the encoder positions of B clips with a (Tp,Hp,Wp) grid.
func ropeFor(B, Tp, Hp, Wp, headDim int) *nn.RoPE3D {
	N := Tp * Hp * Wp
	ids := make([]int32, N)
	for i := range ids {
		ids[i] = int32(i)
	}
	one := make([]int32, 3*N)
	positions(one, ids, Hp*Wp, Wp)
	pos := make([]int32, 0, 3*B*N)
	for b := 0; b < B; b++ {
		pos = append(pos, one...)
	}
	return &nn.RoPE3D{Pos: pos, DSub: arch.RoPEDSub(headDim)}
}

// Forward runs the encoder on video [B,C,T,H,W] (normalised) and returns the outputs:
// one [B,N,D] tensor (norm of the last block), or with out_layers one per listed block
// (norm(x_i), the shared final norm). With train, the activations are kept in the cache for
// Backward; otherwise the cache is nil and each block's activations are freed as it ends.
func (enc *Encoder) Forward(e nn.Engine, video *nn.Tensor, B, T, Hh, Ww int, train bool) ([]*nn.Tensor, *EncoderCache, error) {
	if err := enc.checkInput(video, B, T, Hh, Ww); err != nil {
		return nil, nil, err
	}
	cfg := enc.Cfg
	D := cfg.EmbedDim
	Tp, Hp, Wp := cfg.Grid(T, Hh, Ww)
	N := Tp * Hp * Wp
	M := B * N
	rope := ropeFor(B, Tp, Hp, Wp, cfg.HeadDim())
	c := &EncoderCache{B: B, T: T, Hh: Hh, Ww: Ww, N: N, video: video, rope: rope}
	c.outLayers = cfg.OutLayers
	if len(c.outLayers) == 0 {
		c.outLayers = []int{cfg.Depth - 1}
	}
	want := map[int]bool{}
	for _, l := range c.outLayers {
		want[l] = true
	}
	x := e.Zeros(B, N, D)
	e.PatchEmbed3D(x, video, enc.patchW.W, enc.patchB.W, B, T, Hh, Ww, cfg.TubeletSize, cfg.PatchSize, D)
	c.xs = append(c.xs, x)
	kept := map[int]*nn.Tensor{}
	for i, bl := range enc.blocks {
		y := e.Zeros(B, N, D)
		bc := bl.forward(e, y, x, B, N, rope, nil, train, nil)
		if train {
			c.blocks = append(c.blocks, bc)
			c.xs = append(c.xs, y)
		} else {
			if i > 0 && !want[i-1] || i == 0 {
				e.Free(x)
			}
			if want[i] {
				kept[i] = y
			}
		}
		x = y
	}
	if !train && !want[cfg.Depth-1] {
		e.Free(x)
	}
	outs := make([]*nn.Tensor, len(c.outLayers))
	for j, l := range c.outLayers {
		src := kept[l]
		if train {
			src = c.xs[l+1]
		}
		out, mean, rstd := e.Zeros(B, N, D), e.Zeros(M), e.Zeros(M)
		e.LayerNorm(out, mean, rstd, src, enc.normW.W, enc.normB.W, M, D, float32(cfg.NormEps))
		outs[j] = out
		c.means, c.rstds = append(c.means, mean), append(c.rstds, rstd)
	}
	if !train {
		for _, t := range kept {
			e.Free(t)
		}
		for j := range c.means {
			e.Free(c.means[j])
			e.Free(c.rstds[j])
		}
		return outs, nil, nil
	}
	return outs, c, nil
}

// Backward takes the upstream gradients (one per output, nil = zero), accumulates the
// parameter gradients and, when dVideo is non-nil, adds the gradient w.r.t. the video
// [B,C,T,H,W] into it.
func (enc *Encoder) Backward(e nn.Engine, c *EncoderCache, dOuts []*nn.Tensor, dVideo *nn.Tensor) error {
	if len(dOuts) != len(c.outLayers) {
		return fmt.Errorf("encoder backward: %d upstream gradients for %d outputs", len(dOuts), len(c.outLayers))
	}
	cfg := enc.Cfg
	B, N, D := c.B, c.N, cfg.EmbedDim
	M := B * N
	// dxs[i] is the gradient w.r.t. xs[i].
	dxs := make([]*nn.Tensor, len(c.xs))
	for j, l := range c.outLayers {
		if dOuts[j] == nil {
			continue
		}
		if dxs[l+1] == nil {
			dxs[l+1] = e.Zeros(B, N, D)
		}
		e.LayerNormBackward(dxs[l+1], enc.normW.G, enc.normB.G, dOuts[j], c.xs[l+1], enc.normW.W, c.means[j], c.rstds[j], M, D)
	}
	for i := len(enc.blocks) - 1; i >= 0; i-- {
		if dxs[i] == nil {
			dxs[i] = e.Zeros(B, N, D)
		}
		if dxs[i+1] != nil {
			enc.blocks[i].backward(e, dxs[i], dxs[i+1], c.blocks[i], B, N, c.rope, nil)
			e.Free(dxs[i+1])
		}
	}
	dx := dxs[0]
	e.PatchEmbed3DBackward(enc.patchW.G, enc.patchB.G, dx, c.video, B, c.T, c.Hh, c.Ww, cfg.TubeletSize, cfg.PatchSize, D)
	if dVideo != nil {
		enc.videoGrad(e, dVideo, dx, c)
	}
	e.Free(dx)
	return nil
}

// videoGrad adds the gradient of the tubelet embedding w.r.t. its input: per token,
// dPatch[K] = dTok[D]·W[D,K] (K = C·tub·p·p, in Conv3d weight order), then scattered back
// to [B,C,T,H,W] on the host (kernel = stride, so patches do not overlap).
func (enc *Encoder) videoGrad(e nn.Engine, dVideo, dTok *nn.Tensor, c *EncoderCache) {
	cfg := enc.Cfg
	Cin, tub, p, D := cfg.InChans, cfg.TubeletSize, cfg.PatchSize, cfg.EmbedDim
	K := Cin * tub * p * p
	M := c.B * c.N
	dp := e.Zeros(M, K)
	e.LinearBackward(dp, nil, nil, dTok, nil, enc.patchW.W, M, K, D)
	patches := e.ToHost(dp)
	e.Free(dp)
	grad := e.ToHost(dVideo)
	T, Hh, Ww := c.T, c.Hh, c.Ww
	Tp, Hp, Wp := cfg.Grid(T, Hh, Ww)
	for b := 0; b < c.B; b++ {
		for tp := 0; tp < Tp; tp++ {
			for hp := 0; hp < Hp; hp++ {
				for wp := 0; wp < Wp; wp++ {
					row := patches[((b*Tp+tp)*Hp*Wp+hp*Wp+wp)*K:]
					k := 0
					for ch := 0; ch < Cin; ch++ {
						for dt := 0; dt < tub; dt++ {
							for dh := 0; dh < p; dh++ {
								base := (((b*Cin+ch)*T+tp*tub+dt)*Hh+hp*p+dh)*Ww + wp*p
								for dw := 0; dw < p; dw++ {
									grad[base+dw] += row[k]
									k++
								}
							}
						}
					}
				}
			}
		}
	}
	tmp := e.FromHost(grad, dVideo.Shape...)
	e.CopyInto(dVideo, tmp)
	e.Free(tmp)
}

// Encode runs the inference forward on host clips, each [C,T,H,W] (normalised), all of
// the same size, as one batch. It returns, per clip, the first output's features
// [N·D] (N = T/tubelet·H/patch·W/patch), as host slices.
func (enc *Encoder) Encode(e nn.Engine, clips [][]float32, T, H, W int) ([][]float32, error) {
	B := len(clips)
	if B == 0 {
		return nil, nil
	}
	per := enc.Cfg.InChans * T * H * W
	flat := make([]float32, 0, B*per)
	for i, c := range clips {
		if len(c) != per {
			return nil, fmt.Errorf("clip %d: %d values, want C·T·H·W = %d", i, len(c), per)
		}
		flat = append(flat, c...)
	}
	video := e.FromHost(flat, B, enc.Cfg.InChans, T, H, W)
	flat = nil
	outs, _, err := enc.Forward(e, video, B, T, H, W, false)
	e.Free(video)
	if err != nil {
		return nil, err
	}
	host := e.ToHost(outs[0])
	for _, o := range outs {
		e.Free(o)
	}
	n := len(host) / B
	res := make([][]float32, B)
	for b := range res {
		res[b] = host[b*n : (b+1)*n : (b+1)*n]
	}
	return res, nil
}

// Init fills the encoder with V-JEPA 2's initialisation (seeded): for tests, benchmarks
// and the synthetic demo; real use loads released weights.
func (enc *Encoder) Init(e nn.Engine, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x7a20))
	nn.InitTruncNormal(e, enc.patchW, rng, 0.02)
	nn.InitConst(e, enc.patchB, 0)
	initBlocks(e, enc.blocks, rng, 0.02)
	nn.InitConst(e, enc.normW, 1)
	nn.InitConst(e, enc.normB, 0)
}
