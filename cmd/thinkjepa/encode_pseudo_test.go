package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/anomaly"
	"github.com/thinkjepa/thinkjepa/data"
	"github.com/thinkjepa/thinkjepa/eval/predfile"
	"github.com/thinkjepa/thinkjepa/internal/linspace"
	"github.com/thinkjepa/thinkjepa/internal/npy"
	"github.com/thinkjepa/thinkjepa/thinker"
	"github.com/thinkjepa/thinkjepa/train"
)

// The pseudo-frame reshape on a hand-built case: tubelet 2, a 4×2 grid, 4 frames, so 2
// tubelets of 8 tokens become 4 pseudo-frames of P = 4 tokens. Token (k, h, w) carries
// the value 1000k + 100h + 10w + d; pseudo-frame 2k must hold rows 0–1 of tubelet k and
// 2k+1 rows 2–3, each in row-major order.
func TestPseudoFramesTokenOrder(t *testing.T) {
	const T, tub, Hp, Wp, D = 4, 2, 4, 2, 3
	var tokens []float32
	for k := 0; k < T/tub; k++ {
		for h := 0; h < Hp; h++ {
			for w := 0; w < Wp; w++ {
				for d := 0; d < D; d++ {
					tokens = append(tokens, float32(1000*k+100*h+10*w+d))
				}
			}
		}
	}
	P, err := pseudoFrames(len(tokens), T, D)
	if err != nil || P != 4 {
		t.Fatalf("P = %d, %v; want 4", P, err)
	}
	want := [T][4]string{ // (tubelet, row, col) of each pseudo-frame's tokens
		{"0,0,0", "0,0,1", "0,1,0", "0,1,1"},
		{"0,2,0", "0,2,1", "0,3,0", "0,3,1"},
		{"1,0,0", "1,0,1", "1,1,0", "1,1,1"},
		{"1,2,0", "1,2,1", "1,3,0", "1,3,1"},
	}
	for f := 0; f < T; f++ {
		for p := 0; p < P; p++ {
			for d := 0; d < D; d++ {
				v := int(tokens[(f*P+p)*D+d])
				got := fmt.Sprintf("%d,%d,%d", v/1000, v/100%10, v/10%10)
				if got != want[f][p] || v%10 != d {
					t.Errorf("pseudo-frame %d token %d channel %d is (tubelet,row,col) %s channel %d, want %s", f, p, d, got, v%10, want[f][p])
				}
			}
		}
	}
	// a 3×3 grid has 9 tokens a tubelet: 2 frames cannot share them (torch's view fails)
	if _, err := pseudoFrames(9*5, 2, 5); err == nil || !strings.Contains(err.Error(), "do not split into 2 frames") {
		t.Errorf("odd grid: %v", err)
	}
	if _, err := pseudoFrames(10, 2, 3); err == nil {
		t.Error("values not a multiple of D accepted")
	}
}

// upstream's frame selection is numpy's linspace(0, n−1, T, dtype=int64): i·((n−1)/(T−1))
// in float64, truncated. That is not always the exact floor: at n = 154, T = 64, frame 21
// is 21·(153/63) = 50.99999999999999 → 50 in numpy, 51 exactly. data.Episode64 (episode64,
// np.linspace(...).astype(int64) upstream) takes the same frames.
func TestUpstreamSampler(t *testing.T) {
	got, past, err := upstreamSampler{T: 64}.Indices(154)
	if err != nil || past != 32 || len(got) != 64 || got[0] != 0 || got[63] != 153 || got[21] != 50 || got[22] != 53 || got[42] != 101 || got[49] != 118 {
		t.Fatalf("indices %v past %d err %v", got, past, err)
	}
	for _, c := range [][2]int{{154, 64}, {162, 64}, {300, 48}, {3, 6}, {1, 48}} {
		ep, _, _ := (data.Episode64{T: c[1]}).Indices(c[0])
		up, _, _ := (upstreamSampler{T: c[1]}).Indices(c[0])
		if !slices.Equal(ep, up) {
			t.Errorf("n=%d, T=%d: data.Episode64 %v, upstream %v", c[0], c[1], ep, up)
		}
	}
	if got, _, _ := (upstreamSampler{T: 6}).Indices(3); !slices.Equal(got, []int{0, 0, 0, 1, 1, 2}) {
		t.Errorf("short video: %v", got)
	}
	if _, _, err := (upstreamSampler{T: 4}).Indices(0); err == nil {
		t.Error("empty video accepted")
	}
}

// Golden check against a restatement of upstream's code in Python:
// encode_dense_jepa_video's out.contiguous().view(B, T, -1, D) (PyTorch when installed,
// else the same C-order reshape in NumPy) and uniform_frame_indices'
// np.linspace(0, total−1, num, dtype=np.int64).
func TestUpstreamLayoutPython(t *testing.T) {
	py := "/usr/bin/python3"
	lib := "torch"
	if exec.Command(py, "-c", "import torch").Run() != nil {
		lib = "numpy"
		if exec.Command(py, "-c", "import numpy").Run() != nil {
			t.Skip("python3 with torch or numpy not found")
		}
	}
	dir := t.TempDir()
	const T, Hp, Wp, D = 6, 4, 6, 5 // 3 tubelets of 24 tokens → 6 pseudo-frames of 12
	n := T / 2 * Hp * Wp
	tokens := make([]float32, n*D)
	for i := range tokens {
		tokens[i] = float32(i)
	}
	in := filepath.Join(dir, "out.npy")
	if err := npy.WriteNPYFile(in, npy.FromFloat32(tokens, 1, n, D)); err != nil {
		t.Fatal(err)
	}
	pairs := [][2]int{{154, 64}, {162, 64}, {3, 99}, {19, 67}, {300, 48}, {47, 48}, {5, 48}, {1, 48}, {1000, 48}, {2, 1}}
	pj, _ := json.Marshal(pairs)
	script := `
import sys, json, numpy as np
out = np.load(sys.argv[1]); T = int(sys.argv[2])
if sys.argv[4] == "torch":
    import torch
    o = torch.from_numpy(out)
    B = o.shape[0]
    v = o.contiguous().view(B, T, -1, o.shape[-1]).numpy()
else:
    B = out.shape[0]
    v = np.ascontiguousarray(out).reshape(B, T, -1, out.shape[-1])
np.save(sys.argv[3], v)
idx = [np.linspace(0, total - 1, num=int(num), dtype=np.int64).tolist() for total, num in json.loads(sys.argv[5])]
print(json.dumps(idx))
`
	ref := filepath.Join(dir, "ref.npy")
	cmd := exec.Command(py, "-c", script, in, fmt.Sprint(T), ref, lib, string(pj))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	a, err := npy.ReadNPYFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	P, err := pseudoFrames(len(tokens), T, D)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Shape, []int{1, T, P, D}) {
		t.Fatalf("%s view: shape %v, ours [1,%d,%d,%d]", lib, a.Shape, T, P, D)
	}
	v, _ := a.Float32s()
	if !slices.Equal(v, tokens) { // ours moves no value: [T,P,D] over the same slice
		t.Errorf("%s view reorders tokens", lib)
	}
	var idx [][]int
	if err := json.Unmarshal(out, &idx); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for k, p := range pairs {
		got, _, err := upstreamSampler{T: p[1]}.Indices(p[0])
		if err != nil || !slices.Equal(got, idx[k]) {
			t.Errorf("linspace(0, %d, %d): ours %v, numpy %v (%v)", p[0]-1, p[1], got, idx[k], err)
		}
	}
	t.Logf("checked against %s", lib)
}

// pseudoFixture: clips ep_a, ep_b (8 frames of 12×12); caches/ep_a_L8_…npz (upstream's
// extractor layout, with its own path and xyz_world) and caches/ep_b.npz (ours); an
// encoder on a 16 px / patch 4 grid (4×4: P = 16 a tubelet, 8 a pseudo-frame).
type pseudoFixture struct {
	dir, weights, clips, caches string
	clip                        map[string]*data.Clip
	cacheOf                     map[string]string
}

func newPseudoFixture(t *testing.T) *pseudoFixture {
	t.Helper()
	dir := t.TempDir()
	f := &pseudoFixture{dir: dir, weights: encoder16(t, dir), clips: filepath.Join(dir, "clips"),
		caches: filepath.Join(dir, "caches"), clip: map[string]*data.Clip{}}
	os.MkdirAll(f.clips, 0o755)
	os.MkdirAll(f.caches, 0o755)
	for i, id := range []string{"ep_a", "ep_b"} {
		f.clip[id] = writeTinyClip(t, filepath.Join(f.clips, id+".npz"), id, uint64(i+1))
	}
	f.cacheOf = map[string]string{"ep_a": filepath.Join(f.caches, "ep_a_L8_nf32_res256_new16_s0of1.npz"), "ep_b": filepath.Join(f.caches, "ep_b.npz")}
	writeZip(t, f.cacheOf["ep_a"], append(qwenCache(1, nil),
		zmember{"path", npy.FromString("/egodex/ep_a.hdf5"), true},
		zmember{"xyz_world", npy.FromFloat32(vlmVals(32*52*3, 4), 32, 52, 3), true}))
	tc := &thinker.Cache{Layers: []int{0, 27}, L: 2, So: 5, Sn: 3, Dv: 8, Old: vlmVals(2*5*8, 2), New: vlmVals(2*3*8, 3),
		TokenIDs: []int64{1, 2, 3, 4}, ValidLen: 5, Provenance: map[string]string{"model": "stand-in"}}
	if err := tc.Write(f.cacheOf["ep_b"]); err != nil {
		t.Fatal(err)
	}
	return f
}

// encoder16 writes a seeded encoder on a 16 px / patch 4 grid (4×4 tokens a tubelet).
func encoder16(t *testing.T, dir string) string {
	t.Helper()
	cfg := filepath.Join(dir, "enc16.json")
	os.WriteFile(cfg, []byte(`{"kind": "vjepa_encoder", "embed_dim": 32, "depth": 2, "num_heads": 2, "mlp_ratio": 1.0,
 "patch_size": 4, "tubelet_size": 2, "img_size": 16, "num_frames": 8, "in_chans": 3, "norm_eps": 1e-6}`), 0o644)
	w := filepath.Join(dir, "enc16.safetensors")
	runOK(t, "weights", "init", "--arch", cfg, "--out", w, "--seed", "3")
	return w
}

// copyCaches copies the fixture's caches to a new folder.
func (f *pseudoFixture) copyCaches(t *testing.T, name string) string {
	t.Helper()
	dst := filepath.Join(f.dir, name)
	os.MkdirAll(dst, 0o755)
	for _, p := range f.cacheOf {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dst, filepath.Base(p)), b, 0o644)
	}
	return dst
}

func getArr(t *testing.T, z *npy.NPZ, key string) *npy.Array {
	t.Helper()
	a, err := z.Get(key)
	if err != nil {
		t.Fatalf("%s: %v", z.Path(), err)
	}
	return a
}

// encode --into-cache --layout upstream: upstream's keys, shapes and dtypes; vjepa_feats
// = one forward over the whole clip (encode --out, fp16) viewed as pseudo-frames; the
// cache's own path and supervision kept, the missing dummy geometry added; read back by
// ReadBranch, ReadClipLatents and Read; --frames selects as numpy's linspace; the default
// is upstream's 48; --overwrite replaces the filled keys with the branch.
func TestEncodeIntoCacheUpstreamLayout(t *testing.T) {
	f := newPseudoFixture(t)
	other := f.copyCaches(t, "other")
	whole := filepath.Join(f.dir, "whole")
	runOK(t, "encode", "--weights", f.weights, "--input", f.clips, "--out", whole)
	runOK(t, "encode", "--weights", f.weights, "--input", f.clips, "--into-cache", f.caches, "--layout", "upstream", "--frames", "8")
	for id, p := range f.cacheOf {
		z, err := npy.OpenNPZ(p)
		if err != nil {
			t.Fatal(err)
		}
		src := make([]int64, 8)
		for i, v := range f.clip[id].FrameIndices {
			src[i] = int64(v)
		}
		for key, want := range map[string]struct {
			dt    npy.DType
			shape []int
		}{
			"vjepa_feats": {npy.Float16, []int{8, 8, 32}}, "imgs": {npy.Uint8, []int{8, 12, 12, 3}},
			"frame_indices": {npy.Int64, []int{8}}, "nframes_used": {npy.Int32, nil}, "total_frames": {npy.Int32, nil},
			"video_path": {"<U" + npy.DType(fmt.Sprint(len(filepath.Join(f.clips, id+".npz")))), nil},
			"xyz_cam":    {npy.Float32, []int{8, 1, 3}}, "R_cam": {npy.Float32, []int{8, 1, 3, 3}}, "R_world": {npy.Float32, []int{8, 1, 3, 3}},
			"tfs_in_cam": {npy.Float32, []int{8, 1, 4, 4}}, "tfs": {npy.Float32, []int{8, 1, 4, 4}}, "cam_ext": {npy.Float32, []int{8, 4, 4}},
			"cam_int": {npy.Float32, []int{8, 3, 3}}, "confs": {npy.Float32, []int{8, 1}}, "lang_instruct": {"<U1", nil},
		} {
			a := getArr(t, z, key)
			if a.DType != want.dt || !slices.Equal(a.Shape, want.shape) {
				t.Errorf("%s: %s is %s %v, want %s %v", id, key, a.DType, a.Shape, want.dt, want.shape)
			}
		}
		if imgs := getArr(t, z, "imgs"); !bytes.Equal(imgs.Raw, f.clip[id].Frames) {
			t.Errorf("%s: imgs are not the clip's frames", id)
		}
		ci, _ := getArr(t, z, "cam_int").Float32s()
		ext, _ := getArr(t, z, "cam_ext").Float32s()
		if !slices.Equal(ci[9:18], []float32{256, 0, 128, 0, 256, 128, 0, 0, 1}) || !slices.Equal(ext[16:32], []float32{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}) {
			t.Errorf("%s: dummy geometry cam_int %v cam_ext %v", id, ci[9:18], ext[16:32])
		}
		path, _ := getArr(t, z, "path").String()
		xw := getArr(t, z, "xyz_world")
		if id == "ep_a" { // the extractor's own path and supervision stay
			if path != "/egodex/ep_a.hdf5" || !slices.Equal(xw.Shape, []int{32, 52, 3}) {
				t.Errorf("ep_a: path %q xyz_world %v: the cache's own keys were replaced", path, xw.Shape)
			}
		} else if path != filepath.Join(f.clips, "ep_b.npz") || !slices.Equal(xw.Shape, []int{8, 1, 3}) {
			t.Errorf("ep_b: path %q xyz_world %v", path, xw.Shape)
		}
		b, err := thinker.ReadBranch(z)
		z.Close()
		if err != nil {
			t.Fatal(err)
		}
		if b.T != 8 || b.P != 8 || b.D != 32 || b.Layout != thinker.LayoutUpstream || b.NFramesUsed != 8 || b.TotalFrames != 0 || !slices.Equal(b.FrameIndices, src) {
			t.Errorf("%s: branch [%d,%d,%d] layout %q nframes_used %d total %d idx %v", id, b.T, b.P, b.D, b.Layout, b.NFramesUsed, b.TotalFrames, b.FrameIndices)
		}
		// one forward over all 8 frames ([4 tubelets, 16 tokens, 32]) is the same values
		a, err := npy.ReadNPYFile(filepath.Join(whole, id+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := a.Float32s()
		if !slices.Equal(a.Shape, []int{4, 16, 32}) || len(ref) != len(b.Feats) {
			t.Fatalf("%s: whole-clip encoding %v", id, a.Shape)
		}
		for i, v := range ref {
			if b.Feats[i] != fp16(v) {
				t.Fatalf("%s: vjepa_feats value %d = %v, whole-clip encoding %v", id, i, b.Feats[i], v)
			}
		}
		lat, err := anomaly.ReadClipLatents(p)
		if err != nil || lat.T != 8 || lat.P != 8 || !slices.Equal(lat.Source, src) {
			t.Errorf("%s: ReadClipLatents %v", id, err)
		}
		c, err := thinker.Read(p)
		if err != nil || c.VJEPAShape != [3]int{8, 8, 32} {
			t.Errorf("%s: thinker.Read %v %v", id, c, err)
		}
	}

	// --frames 4 of 8: numpy's linspace(0, 7, 4) = 0, 2, 4, 7; fp32
	runOK(t, "encode", "--weights", f.weights, "--input", f.clips, "--into-cache", f.caches, "--layout", "upstream", "--frames", "4", "--overwrite", "--fp32")
	z, _ := npy.OpenNPZ(f.cacheOf["ep_b"])
	b, err := thinker.ReadBranch(z)
	imgs := getArr(t, z, "imgs")
	cam := getArr(t, z, "cam_ext")
	z.Close()
	if err != nil {
		t.Fatal(err)
	}
	fi := f.clip["ep_b"].FrameIndices
	frame := 12 * 12 * 3
	var wantImgs []uint8
	for _, s := range []int{0, 2, 4, 7} {
		wantImgs = append(wantImgs, f.clip["ep_b"].Frames[s*frame:(s+1)*frame]...)
	}
	if b.T != 4 || b.DType != npy.Float32 || !slices.Equal(b.FrameIndices, []int64{int64(fi[0]), int64(fi[2]), int64(fi[4]), int64(fi[7])}) ||
		!bytes.Equal(imgs.Raw, wantImgs) || !slices.Equal(cam.Shape, []int{4, 4, 4}) {
		t.Errorf("--frames 4: T %d %s idx %v cam_ext %v", b.T, b.DType, b.FrameIndices, cam.Shape)
	}
	// the default is upstream's 48 frames (an 8-frame clip repeats frames, as linspace does)
	runOK(t, "encode", "--weights", f.weights, "--input", filepath.Join(f.clips, "ep_b.npz"), "--into-cache", f.caches, "--layout", "upstream", "--overwrite")
	z, _ = npy.OpenNPZ(f.cacheOf["ep_b"])
	b, err = thinker.ReadBranch(z)
	cam = getArr(t, z, "cam_ext")
	var prov struct {
		Layout string `json:"layout"`
		Frames int    `json:"frames"`
	}
	ps, _ := getArr(t, z, "vjepa_provenance").String()
	z.Close()
	json.Unmarshal([]byte(ps), &prov)
	if err != nil || b.T != 48 || b.P != 8 || !slices.Equal(cam.Shape, []int{48, 4, 4}) || prov.Layout != "upstream" || prov.Frames != 48 || b.FrameIndices[47] != int64(fi[7]) || b.FrameIndices[7] != int64(fi[1]) {
		t.Errorf("default frames: T %d P %d cam_ext %v provenance %+v idx %v (%v)", b.T, b.P, cam.Shape, prov, b.FrameIndices, err)
	}

	// refused: a grid with an odd token count, non-square frames, flags that do not apply
	tiny := tinyEncoder(t, f.dir) // 3×3 grid
	if e := runFail(t, "encode", "--weights", tiny, "--input", f.clips, "--into-cache", other, "--layout", "upstream", "--frames", "8"); !strings.Contains(e, "do not split into 8 frames") {
		t.Errorf("odd grid: %s", e)
	}
	wide := filepath.Join(f.dir, "wide", "ep_a.npy")
	os.MkdirAll(filepath.Dir(wide), 0o755)
	npy.WriteNPYFile(wide, npy.FromUint8(make([]uint8, 4*12*16*3), 4, 12, 16, 3))
	if e := runFail(t, "encode", "--weights", f.weights, "--input", wide, "--into-cache", other, "--layout", "upstream"); !strings.Contains(e, "needs square frames") {
		t.Errorf("non-square: %s", e)
	}
	for args, want := range map[string]string{
		"--layout upstream --out x.npy":                         "--layout applies to --into-cache only",
		"--layout v1 --into-cache " + other:                     "--layout must be v2 or upstream",
		"--layout upstream --squash --into-cache " + other:      "--squash and --no-preprocess do not apply",
		"--layout upstream --split-clips --into-cache " + other: "--split-clips does not apply",
	} {
		argv := append([]string{"encode", "--weights", f.weights, "--input", f.clips}, strings.Fields(args)...)
		if e := runFail(t, argv...); !strings.Contains(e, want) {
			t.Errorf("%s: %s", args, e)
		}
	}
}

// Readers of upstream-layout archives: a model trained on them (P = 8 pseudo-frame
// tokens) trains, forecasts and scores anomalies from them; a model trained on v2
// latents (P = 16) refuses them, and the pseudo-frame model refuses v2 latents, with an
// error that names both token counts and the layouts.
func TestUpstreamLayoutReaders(t *testing.T) {
	f := newPseudoFixture(t)
	up, v2 := f.copyCaches(t, "caches_up"), f.copyCaches(t, "caches_v2")
	runOK(t, "encode", "--weights", f.weights, "--input", f.clips, "--into-cache", up, "--layout", "upstream", "--frames", "8")
	runOK(t, "encode", "--weights", f.weights, "--input", f.clips, "--into-cache", v2)
	config := func(name, caches, extra string) string {
		split := fmt.Sprintf(`{"clips": %q, "thinker": %q}`, f.clips, caches)
		cfg := fmt.Sprintf(`{"mode": "thinkjepa", "out": %q, "train": %s, "val": %s,
 "predictor": {"predictor_embed_dim": 16, "depth": 1, "num_heads": 2, "mlp_ratio": 2, "causal": true, "drop_rate": 0, "drop_path_rate": 0%s},
 "film": {"hidden": 8}, "head": {"hidden": 16, "heads": 2},
 "loop": {"seed": 1, "epochs": 1, "batch_size": 2, "head_lr": 1e-3, "pred_lr": 1e-3, "clip_norm": 5}}`, filepath.Join(f.dir, name), split, split, extra)
		p := filepath.Join(f.dir, name+".json")
		os.WriteFile(p, []byte(cfg), 0o644)
		return p
	}
	runOK(t, "train", "--config", config("run_up", up, ""))
	runOK(t, "train", "--config", config("run_v2", v2, ""))
	ckUp, ckV2 := filepath.Join(f.dir, "run_up", train.BestName), filepath.Join(f.dir, "run_v2", train.BestName)
	// a run configured for whole-tubelet frames refuses pseudo-frames
	if e := runFail(t, "train", "--config", config("run_bad", up, `, "tokens_per_frame": 16`)); !strings.Contains(e, "P = 8 tokens per frame, the model takes P = 16") || !strings.Contains(e, "pseudo-frames") {
		t.Errorf("train with tokens_per_frame 16 on pseudo-frames: %s", e)
	}
	// the pseudo-frame model reads pseudo-frame archives
	runOK(t, "forecast", "--ckpt", ckUp, "--data", f.clips, "--thinker", up, "--out", filepath.Join(f.dir, "pred_up"))
	runOK(t, "anomaly", "--ckpt", ckUp, "--features", up, "--thinker", up, "--out", filepath.Join(f.dir, "an_up"), "--embed", "none")
	if pc, err := predfile.ReadDir(filepath.Join(f.dir, "pred_up")); err != nil || len(pc) != 2 {
		t.Errorf("forecast from pseudo-frames: %d predictions, %v", len(pc), err)
	}
	sc, err := os.ReadFile(filepath.Join(f.dir, "an_up", train.AnomalyClipsDir, "ep_b", train.AnomalyScores))
	if err != nil || !strings.Contains(string(sc), ",38,") {
		t.Errorf("anomaly from pseudo-frames: %v\n%s", err, sc)
	}
	// the other layout's model refuses them, naming both P
	for _, c := range []struct {
		name, ckpt, caches, want string
	}{
		{"v2 model, upstream archives", ckV2, up, "P = 8 tokens per frame, the model takes P = 16"},
		{"upstream model, v2 archives", ckUp, v2, "P = 16 tokens per frame, the model takes P = 8"},
	} {
		e1 := runFail(t, "forecast", "--ckpt", c.ckpt, "--data", f.clips, "--thinker", c.caches, "--out", filepath.Join(t.TempDir(), "p"))
		e2 := runFail(t, "anomaly", "--ckpt", c.ckpt, "--features", c.caches, "--thinker", c.caches, "--out", filepath.Join(t.TempDir(), "a"), "--embed", "none")
		for _, e := range []string{e1, e2} {
			for _, want := range []string{c.want, "pseudo-frame", "--layout"} {
				if !strings.Contains(e, want) {
					t.Errorf("%s: error does not mention %q:\n%s", c.name, want, e)
				}
			}
		}
	}
}

// EgoDex episodes in the upstream layout: the video decoded squashed to 256×256 (decord's
// VideoReader(width=height=256)) at numpy's linspace over the episode, total_frames = the
// episode's frames, video_path = its video.
func TestEncodeIntoCacheEpisodesUpstream(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary's synthetic set")
	}
	_, synth := thinkjepaBin(t)
	dir := t.TempDir()
	var hdf5 string
	filepath.WalkDir(synth, func(p string, d os.DirEntry, err error) error {
		if err == nil && hdf5 == "" && filepath.Ext(p) == ".hdf5" && !strings.Contains(p, "egoexo") {
			hdf5 = p
		}
		return err
	})
	if hdf5 == "" {
		t.Fatal("no synthetic EgoDex episode")
	}
	caches := filepath.Join(dir, "caches")
	os.MkdirAll(caches, 0o755)
	stem := strings.TrimSuffix(filepath.Base(hdf5), ".hdf5")
	cache := filepath.Join(caches, stem+"_L8_nf32_res256_new16_s0of1.npz")
	writeZip(t, cache, qwenCache(1, nil))
	runOK(t, "encode", "--weights", encoder16(t, dir), "--input", hdf5, "--into-cache", caches, "--layout", "upstream", "--frames", "8")
	ep := data.EpisodeFromPath(hdf5)
	c, err := data.LoadClip(ep, data.Episode64{T: 8}, data.LoadOptions{SkipVideo: true})
	if err != nil {
		t.Fatal(err)
	}
	var want []int64
	var wantIdx []int
	for _, v := range linspace.Ints(c.SourceFrames-1, 8) {
		want = append(want, int64(v))
		wantIdx = append(wantIdx, v)
	}
	vf, err := data.DecodeFrames(ep.Video, wantIdx, data.VideoOptions{W: 256, H: 256})
	if err != nil {
		t.Fatal(err)
	}
	z, err := npy.OpenNPZ(cache)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	b, err := thinker.ReadBranch(z)
	if err != nil {
		t.Fatal(err)
	}
	imgs := getArr(t, z, "imgs")
	vp, _ := getArr(t, z, "video_path").String()
	if b.T != 8 || b.P != 8 || b.TotalFrames != c.SourceFrames || !slices.Equal(b.FrameIndices, want) || vp != ep.Video ||
		!slices.Equal(imgs.Shape, []int{8, 256, 256, 3}) || !bytes.Equal(imgs.Raw, vf.Frames) {
		t.Errorf("T %d P %d total %d (episode %d) idx %v (want %v) video_path %q imgs %v", b.T, b.P, b.TotalFrames, c.SourceFrames, b.FrameIndices, want, vp, imgs.Shape)
	}
}
