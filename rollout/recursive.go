package rollout

import (
	"fmt"

	"github.com/thinkjepa/thinkjepa/nn"
)

// Horizons are the recursive-rollout horizons of model-spec §4.8, in future frames.
var Horizons = []int{4, 8, 16, 32}

// LatentPredictor is what the recursive rollout needs from a (FiLM-guided) predictor:
// given context latents ctx [B, Tc·P·D], return the next Tf frames [B, Tf·P·D]. The
// guidance is fixed by the implementation (the same cached VLM features at every step,
// §4.8 step 3). The returned tensor belongs to the caller.
type LatentPredictor interface {
	PredictNext(e nn.Engine, ctx *nn.Tensor, B int) (*nn.Tensor, error)
}

// Recursive is the sliding-window rollout of §4.8: ctx = gt latents of the first Tc
// frames; repeat steps times: y = predictor(ctx); the head reads [ctx, y] (2·Tc frames,
// so Tc trajectory steps after AvgPool 2) and predicts the joints of those steps; then
// ctx = y. Returns camera-frame joints [B, steps·Tc, J, 3] on the host, concatenated in
// time, and the predicted latents [B, steps·Tc, P, D] on the host.
func Recursive(e nn.Engine, pred LatentPredictor, head *Head, ctx0 *nn.Tensor, B, Tc, P, steps int) (joints, latents []float32, err error) {
	D, J := head.Cfg.Dim, head.Cfg.Joints
	if ctx0.Len() != B*Tc*P*D {
		return nil, nil, fmt.Errorf("recursive rollout: context has %d values, want B·Tc·P·D = %d", ctx0.Len(), B*Tc*P*D)
	}
	frame := P * D
	joints = make([]float32, B*steps*Tc*J*3)
	latents = make([]float32, B*steps*Tc*frame)
	ctx := e.Zeros(B, Tc, P, D)
	e.CopyInto(ctx, ctx0)
	defer func() { e.Free(ctx) }()
	both := e.Zeros(B, 2*Tc, P, D)
	defer e.Free(both)
	for s := 0; s < steps; s++ {
		y, err := pred.PredictNext(e, ctx, B)
		if err != nil {
			return nil, nil, fmt.Errorf("recursive rollout step %d: %w", s, err)
		}
		if y.Len() != B*Tc*frame {
			e.Free(y)
			return nil, nil, fmt.Errorf("recursive rollout step %d: predictor returned %d values, want %d", s, y.Len(), B*Tc*frame)
		}
		// [B, Tc·frame] | [B, Tc·frame] → [B, 2·Tc·frame]
		e.ConcatCols(both, []*nn.Tensor{ctx, y}, B, []int{Tc * frame, Tc * frame})
		out, err := head.Forward(e, both, B, 2*Tc, P)
		if err != nil {
			e.Free(y)
			return nil, nil, err
		}
		hj := e.ToHost(out.Out)
		out.Release(e)
		hy := e.ToHost(y)
		for b := 0; b < B; b++ {
			copy(joints[(b*steps+s)*Tc*J*3:], hj[b*Tc*J*3:(b+1)*Tc*J*3])
			copy(latents[(b*steps+s)*Tc*frame:], hy[b*Tc*frame:(b+1)*Tc*frame])
		}
		e.Free(ctx)
		ctx = y
	}
	return joints, latents, nil
}
