package data

import (
	"os"
	"path/filepath"
	"testing"
)

// The per-file Ego-Exo4D readers fuzzed directly with small inputs (many more executions
// per second than FuzzEgoExoFiles, which goes through a whole root).

// FuzzEgoExoAnnJSON: any bytes as a hand annotation file never panic readEgoExoAnn (manual
// and automatic view rules) or the per-hand filters (wrist rule, plausibility check).
func FuzzEgoExoAnnJSON(f *testing.F) {
	f.Add([]byte(`{"0": [{"metadata": {"take_uid": "u", "frame_number": 0}, "annotation3D": {"right_wrist": {"x": 0.1, "y": 0, "z": 0.4, "num_views_for_3d": 4}, "right_index_1": {"x": 0.1, "y": -0.09, "z": 0.4, "num_views_for_3d": 3}, "right_index_2": {"x": 0.1, "y": -0.13, "z": 0.4, "num_views_for_3d": 2}}}]}`))
	f.Add([]byte(`{"3": {"annotation3D": {"left_wrist": {"x": 1, "y": 2, "z": 3}}}, "4": [], "5": [{"annotation3D": {}}]}`))
	f.Add([]byte(`{"7": [{"annotation3D": {"left_wrist": {"x": 0, "y": 0, "z": 0, "num_views_for_3d": 1e999}, "left_thumb_1": {"x": 0, "y": 0, "z": 0, "num_views_for_3d": -1}}}]}`))
	f.Add([]byte(`{"-3": [], "x": 1}`))
	dir := f.TempDir()
	p := filepath.Join(dir, "ann.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, mv := range []float64{0, 3} {
			a, err := readEgoExoAnn(p, mv)
			if err != nil {
				continue
			}
			for fn, joints := range a.Frames {
				if fn < 0 {
					t.Fatalf("negative frame %d accepted", fn)
				}
				filterHands(joints, false)
			}
		}
	})
}

// FuzzEgoExoCamPoseJSON: any bytes as a camera-pose file (either nesting) never panic
// readEgoExoCamPose, and every extrinsic it returns inverts to a finite-size matrix.
func FuzzEgoExoCamPoseJSON(f *testing.F) {
	f.Add([]byte(`{"aria01": {"camera_intrinsics": [[150,0,256],[0,150,256],[0,0,1]], "camera_extrinsics": {"0": [[1,0,0,0],[0,1,0,0],[0,0,1,0]], "1": [[1,0,0,0.1],[0,1,0,0],[0,0,1,0]]}}}`))
	f.Add([]byte(`{"0": {"aria01": {"camera_intrinsics": [[150,0,256],[0,150,256],[0,0,1]], "camera_extrinsics": [[1,0,0,0],[0,1,0,0],[0,0,1,0]]}, "gp01": {}}}`))
	f.Add([]byte(`{"0": {"aria01": {"camera_intrinsics": [[1,0,0]], "camera_extrinsics": [[1,0,0,0],[0,1,0,0]]}}}`))
	f.Add([]byte(`{"aria01": {"camera_intrinsics": null, "camera_extrinsics": {"0": [[1,0,0,0],[0,1,0,0],[0,0,1,0,9]]}}}`))
	dir := f.TempDir()
	p := filepath.Join(dir, "cam.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		cp, err := readEgoExoCamPose(p, "aria01")
		if err != nil {
			return
		}
		for _, e := range cp.Ext {
			camExtFromCamWorld(e)
		}
	})
}
