package jepa

import (
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/arch"
	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/nn/cpu"
)

func tinyEncoderConfig() arch.EncoderConfig {
	return arch.EncoderConfig{EmbedDim: 64, Depth: 1, NumHeads: 1, MLPRatio: 2, PatchSize: 8, TubeletSize: 2,
		ImgSize: 16, NumFrames: 2, InChans: 3, NormEps: 1e-6}
}

func TestLoadErrorsNameTheTensor(t *testing.T) {
	e := cpu.New()
	cfg := tinyEncoderConfig()
	enc, err := NewEncoder(e, cfg)
	if err != nil {
		t.Fatal(err)
	}
	full := map[string]HostTensor{}
	for n, s := range cfg.ExpectedShapes() {
		k := 1
		for _, d := range s {
			k *= d
		}
		full[n] = HostTensor{Shape: s, Data: make([]float32, k)}
	}
	full["pos_embed"] = HostTensor{Shape: []int{1}, Data: []float32{0}}
	unused, err := enc.Load(e, full)
	if err != nil || len(unused) != 1 || unused[0] != "pos_embed" {
		t.Fatalf("full load: unused %v, err %v", unused, err)
	}
	missing := map[string]HostTensor{}
	for k, v := range full {
		if k != "blocks.0.mlp.fc1.bias" {
			missing[k] = v
		}
	}
	if _, err := enc.Load(e, missing); err == nil || !strings.Contains(err.Error(), "blocks.0.mlp.fc1.bias") {
		t.Errorf("missing tensor: %v", err)
	}
	full["blocks.0.attn.qkv.weight"] = HostTensor{Shape: []int{64, 192}, Data: make([]float32, 64*192)}
	if _, err := enc.Load(e, full); err == nil || !strings.Contains(err.Error(), "blocks.0.attn.qkv.weight") {
		t.Errorf("transposed tensor: %v", err)
	}
}

func TestInputErrors(t *testing.T) {
	e := cpu.New()
	enc, _ := NewEncoder(e, tinyEncoderConfig())
	v := e.Zeros(1, 3, 3, 16, 16)
	if _, _, err := enc.Forward(e, v, 1, 3, 16, 16, false); err == nil || !strings.Contains(err.Error(), "tubelet") {
		t.Errorf("odd frame count: %v", err)
	}
	if _, _, err := enc.Forward(e, e.Zeros(1, 3, 2, 12, 16), 1, 2, 12, 16, false); err == nil || !strings.Contains(err.Error(), "patch_size") {
		t.Errorf("bad height: %v", err)
	}
	pc := arch.PredictorConfig{EmbedDim: 64, PredictorEmbedDim: 32, Depth: 1, NumHeads: 1, MLPRatio: 2, NumMaskTokens: 2,
		ImgSize: 16, PatchSize: 8, NumFrames: 2, TubeletSize: 2, NormEps: 1e-6}
	p, err := NewVJEPAPredictor(e, pc)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Forward(e, e.Zeros(1, 2, 64), [][]int32{{0, 1}}, [][]int32{{9}}, 0, false); err == nil || !strings.Contains(err.Error(), "token id 9") {
		t.Errorf("id out of grid: %v", err)
	}
	tc, _ := arch.LookupThink("demo")
	tp, err := NewThinkPredictor(e, tc)
	if err != nil {
		t.Fatal(err)
	}
	x := e.Zeros(1, tc.PastFrames*tc.TokensPerFrame, tc.EmbedDim)
	if _, _, err := tp.Forward(e, x, 1, []*nn.Tensor{e.Zeros(1, tc.PredictorEmbedDim)}, []*nn.Tensor{e.Zeros(1, tc.PredictorEmbedDim)}, false); err == nil || !strings.Contains(err.Error(), "depth") {
		t.Errorf("FiLM count: %v", err)
	}
	if _, _, err := tp.Forward(e, e.Zeros(1, 3, tc.EmbedDim), 1, nil, nil, false); err == nil || !strings.Contains(err.Error(), "x_ctx") {
		t.Errorf("x_ctx size: %v", err)
	}
	// Without FiLM (nil γ, β) the predictor runs, and zero FiLM equals no FiLM.
	tp.Init(e, 3)
	x = randTensor(e, newRand(5), 1, tc.PastFrames*tc.TokensPerFrame, tc.EmbedDim)
	a, _, err := tp.Forward(e, x, 1, nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	var zg, zb []*nn.Tensor
	for l := 0; l < tc.Depth; l++ {
		zg, zb = append(zg, e.Zeros(1, tc.PredictorEmbedDim)), append(zb, e.Zeros(1, tc.PredictorEmbedDim))
	}
	b, _, err := tp.Forward(e, x, 1, zg, zb, false)
	if err != nil {
		t.Fatal(err)
	}
	ha, hb := e.ToHost(a), e.ToHost(b)
	for i := range ha {
		if ha[i] != hb[i] {
			t.Fatalf("zero FiLM differs from no FiLM at %d: %g vs %g", i, ha[i], hb[i])
		}
	}
}
