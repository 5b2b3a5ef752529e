// Package train is the ThinkJEPA training loop (model-spec §4.7): the joint model
// (JEPA predictor + FiLM guidance bank + trajectory head), its loss
// λ_traj·MSE(world joints) + λ_pred·MSE(latents) with explicit backward, two AdamW
// groups, validation, atomic checkpoints that resume exactly, and the metrics log.
package train

import (
	"fmt"

	"github.com/thinkjepa/thinkjepa/film"
	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/rollout"
)

// Predictor is the latent predictor as training needs it. The ThinkJEPA predictor
// (package jepa) is wrapped to this interface; tests use small stand-ins.
type Predictor interface {
	Params() *nn.ParamSet
	// NumBlocks is the number of FiLM sites (one per predictor block).
	NumBlocks() int
	// Forward predicts Tf future frames [B,Tf,P,D] from context ctx [B,Tc,P,D].
	// gamma, beta are per-block [B,C] FiLM parameters, or nil for no guidance.
	Forward(e nn.Engine, ctx *nn.Tensor, B, Tc, Tf, P int, gamma, beta []*nn.Tensor) (PredictorPass, error)
}

// Inferer is optionally implemented by predictors that can run forward without keeping
// activations (used by Predict, validation and forecasting).
type Inferer interface {
	Infer(e nn.Engine, ctx *nn.Tensor, B, Tc, Tf, P int, gamma, beta []*nn.Tensor) (PredictorPass, error)
}

// DropForwarder is optionally implemented by predictors with training-time randomness
// (dropout, drop path): TrainStep calls ForwardDrop instead of Forward, with a seed
// derived from the step seed, so a resumed run draws the same masks.
type DropForwarder interface {
	ForwardDrop(e nn.Engine, ctx *nn.Tensor, B, Tc, Tf, P int, gamma, beta []*nn.Tensor, seed uint64) (PredictorPass, error)
}

// predictorSeed separates the predictor's masks from the head's, which are drawn from
// the step seed itself.
func predictorSeed(step uint64) uint64 { return step ^ 0x7072656469637472 }

// PredictorPass is one forward pass kept for its backward.
type PredictorPass interface {
	Out() *nn.Tensor
	// Backward accumulates parameter gradients from dOut and writes the FiLM gradients
	// into dGamma, dBeta (same layout as the forward's gamma, beta; nil to skip).
	Backward(e nn.Engine, dOut *nn.Tensor, dGamma, dBeta []*nn.Tensor) error
	Release(e nn.Engine)
}

// Mode selects the paper's ablations (model-spec §4.10).
type Mode string

const (
	ModeThinkJEPA Mode = "thinkjepa" // JEPA latents + VLM guidance
	ModeJEPAOnly  Mode = "jepa-only" // no guidance: FiLM off
	ModeVLMOnly   Mode = "vlm-only"  // JEPA inputs zeroed, guidance on
)

// Guided reports whether the mode uses the FiLM guidance bank.
func (m Mode) Guided() bool { return m != ModeJEPAOnly }

// Validate rejects unknown modes.
func (m Mode) Validate() error {
	switch m {
	case ModeThinkJEPA, ModeJEPAOnly, ModeVLMOnly:
		return nil
	}
	return fmt.Errorf("unknown mode %q (want thinkjepa, jepa-only or vlm-only)", m)
}

// Layout says what the predictor predicts and what the trajectory head reads (upstream's
// three layouts, model-spec §4.6 correction):
//   - joint (TJ2 train.sh, the default): the predictor forecasts the Tf future frames from
//     the Tc observed ones; the head reads [observed | predicted] latents and AvgPools
//     frame pairs, so step t comes from frames 2t, 2t+1 of the joined sequence: the first
//     half of the future steps is read from observed latents only.
//   - future (TJ1 --trajmode traj, TJ2 JOINT_PRED=0): the same forecast; the head reads
//     the Tf predicted latents only, without pooling: step t comes from predicted frame t.
//   - track (TJ1's argparse default, the released suite's mode): not a forecaster. The
//     predictor gets every frame of the clip, future ones included, as context and
//     re-predicts the same positions; the head reads all of them without pooling and
//     regresses every frame's joints with that frame's own extrinsics. Batches then hold
//     the whole clip in Ctx, Target, World and Ext (Tc = Tf = T); see FileSet.
type Layout string

// Layouts.
const (
	LayoutJoint  Layout = "joint"
	LayoutFuture Layout = "future"
	LayoutTrack  Layout = "track"
)

// Validate rejects unknown layouts ("" is joint).
func (l Layout) Validate() error {
	switch l {
	case "", LayoutJoint, LayoutFuture, LayoutTrack:
		return nil
	}
	return fmt.Errorf("unknown layout %q (want joint, future or track)", l)
}

// Pooled reports whether the head AvgPools frame pairs (joint) or reads one frame per
// step (future, track).
func (l Layout) Pooled() bool { return l == "" || l == LayoutJoint }

// Model bundles the trainable parts.
type Model struct {
	Mode Mode
	// Layout is joint ("" too), future or track; Head.Cfg.NoPool must be set unless joint.
	Layout Layout
	Pred   Predictor
	Film   *film.Bank // nil when the mode is unguided
	Head   *rollout.Head
	// DetachHead is v1's y_future.detach(): the trajectory loss does not reach the
	// predictor. v2 (default false) optimises them together.
	DetachHead bool
	// LatentMap is the latent whitening or standardization the model was trained with
	// (nil: raw latents); data served to the model must go through it (FileSet.LatentMap).
	LatentMap LatentMap
	// HeadDropout is the head's training-time dropout (model-spec §4.6: 0.1); it is
	// used by TrainStep only, never at inference.
	HeadDropout float32
}

// Batch is one batch on the host.
type Batch struct {
	B, Tc, Tf, P, D int
	Ctx             []float32 // [B,Tc,P,D] observed latents (ground truth)
	Target          []float32 // [B,Tf,P,D] future latents (latent-loss target)
	// Guidance (nil streams = missing). X [B,L,S,Dv] host, masks [B,L,S].
	OldX, NewX       []float32
	OldMask, NewMask []float32
	L, So, Sn, Dv    int
	// Supervision: world joints [B,Tf,J,3] of the future frames and the world←camera
	// extrinsics [B,Tf,16] used to map each output step (last observed pose repeated in
	// v2, each future frame's pose in v1); Ref [B,Tf,J,3] camera-frame reference
	// offsets (perhand mode) or nil.
	World []float32
	Ext   []float32
	Ref   []float32
	J     int
	IDs   []string
	// WorldAll [B,T,J,3] and ExtAll [B,T,16]: the whole clips' supervision (file sets
	// fill them; the recursive forecast reads windows from them).
	WorldAll, ExtAll []float32
}

// Steps is the number of trajectory steps the head outputs: one per predicted frame
// ((Tc+Tf)/2 pooled pairs in the joint layout, Tf predicted frames in the future layout,
// all Tf = T frames in the track layout).
func (b *Batch) Steps() int { return b.Tf }

func (b *Batch) check(l Layout) error {
	if (l.Pooled() || l == LayoutTrack) && b.Tc != b.Tf {
		return fmt.Errorf("batch: context (%d) and predicted (%d) frame counts must match in the %s layout", b.Tc, b.Tf, l)
	}
	n := b.B * b.Tc * b.P * b.D
	if len(b.Ctx) != n || len(b.Target) != b.B*b.Tf*b.P*b.D {
		return fmt.Errorf("batch: latents have %d/%d values, want %d", len(b.Ctx), len(b.Target), n)
	}
	if len(b.World) != b.B*b.Tf*b.J*3 || len(b.Ext) != b.B*b.Tf*16 {
		return fmt.Errorf("batch: supervision has %d joint and %d extrinsics values, want %d and %d", len(b.World), len(b.Ext), b.B*b.Tf*b.J*3, b.B*b.Tf*16)
	}
	return nil
}

// Losses of one step.
type Losses struct {
	Total, Traj, Latent float64
}

// LossWeights are λ_traj and λ_pred (both 1 in ThinkJEPA).
type LossWeights struct {
	Traj, Pred float32
}

// pass is one forward pass of the whole model with what backward needs.
type pass struct {
	ctx, target, joined, world *nn.Tensor // joined: the head's input in the joint layout
	oldX, newX                 *nn.Tensor
	fin                        *film.Input
	fout                       *film.Output
	pp                         PredictorPass
	hout                       *rollout.HeadOut
	cam                        *rollout.CamToWorld
	gamma, beta                []*nn.Tensor
}

func (p *pass) release(e nn.Engine) {
	for _, t := range []*nn.Tensor{p.ctx, p.target, p.joined, p.world, p.oldX, p.newX} {
		if t != nil {
			e.Free(t)
		}
	}
	if p.fout != nil {
		p.fout.Release(e)
	}
	if p.pp != nil {
		p.pp.Release(e)
	}
	if p.hout != nil {
		p.hout.Release(e)
	}
	if p.cam != nil {
		p.cam.Release(e)
	}
}

// forward runs guidance → predictor → head → camera→world. predSeed (nil: none) turns on
// the predictor's training-time randomness when it has any (DropForwarder).
func (m *Model) forward(e nn.Engine, b *Batch, infer bool, drop rollout.Dropout, predSeed *uint64) (*pass, error) {
	if err := b.check(m.Layout); err != nil {
		return nil, err
	}
	if pool := m.Head.Cfg.Pool(); m.Layout.Pooled() != (pool == 2) {
		return nil, fmt.Errorf("layout %q needs a head with pooling %d, this one pools %d", m.Layout, 3-pool, pool)
	}
	p := &pass{}
	ctx := b.Ctx
	if m.Mode == ModeVLMOnly {
		ctx = make([]float32, len(b.Ctx)) // the V-JEPA inputs set to zero
	}
	p.ctx = e.FromHost(ctx, b.B, b.Tc, b.P, b.D)
	p.target = e.FromHost(b.Target, b.B, b.Tf, b.P, b.D)
	if m.Mode.Guided() {
		if m.Film == nil {
			p.release(e)
			return nil, fmt.Errorf("mode %s needs the guidance bank", m.Mode)
		}
		p.fin = &film.Input{B: b.B}
		if b.OldX != nil {
			p.oldX = e.FromHost(b.OldX, b.B, b.L, b.So, b.Dv)
			p.fin.Old = &film.Stream{X: p.oldX, Mask: b.OldMask, L: b.L, S: b.So}
		}
		if b.NewX != nil {
			p.newX = e.FromHost(b.NewX, b.B, b.L, b.Sn, b.Dv)
			p.fin.New = &film.Stream{X: p.newX, Mask: b.NewMask, L: b.L, S: b.Sn}
		}
		fout, err := m.Film.Forward(e, p.fin)
		if err != nil {
			p.release(e)
			return nil, err
		}
		p.fout, p.gamma, p.beta = fout, fout.Gamma, fout.Beta
	}
	fwd := m.Pred.Forward
	if inf, ok := m.Pred.(Inferer); ok && infer {
		fwd = inf.Infer
	}
	if df, ok := m.Pred.(DropForwarder); ok && predSeed != nil && !infer {
		seed := *predSeed
		fwd = func(e nn.Engine, ctx *nn.Tensor, B, Tc, Tf, P int, gamma, beta []*nn.Tensor) (PredictorPass, error) {
			return df.ForwardDrop(e, ctx, B, Tc, Tf, P, gamma, beta, seed)
		}
	}
	pp, err := fwd(e, p.ctx, b.B, b.Tc, b.Tf, b.P, p.gamma, p.beta)
	if err != nil {
		p.release(e)
		return nil, fmt.Errorf("predictor: %w", err)
	}
	p.pp = pp
	headIn, headT := pp.Out(), b.Tf
	if m.Layout.Pooled() {
		frame := b.P * b.D
		p.joined = e.Zeros(b.B, b.Tc+b.Tf, b.P, b.D)
		e.ConcatCols(p.joined, []*nn.Tensor{p.ctx, pp.Out()}, b.B, []int{b.Tc * frame, b.Tf * frame})
		headIn, headT = p.joined, b.Tc+b.Tf
	}
	hout, err := m.Head.ForwardDrop(e, headIn, b.B, headT, b.P, drop)
	if err != nil {
		p.release(e)
		return nil, err
	}
	p.hout = hout
	p.cam = &rollout.CamToWorld{B: b.B, T: b.Steps(), J: b.J, Ext: b.Ext, Ref: b.Ref}
	p.world = e.Zeros(b.B, b.Steps(), b.J, 3)
	if err := p.cam.Forward(e, p.world, hout.Out); err != nil {
		p.release(e)
		return nil, err
	}
	return p, nil
}

// Predict returns world-frame joints [B,Tf,J,3] and predicted latents [B,Tf,P,D].
func (m *Model) Predict(e nn.Engine, b *Batch) (world, latents []float32, err error) {
	p, err := m.forward(e, b, true, rollout.Dropout{}, nil)
	if err != nil {
		return nil, nil, err
	}
	defer p.release(e)
	return e.ToHost(p.world), e.ToHost(p.pp.Out()), nil
}

// LossAndGrad runs forward and backward without dropout (a deterministic function of
// the weights and the batch), accumulating gradients into every parameter.
func (m *Model) LossAndGrad(e nn.Engine, b *Batch, w LossWeights) (Losses, error) {
	return m.lossAndGrad(e, b, w, rollout.Dropout{}, nil)
}

// TrainStep is LossAndGrad with the training-time randomness (the head's dropout, the
// predictor's dropout and drop path), masks drawn from seed (the trainer derives it from
// the run seed and the global step, so a resumed run draws the same masks).
func (m *Model) TrainStep(e nn.Engine, b *Batch, w LossWeights, seed uint64) (Losses, error) {
	ps := predictorSeed(seed)
	return m.lossAndGrad(e, b, w, rollout.Dropout{P: m.HeadDropout, Seed: seed}, &ps)
}

func (m *Model) lossAndGrad(e nn.Engine, b *Batch, w LossWeights, drop rollout.Dropout, predSeed *uint64) (Losses, error) {
	p, err := m.forward(e, b, false, drop, predSeed)
	if err != nil {
		return Losses{}, err
	}
	defer p.release(e)
	gt := e.FromHost(b.World, b.B, b.Steps(), b.J, 3)
	defer e.Free(gt)
	nTraj := b.B * b.Steps() * b.J * 3
	nLat := b.B * b.Tf * b.P * b.D
	y := p.pp.Out()
	traj := e.MSE(p.world, gt, nTraj)
	lat := e.MSE(y, p.target, nLat)
	ls := Losses{Traj: float64(traj), Latent: float64(lat)}
	ls.Total = float64(w.Traj)*ls.Traj + float64(w.Pred)*ls.Latent

	dWorld := e.Zeros(b.B, b.Steps(), b.J, 3)
	defer e.Free(dWorld)
	e.MSEBackward(dWorld, p.world, gt, nTraj, w.Traj)
	dCam := e.Zeros(b.B, b.Steps(), b.J, 3)
	defer e.Free(dCam)
	p.cam.Backward(e, dCam, dWorld)
	dY := e.Zeros(b.B, b.Tf, b.P, b.D)
	defer e.Free(dY)
	switch {
	case m.DetachHead:
		p.hout.Backward(e, dCam, nil)
	case !m.Layout.Pooled():
		p.hout.Backward(e, dCam, dY)
	default:
		dJoined := e.Zeros(b.B, b.Tc+b.Tf, b.P, b.D)
		p.hout.Backward(e, dCam, dJoined)
		frame := b.P * b.D
		e.SplitColsAdd([]*nn.Tensor{nil, dY}, dJoined, b.B, []int{b.Tc * frame, b.Tf * frame})
		e.Free(dJoined)
	}
	e.MSEBackward(dY, y, p.target, nLat, w.Pred)
	var dGamma, dBeta []*nn.Tensor
	if p.fout != nil {
		C := m.Film.Cfg.Width
		for range p.gamma {
			dGamma = append(dGamma, e.Zeros(b.B, C))
			dBeta = append(dBeta, e.Zeros(b.B, C))
		}
		defer func() {
			for i := range dGamma {
				e.Free(dGamma[i])
				e.Free(dBeta[i])
			}
		}()
	}
	if err := p.pp.Backward(e, dY, dGamma, dBeta); err != nil {
		return Losses{}, fmt.Errorf("predictor backward: %w", err)
	}
	if p.fout != nil {
		p.fout.Backward(e, dGamma, dBeta, nil, nil)
	}
	return ls, nil
}
