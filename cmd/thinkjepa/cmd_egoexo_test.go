package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/thinkjepa/thinkjepa/data"
	"github.com/thinkjepa/thinkjepa/data/egoexofix"
)

// TestDataEgoExoOfficialLayout: a new user's Ego-Exo4D root (official layout) works from
// the CLI: data inspect --json lists the takes, the 52 joint names and the skipped frames;
// data clip finds a take by uid; --no-joint-check reaches the reader.
func TestDataEgoExoOfficialLayout(t *testing.T) {
	work := t.TempDir()
	root := filepath.Join(work, "egoexo")
	if err := egoexofix.Write(root); err != nil {
		t.Fatal(err)
	}
	out, e, rc := runBin(t, work, "data", "inspect", "--json", "--video=false", root)
	if rc != 0 {
		t.Fatalf("data inspect: rc %d\n%s", rc, e)
	}
	var r struct {
		Episodes   int      `json:"episodes"`
		JointNames []string `json:"joint_names"`
		PerEpisode []struct {
			ID            string         `json:"id"`
			SkippedFrames map[string]int `json:"skipped_frames"`
		} `json:"per_episode"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, out)
	}
	if r.Episodes != 2 || len(r.JointNames) != data.NumJoints || r.JointNames[data.RightWrist] != "rightHand" {
		t.Fatalf("inspect: %d episodes, joint names %v", r.Episodes, r.JointNames)
	}
	skips := 0
	for _, ep := range r.PerEpisode {
		skips += ep.SkippedFrames["no_ego_extrinsic"] + ep.SkippedFrames["empty_annotation3d"]
	}
	if skips != 2 {
		t.Errorf("inspect reports %d skipped frames, want 2: %+v", skips, r.PerEpisode)
	}
	for _, noCheck := range []bool{false, true} {
		clip := filepath.Join(work, "c.npz")
		args := []string{"data", "clip", "--root", root, "--skip-video", "--overwrite", "--out", clip, egoexofix.UIDCurrent}
		if noCheck {
			args = append(args, "--no-joint-check")
		}
		if _, e, rc := runBin(t, work, args...); rc != 0 {
			t.Fatalf("data clip: rc %d\n%s", rc, e)
		}
		c, err := data.ReadClipNPZ(clip)
		if err != nil {
			t.Fatal(err)
		}
		st := -1
		for i, f := range c.FrameIndices {
			if f == egoexofix.FrameLongBone {
				st = i
			}
		}
		tip := 0
		for j, n := range data.JointNames {
			if n == "rightMiddleFingerTip" {
				tip = j
			}
		}
		if st < 0 || c.Valid[st*data.NumJoints+tip] != noCheck {
			t.Errorf("--no-joint-check=%v: long-bone fingertip valid=%v", noCheck, st >= 0 && c.Valid[st*data.NumJoints+tip])
		}
		out, e, rc := runBin(t, work, "data", "inspect", "--json", clip)
		if rc != 0 {
			t.Fatalf("inspect clip: rc %d\n%s", rc, e)
		}
		var cr struct {
			JointNames []string `json:"joint_names"`
		}
		if err := json.Unmarshal([]byte(out), &cr); err != nil || len(cr.JointNames) != data.NumJoints {
			t.Errorf("inspect clip joint names: %v %v", cr.JointNames, err)
		}
	}
}
