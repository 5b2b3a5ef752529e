package weights

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const golden = "../testdata/golden"

func mustRead(t *testing.T, path string) *File {
	t.Helper()
	f, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// compareUnder checks that every reference tensor appears under prefix in c with the same
// shape and values (within tol; 0 = bit-exact).
func compareUnder(t *testing.T, c *Checkpoint, prefix string, ref map[string]*Tensor, tol float64) {
	t.Helper()
	for name, want := range ref {
		got, ok := c.Tensors[prefix+name]
		if !ok {
			t.Errorf("missing %s%s", prefix, name)
			continue
		}
		if !sameShape(got.Shape, want.Shape) {
			t.Errorf("%s%s: shape %v, want %v", prefix, name, got.Shape, want.Shape)
			continue
		}
		for i := range want.Data {
			d := float64(got.Data[i] - want.Data[i])
			if d < 0 {
				d = -d
			}
			if d > tol*(1+abs64(float64(want.Data[i]))) {
				t.Errorf("%s%s[%d] = %g, want %g", prefix, name, i, got.Data[i], want.Data[i])
				break
			}
		}
	}
}

func abs64(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestImportReleasedPT(t *testing.T) {
	enc := mustRead(t, filepath.Join(golden, "encoder_tiny", "weights.safetensors"))
	pred := mustRead(t, filepath.Join(golden, "vjepa_predictor_tiny", "weights.safetensors"))
	c, rep, err := Import(filepath.Join(golden, "released_tiny", "vjepa2_tiny.pt"), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Layout != LayoutVJEPA2PT || rep.Which != "encoder" {
		t.Errorf("layout %q which %q", rep.Layout, rep.Which)
	}
	compareUnder(t, c, PrefixEncoder, enc.Tensors, 0)
	compareUnder(t, c, PrefixPredictor, pred.Tensors, 0)
	if want := len(enc.Tensors) + len(pred.Tensors); len(c.Tensors) != want {
		t.Errorf("imported %d tensors, want %d", len(c.Tensors), want)
	}
	if rep.MaskTokens != 3 {
		t.Errorf("mask tokens %d, want 3", rep.MaskTokens)
	}
	joined := strings.Join(rep.Unused, ",")
	for _, k := range []string{"encoder.module.backbone.pos_embed", "predictor.module.backbone.predictor_pos_embed", "target_encoder", "opt", "epoch"} {
		if !strings.Contains(joined, k) {
			t.Errorf("unused keys %v lack %s", rep.Unused, k)
		}
	}

	// target_encoder differs from encoder by small noise: must not equal encoder weights.
	ct, _, err := Import(filepath.Join(golden, "released_tiny", "vjepa2_tiny.pt"), ImportOptions{Which: "target_encoder"})
	if err != nil {
		t.Fatal(err)
	}
	a, b := ct.Tensors["encoder.norm.weight"], c.Tensors["encoder.norm.weight"]
	if a.Data[0] == b.Data[0] {
		t.Error("target_encoder import returned the encoder weights")
	}
}

func TestImportHalfPT(t *testing.T) {
	enc := mustRead(t, filepath.Join(golden, "encoder_tiny", "weights.safetensors"))
	pred := mustRead(t, filepath.Join(golden, "vjepa_predictor_tiny", "weights.safetensors"))
	c, rep, err := Import(filepath.Join(golden, "released_tiny", "vjepa2_tiny_half.pt"), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	compareUnder(t, c, PrefixEncoder, enc.Tensors, 1e-3)    // fp16: 11-bit mantissa
	compareUnder(t, c, PrefixPredictor, pred.Tensors, 8e-3) // bf16: 8-bit mantissa
	if rep.DTypes["F16"] == 0 || rep.DTypes["BF16"] == 0 {
		t.Errorf("source dtypes %v, want F16 and BF16", rep.DTypes)
	}
}

func TestImportHF(t *testing.T) {
	enc := mustRead(t, filepath.Join(golden, "encoder_tiny", "weights.safetensors"))
	pred := mustRead(t, filepath.Join(golden, "vjepa_predictor_tiny", "weights.safetensors"))
	c, rep, err := Import(filepath.Join(golden, "released_tiny", "hf_tiny.safetensors"), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Layout != LayoutHF {
		t.Errorf("layout %q", rep.Layout)
	}
	compareUnder(t, c, PrefixEncoder, enc.Tensors, 0)
	compareUnder(t, c, PrefixPredictor, pred.Tensors, 0)
	if len(rep.Unused) != 0 || len(rep.Missing) != 0 {
		t.Errorf("unused %v missing %v", rep.Unused, rep.Missing)
	}
	if rep.MaskTokens != 3 {
		t.Errorf("mask tokens %d", rep.MaskTokens)
	}
}

func TestImportThinkJEPA(t *testing.T) {
	tj := mustRead(t, filepath.Join(golden, "thinkjepa_predictor_tiny", "weights.safetensors"))
	gd := mustRead(t, filepath.Join(golden, "guidance_tiny", "weights.safetensors"))
	hd := mustRead(t, filepath.Join(golden, "head_tiny", "weights.safetensors"))
	c, rep, err := Import(filepath.Join(golden, "released_tiny", "thinkjepa_ckpt.pt"), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Layout != LayoutThinkJEPAPT {
		t.Errorf("layout %q", rep.Layout)
	}
	compareUnder(t, c, PrefixThinkJEPA, tj.Tensors, 0)
	compareUnder(t, c, PrefixThinkJEPA, gd.Tensors, 0)
	compareUnder(t, c, PrefixTrajectHead, hd.Tensors, 0)
	if want := len(tj.Tensors) + len(gd.Tensors) + len(hd.Tensors); len(c.Tensors) != want {
		t.Errorf("imported %d tensors, want %d", len(c.Tensors), want)
	}
	if len(rep.Renamed) == 0 {
		t.Error("no legacy renamings reported")
	}
	for _, k := range []string{"optimizer", "args", "epoch"} {
		if !strings.Contains(strings.Join(rep.Unused, ","), k) {
			t.Errorf("unused %v lacks %s", rep.Unused, k)
		}
	}
}

func TestRenameLegacy(t *testing.T) {
	cases := map[string]string{
		"predictor_blocks.3.attn.qkv.weight": "rollout_layers.3.attn.qkv.weight",
		"vlm_gate":                           "guidance_layer_scale",
		"vlm_adapters.2.1.bias":              "guidance_fusion_mlps.2.1.bias",
		"mask_tokens.1":                      "query_templates.1",
		"rollout_norm.weight":                "rollout_norm.weight",
		"vlm_gateway.x":                      "vlm_gateway.x",
		"vlm_cross_attn_norms.0.weight":      "guidance_query_norms.0.weight",
		"vlm_cross_attn.0.in_proj_weight":    "guidance_memory_readers.0.in_proj_weight",
	}
	for in, want := range cases {
		if got := RenameLegacyThinkJEPA(in); got != want {
			t.Errorf("%s -> %s, want %s", in, got, want)
		}
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	c, _, err := Import(filepath.Join(golden, "released_tiny", "hf_tiny.safetensors"), ImportOptions{Config: json.RawMessage(`{"kind":"vjepa_encoder","embed_dim":128}`)})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "w.safetensors")
	if err := c.Save(out); err != nil {
		t.Fatal(err)
	}
	back, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	compareUnder(t, back, "", c.Tensors, 0)
	if string(back.Config) != `{"kind":"vjepa_encoder","embed_dim":128}` {
		t.Errorf("config %s", back.Config)
	}
	if back.Provenance.Importer != "hf-vjepa2" || len(back.Provenance.SHA256) != 64 || back.Provenance.Tool.GoVersion == "" {
		t.Errorf("provenance %+v", back.Provenance)
	}
	// a plain safetensors file is not our format
	if _, err := Load(filepath.Join(golden, "encoder_tiny", "weights.safetensors")); err == nil || !strings.Contains(err.Error(), "not a thinkjepa checkpoint") {
		t.Errorf("Load of a plain file: %v", err)
	}
}

func TestCorruptFiles(t *testing.T) {
	src := filepath.Join(golden, "encoder_tiny", "weights.safetensors")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hlen := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	// a 1-D [width] tensor in the header, and the same with one element fewer
	width := mustRead(t, src).Tensors["norm.weight"].Shape[0]
	normShape, wrongShape := fmt.Sprintf(`"shape":[%d]`, width), fmt.Sprintf(`"shape":[%d]`, width-1)
	if !strings.Contains(string(b[:8+hlen]), normShape) {
		t.Fatalf("%s: header has no %s", src, normShape)
	}
	cases := map[string]struct {
		data []byte
		want string
	}{
		"empty":      {nil, "not a safetensors file"},
		"truncated":  {b[:len(b)-100], "truncated"},
		"headercut":  {b[:8+hlen/2], "does not fit"},
		"trailing":   {append(append([]byte{}, b...), 1, 2, 3, 4), "trailing"},
		"badjson":    {append(append([]byte{}, b[:8]...), append([]byte("{not json"), b[17:]...)...), "not valid JSON"},
		"wrongdtype": {[]byte(strings.Replace(string(b), `"F32"`, `"I64"`, 1)), "unsupported dtype"},
		"wrongshape": {[]byte(strings.Replace(string(b), normShape, wrongShape, 1)), "expected"},
	}
	for name, tc := range cases {
		p := write(name+".safetensors", tc.data)
		_, err := ReadSafetensors(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want one naming the file and containing %q", name, err, tc.want)
		}
	}
	// a truncated .pt is an error, not a panic
	pt, err := os.ReadFile(filepath.Join(golden, "released_tiny", "vjepa2_tiny.pt"))
	if err != nil {
		t.Fatal(err)
	}
	p := write("cut.pt", pt[:len(pt)/2])
	if _, _, err := Import(p, ImportOptions{}); err == nil {
		t.Error("truncated .pt imported without error")
	}
}

func TestCheckShapes(t *testing.T) {
	c, _, err := Import(filepath.Join(golden, "released_tiny", "vjepa2_tiny.pt"), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	exp := map[string][]int{}
	for n, tt := range c.Sub(PrefixEncoder) {
		exp[n] = tt.Shape
	}
	rep := &Report{}
	if err := CheckShapes(c, PrefixEncoder, exp, rep); err != nil || len(rep.Missing)+len(rep.Mismatched)+len(rep.Unused) != 0 {
		t.Fatalf("exact expectation: err %v report %+v", err, rep)
	}
	exp["norm.weight"] = []int{64}
	exp["blocks.9.norm1.weight"] = []int{128}
	delete(exp, "norm.bias")
	rep = &Report{}
	if err := CheckShapes(c, PrefixEncoder, exp, rep); err == nil {
		t.Fatal("no error for wrong shape and missing key")
	}
	if len(rep.Missing) != 1 || rep.Missing[0] != "encoder.blocks.9.norm1.weight" {
		t.Errorf("missing %v", rep.Missing)
	}
	if len(rep.Mismatched) != 1 || !strings.Contains(rep.Mismatched[0], "encoder.norm.weight") {
		t.Errorf("mismatched %v", rep.Mismatched)
	}
	if len(rep.Unused) != 1 || !strings.Contains(rep.Unused[0], "encoder.norm.bias") {
		t.Errorf("unused %v", rep.Unused)
	}
}

func TestExportHFRoundTrip(t *testing.T) {
	src := filepath.Join(golden, "released_tiny", "hf_tiny.safetensors")
	orig := mustRead(t, src)
	c, _, err := Import(src, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hf, skipped, err := ExportHF(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 0 || len(hf) != len(orig.Tensors) {
		t.Fatalf("exported %d tensors (skipped %v), want %d", len(hf), skipped, len(orig.Tensors))
	}
	back := &Checkpoint{Tensors: hf}
	compareUnder(t, back, "", orig.Tensors, 0)
}

func TestInferEncoder(t *testing.T) {
	enc := mustRead(t, filepath.Join(golden, "encoder_tiny", "weights.safetensors"))
	raw, err := os.ReadFile(filepath.Join(golden, "encoder_tiny", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		EmbedDim    int     `json:"embed_dim"`
		Depth       int     `json:"depth"`
		NumHeads    int     `json:"num_heads"`
		MLPRatio    float64 `json:"mlp_ratio"`
		PatchSize   int     `json:"patch_size"`
		TubeletSize int     `json:"tubelet_size"`
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if _, _, err := InferEncoder(enc.Tensors, 0); err == nil {
		t.Errorf("width %d depth %d is no preset: want an error asking for --heads", want.EmbedDim, want.Depth)
	}
	cfg, _, err := InferEncoder(enc.Tensors, want.NumHeads)
	if err != nil {
		t.Fatal(err)
	}
	hidden := int(float64(want.EmbedDim) * want.MLPRatio)
	if cfg["embed_dim"] != want.EmbedDim || cfg["depth"] != want.Depth || cfg["num_heads"] != want.NumHeads ||
		cfg["patch_size"] != want.PatchSize || cfg["tubelet_size"] != want.TubeletSize || cfg["mlp_hidden"] != hidden {
		t.Errorf("inferred %v, want %+v (mlp_hidden %d)", cfg, want, hidden)
	}
}

func TestHalfWriteRead(t *testing.T) {
	enc := mustRead(t, filepath.Join(golden, "encoder_tiny", "weights.safetensors"))
	c := &Checkpoint{Tensors: enc.Tensors, Provenance: NewProvenance("x", "", "test")}
	p := filepath.Join(t.TempDir(), "h.safetensors")
	meta := map[string]string{"format": FormatID, "config": "null", "provenance": "{}"}
	if err := WriteSafetensors(p, c.Tensors, meta, true); err != nil {
		t.Fatal(err)
	}
	back, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	compareUnder(t, back, "", enc.Tensors, 1e-3)
	f := mustRead(t, p)
	if f.DTypes["norm.weight"] != "F16" {
		t.Errorf("stored dtype %q, want F16", f.DTypes["norm.weight"])
	}
}

func TestImportBareStateDict(t *testing.T) {
	hd := mustRead(t, filepath.Join(golden, "head_tiny", "weights.safetensors"))
	c, rep, err := Import(filepath.Join(golden, "released_tiny", "head_state_dict.pt"), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Layout != LayoutStateDictPT {
		t.Errorf("layout %q", rep.Layout)
	}
	compareUnder(t, c, PrefixTrajectHead, hd.Tensors, 0)
	if len(c.Tensors) != len(hd.Tensors) {
		t.Errorf("imported %d tensors, want %d", len(c.Tensors), len(hd.Tensors))
	}
}
