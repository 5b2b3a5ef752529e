package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/internal/npy"
	"github.com/thinkjepa/thinkjepa/weights"
)

// TestEncodeReleasedTiny imports the reference's released-layout .pt, encodes the
// fixture clip with --no-preprocess and compares with the PyTorch encoder output; then
// checks skip-on-rerun, sharding over a directory and the --split-clips layout.
func TestEncodeReleasedTiny(t *testing.T) {
	golden := filepath.Join("..", "..", "testdata", "golden", "released_tiny")
	cfgAll, err := os.ReadFile(filepath.Join(golden, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(cfgAll, &top); err != nil {
		t.Fatal(err)
	}
	ck, _, err := weights.Import(filepath.Join(golden, "vjepa2_tiny.pt"), weights.ImportOptions{Config: top["encoder"]})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	wpath := filepath.Join(dir, "w.safetensors")
	if err := ck.Save(wpath); err != nil {
		t.Fatal(err)
	}
	z, err := npy.OpenNPZ(filepath.Join(golden, "io.npz"))
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	xa, _ := z.Get("x")
	x, _ := xa.Float64s() // [B,C,T,H,W]
	B, C, T, H, W := xa.Shape[0], xa.Shape[1], xa.Shape[2], xa.Shape[3], xa.Shape[4]
	oa, _ := z.Get("out")
	ref, _ := oa.Float64s()
	in := filepath.Join(dir, "clips")
	os.MkdirAll(in, 0o755)
	for b := 0; b < B; b++ {
		thwc := make([]float32, T*H*W*C)
		for c := 0; c < C; c++ {
			for i := 0; i < T*H*W; i++ {
				thwc[i*C+c] = float32(x[(b*C+c)*T*H*W+i])
			}
		}
		if err := npy.WriteNPYFile(filepath.Join(in, []string{"a.npy", "b.npy"}[b]), npy.FromFloat32(thwc, T, H, W, C)); err != nil {
			t.Fatal(err)
		}
	}
	runOK := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if rc := run(args, &out, &errb); rc != 0 {
			t.Fatalf("thinkjepa %s: rc %d\n%s", strings.Join(args, " "), rc, errb.String())
		}
		return errb.String()
	}
	out := filepath.Join(dir, "feats")
	for shard := 0; shard < 2; shard++ {
		runOK("encode", "--weights", wpath, "--input", in, "--out", out, "--no-preprocess", "--shard", []string{"0/2", "1/2"}[shard])
	}
	n := len(ref) / B
	for b, name := range []string{"a.npy", "b.npy"} {
		a, err := npy.ReadNPYFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := a.Float32s()
		var num, den float64
		for i := range got {
			d := float64(got[i]) - ref[b*n+i]
			num += d * d
			den += ref[b*n+i] * ref[b*n+i]
		}
		if r := math.Sqrt(num / den); r > 1e-5 {
			t.Errorf("%s: relative error %.3g vs PyTorch", name, r)
		}
		if _, err := os.Stat(filepath.Join(out, name+".meta.json")); err != nil {
			t.Errorf("no provenance: %v", err)
		}
	}
	if log := runOK("encode", "--weights", wpath, "--input", in, "--out", out, "--no-preprocess"); !strings.Contains(log, "skipped_existing=2") {
		t.Errorf("rerun did not skip finished outputs:\n%s", log)
	}
	split := filepath.Join(dir, "split.npz")
	runOK("encode", "--weights", wpath, "--input", filepath.Join(in, "a.npy"), "--out", split, "--no-preprocess", "--split-clips")
	sz, err := npy.OpenNPZ(split)
	if err != nil {
		t.Fatal(err)
	}
	defer sz.Close()
	var encCfg struct {
		EmbedDim int `json:"embed_dim"`
	}
	if err := json.Unmarshal(top["encoder"], &encCfg); err != nil || encCfg.EmbedDim <= 0 {
		t.Fatalf("released_tiny config encoder.embed_dim: %v", err)
	}
	D := encCfg.EmbedDim
	for _, k := range []string{"vjepa_input_feats", "vjepa_target_feats"} {
		if _, _, err := sz.Float32s(k, T/2/2, n/D/(T/2), D); err != nil {
			t.Error(err)
		}
	}
	// Bad input: a uint8 .npy with --no-preprocess is refused with the file named.
	bad := filepath.Join(dir, "u8.npy")
	npy.WriteNPYFile(bad, npy.FromUint8(make([]uint8, T*H*W*3), T, H, W, 3))
	var o, e bytes.Buffer
	if rc := run([]string{"encode", "--weights", wpath, "--input", bad, "--out", filepath.Join(dir, "u.npy"), "--no-preprocess"}, &o, &e); rc == 0 || !strings.Contains(e.String(), "u8.npy") {
		t.Errorf("uint8 with --no-preprocess: rc %d, %s", rc, e.String())
	}
}
