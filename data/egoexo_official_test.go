package data_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/data"
	"github.com/thinkjepa/thinkjepa/data/egoexofix"
	"github.com/thinkjepa/thinkjepa/internal/npy"
)

func officialRoot(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := egoexofix.Write(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func slot(t *testing.T, name string) int {
	t.Helper()
	for j, n := range data.JointNames {
		if n == name {
			return j
		}
	}
	t.Fatalf("no slot %s", name)
	return -1
}

// stepOf returns the clip step that holds source frame fn (-1 if none).
func stepOf(c *data.Clip, fn int) int {
	for t, f := range c.FrameIndices {
		if f == fn {
			return t
		}
	}
	return -1
}

// TestEgoExoOfficialLayout: a root laid out like the official download is found whole:
// camera poses under <split>/camera_pose (and the older hand/camera_pose), the video at
// root + root_dir + relative_path, the Aria as ego camera although a GoPro is is_ego too.
func TestEgoExoOfficialLayout(t *testing.T) {
	root := officialRoot(t)
	d, err := data.OpenDataset(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Episodes) != 2 {
		t.Fatalf("%d takes found, want 2; skipped %v", len(d.Episodes), d.Skipped)
	}
	if len(d.Skipped) != 1 || !strings.Contains(d.Skipped[0], egoexofix.UIDNoSplit) {
		t.Errorf("skipped %v, want only the take without a split", d.Skipped)
	}
	byUID := map[string]data.Episode{}
	for _, ep := range d.Episodes {
		byUID[ep.TakeUID] = ep
	}
	cur, old := byUID[egoexofix.UIDCurrent], byUID[egoexofix.UIDOld]
	if cur.EgoCam != egoexofix.AriaCam || old.EgoCam != "aria01" {
		t.Errorf("ego cameras %q, %q; want %q (not the is_ego GoPro), aria01", cur.EgoCam, old.EgoCam, egoexofix.AriaCam)
	}
	wantVid := filepath.Join(root, "takes", egoexofix.NameCurrent, filepath.FromSlash(egoexofix.VideoRel))
	if cur.Video != wantVid {
		t.Errorf("video %q, want %q", cur.Video, wantVid)
	}
	if want := filepath.Join(root, "annotations", "ego_pose", "train", "camera_pose", egoexofix.UIDCurrent+".json"); cur.CameraPose != want {
		t.Errorf("camera pose %q, want %q", cur.CameraPose, want)
	}
	if want := filepath.Join(root, "annotations", "ego_pose", "hand", "camera_pose", egoexofix.UIDOld+".json"); old.CameraPose != want {
		t.Errorf("old-layout camera pose %q, want %q", old.CameraPose, want)
	}
	if cur.Split != "train" || old.Split != "val" {
		t.Errorf("splits %q %q", cur.Split, old.Split)
	}
	// The clip of the old-layout take is read too (cam → frames camera-pose layout).
	if _, err := data.LoadClip(old, data.Episode64{}, data.LoadOptions{SkipVideo: true}); err != nil {
		t.Errorf("old-layout take: %v", err)
	}
}

// TestEgoExoValidityRules: the official loader's rules on the planted frames, for manual
// and automatic annotations, with the plausibility check on and off.
func TestEgoExoValidityRules(t *testing.T) {
	root := officialRoot(t)
	for _, auto := range []bool{false, true} {
		d, err := data.OpenDatasetWith(root, data.DatasetOptions{EgoExo: data.EgoExoOptions{Automatic: auto}})
		if err != nil {
			t.Fatal(err)
		}
		ep, err := d.Find(egoexofix.UIDCurrent)
		if err != nil {
			t.Fatal(err)
		}
		for _, noCheck := range []bool{false, true} {
			c, err := data.LoadClip(ep, data.Episode64{}, data.LoadOptions{SkipVideo: true, NoJointCheck: noCheck})
			if err != nil {
				t.Fatal(err)
			}
			name := map[bool]string{false: "manual", true: "automatic"}[auto] + map[bool]string{false: "", true: " no-check"}[noCheck]
			valid := func(fn int, joint string) bool {
				st := stepOf(c, fn)
				if st < 0 {
					t.Fatalf("%s: frame %d not in the clip (indices %v)", name, fn, c.FrameIndices)
				}
				return c.Valid[st*data.NumJoints+slot(t, joint)]
			}
			for _, fn := range []int{egoexofix.FrameEmpty3D, egoexofix.FrameNoExtrinsic} {
				if stepOf(c, fn) >= 0 {
					t.Errorf("%s: frame %d should be skipped", name, fn)
				}
			}
			if c.SkippedFrames["empty_annotation3d"] != 1 || c.SkippedFrames["no_ego_extrinsic"] != 1 {
				t.Errorf("%s: skipped frames %v", name, c.SkippedFrames)
			}
			// A frame the rules leave alone: every non-metacarpal hand slot valid
			// (forearms have no body file here, so they are filled and invalid).
			for j, n := range data.JointNames {
				want := !strings.HasSuffix(n, "Metacarpal") && !strings.HasSuffix(n, "Forearm")
				if got := valid(egoexofix.FrameEmpty3D-2, n); got != want {
					t.Errorf("%s: clean frame slot %d %s valid=%v", name, j, n, got)
				}
			}
			// Few views: dropped only from manual annotations.
			if got := valid(egoexofix.FrameFewViews, "rightIndexFingerTip"); got != auto {
				t.Errorf("%s: 2-view right_index_4 valid=%v, want %v", name, got, auto)
			}
			if !valid(egoexofix.FrameFewViews, "rightIndexFingerIntermediateTip") {
				t.Errorf("%s: neighbour of the few-view joint invalid", name)
			}
			// No wrist: the whole left hand goes; the right stays.
			for _, n := range data.JointNames {
				if strings.HasPrefix(n, "left") && valid(egoexofix.FrameNoWrist, n) {
					t.Errorf("%s: %s valid on the frame without a kept left wrist", name, n)
				}
			}
			if !valid(egoexofix.FrameNoWrist, "rightHand") {
				t.Errorf("%s: right wrist invalid on the left-wristless frame", name)
			}
			// Plausibility check: on by default, off on request.
			if got := valid(egoexofix.FrameLongBone, "rightMiddleFingerTip"); got != noCheck {
				t.Errorf("%s: 0.3 m middle fingertip valid=%v, want %v", name, got, noCheck)
			}
			if got := valid(egoexofix.FrameBentJoint, "rightRingFingerIntermediateBase"); got != noCheck {
				t.Errorf("%s: 30° ring joint valid=%v, want %v", name, got, noCheck)
			}
			if !valid(egoexofix.FrameLongBone, "rightMiddleFingerIntermediateTip") {
				t.Errorf("%s: the check removed the parent of the long bone", name)
			}
			// Camera frame: the Aria's extrinsic, not the GoPro's.
			st := stepOf(c, 30)
			w := egoexofix.Wrist("right", 30)
			E := egoexofix.Extrinsic(egoexofix.AriaCam, 30)
			for r := 0; r < 3; r++ {
				want := E[r][0]*w[0] + E[r][1]*w[1] + E[r][2]*w[2] + E[r][3]
				got := float64(c.XYZCam[(st*data.NumJoints+data.RightWrist)*3+r])
				if math.Abs(got-want) > 1e-5 {
					t.Fatalf("%s: right wrist camera coord %d = %v, want %v (Aria extrinsic)", name, r, got, want)
				}
			}
			if !auto && c.FrameIndices[0]%2 != 0 {
				t.Errorf("manual frames are the even ones, got %v", c.FrameIndices[:4])
			}
		}
	}
}

// TestClipJointNames: clip.npz carries the 52 slot names, in order, and a clip whose names
// disagree is refused with an error naming the key.
func TestClipJointNames(t *testing.T) {
	root := officialRoot(t)
	d, err := data.OpenDataset(root)
	if err != nil {
		t.Fatal(err)
	}
	c, err := data.LoadClip(d.Episodes[0], data.Episode64{T: 8}, data.LoadOptions{SkipVideo: true})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "c.npz")
	if err := c.WriteNPZ(path); err != nil {
		t.Fatal(err)
	}
	z, err := npy.OpenNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := z.Get("joint_names")
	z.Close()
	if err != nil {
		t.Fatal(err)
	}
	names, err := a.Strings()
	if err != nil || len(names) != data.NumJoints || len(a.Shape) != 1 {
		t.Fatalf("joint_names %v shape %v: %v", names, a.Shape, err)
	}
	for j, n := range names {
		if n != data.JointNames[j] {
			t.Fatalf("joint_names[%d] = %q, want %q", j, n, data.JointNames[j])
		}
	}
	r, err := data.Inspect(path, data.InspectOptions{})
	if err != nil || len(r.JointNames) != data.NumJoints {
		t.Fatalf("inspect joint names %v: %v", r, err)
	}
	// Rewrite the file with two names swapped: refused.
	sw := append([]string(nil), data.JointNames[:]...)
	sw[0], sw[1] = sw[1], sw[0]
	rewriteKey(t, path, "joint_names", npy.FromStrings(sw))
	if _, err := data.ReadClipNPZ(path); err == nil || !strings.Contains(err.Error(), "joint_names[0]") {
		t.Errorf("swapped joint names: err = %v", err)
	}
}

// rewriteKey replaces one array of an .npz.
func rewriteKey(t *testing.T, path, key string, a *npy.Array) {
	t.Helper()
	z, err := npy.OpenNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	w := npy.NewNPZWriter()
	for _, k := range z.Keys() {
		v, err := z.Get(k)
		if err != nil {
			t.Fatal(err)
		}
		w.Add(k, v)
	}
	z.Close()
	w.Add(key, a)
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

// TestInspectEgoExoSkippedFrames: data inspect says which frames the loader skipped.
func TestInspectEgoExoSkippedFrames(t *testing.T) {
	root := officialRoot(t)
	r, err := data.Inspect(root, data.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.JointNames) != data.NumJoints || r.Episodes != 2 {
		t.Fatalf("report: %d episodes, %d joint names", r.Episodes, len(r.JointNames))
	}
	found := false
	for _, er := range r.PerEpisode {
		if er.ID == egoexofix.UIDCurrent || strings.Contains(er.ID, egoexofix.UIDCurrent) {
			found = true
			if er.SkippedFrames["no_ego_extrinsic"] != 1 || er.SkippedFrames["empty_annotation3d"] != 1 {
				t.Errorf("skipped frames %v", er.SkippedFrames)
			}
		}
	}
	if !found {
		t.Errorf("take %s not in the report: %+v", egoexofix.UIDCurrent, r.PerEpisode)
	}
}
