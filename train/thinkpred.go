package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/thinkjepa/thinkjepa/arch"
	"github.com/thinkjepa/thinkjepa/jepa"
	"github.com/thinkjepa/thinkjepa/nn"
)

// ThinkPred adapts jepa.ThinkPredictor to the Predictor interface.
type ThinkPred struct{ P *jepa.ThinkPredictor }

// NewThinkPred builds the ThinkJEPA predictor and initialises it from scratch (it is
// never loaded from V-JEPA weights, model-spec §4.4).
func NewThinkPred(e nn.Engine, cfg arch.ThinkPredictorConfig, rng *rand.Rand) (*ThinkPred, error) {
	p, err := jepa.NewThinkPredictor(e, cfg)
	if err != nil {
		return nil, err
	}
	InitVJEPAStyle(e, p.Params, rng)
	return &ThinkPred{P: p}, nil
}

// InitVJEPAStyle is V-JEPA 2's predictor initialisation by parameter name: every weight
// matrix and the query templates ~ trunc-normal(0.02), biases 0, LayerNorm weights 1,
// and each block's output projections (attn.proj, mlp.fc2) rescaled by 1/√(2·(i+1)).
func InitVJEPAStyle(e nn.Engine, ps *nn.ParamSet, rng *rand.Rand) {
	for _, p := range ps.List() {
		switch {
		case strings.HasSuffix(p.Name, ".bias"):
			nn.InitConst(e, p, 0)
		case len(p.Shape) == 1 && strings.HasSuffix(p.Name, ".weight"):
			nn.InitConst(e, p, 1) // LayerNorm
		default:
			std := 0.02
			var layer int
			if (strings.HasSuffix(p.Name, "attn.proj.weight") || strings.HasSuffix(p.Name, "mlp.fc2.weight")) &&
				scanLayer(p.Name, &layer) {
				std /= math.Sqrt(2 * float64(layer+1))
			}
			nn.InitTruncNormal(e, p, rng, std)
		}
	}
}

func scanLayer(name string, layer *int) bool {
	parts := strings.Split(name, ".")
	for i := 0; i+1 < len(parts); i++ {
		if strings.HasSuffix(parts[i], "layers") || strings.HasSuffix(parts[i], "blocks") {
			_, err := fmt.Sscanf(parts[i+1], "%d", layer)
			return err == nil
		}
	}
	return false
}

// Params implements Predictor.
func (t *ThinkPred) Params() *nn.ParamSet { return t.P.Params }

// NumBlocks implements Predictor.
func (t *ThinkPred) NumBlocks() int { return t.P.Cfg.Depth }

// checkBatch refuses a batch whose frame counts or tokens per frame differ from the
// predictor's.
func (t *ThinkPred) checkBatch(Tc, Tf, P int) error {
	cfg := t.P.Cfg
	if Tc != cfg.ContextFrames() || Tf != cfg.TargetFrames() || P != cfg.TokensPerFrame {
		return fmt.Errorf("batch has %d context + %d predicted frames × %d tokens, the predictor is built for %d+%d × %d%s",
			Tc, Tf, P, cfg.ContextFrames(), cfg.TargetFrames(), cfg.TokensPerFrame, tokensHint(P, cfg.TokensPerFrame))
	}
	return nil
}

// tokensHint explains latents whose tokens per frame P differ from the model's: most
// likely the other latent layout. Upstream's combined caches (add_vjepa_feats_to_qwen_
// cache.py, `encode --into-cache --layout upstream`) and v1's released caches hold
// pseudo-frames of half a tubelet's tokens (P = Hp·Wp/2, 128 at 256 px); ours
// (`encode --split-clips`, `--into-cache --layout v2`, v2 caches) one latent frame per
// clip frame with a whole tubelet's tokens (P = Hp·Wp, 256).
func tokensHint(have, want int) string {
	if have == want {
		return ""
	}
	s := fmt.Sprintf(": the latents have P = %d tokens per frame, the model takes P = %d", have, want)
	switch {
	case 2*have == want:
		s += " (these look like upstream's pseudo-frames of half a tubelet, `encode --into-cache --layout upstream` or v1 caches, and the model like whole-tubelet frames, --layout v2 or --split-clips)"
	case have == 2*want:
		s += " (these look like whole-tubelet frames, --layout v2 or --split-clips, and the model like upstream's pseudo-frames of half a tubelet, --layout upstream or v1 caches)"
	default:
		s += " (another encoder resolution or patch size, or the other layout: upstream's pseudo-frames hold half a tubelet's tokens, --layout v2 a whole tubelet's)"
	}
	return s + "; encode the latents in the layout and with the encoder the model was trained on"
}

type thinkPass struct {
	p   *jepa.ThinkPredictor
	out *nn.Tensor
	c   *jepa.ThinkCache
}

// Forward implements Predictor.
func (t *ThinkPred) Forward(e nn.Engine, ctx *nn.Tensor, B, Tc, Tf, P int, gamma, beta []*nn.Tensor) (PredictorPass, error) {
	if err := t.checkBatch(Tc, Tf, P); err != nil {
		return nil, err
	}
	out, c, err := t.P.Forward(e, ctx, B, gamma, beta, true)
	if err != nil {
		return nil, err
	}
	return &thinkPass{p: t.P, out: out, c: c}, nil
}

// ForwardDrop implements DropForwarder: Forward with the predictor's dropout and drop
// path (Cfg.DropRate, Cfg.DropPathRate), masks drawn from seed.
func (t *ThinkPred) ForwardDrop(e nn.Engine, ctx *nn.Tensor, B, Tc, Tf, P int, gamma, beta []*nn.Tensor, seed uint64) (PredictorPass, error) {
	if err := t.checkBatch(Tc, Tf, P); err != nil {
		return nil, err
	}
	out, c, err := t.P.ForwardDrop(e, ctx, B, gamma, beta, seed)
	if err != nil {
		return nil, err
	}
	return &thinkPass{p: t.P, out: out, c: c}, nil
}

// Infer is Forward without the activations kept for backward (forecasting, validation).
func (t *ThinkPred) Infer(e nn.Engine, ctx *nn.Tensor, B, Tc, Tf, P int, gamma, beta []*nn.Tensor) (PredictorPass, error) {
	if err := t.checkBatch(Tc, Tf, P); err != nil {
		return nil, err
	}
	out, _, err := t.P.Forward(e, ctx, B, gamma, beta, false)
	if err != nil {
		return nil, err
	}
	return &thinkPass{p: t.P, out: out}, nil
}

func (tp *thinkPass) Out() *nn.Tensor { return tp.out }

func (tp *thinkPass) Backward(e nn.Engine, dOut *nn.Tensor, dGamma, dBeta []*nn.Tensor) error {
	if tp.c == nil {
		return fmt.Errorf("predictor backward after an inference-only forward")
	}
	return tp.p.Backward(e, tp.c, dOut, dGamma, dBeta, nil)
}

func (tp *thinkPass) Release(e nn.Engine) {
	if tp.c != nil {
		tp.c.Free(e)
	}
	e.Free(tp.out)
}
