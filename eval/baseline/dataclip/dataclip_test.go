package dataclip

import (
	"path/filepath"
	"testing"

	"github.com/thinkjepa/thinkjepa/data"
)

func writeClip(t *testing.T, path, episode, split string) *data.Clip {
	t.Helper()
	const T, H, W = 4, 2, 3
	c := &data.Clip{T: T, H: H, W: W, Past: 2, Frames: make([]uint8, T*H*W*3),
		XYZWorld: make([]float32, T*52*3), XYZCam: make([]float32, T*52*3), CamExt: make([]float32, T*16),
		Conf: make([]float32, T*52), Valid: make([]bool, T*52), FrameIndices: []int{0, 3, 6, 9},
		Dataset: "egodex", Split: split, Task: "pour", Episode: episode, Instruction: "pour water",
		// Non-empty: internal/npy cannot read back an empty string ("<U0") at the time of writing.
		Warnings:   []string{"synthetic test clip"},
		Intrinsics: [9]float32{100, 0, 1.5, 0, 100, 1, 0, 0, 1}}
	for i := range c.Frames {
		c.Frames[i] = uint8(i)
	}
	for i := range c.XYZWorld {
		c.XYZWorld[i] = float32(i) * 0.001
	}
	for tt := range T {
		for k := range 4 {
			c.CamExt[tt*16+k*5] = 1
		}
		c.CamExt[tt*16+3] = float32(tt) // x translation differs per step
	}
	for i := range c.Valid {
		c.Valid[i] = i%7 != 0
	}
	if err := c.WriteNPZ(path); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOpenClipFolder(t *testing.T) {
	dir := t.TempDir()
	c := writeClip(t, filepath.Join(dir, "a.npz"), "test/pour/3", "test")
	writeClip(t, filepath.Join(dir, "b.npz"), "val/pour/4", "val")
	src, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if src.Count != 2 {
		t.Fatalf("count %d", src.Count)
	}
	bc, err := src.Load(0)
	if err != nil {
		t.Fatal(err)
	}
	if bc.ID != "test__pour__3" || bc.Past != 2 || bc.Split != "test" || len(bc.XYZWorld) != 4 {
		t.Fatalf("clip %+v", bc)
	}
	// xyz_world[t=1][j=2][z] is flat index (1·52+2)·3+2 = 164 → 0.164.
	if bc.XYZWorld[1][2][2] != c.XYZWorld[164] || bc.CamExt[2][0][3] != 2 || bc.FrameIdx[3] != 9 {
		t.Errorf("conversion: %v %v %v", bc.XYZWorld[1][2][2], bc.CamExt[2][0][3], bc.FrameIdx)
	}
	if bc.Valid[0][0] || !bc.Valid[0][1] || bc.Intrinsics[0][2] != 1.5 {
		t.Errorf("valid/intrinsics: %v %v", bc.Valid[0][:2], bc.Intrinsics)
	}
	// The last observed frame is frame Past-1 = 1: bytes 18..35.
	if bc.FrameH != 2 || bc.FrameW != 3 || bc.FrameLast[0] != 18 || len(bc.FrameLast) != 18 {
		t.Errorf("frame_last %d×%d %v", bc.FrameH, bc.FrameW, bc.FrameLast)
	}
	// Without an episode id the fallback (the file stem) names the clip.
	c.Episode = ""
	if bc, err := FromDataClip(c, "b"); err != nil || bc.ID != "b" {
		t.Errorf("fallback id %v %v", bc, err)
	}
	// A split filter skips the other clips.
	src, _ = Open(dir, Options{Split: "val"})
	if bc, err := src.Load(0); bc != nil || err != nil {
		t.Errorf("split filter kept %v (%v)", bc, err)
	}
}

func TestParseSamplerName(t *testing.T) {
	s, err := ParseSamplerName("window(T=16,stride=2,start=5)", 64, 1, 0)
	if err != nil || s.Name() != "window(T=16,stride=2,start=5)" {
		t.Errorf("window: %v %v", s, err)
	}
	s, err = ParseSamplerName("episode32", 64, 1, 0)
	if err != nil || s.Name() != "episode32" {
		t.Errorf("episode32: %v %v", s, err)
	}
	if _, err := ParseSamplerName("random", 64, 1, 0); err == nil {
		t.Error("unknown sampler accepted")
	}
}
