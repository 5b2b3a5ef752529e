package arch

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func count(m map[string][]int) int {
	n := 0
	for _, s := range m {
		k := 1
		for _, d := range s {
			k *= d
		}
		n += k
	}
	return n
}

func TestPresets(t *testing.T) {
	for name := range Encoders {
		c, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	g, _ := Lookup("vit_giant_xformers")
	if g.NumHeads != 22 || g.Hidden() != 6144 || g.HeadDim() != 64 {
		t.Errorf("vit_giant_xformers: heads %d hidden %d head_dim %d, want 22, 6144, 64", g.NumHeads, g.Hidden(), g.HeadDim())
	}
	// Parameter counts from model-spec §4.11 / README: ViT-L ≈ 304M, ViT-H ≈ 632M, ViT-g ≈ 1.01B.
	for name, lo := range map[string]float64{"vit_large": 303e6, "vit_huge": 630e6, "vit_giant_xformers": 1.0e9} {
		c, _ := Lookup(name)
		n := float64(count(c.ExpectedShapes()))
		if n < lo || n > lo*1.02 {
			t.Errorf("%s: %.4g parameters, want about %.4g", name, n, lo)
		}
	}
	l, _ := Lookup("vit_large")
	if s := l.ExpectedShapes()["blocks.23.attn.qkv.weight"]; len(s) != 2 || s[0] != 3072 || s[1] != 1024 {
		t.Errorf("vit_large qkv shape %v", s)
	}
	if RoPEDSub(64) != 20 || RoPEDSub(80) != 26 || RoPEDSub(32) != 10 {
		t.Errorf("RoPEDSub: %d %d %d", RoPEDSub(64), RoPEDSub(80), RoPEDSub(32))
	}
	p := Predictors["vit_large"]
	if n := count(p.ExpectedShapes()); n < 21e6 || n > 23e6 {
		t.Errorf("vit_large predictor: %d parameters, want ≈ 22M", n)
	}
	for name, c := range ThinkPredictors {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Lookup("vit_enormous"); err == nil || !strings.Contains(err.Error(), "vit_large") {
		t.Errorf("unknown preset error should list known names, got %v", err)
	}
}

func TestValidationErrors(t *testing.T) {
	c, _ := Lookup("vit_tiny")
	c.NumHeads = 5
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "num_heads") {
		t.Errorf("want num_heads error, got %v", err)
	}
	c, _ = Lookup("vit_tiny")
	c.ImgSize = 250
	c.OutLayers = []int{40}
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "img_size 250") || !strings.Contains(err.Error(), "out_layers") {
		t.Errorf("want img_size and out_layers errors, got %v", err)
	}
	for name, tp := range ThinkPredictors {
		if tp.DropRate != 0.1 || tp.DropPathRate != 0.1 {
			t.Errorf("preset %s: drop_rate %v, drop_path_rate %v; upstream trains with 0.1 and linspace 0→0.1", name, tp.DropRate, tp.DropPathRate)
		}
	}
	tp := ThinkPredictors["v2"]
	tp.PastFrames = 64
	if err := tp.Validate(); err == nil || !strings.Contains(err.Error(), "past_frames") {
		t.Errorf("want past_frames error, got %v", err)
	}
	if _, err := ParseEncoder([]byte(`{"embed_dim": "x"}`)); err == nil {
		t.Error("bad JSON accepted")
	}
}

func TestJSONRoundTripAndLoad(t *testing.T) {
	c, _ := Lookup("vit_huge")
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{`"embed_dim":1280`, `"tubelet_size":2`, `"norm_eps":0.000001`} {
		if !strings.Contains(string(b), f) {
			t.Errorf("JSON %s lacks %s", b, f)
		}
	}
	path := filepath.Join(t.TempDir(), "arch.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.EmbedDim != 1280 || got.Depth != 32 || got.Hidden() != 5120 {
		t.Errorf("round trip: %+v", got)
	}
	if _, err := Load("vit_large"); err != nil {
		t.Errorf("Load(preset): %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file error should name it: %v", err)
	}
}

// The golden fixtures' config.json files must parse with the same field names.
func TestGoldenConfigsParse(t *testing.T) {
	root := filepath.Join("..", "testdata", "golden")
	for _, name := range []string{"encoder_tiny", "encoder_hd80", "encoder_outlayers", "vjepa_predictor_tiny", "thinkjepa_predictor_tiny", "thinkjepa_predictor_causal"} {
		b, err := os.ReadFile(filepath.Join(root, name, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		kind, err := Kind(b)
		if err != nil {
			t.Fatal(err)
		}
		switch kind {
		case "vjepa_encoder":
			_, err = ParseEncoder(b)
		case "vjepa_predictor":
			_, err = ParsePredictor(b)
		case "thinkjepa_predictor":
			_, err = ParseThink(b)
		default:
			t.Errorf("%s: unexpected kind %q", name, kind)
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestEncoderFromJSON(t *testing.T) {
	for _, s := range []string{
		`{"kind":"vjepa_encoder","embed_dim":128,"depth":2,"num_heads":2,"mlp_ratio":4,"patch_size":16,"tubelet_size":2,"img_size":32,"num_frames":4}`,
		`{"kind":"released_tiny","encoder":{"embed_dim":128,"depth":2,"num_heads":2,"mlp_ratio":4,"patch_size":16,"tubelet_size":2,"img_size":32,"num_frames":4},"predictor":{}}`,
	} {
		c, err := EncoderFromJSON([]byte(s))
		if err != nil || c.EmbedDim != 128 || c.Depth != 2 {
			t.Errorf("%s: %+v %v", s, c, err)
		}
	}
	if c, err := EncoderFromJSON([]byte(`{"arch":"vit_large"}`)); err != nil || c.EmbedDim != 1024 {
		t.Errorf("arch preset: %+v %v", c, err)
	}
	for _, s := range []string{``, `null`, `{"kind":"thinkjepa_predictor","embed_dim":3}`, `[1]`} {
		if _, err := EncoderFromJSON([]byte(s)); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
