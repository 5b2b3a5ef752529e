package data

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// EgoExoOptions controls the Ego-Exo4D reader.
type EgoExoOptions struct {
	// Automatic uses annotations/.../hand/automatic (pseudo-GT) instead of manual annotation/.
	// (A 3D joint with num_views_for_3d < 3 is treated as missing, as the baseline does.)
	Automatic bool
}

// egoExoTake is the subset of a takes.json entry the reader uses (data-spec §2.1).
type egoExoTake struct {
	TakeUID  string `json:"take_uid"`
	TakeName string `json:"take_name"`
	RootDir  string `json:"root_dir"`
	TaskName string `json:"task_name"`
	Capture  struct {
		Cameras []struct {
			CamID string `json:"cam_id"`
			IsEgo bool   `json:"is_ego"`
		} `json:"cameras"`
	} `json:"capture"`
	FrameAlignedVideos map[string]json.RawMessage `json:"frame_aligned_videos"`
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: malformed JSON: %w", path, err)
	}
	return nil
}

func normEgoExoSplit(s, file string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "train":
		return "train", nil
	case "val", "validation":
		return "val", nil
	case "test":
		return "test", nil
	}
	return "", fmt.Errorf("%s: unknown split name %q, expected train, val or test", file, s)
}

// egoExoSplits reads annotations/splits.json (take_uid_to_split or split_to_take_uids),
// falling back to the split CSV.
func egoExoSplits(root string) (map[string]string, error) {
	out := map[string]string{}
	sj := filepath.Join(root, "annotations", "splits.json")
	if _, err := os.Stat(sj); err == nil {
		var raw struct {
			TakeUIDToSplit  map[string]string   `json:"take_uid_to_split"`
			SplitToTakeUIDs map[string][]string `json:"split_to_take_uids"`
		}
		if err := readJSON(sj, &raw); err != nil {
			return nil, err
		}
		for uid, s := range raw.TakeUIDToSplit {
			n, err := normEgoExoSplit(s, sj+": take_uid_to_split")
			if err != nil {
				return nil, err
			}
			out[uid] = n
		}
		for s, uids := range raw.SplitToTakeUIDs {
			n, err := normEgoExoSplit(s, sj+": split_to_take_uids")
			if err != nil {
				return nil, err
			}
			for _, u := range uids {
				out[u] = n
			}
		}
		return out, nil
	}
	cp := filepath.Join(root, "annotations", "egoexo_split_latest_train_val_test.csv")
	f, err := os.Open(cp)
	if err != nil {
		return nil, fmt.Errorf("ego-exo4d %s: neither annotations/splits.json nor the split CSV found", root)
	}
	defer f.Close()
	r := csv.NewReader(f)
	hdr, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", cp, err)
	}
	ui, si := -1, -1
	for i, h := range hdr {
		switch strings.TrimSpace(h) {
		case "take_uid":
			ui = i
		case "split":
			si = i
		}
	}
	if ui < 0 || si < 0 {
		return nil, fmt.Errorf("%s: header %v lacks take_uid or split column", cp, hdr)
	}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", cp, line, err)
		}
		n, err := normEgoExoSplit(rec[si], fmt.Sprintf("%s: line %d", cp, line))
		if err != nil {
			return nil, err
		}
		out[rec[ui]] = n
	}
	return out, nil
}

// egoPoseFile finds annotations/ego_pose[/<split>]/<part>/<kind>/<uid>.json.
func egoPoseFile(root, split, part, kind, uid string) string {
	for _, p := range []string{
		filepath.Join(root, "annotations", "ego_pose", split, part, kind, uid+".json"),
		filepath.Join(root, "annotations", "ego_pose", part, kind, uid+".json"),
	} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// OpenEgoExo lists the takes of an Ego-Exo4D root that have hand annotations and camera
// poses (data-spec §2). Takes lacking either are skipped with a warning.
func OpenEgoExo(root string, o EgoExoOptions) (*Dataset, error) {
	tp := filepath.Join(root, "takes.json")
	var takes []egoExoTake
	if err := readJSON(tp, &takes); err != nil {
		return nil, fmt.Errorf("ego-exo4d: %w", err)
	}
	splits, err := egoExoSplits(root)
	if err != nil {
		return nil, err
	}
	kind := "annotation"
	if o.Automatic {
		kind = "automatic"
	}
	d := &Dataset{Name: EgoExo4D, Root: root, HandAnnotations: "manual"}
	if o.Automatic {
		d.HandAnnotations = "automatic"
	}
	for i, t := range takes {
		if t.TakeUID == "" {
			return nil, fmt.Errorf("%s: entry %d lacks take_uid", tp, i)
		}
		split, ok := splits[t.TakeUID]
		if !ok {
			d.skip(t.TakeUID, "take not in the official splits")
			continue
		}
		ann := egoPoseFile(root, split, "hand", kind, t.TakeUID)
		if ann == "" {
			d.skip(t.TakeUID, "no hand "+kind+" JSON")
			continue
		}
		cp := egoPoseFile(root, split, "hand", "camera_pose", t.TakeUID)
		if cp == "" {
			d.skip(t.TakeUID, "no camera_pose JSON")
			continue
		}
		ego := ""
		for _, c := range t.Capture.Cameras {
			if c.IsEgo {
				ego = c.CamID
			}
		}
		if ego == "" {
			ego = "aria01"
		}
		ep := Episode{ID: t.TakeUID, Path: ann, CameraPose: cp, Task: t.TaskName, Split: split, Dataset: EgoExo4D,
			TakeUID: t.TakeUID, TakeName: t.TakeName, EgoCam: ego, BodyPath: egoPoseFile(root, split, "body", kind, t.TakeUID)}
		if ep.Task == "" {
			ep.Task = "unknown"
		}
		dir := t.TakeName
		if t.RootDir != "" {
			dir = t.RootDir
		}
		for _, name := range []string{ego + "_214-1.mp4", ego + ".mp4"} {
			p := filepath.Join(root, "takes", dir, "frame_aligned_videos", name)
			if _, err := os.Stat(p); err == nil {
				ep.Video = p
				break
			}
		}
		if ep.Video == "" {
			slog.Warn("ego-exo4d: no Aria video for take; clips need --skip-video", "take", t.TakeUID)
		}
		d.Episodes = append(d.Episodes, ep)
	}
	sort.SliceStable(d.Episodes, func(i, j int) bool {
		if d.Episodes[i].Split != d.Episodes[j].Split {
			return d.Episodes[i].Split < d.Episodes[j].Split
		}
		return d.Episodes[i].TakeName < d.Episodes[j].TakeName
	})
	if len(d.Episodes) == 0 {
		return d, fmt.Errorf("ego-exo4d %s: no takes with hand annotations and camera poses (%d skipped)", root, len(d.Skipped))
	}
	return d, nil
}

type joint3D struct {
	X        *float64 `json:"x"`
	Y        *float64 `json:"y"`
	Z        *float64 `json:"z"`
	NumViews *int     `json:"num_views_for_3d,omitempty"`
}

type frameAnn struct {
	Annotation3D map[string]joint3D `json:"annotation3D"`
}

// readEgoExoAnn reads a per-take annotation JSON: frame → [ {annotation3D: joint → xyz} ].
func readEgoExoAnn(path string, minViews int) (map[int]map[string][3]float64, error) {
	var raw map[string]json.RawMessage
	if err := readJSON(path, &raw); err != nil {
		return nil, err
	}
	out := map[int]map[string][3]float64{}
	for k, v := range raw {
		fn, err := strconv.Atoi(k)
		if err != nil {
			return nil, fmt.Errorf("%s: key %q is not a frame number", path, k)
		}
		var list []frameAnn
		if err := json.Unmarshal(v, &list); err != nil {
			var one frameAnn // tolerate a bare object instead of a one-element list
			if err2 := json.Unmarshal(v, &one); err2 != nil {
				return nil, fmt.Errorf("%s: frame %s: expected a list of annotation objects: %v", path, k, err)
			}
			list = []frameAnn{one}
		}
		if len(list) == 0 {
			continue
		}
		joints := map[string][3]float64{}
		for name, j := range list[0].Annotation3D {
			if j.X == nil || j.Y == nil || j.Z == nil {
				continue
			}
			p := [3]float64{*j.X, *j.Y, *j.Z}
			if !finite3(p) {
				continue
			}
			if j.NumViews != nil && *j.NumViews < minViews {
				continue
			}
			joints[name] = p
		}
		out[fn] = joints
	}
	return out, nil
}

func finite3(p [3]float64) bool {
	for _, v := range p {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

type camPose struct {
	K   [9]float64
	Ext map[int][12]float64 // cam←world 3×4, row-major
}

// readEgoExoCamPose reads the camera-pose JSON in either layout (data-spec §2.3):
// cam → {camera_intrinsics, camera_extrinsics: frame → 3×4}, or frame → cam → {…, 3×4}.
func readEgoExoCamPose(path, cam string) (*camPose, error) {
	var raw map[string]json.RawMessage
	if err := readJSON(path, &raw); err != nil {
		return nil, err
	}
	type entry struct {
		K json.RawMessage `json:"camera_intrinsics"`
		E json.RawMessage `json:"camera_extrinsics"`
	}
	cp := &camPose{Ext: map[int][12]float64{}}
	haveK := false
	parseK := func(m json.RawMessage, where string) error {
		var k [][]float64
		if err := json.Unmarshal(m, &k); err != nil || len(k) != 3 || len(k[0]) != 3 || len(k[1]) != 3 || len(k[2]) != 3 {
			return fmt.Errorf("%s: %s camera_intrinsics: expected a 3×3 matrix", path, where)
		}
		for r := 0; r < 3; r++ {
			for c := 0; c < 3; c++ {
				cp.K[r*3+c] = k[r][c]
			}
		}
		haveK = true
		return nil
	}
	parseE := func(m json.RawMessage, where string) ([12]float64, error) {
		var e [][]float64
		var out [12]float64
		if err := json.Unmarshal(m, &e); err != nil || len(e) < 3 {
			return out, fmt.Errorf("%s: %s camera_extrinsics: expected a 3×4 matrix", path, where)
		}
		for r := 0; r < 3; r++ {
			if len(e[r]) != 4 {
				return out, fmt.Errorf("%s: %s camera_extrinsics: row %d has %d values, expected 4", path, where, r, len(e[r]))
			}
			copy(out[r*4:], e[r])
		}
		return out, nil
	}
	frameLayout := false
	for k := range raw {
		if _, err := strconv.Atoi(k); err == nil {
			frameLayout = true
		}
		break
	}
	if !frameLayout {
		m, ok := raw[cam]
		if !ok {
			return nil, fmt.Errorf("%s: camera %q not present", path, cam)
		}
		var e entry
		if err := json.Unmarshal(m, &e); err != nil {
			return nil, fmt.Errorf("%s: camera %q: %v", path, cam, err)
		}
		if err := parseK(e.K, cam); err != nil {
			return nil, err
		}
		var ext map[string]json.RawMessage
		if err := json.Unmarshal(e.E, &ext); err != nil {
			return nil, fmt.Errorf("%s: %s camera_extrinsics: expected frame → 3×4: %v", path, cam, err)
		}
		for fs, em := range ext {
			fn, err := strconv.Atoi(fs)
			if err != nil {
				return nil, fmt.Errorf("%s: %s camera_extrinsics key %q is not a frame number", path, cam, fs)
			}
			if cp.Ext[fn], err = parseE(em, cam+" frame "+fs); err != nil {
				return nil, err
			}
		}
	} else {
		for fs, fm := range raw {
			fn, err := strconv.Atoi(fs)
			if err != nil {
				return nil, fmt.Errorf("%s: key %q is not a frame number", path, fs)
			}
			var cams map[string]entry
			if err := json.Unmarshal(fm, &cams); err != nil {
				return nil, fmt.Errorf("%s: frame %s: %v", path, fs, err)
			}
			e, ok := cams[cam]
			if !ok {
				continue
			}
			if !haveK {
				if err := parseK(e.K, "frame "+fs+" "+cam); err != nil {
					return nil, err
				}
			}
			if cp.Ext[fn], err = parseE(e.E, "frame "+fs+" "+cam); err != nil {
				return nil, err
			}
		}
	}
	if !haveK || len(cp.Ext) == 0 {
		return nil, fmt.Errorf("%s: no intrinsics/extrinsics for camera %q", path, cam)
	}
	return cp, nil
}

var egoExoFinger = map[string]string{"Little": "pinky", "Ring": "ring", "Middle": "middle", "Index": "index"}

// EgoExoSource returns, for canonical slot j, the Ego-Exo4D joint names it is mapped from
// in order of preference, and whether the slot counts as valid when found (data-spec §3.3:
// metacarpal slots duplicate _1 and are marked invalid).
func EgoExoSource(j int) (names []string, scored bool) {
	name := JointNames[j]
	side := "right"
	if strings.HasPrefix(name, "left") {
		side = "left"
	}
	part := strings.TrimPrefix(strings.TrimPrefix(name, "right"), "left")
	switch part {
	case "Hand":
		return []string{side + "_wrist"}, true
	case "Forearm":
		return []string{side + "-elbow", side + "-shoulder"}, true
	}
	if strings.HasPrefix(part, "Thumb") {
		n := map[string]string{"ThumbKnuckle": "1", "ThumbIntermediateBase": "2", "ThumbIntermediateTip": "3", "ThumbTip": "4"}[part]
		return []string{side + "_thumb_" + n}, true
	}
	for f, ef := range egoExoFinger {
		if rest, ok := strings.CutPrefix(part, f+"Finger"); ok {
			switch rest {
			case "Metacarpal":
				return []string{side + "_" + ef + "_1"}, false
			case "Knuckle":
				return []string{side + "_" + ef + "_1"}, true
			case "IntermediateBase":
				return []string{side + "_" + ef + "_2"}, true
			case "IntermediateTip":
				return []string{side + "_" + ef + "_3"}, true
			case "Tip":
				return []string{side + "_" + ef + "_4"}, true
			}
		}
	}
	return nil, false
}

func loadEgoExoClip(ep Episode, s Sampler, opt LoadOptions) (*Clip, error) {
	ann, err := readEgoExoAnn(ep.Path, 3)
	if err != nil {
		return nil, err
	}
	var body map[int]map[string][3]float64
	if ep.BodyPath != "" {
		if body, err = readEgoExoAnn(ep.BodyPath, 0); err != nil {
			return nil, err
		}
	}
	cp, err := readEgoExoCamPose(ep.CameraPose, ep.EgoCam)
	if err != nil {
		return nil, err
	}
	// The episode's timeline is its annotated frames that have a camera pose, in order;
	// the sampler picks among them and FrameIndices holds their real frame numbers.
	var frames []int
	for fn := range ann {
		if _, ok := cp.Ext[fn]; ok {
			frames = append(frames, fn)
		}
	}
	sort.Ints(frames)
	if len(frames) == 0 {
		return nil, fmt.Errorf("%s: no annotated frame has a camera pose in %s", ep.Path, ep.CameraPose)
	}
	idx, past, err := s.Indices(len(frames))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ep.Path, err)
	}
	c := newClip(len(idx), past)
	c.Dataset, c.Split, c.Task, c.Episode, c.Instruction = EgoExo4D, ep.Split, ep.Task, ep.ID, ep.Task
	for t, i := range idx {
		fn := frames[i]
		c.FrameIndices[t] = fn
		E := cp.Ext[fn]
		ext := camExtFromCamWorld(E)
		copy(c.CamExt[t*16:], ext[:])
		hj := ann[fn]
		bj := body[fn]
		for j := 0; j < NumJoints; j++ {
			names, scored := EgoExoSource(j)
			var p [3]float64
			found := false
			for _, n := range names {
				if v, ok := hj[n]; ok {
					p, found = v, true
					break
				}
				if v, ok := bj[n]; ok {
					p, found = v, true
					break
				}
			}
			if !found { // fill (data-spec §3.3): elbow, else wrist, else zeros; never valid
				side := "right"
				if j >= jointsPerSide {
					side = "left"
				}
				if v, ok := bj[side+"-elbow"]; ok && !strings.HasSuffix(JointNames[j], "Forearm") {
					p = v
				} else if v, ok := hj[side+"_wrist"]; ok {
					p = v
				}
				scored = false
			}
			o := (t*NumJoints + j) * 3
			c.XYZWorld[o], c.XYZWorld[o+1], c.XYZWorld[o+2] = float32(p[0]), float32(p[1]), float32(p[2])
			if scored {
				c.Conf[t*NumJoints+j] = 1
				c.Valid[t*NumJoints+j] = true
			}
		}
		WorldToCam(c.CamExt[t*16:(t+1)*16], c.XYZWorld[t*NumJoints*3:(t+1)*NumJoints*3], c.XYZCam[t*NumJoints*3:(t+1)*NumJoints*3])
	}
	var K [9]float32
	for i, v := range cp.K {
		K[i] = float32(v)
	}
	if err := c.loadVideo(ep.Video, K, opt); err != nil {
		return nil, err
	}
	return c, nil
}

// camExtFromCamWorld inverts a cam←world [R|t] 3×4 into a world←cam 4×4 (row-major).
func camExtFromCamWorld(E [12]float64) [16]float32 {
	var out [16]float32
	// world←cam = [Rᵀ | −Rᵀt]
	for r := 0; r < 3; r++ {
		var s float64
		for k := 0; k < 3; k++ {
			out[r*4+k] = float32(E[k*4+r])
			s -= E[k*4+r] * E[k*4+3]
		}
		out[r*4+3] = float32(s)
	}
	out[15] = 1
	return out
}
