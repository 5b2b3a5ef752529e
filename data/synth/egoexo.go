package synth

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/thinkjepa/thinkjepa/data"
	"github.com/thinkjepa/thinkjepa/internal/fsutil"
)

// egoExoNames maps Ego-Exo4D hand joint names to our skeleton joint names.
func egoExoNames(side string) map[string]string {
	arkSide := "right"
	if side == "left" {
		arkSide = "left"
	}
	m := map[string]string{side + "_wrist": arkSide + "Hand"}
	thumb := []string{"Knuckle", "IntermediateBase", "IntermediateTip", "Tip"}
	for i, t := range thumb {
		m[fmt.Sprintf("%s_thumb_%d", side, i+1)] = arkSide + "Thumb" + t
	}
	for ef, af := range map[string]string{"index": "Index", "middle": "Middle", "ring": "Ring", "pinky": "Little"} {
		for i, p := range []string{"Knuckle", "IntermediateBase", "IntermediateTip", "Tip"} {
			m[fmt.Sprintf("%s_%s_%d", side, ef, i+1)] = arkSide + af + "Finger" + p
		}
	}
	return m
}

func writeJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, b)
}

// writeEgoExo writes a small Ego-Exo4D-layout set (data-spec §2): takes.json,
// annotations/splits.json, the split CSV, manual (every 3rd frame) and automatic (every
// frame) hand annotations, body elbows, camera poses (both layouts, alternating), and the
// Aria video. The Aria camera is the undistorted 512×512 pinhole view with f = 150; the
// video is stored at 256×256 (the same view downscaled by 2).
func writeEgoExo(dir string, o Options, rng *rand.Rand) error {
	type camEntry struct {
		CamID string `json:"cam_id"`
		IsEgo bool   `json:"is_ego"`
	}
	var takes []map[string]any
	splitOf := map[string]string{}
	csv := "take_uid,take_name,split,scenario_name\n"
	cam512 := Camera{W: 512, H: 512, Fx: 150, Fy: 150, Cx: 256, Cy: 256}
	camVid := Camera{W: 256, H: 256, Fx: 75, Fy: 75, Cx: 128, Cy: 128}
	K := [][]float64{{cam512.Fx, 0, cam512.Cx}, {0, cam512.Fy, cam512.Cy}, {0, 0, 1}}
	for i := 0; i < o.EgoExo; i++ {
		spec := RandomSpec(rng, Tasks[i%len(Tasks)])
		m := Generate(spec)
		uid := fmt.Sprintf("%08x-0000-4000-8000-%012x", o.Seed*1000+uint64(i), i)
		name := fmt.Sprintf("synth_%s_%d", spec.Task, i)
		split := []string{"train", "val", "test"}[i%3]
		splitOf[uid] = split
		csv += fmt.Sprintf("%s,%s,%s,Cooking\n", uid, name, strings.ToUpper(split))
		takes = append(takes, map[string]any{"take_uid": uid, "take_name": name, "root_dir": name, "task_name": spec.Task,
			"capture": map[string]any{"cameras": []camEntry{{"aria01", true}, {"cam01", false}}}})
		// Take 0 uses the older layout without the <split>/ level.
		base := filepath.Join(dir, "annotations", "ego_pose", split)
		if i == 0 {
			base = filepath.Join(dir, "annotations", "ego_pose")
		}
		idx := map[string]int{}
		for j, n := range data.SkeletonJoints68 {
			idx[n] = j
		}
		manual, auto, body := map[string]any{}, map[string]any{}, map[string]any{}
		ext := map[string]any{}
		frameLayout := map[string]any{}
		for t := 0; t < spec.N; t++ {
			fs := strconv.Itoa(t)
			joints := map[string]any{}
			for _, side := range []string{"right", "left"} {
				for en, an := range egoExoNames(side) {
					p := m.Joints[t][idx[an]]
					joints[en] = map[string]any{"x": p[0], "y": p[1], "z": p[2], "num_views_for_3d": 4}
				}
			}
			// A pinky tip missing now and then (absent from the dict), as in real data.
			if t%7 == 3 {
				delete(joints, "left_pinky_4")
			}
			entry := []any{map[string]any{"metadata": map[string]any{"take_uid": uid, "take_name": name, "frame_number": t}, "annotation3D": joints}}
			auto[fs] = entry
			if t%3 == 0 {
				manual[fs] = entry
			}
			bj := map[string]any{}
			for _, side := range []string{"right", "left"} {
				p := m.Joints[t][idx[side+"Arm"]]
				bj[side+"-elbow"] = map[string]any{"x": p[0], "y": p[1], "z": p[2], "num_views_for_3d": 4}
			}
			body[fs] = []any{map[string]any{"annotation3D": bj}}
			// cam←world 3×4 = [Rᵀ | −Rᵀe] from the world←camera pose.
			c := m.Cam[t]
			var E [3][4]float64
			for r := 0; r < 3; r++ {
				for k := 0; k < 3; k++ {
					E[r][k] = c[k*4+r]
				}
				E[r][3] = -(E[r][0]*c[3] + E[r][1]*c[7] + E[r][2]*c[11])
			}
			Es := [][]float64{E[0][:], E[1][:], E[2][:]}
			ext[fs] = Es
			frameLayout[fs] = map[string]any{"aria01": map[string]any{"camera_intrinsics": K, "camera_extrinsics": Es}}
		}
		var camPose any = map[string]any{"aria01": map[string]any{"camera_intrinsics": K, "camera_extrinsics": ext}}
		if i%2 == 1 {
			camPose = frameLayout
		}
		for _, w := range []struct {
			p string
			v any
		}{
			{filepath.Join(base, "hand", "annotation", uid+".json"), manual},
			{filepath.Join(base, "hand", "automatic", uid+".json"), auto},
			{filepath.Join(base, "hand", "camera_pose", uid+".json"), camPose},
			{filepath.Join(base, "body", "annotation", uid+".json"), body},
		} {
			if err := writeJSON(w.p, w.v); err != nil {
				return err
			}
		}
		vd := filepath.Join(dir, "takes", name, "frame_aligned_videos")
		if err := os.MkdirAll(vd, 0o755); err != nil {
			return err
		}
		if err := encodeVideo(filepath.Join(vd, "aria01_214-1.mp4"), m, camVid); err != nil {
			return err
		}
	}
	sp := map[string]any{"take_uid_to_split": splitOf}
	if err := writeJSON(filepath.Join(dir, "annotations", "splits.json"), sp); err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(dir, "annotations", "egoexo_split_latest_train_val_test.csv"), []byte(csv)); err != nil {
		return err
	}
	return writeJSON(filepath.Join(dir, "takes.json"), takes)
}
