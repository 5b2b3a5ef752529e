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
	// Manual 3D joints count only with num_views_for_3d >= 3; automatic ones have no view
	// filter (the official loader exempts them).
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
	// cam_id → stream → {relative_path, stream_id}; relative_path is relative to root_dir.
	FrameAlignedVideos map[string]json.RawMessage `json:"frame_aligned_videos"`
}

type egoExoStream struct {
	RelativePath string `json:"relative_path"`
	StreamID     string `json:"stream_id"`
}

// egoAriaCam picks the take's ego camera. The hand annotations are made in the Aria's view,
// and some takes also mark an egocentric GoPro is_ego, so an Aria id wins over any other
// is_ego camera (official utils.py get_ego_aria_cam_name narrows to "aria" the same way).
func (t *egoExoTake) egoAriaCam() string {
	var ego, aria []string
	for _, c := range t.Capture.Cameras {
		isAria := strings.HasPrefix(strings.ToLower(c.CamID), "aria")
		if c.IsEgo {
			ego = append(ego, c.CamID)
			if isAria {
				aria = append(aria, c.CamID)
			}
		}
	}
	if len(aria) > 0 {
		sort.Strings(aria)
		return aria[0]
	}
	// No Aria marked is_ego: an Aria among the frame-aligned videos, else the one ego camera.
	var vids []string
	for cam := range t.FrameAlignedVideos {
		if strings.HasPrefix(strings.ToLower(cam), "aria") {
			vids = append(vids, cam)
		}
	}
	if len(vids) > 0 {
		sort.Strings(vids)
		return vids[0]
	}
	if len(ego) == 1 {
		return ego[0]
	}
	return "aria01"
}

// ariaVideo returns the frame-aligned RGB video of cam: download folder + root_dir +
// relative_path (data-spec §2.1; root_dir already starts with takes/). Older or hand-made
// layouts (root_dir without takes/, no frame_aligned_videos entry) are tried after it.
func (t *egoExoTake) ariaVideo(root, cam string) string {
	var cands []string
	dirs := []string{filepath.Join(root, filepath.FromSlash(t.RootDir))}
	if t.RootDir == "" || !strings.HasPrefix(filepath.ToSlash(t.RootDir), "takes/") {
		name := t.RootDir
		if name == "" {
			name = t.TakeName
		}
		dirs = append(dirs, filepath.Join(root, "takes", filepath.FromSlash(name)))
	}
	if raw, ok := t.FrameAlignedVideos[cam]; ok {
		var streams map[string]egoExoStream
		if err := json.Unmarshal(raw, &streams); err == nil {
			keys := make([]string, 0, len(streams))
			for k := range streams {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				st := streams[k]
				if (k == "rgb" || st.StreamID == "214-1") && st.RelativePath != "" {
					for _, d := range dirs {
						cands = append(cands, filepath.Join(d, filepath.FromSlash(st.RelativePath)))
					}
				}
			}
		}
	}
	for _, d := range dirs {
		for _, name := range []string{cam + "_214-1.mp4", cam + ".mp4"} {
			cands = append(cands, filepath.Join(d, "frame_aligned_videos", name))
		}
	}
	for _, p := range cands {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
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
	return firstFile(
		filepath.Join(root, "annotations", "ego_pose", split, part, kind, uid+".json"),
		filepath.Join(root, "annotations", "ego_pose", part, kind, uid+".json"))
}

// egoCamPoseFile finds a take's camera poses. The current release keeps them at
// ego_pose/<split>/camera_pose, shared by hand and body (data-spec §2.1); the release
// before it had ego_pose/hand/camera_pose, and our synthetic set <split>/hand/camera_pose.
func egoCamPoseFile(root, split, uid string) string {
	ep := filepath.Join(root, "annotations", "ego_pose")
	return firstFile(
		filepath.Join(ep, split, "camera_pose", uid+".json"),
		filepath.Join(ep, split, "hand", "camera_pose", uid+".json"),
		filepath.Join(ep, "hand", "camera_pose", uid+".json"),
		filepath.Join(ep, "camera_pose", uid+".json"))
}

func firstFile(paths ...string) string {
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
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
		cp := egoCamPoseFile(root, split, t.TakeUID)
		if cp == "" {
			d.skip(t.TakeUID, "no camera_pose JSON (looked in annotations/ego_pose/"+split+"/camera_pose and the older hand/camera_pose)")
			continue
		}
		ego := t.egoAriaCam()
		ep := Episode{ID: t.TakeUID, Path: ann, CameraPose: cp, Task: t.TaskName, Split: split, Dataset: EgoExo4D,
			TakeUID: t.TakeUID, TakeName: t.TakeName, EgoCam: ego, BodyPath: egoPoseFile(root, split, "body", kind, t.TakeUID)}
		if ep.Task == "" {
			ep.Task = "unknown"
		}
		ep.Video = t.ariaVideo(root, ego)
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
	NumViews *float64 `json:"num_views_for_3d,omitempty"`
}

type frameAnn struct {
	Annotation3D map[string]joint3D `json:"annotation3D"`
}

// egoExoAnn is one take's 3D annotations: frame → joint → world xyz (metres).
type egoExoAnn struct {
	Frames map[int]map[string][3]float64
	// Empty3D counts annotated frames whose annotation3D is absent or empty: skipped, as the
	// official loader skips them.
	Empty3D int
}

// readEgoExoAnn reads a per-take annotation JSON: frame → [ {annotation3D: joint → xyz} ].
// With minViews > 0 a joint counts only when num_views_for_3d is present and >= minViews
// (manual annotations; the official loader reads the field unconditionally there).
func readEgoExoAnn(path string, minViews float64) (*egoExoAnn, error) {
	var raw map[string]json.RawMessage
	if err := readJSON(path, &raw); err != nil {
		return nil, err
	}
	out := &egoExoAnn{Frames: map[int]map[string][3]float64{}}
	for k, v := range raw {
		fn, err := strconv.Atoi(k)
		if err != nil || fn < 0 {
			return nil, fmt.Errorf("%s: key %q is not a frame number (expected a decimal frame index ≥ 0)", path, k)
		}
		var list []frameAnn
		if err := json.Unmarshal(v, &list); err != nil {
			var one frameAnn // tolerate a bare object instead of a one-element list
			if err2 := json.Unmarshal(v, &one); err2 != nil {
				return nil, fmt.Errorf("%s: frame %s: expected a list of annotation objects: %v", path, k, err)
			}
			list = []frameAnn{one}
		}
		if len(list) == 0 || len(list[0].Annotation3D) == 0 {
			out.Empty3D++
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
			if minViews > 0 && (j.NumViews == nil || *j.NumViews < minViews) {
				continue
			}
			joints[name] = p
		}
		out.Frames[fn] = joints
	}
	return out, nil
}

// egoExoHandJoints is the official 21-joint order of one hand: wrist, then thumb, index,
// middle, ring and pinky, _1 (nearest the palm) to _4 (tip).
var egoExoHandJoints = func() [21]string {
	var out [21]string
	out[0] = "wrist"
	i := 1
	for _, f := range []string{"thumb", "index", "middle", "ring", "pinky"} {
		for k := 1; k <= 4; k++ {
			out[i] = fmt.Sprintf("%s_%d", f, k)
			i++
		}
	}
	return out
}()

// Bone-length and joint-angle bounds of the official plausibility check
// (utils.py joint_dist_angle_check), in metres and degrees. The four bones from the wrist
// to the index/middle/ring/pinky _1 joints are the long ones.
const (
	boneMin, boneMax         = 0.005, 0.08
	longBoneMin, longBoneMax = 0.06, 0.12
)

// angleMin[i] is the smallest plausible angle at joint i (parent–joint–child); joints
// without an entry (wrist, tips) are not angle-checked. The largest is 180°.
var angleMin = map[int]float64{1: 100, 2: 90, 3: 90, 5: 60, 6: 70, 7: 80, 9: 60, 10: 70, 11: 80,
	13: 60, 14: 70, 15: 80, 17: 60, 18: 70, 19: 80}

func handParent(i int) int {
	if (i-1)%4 == 0 {
		return 0 // the _1 joint of every finger hangs off the wrist
	}
	return i - 1
}

// implausibleJoints returns the joints of one hand (official order) that the bone-length or
// joint-angle check rejects. Like the official check it judges every joint against the
// positions as given (a rejection does not cascade), and a measurement that needs a missing
// joint rejects nothing.
func implausibleJoints(p *[21][3]float64, have *[21]bool) (bad [21]bool) {
	sub := func(a, b int) [3]float64 { return [3]float64{p[a][0] - p[b][0], p[a][1] - p[b][1], p[a][2] - p[b][2]} }
	norm := func(v [3]float64) float64 { return math.Sqrt(v[0]*v[0] + v[1]*v[1] + v[2]*v[2]) }
	for i := 1; i < 21; i++ {
		par := handParent(i)
		if !have[i] || !have[par] {
			continue
		}
		lo, hi := boneMin, boneMax
		if par == 0 && i != 1 {
			lo, hi = longBoneMin, longBoneMax
		}
		if d := norm(sub(i, par)); d < lo || d > hi {
			bad[i] = true
		}
	}
	for i, lo := range angleMin {
		par := handParent(i)
		if !have[i] || !have[par] || !have[i+1] {
			continue
		}
		v1, v2 := sub(par, i), sub(i+1, i)
		n1, n2 := norm(v1), norm(v2)
		if n1 == 0 || n2 == 0 {
			continue // NaN in the official code: no verdict
		}
		c := (v1[0]*v2[0] + v1[1]*v2[1] + v1[2]*v2[2]) / (n1 * n2)
		ang := math.Acos(math.Max(-1, math.Min(1, c))) * 180 / math.Pi
		if ang < lo || ang > 180 {
			bad[i] = true
		}
	}
	return bad
}

// filterHands applies the official per-hand rules to one frame's joints in place: a hand
// whose wrist is not kept is dropped whole, then (unless noCheck) implausible joints go.
// It returns how many joints the plausibility check removed.
func filterHands(joints map[string][3]float64, noCheck bool) int {
	removed := 0
	for _, side := range []string{"right", "left"} {
		if _, ok := joints[side+"_wrist"]; !ok {
			for _, n := range egoExoHandJoints {
				delete(joints, side+"_"+n)
			}
			continue
		}
		if noCheck {
			continue
		}
		var p [21][3]float64
		var have [21]bool
		for i, n := range egoExoHandJoints {
			p[i], have[i] = joints[side+"_"+n]
		}
		for i, b := range implausibleJoints(&p, &have) {
			if b {
				delete(joints, side+"_"+egoExoHandJoints[i])
				removed++
			}
		}
	}
	return removed
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
	// Manual annotations keep a 3D joint only when triangulated from >= 3 views; the
	// automatic ones carry no such filter (official dataloader.py). Which kind an episode
	// points at is its folder's name, so manifests need no extra field.
	minViews := 3.0
	if filepath.Base(filepath.Dir(ep.Path)) == "automatic" {
		minViews = 0
	}
	ann, err := readEgoExoAnn(ep.Path, minViews)
	if err != nil {
		return nil, err
	}
	var body map[int]map[string][3]float64
	if ep.BodyPath != "" {
		b, err := readEgoExoAnn(ep.BodyPath, 0)
		if err != nil {
			return nil, err
		}
		body = b.Frames
	}
	cp, err := readEgoExoCamPose(ep.CameraPose, ep.EgoCam)
	if err != nil {
		return nil, err
	}
	// The episode's timeline is its annotated frames that have an ego-camera extrinsic, in
	// order (the official loader skips the others); the sampler picks among them and
	// FrameIndices holds their real frame numbers.
	var frames []int
	noExt := 0
	for fn := range ann.Frames {
		if _, ok := cp.Ext[fn]; ok {
			frames = append(frames, fn)
		} else {
			noExt++
		}
	}
	sort.Ints(frames)
	if len(frames) == 0 {
		return nil, fmt.Errorf("%s: no annotated frame with a non-empty annotation3D has a %s extrinsic in %s (%d without extrinsic, %d with empty annotation3D)",
			ep.Path, ep.EgoCam, ep.CameraPose, noExt, ann.Empty3D)
	}
	idx, past, err := s.Indices(len(frames))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ep.Path, err)
	}
	c := newClip(len(idx), past)
	c.Dataset, c.Split, c.Task, c.Episode, c.Instruction = EgoExo4D, ep.Split, ep.Task, ep.ID, ep.Task
	c.SkippedFrames = map[string]int{}
	if noExt > 0 {
		c.SkippedFrames["no_ego_extrinsic"] = noExt
		c.Warnings = append(c.Warnings, fmt.Sprintf("%d annotated frames skipped: no %s extrinsic", noExt, ep.EgoCam))
	}
	if ann.Empty3D > 0 {
		c.SkippedFrames["empty_annotation3d"] = ann.Empty3D
		c.Warnings = append(c.Warnings, fmt.Sprintf("%d annotated frames skipped: empty annotation3D", ann.Empty3D))
	}
	implausible := 0
	for t, i := range idx {
		fn := frames[i]
		c.FrameIndices[t] = fn
		E := cp.Ext[fn]
		ext := camExtFromCamWorld(E)
		copy(c.CamExt[t*16:], ext[:])
		// Copy: the sampler may pick a frame twice, and filtering edits the map.
		hj := make(map[string][3]float64, len(ann.Frames[fn]))
		for k, v := range ann.Frames[fn] {
			hj[k] = v
		}
		implausible += filterHands(hj, opt.NoJointCheck)
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
	if implausible > 0 {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%d joints rejected by the bone-length/joint-angle check (off with --no-joint-check)", implausible))
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
