package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/data"
)

// TestDataSplitRelativeRoot: a split made with a relative ROOT (flags after it) is usable
// from any directory.
func TestDataSplitRelativeRoot(t *testing.T) {
	_, synth := thinkjepaBin(t)
	work := t.TempDir()
	manifest := filepath.Join(work, "split.json")
	if _, e, rc := runBin(t, filepath.Dir(synth), "data", "split", filepath.Base(synth), "--method", "official", "--out", manifest); rc != 0 {
		t.Fatalf("data split: rc %d\n%s", rc, e)
	}
	clip := filepath.Join(work, "c.npz")
	if _, e, rc := runBin(t, work, "data", "clip", "--root", manifest, "part1/basic_pick_place/0", "--skip-video", "--frames", "8", "--out", clip); rc != 0 {
		t.Fatalf("data clip from the manifest: rc %d\n%s", rc, e)
	}
	if c, err := data.ReadClipNPZ(clip); err != nil || c.T != 8 {
		t.Fatalf("clip: %v", err)
	}
}

func readManifestJSON(t *testing.T, path string) (m struct {
	HandAnnotations string `json:"hand_annotations"`
	Episodes        []struct{ ID, Path string }
}) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDataAutomaticFlag: --automatic reaches the Ego-Exo4D reader from data split, data
// clip and data inspect, is in the help, and is refused where it cannot apply.
func TestDataAutomaticFlag(t *testing.T) {
	_, synth := thinkjepaBin(t)
	ego := filepath.Join(synth, "egoexo4d")
	work := t.TempDir()
	kinds := map[bool]string{false: "annotation", true: "automatic"}
	var take string
	frameIdx := map[bool][]int{}
	for _, auto := range []bool{false, true} {
		args := []string{"data", "split", ego, "--method", "official", "--out", filepath.Join(work, kinds[auto]+".json")}
		if auto {
			args = append(args, "--automatic")
		}
		if _, e, rc := runBin(t, work, args...); rc != 0 {
			t.Fatalf("%q: rc %d\n%s", args, rc, e)
		}
		m := readManifestJSON(t, filepath.Join(work, kinds[auto]+".json"))
		wantName := map[bool]string{false: "manual", true: "automatic"}[auto]
		if m.HandAnnotations != wantName || len(m.Episodes) != 2 {
			t.Fatalf("automatic=%v: hand_annotations %q, %d episodes", auto, m.HandAnnotations, len(m.Episodes))
		}
		for _, e := range m.Episodes {
			if !strings.Contains(e.Path, "/hand/"+kinds[auto]+"/") {
				t.Errorf("automatic=%v: episode %s reads %s", auto, e.ID, e.Path)
			}
		}
		take = m.Episodes[0].ID
		out := filepath.Join(work, kinds[auto]+".npz")
		args = []string{"data", "clip", "--root", ego, take, "--sampler", "window", "--frames", "8", "--skip-video", "--out", out}
		if auto {
			args = append(args, "--automatic")
		}
		if _, e, rc := runBin(t, work, args...); rc != 0 {
			t.Fatalf("%q: rc %d\n%s", args, rc, e)
		}
		c, err := data.ReadClipNPZ(out)
		if err != nil {
			t.Fatal(err)
		}
		frameIdx[auto] = c.FrameIndices
	}
	// The synthetic set annotates every 3rd frame by hand and every frame automatically
	// (README), so a window of consecutive annotated frames tells which was read.
	if d := frameIdx[false][1] - frameIdx[false][0]; d != 3 {
		t.Errorf("manual annotations: frames %v, want a step of 3", frameIdx[false])
	}
	if d := frameIdx[true][1] - frameIdx[true][0]; d != 1 {
		t.Errorf("automatic annotations: frames %v, want a step of 1", frameIdx[true])
	}
	stdout, e, rc := runBin(t, work, "data", "inspect", ego, "--automatic", "--video=false", "--json")
	if rc != 0 || !strings.Contains(stdout, `"hand_annotations": "automatic"`) {
		t.Errorf("data inspect --automatic: rc %d\n%s\n%.400s", rc, e, stdout)
	}
	for _, cmd := range []string{"inspect", "clip", "split"} {
		if _, e, _ := runBin(t, work, "help", "data", cmd); !strings.Contains(e, "-automatic") || !strings.Contains(e, "machine-generated") {
			t.Errorf("help data %s does not document -automatic:\n%s", cmd, e)
		}
	}
	_, e, rc = runBin(t, work, "data", "split", synth, "--automatic", "--out", filepath.Join(work, "x.json"))
	if rc != 1 || !strings.Contains(e, "apply to an Ego-Exo4D root") {
		t.Errorf("--automatic on an EgoDex root: rc %d, %s", rc, e)
	}
	_, e, rc = runBin(t, work, "data", "clip", "--automatic", take, "--out", filepath.Join(work, "y.npz"))
	if rc != 2 || !strings.Contains(e, "--automatic needs --root") {
		t.Errorf("--automatic without --root: rc %d, %s", rc, e)
	}
}
