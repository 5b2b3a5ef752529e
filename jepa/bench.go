package jepa

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/thinkjepa/thinkjepa/arch"
	"github.com/thinkjepa/thinkjepa/nn"
)

// BenchConfig is one benchmark configuration shared with tools/reference/bench.py
// (tools/reference/README.md, "Benchmark configs"): batch 1, fp32.
type BenchConfig struct {
	Name      string
	Encoder   arch.EncoderConfig
	Predictor arch.ThinkPredictorConfig
}

// BenchConfigs are the configurations of tools/reference/bench.py.
var BenchConfigs = map[string]BenchConfig{
	"small": {Name: "small",
		Encoder: arch.EncoderConfig{EmbedDim: 192, Depth: 4, NumHeads: 3, MLPRatio: 4, PatchSize: 16, TubeletSize: 2,
			ImgSize: 128, NumFrames: 8, InChans: 3, NormEps: 1e-6},
		Predictor: arch.ThinkPredictorConfig{EmbedDim: 192, PredictorEmbedDim: 384, Depth: 12, NumHeads: 6, MLPRatio: 4,
			TokensPerFrame: 64, NumFrames: 8, PastFrames: 4, NumQueryTemplates: 2, QueryIndex: 1, NormEps: 1e-6}},
	"vitl_width": {Name: "vitl_width",
		Encoder: arch.EncoderConfig{EmbedDim: 1024, Depth: 2, NumHeads: 16, MLPRatio: 4, PatchSize: 16, TubeletSize: 2,
			ImgSize: 256, NumFrames: 16, InChans: 3, NormEps: 1e-6},
		Predictor: arch.ThinkPredictorConfig{EmbedDim: 1024, PredictorEmbedDim: 384, Depth: 12, NumHeads: 6, MLPRatio: 4,
			TokensPerFrame: 64, NumFrames: 16, PastFrames: 8, NumQueryTemplates: 2, QueryIndex: 1, NormEps: 1e-6}},
}

// BenchConfigNames lists the configurations, sorted.
func BenchConfigNames() []string {
	var out []string
	for k := range BenchConfigs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func randTensor(e nn.Engine, rng *rand.Rand, shape ...int) *nn.Tensor {
	n := 1
	for _, s := range shape {
		n *= s
	}
	h := make([]float32, n)
	for i := range h {
		h[i] = float32(rng.NormFloat64())
	}
	return e.FromHost(h, shape...)
}

// EncoderBench prepares an encoder forward on a random clip (seeded, random weights) and
// returns the function that runs one forward.
func EncoderBench(e nn.Engine, cfg arch.EncoderConfig, seed uint64) (func() error, error) {
	return EncoderBenchBatch(e, cfg, 1, seed)
}

// EncoderBenchBatch is EncoderBench on a batch of B clips.
func EncoderBenchBatch(e nn.Engine, cfg arch.EncoderConfig, B int, seed uint64) (func() error, error) {
	enc, err := NewEncoder(e, cfg)
	if err != nil {
		return nil, err
	}
	enc.Init(e, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	video := randTensor(e, rng, B, cfg.InChans, cfg.NumFrames, cfg.ImgSize, cfg.ImgSize)
	return func() error {
		outs, _, err := enc.Forward(e, video, B, cfg.NumFrames, cfg.ImgSize, cfg.ImgSize, false)
		if err != nil {
			return err
		}
		for _, o := range outs {
			e.Free(o)
		}
		return e.Sync()
	}, nil
}

// PredictorBench prepares a ThinkJEPA predictor forward + backward of sum(out·g) with
// random FiLM inputs (seeded) and returns the function that runs one step.
func PredictorBench(e nn.Engine, cfg arch.ThinkPredictorConfig, seed uint64) (func() error, error) {
	return PredictorBenchBatch(e, cfg, 1, seed)
}

// PredictorBenchBatch is PredictorBench on a batch of B clips.
func PredictorBenchBatch(e nn.Engine, cfg arch.ThinkPredictorConfig, B int, seed uint64) (func() error, error) {
	p, err := NewThinkPredictor(e, cfg)
	if err != nil {
		return nil, err
	}
	p.Init(e, seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	P, D := cfg.TokensPerFrame, cfg.PredictorEmbedDim
	x := randTensor(e, rng, B, cfg.PastFrames*P, cfg.EmbedDim)
	g := randTensor(e, rng, B, cfg.FutureFrames()*P, cfg.EmbedDim)
	var gam, bet, dGam, dBet []*nn.Tensor
	for l := 0; l < cfg.Depth; l++ {
		gam = append(gam, randTensor(e, rng, B, D))
		bet = append(bet, randTensor(e, rng, B, D))
		dGam = append(dGam, e.Zeros(B, D))
		dBet = append(dBet, e.Zeros(B, D))
	}
	return func() error {
		out, cache, err := p.Forward(e, x, B, gam, bet, true)
		if err != nil {
			return err
		}
		if err := p.Backward(e, cache, g, dGam, dBet, nil); err != nil {
			return err
		}
		cache.Free(e)
		e.Free(out)
		return e.Sync()
	}, nil
}

// TimeMedian runs f once to warm up, then repeats times, and returns the median seconds.
func TimeMedian(f func() error, repeats int) (float64, error) {
	if err := f(); err != nil {
		return 0, err
	}
	ts := make([]float64, 0, repeats)
	for i := 0; i < max(1, repeats); i++ {
		t0 := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		ts = append(ts, time.Since(t0).Seconds())
	}
	sort.Float64s(ts)
	return ts[len(ts)/2], nil
}

// Workloads returns the named benchmark steps of one config: "encoder_fwd" and
// "predictor_fwd_bwd", in that order.
func Workloads(e nn.Engine, bc BenchConfig, seed uint64) ([]string, []func() error, error) {
	enc, err := EncoderBench(e, bc.Encoder, seed)
	if err != nil {
		return nil, nil, fmt.Errorf("bench %s encoder: %w", bc.Name, err)
	}
	pred, err := PredictorBench(e, bc.Predictor, seed)
	if err != nil {
		return nil, nil, fmt.Errorf("bench %s predictor: %w", bc.Name, err)
	}
	return []string{"encoder_fwd", "predictor_fwd_bwd"}, []func() error{enc, pred}, nil
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 3)) }
