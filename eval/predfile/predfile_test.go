package predfile

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sample() *Prediction {
	p := &Prediction{
		Pred:      make([][NumJoints][3]float32, 3),
		GT:        make([][NumJoints][3]float32, 3),
		Mask:      make([][NumJoints]bool, 3),
		Past:      make([][NumJoints][3]float32, 2),
		FrameLast: []uint8{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
		FrameH:    2, FrameW: 2,
		Meta: Meta{Model: "stationary", Dataset: "synth", Split: "test", Task: "pour",
			Extra: map[string]any{"stride": 4.0}},
	}
	for t := range p.Pred {
		for j := range NumJoints {
			p.Pred[t][j] = [3]float32{float32(t), float32(j), 0.5}
			p.GT[t][j] = [3]float32{float32(t) + 0.01, float32(j), -0.5}
			p.Mask[t][j] = (t+j)%3 != 0
		}
	}
	p.Past[1][7] = [3]float32{1, 2, 3}
	for i := range 4 {
		p.CamExtLast[i][i] = 1
	}
	p.CamExtLast[0][3] = 0.25
	p.Intrinsics = [3][3]float32{{100, 0, 1}, {0, 100, 1}, {0, 0, 1}}
	return p
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := sample()
	if err := Write(dir, "ep_001", want); err != nil {
		t.Fatal(err)
	}
	if !Done(dir, "ep_001") || Done(dir, "ep_002") {
		t.Fatal("Done wrong")
	}
	got, err := Read(dir, "ep_001")
	if err != nil {
		t.Fatal(err)
	}
	if got.Pred[2][51] != want.Pred[2][51] || got.GT[1][3] != want.GT[1][3] || got.Past[1][7] != want.Past[1][7] {
		t.Error("joint arrays differ")
	}
	if got.Mask[0][0] || !got.Mask[0][1] || got.CamExtLast != want.CamExtLast || got.Intrinsics != want.Intrinsics {
		t.Error("mask/camera differ")
	}
	if got.FrameH != 2 || got.FrameW != 2 || got.FrameLast[11] != 12 {
		t.Error("frame differs")
	}
	if got.Meta.ClipID != "ep_001" || got.Meta.Split != "test" || got.Meta.Extra["stride"] != 4.0 {
		t.Errorf("meta %+v", got.Meta)
	}
	// A clip without its JSON is not finished and is skipped by ReadDir.
	if err := os.WriteFile(filepath.Join(dir, "ep_000.npz"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteRun(dir, Run{Model: "stationary", Seed: 3}); err != nil {
		t.Fatal(err)
	}
	all, err := ReadDir(dir)
	if err != nil || len(all) != 1 {
		t.Fatalf("ReadDir: %d, %v", len(all), err)
	}
	r, err := ReadRun(dir)
	if err != nil || r.Model != "stationary" || r.Versions.GoVersion == "" {
		t.Fatalf("run %+v %v", r, err)
	}
}

func TestRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	p := sample()
	p.Pred[1][4][2] = float32(math.NaN())
	if err := Write(dir, "x", p); err == nil || !strings.Contains(err.Error(), "step 1 joint 4") {
		t.Errorf("NaN: %v", err)
	}
	p = sample()
	p.GT = p.GT[:2]
	if err := Write(dir, "x", p); err == nil || !strings.Contains(err.Error(), "gt has 2 steps") {
		t.Errorf("short gt: %v", err)
	}
	for _, id := range []string{"../x", "run", ""} {
		if err := Write(dir, id, sample()); err == nil {
			t.Errorf("id %q accepted", id)
		}
	}
	if _, err := ReadDir(dir); err == nil {
		t.Error("empty dir accepted")
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.npz"), []byte("not a zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadDir(dir); err == nil || !strings.Contains(err.Error(), "bad.npz") {
		t.Errorf("corrupt npz: %v", err)
	}
}

func TestSafeID(t *testing.T) {
	for in, want := range map[string]string{
		"test/basic_pick_place/3": "test__basic_pick_place__3",
		"../a b":                  "_.__a_b",
		"run":                     "run_",
		"ep-1.x":                  "ep-1.x",
	} {
		if got := SafeID(in); got != want {
			t.Errorf("SafeID(%q) = %q, want %q", in, got, want)
		}
		if err := validID(SafeID(in)); err != nil {
			t.Errorf("SafeID(%q) not valid: %v", in, err)
		}
	}
}
