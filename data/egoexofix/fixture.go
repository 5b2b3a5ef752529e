// Package egoexofix writes a small Ego-Exo4D root laid out the way the official download
// and the official hand-pose loader (EGO4D/ego-exo4d-egopose, data-spec §2.1–§2.3) lay it
// out — not the way our reader happens to look — with the awkward cases of the real data
// planted at known frames. Tests of the reader and the CLI use it; nothing else does.
package egoexofix

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// Take uids and names of the fixture.
const (
	// UIDCurrent is a train take in the current layout: annotations/ego_pose/train/hand/…,
	// camera poses at annotations/ego_pose/train/camera_pose (frame → cam layout, as the
	// current loader reads), root_dir "takes/<name>", an egocentric GoPro marked is_ego
	// listed before and after the Aria, and the Aria named aria02 (not aria01).
	UIDCurrent  = "0b1f3c5e-1111-4a2b-8c3d-000000000001"
	NameCurrent = "fix_cooking_01_2"
	// UIDOld is a val take in the release before the directory update: no <split>/ level,
	// camera poses at annotations/ego_pose/hand/camera_pose (cam → frames layout).
	UIDOld  = "0b1f3c5e-2222-4a2b-8c3d-000000000002"
	NameOld = "fix_bike_02_5"
	// UIDNoSplit is in takes.json but in no split: listed as skipped.
	UIDNoSplit = "0b1f3c5e-3333-4a2b-8c3d-000000000003"

	AriaCam   = "aria02"
	GoProCam  = "gp05" // is_ego, but not the camera the hand annotations are made in
	VideoRel  = "frame_aligned_videos/aria02_214-1.mp4"
	NumFrames = 60 // automatic annotations: frames 0…59; manual ones: the even frames
)

// Planted cases, all in the current-layout take (frame numbers are the real ones).
const (
	// FrameFewViews: right_index_4 triangulated from 2 views (manual) / 1 view (automatic):
	// dropped from manual annotations only.
	FrameFewViews = 10
	// FrameNoWrist: left_wrist from 2 views in the manual file, absent in the automatic one:
	// the whole left hand is invalid in both.
	FrameNoWrist = 12
	// FrameLongBone: right_middle_4 0.3 m from right_middle_3: rejected by the bone-length
	// check (and kept with the check off).
	FrameLongBone = 14
	// FrameBentJoint: right_ring_3 folded back so the angle at right_ring_2 is about 30°:
	// right_ring_2 is rejected by the joint-angle check.
	FrameBentJoint = 16
	// FrameEmpty3D has "annotation3D": {}: skipped.
	FrameEmpty3D = 20
	// FrameNoExtrinsic has annotations but no aria02 extrinsic (only the GoPro's): skipped.
	FrameNoExtrinsic = 22
)

// Hand geometry: per finger, the offsets of its 4 joints from the wrist along a straight
// line (metres), plausible for the official bone-length and angle bounds.
var fingerBones = [5][4]float64{
	{0.03, 0.035, 0.03, 0.025}, // thumb: wrist→1 is a short bone
	{0.09, 0.04, 0.025, 0.02},  // index
	{0.09, 0.045, 0.028, 0.022},
	{0.085, 0.04, 0.026, 0.02},
	{0.08, 0.03, 0.02, 0.018}, // pinky
}

var fingerNames = [5]string{"thumb", "index", "middle", "ring", "pinky"}

// Wrist returns the world position of a hand's wrist at frame f.
func Wrist(side string, f int) [3]float64 {
	x := 0.15
	if side == "left" {
		x = -0.15
	}
	return [3]float64{x + 0.002*float64(f), 0.05 * math.Sin(float64(f)/10), 0.45}
}

// Hand returns the 21 joints of one hand at frame f by official name (without the side).
func Hand(side string, f int) map[string][3]float64 {
	w := Wrist(side, f)
	out := map[string][3]float64{"wrist": w}
	for k, name := range fingerNames {
		ang := (float64(k) - 2) * 0.35 // fan the fingers out in the x–y plane
		d := [3]float64{math.Sin(ang), -math.Cos(ang), 0}
		if side == "left" {
			d[0] = -d[0]
		}
		dist := 0.0
		for i, b := range fingerBones[k] {
			dist += b
			out[fmt.Sprintf("%s_%d", name, i+1)] = [3]float64{w[0] + dist*d[0], w[1] + dist*d[1], w[2] + dist*d[2]}
		}
	}
	return out
}

// Extrinsic returns cam's cam←world 3×4 at frame f: a rotation about y and a translation,
// different for the Aria and the GoPro so that picking the wrong camera shows.
func Extrinsic(cam string, f int) [3][4]float64 {
	a, tx := 0.01*float64(f), 0.0
	if cam == GoProCam {
		a, tx = 0.7, 1.0
	}
	c, s := math.Cos(a), math.Sin(a)
	return [3][4]float64{{c, 0, s, tx}, {0, 1, 0, -0.02}, {-s, 0, c, 0.1}}
}

// Intrinsics of the undistorted 512×512 Aria view (f = 150).
var Intrinsics = [3][3]float64{{150, 0, 256}, {0, 150, 256}, {0, 0, 1}}

type joint struct {
	X, Y, Z float64
	Views   *int `json:"num_views_for_3d,omitempty"`
}

func (j joint) MarshalJSON() ([]byte, error) {
	m := map[string]any{"x": j.X, "y": j.Y, "z": j.Z}
	if j.Views != nil {
		m["num_views_for_3d"] = *j.Views
	}
	return json.Marshal(m)
}

func views(n int) *int { return &n }

// frameJoints builds one frame's annotation3D for a take; manual annotations carry
// num_views_for_3d, and so do the automatic ones (where the loader ignores it).
func frameJoints(f int, automatic bool) map[string]joint {
	out := map[string]joint{}
	for _, side := range []string{"right", "left"} {
		for n, p := range Hand(side, f) {
			out[side+"_"+n] = joint{p[0], p[1], p[2], views(4)}
		}
	}
	set := func(name string, p [3]float64, v int) { out[name] = joint{p[0], p[1], p[2], views(v)} }
	get := func(name string) [3]float64 { j := out[name]; return [3]float64{j.X, j.Y, j.Z} }
	switch f {
	case FrameFewViews:
		v := 2
		if automatic {
			v = 1
		}
		set("right_index_4", get("right_index_4"), v)
	case FrameNoWrist:
		if automatic {
			delete(out, "left_wrist")
		} else {
			set("left_wrist", get("left_wrist"), 2)
		}
	case FrameLongBone:
		p := get("right_middle_3")
		set("right_middle_4", [3]float64{p[0], p[1], p[2] + 0.3}, 4)
	case FrameBentJoint:
		// Put ring_3 0.026 m from ring_2 in a direction 30° from the way back to ring_1.
		r1, r2 := get("right_ring_1"), get("right_ring_2")
		back := [3]float64{r1[0] - r2[0], r1[1] - r2[1], r1[2] - r2[2]}
		n := math.Sqrt(back[0]*back[0] + back[1]*back[1] + back[2]*back[2])
		for i := range back {
			back[i] /= n
		}
		c, s := math.Cos(math.Pi/6), math.Sin(math.Pi/6)
		d := [3]float64{back[0] * c, back[1] * c, s} // back is in the x–y plane, so z is orthogonal
		set("right_ring_3", [3]float64{r2[0] + 0.026*d[0], r2[1] + 0.026*d[1], r2[2] + 0.026*d[2]}, 4)
	}
	return out
}

func annotations(uid, name string, automatic bool) map[string]any {
	out := map[string]any{}
	for f := 0; f < NumFrames; f++ {
		if !automatic && f%2 == 1 {
			continue
		}
		meta := map[string]any{"take_uid": uid, "take_name": name, "frame_number": f}
		a3 := map[string]joint{}
		if f != FrameEmpty3D || uid != UIDCurrent {
			a3 = frameJoints(f, automatic)
		}
		out[strconv.Itoa(f)] = []any{map[string]any{"metadata": meta, "annotation2D": map[string]any{}, "annotation3D": a3}}
	}
	return out
}

func mat(e [3][4]float64) [][]float64 { return [][]float64{e[0][:], e[1][:], e[2][:]} }

// Write lays the fixture out under dir.
func Write(dir string) error {
	takes := []map[string]any{
		{"take_uid": UIDCurrent, "take_name": NameCurrent, "root_dir": "takes/" + NameCurrent, "task_name": "Cooking",
			"capture": map[string]any{"cameras": []map[string]any{
				// Ego GoPros on both sides of the Aria: neither the first nor the last is_ego camera is the right one.
				{"cam_id": "gp04", "is_ego": true}, {"cam_id": AriaCam, "is_ego": true}, {"cam_id": "cam01", "is_ego": false}, {"cam_id": GoProCam, "is_ego": true}}},
			"frame_aligned_videos": map[string]any{
				GoProCam: map[string]any{"0": map[string]any{"cam_id": GoProCam, "stream_id": "0", "relative_path": "frame_aligned_videos/" + GoProCam + ".mp4"}},
				"gp04":   map[string]any{"0": map[string]any{"cam_id": "gp04", "stream_id": "0", "relative_path": "frame_aligned_videos/gp04.mp4"}},
				AriaCam: map[string]any{
					"slam-left": map[string]any{"cam_id": AriaCam, "stream_id": "1201-1", "relative_path": "frame_aligned_videos/aria02_1201-1.mp4"},
					"rgb":       map[string]any{"cam_id": AriaCam, "stream_id": "214-1", "readable_stream_id": "rgb", "relative_path": VideoRel}},
				"cam01": map[string]any{"0": map[string]any{"cam_id": "cam01", "stream_id": "0", "relative_path": "frame_aligned_videos/cam01.mp4"}}},
			"timesync_start_idx": 100, "timesync_end_idx": 100 + NumFrames},
		{"take_uid": UIDOld, "take_name": NameOld, "root_dir": "takes/" + NameOld, "task_name": "Bike Repair",
			"capture": map[string]any{"cameras": []map[string]any{{"cam_id": "aria01", "is_ego": true}, {"cam_id": "cam01", "is_ego": false}}},
			"frame_aligned_videos": map[string]any{
				"aria01": map[string]any{"rgb": map[string]any{"cam_id": "aria01", "stream_id": "214-1", "relative_path": "frame_aligned_videos/aria01_214-1.mp4"}}}},
		{"take_uid": UIDNoSplit, "take_name": "fix_music_03_1", "root_dir": "takes/fix_music_03_1",
			"capture": map[string]any{"cameras": []map[string]any{{"cam_id": "aria01", "is_ego": true}}}},
	}
	ep := filepath.Join(dir, "annotations", "ego_pose")
	// Current take: frame → cam → {intrinsics, extrinsics}, with the GoPro alongside.
	cur := map[string]any{}
	for f := 0; f < NumFrames; f++ {
		cams := map[string]any{GoProCam: map[string]any{"camera_intrinsics": Intrinsics, "camera_extrinsics": mat(Extrinsic(GoProCam, f))}}
		if f != FrameNoExtrinsic {
			cams[AriaCam] = map[string]any{"camera_intrinsics": Intrinsics, "camera_extrinsics": mat(Extrinsic(AriaCam, f))}
		}
		cur[strconv.Itoa(f)] = cams
	}
	// Old take: cam → {intrinsics, extrinsics: frame → 3×4}.
	ext := map[string]any{}
	for f := 0; f < NumFrames; f++ {
		ext[strconv.Itoa(f)] = mat(Extrinsic("aria01", f))
	}
	old := map[string]any{"aria01": map[string]any{"camera_intrinsics": Intrinsics, "camera_extrinsics": ext}}
	files := []struct {
		path string
		v    any
	}{
		{filepath.Join(dir, "takes.json"), takes},
		{filepath.Join(dir, "annotations", "splits.json"), map[string]any{
			"split_to_take_uids": map[string][]string{"train": {UIDCurrent}, "val": {UIDOld}, "test": {}}}},
		{filepath.Join(ep, "train", "hand", "annotation", UIDCurrent+".json"), annotations(UIDCurrent, NameCurrent, false)},
		{filepath.Join(ep, "train", "hand", "automatic", UIDCurrent+".json"), annotations(UIDCurrent, NameCurrent, true)},
		{filepath.Join(ep, "train", "camera_pose", UIDCurrent+".json"), cur},
		{filepath.Join(ep, "hand", "annotation", UIDOld+".json"), annotations(UIDOld, NameOld, false)},
		{filepath.Join(ep, "hand", "automatic", UIDOld+".json"), annotations(UIDOld, NameOld, true)},
		{filepath.Join(ep, "hand", "camera_pose", UIDOld+".json"), old},
		{filepath.Join(ep, "hand", "annotation", UIDNoSplit+".json"), annotations(UIDNoSplit, "fix_music_03_1", false)},
	}
	for _, f := range files {
		b, err := json.Marshal(f.v)
		if err != nil {
			return fmt.Errorf("egoexofix %s: %w", f.path, err)
		}
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(f.path, b, 0o644); err != nil {
			return err
		}
	}
	// Video placeholders where root_dir + relative_path point (clips use --skip-video):
	// the reader must find them there, not under takes/takes/….
	for _, p := range []string{filepath.Join(dir, "takes", NameCurrent, VideoRel), filepath.Join(dir, "takes", NameOld, "frame_aligned_videos", "aria01_214-1.mp4"),
		filepath.Join(dir, "takes", NameCurrent, "frame_aligned_videos", GoProCam+".mp4")} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte("placeholder"), 0o644); err != nil {
			return err
		}
	}
	return nil
}
