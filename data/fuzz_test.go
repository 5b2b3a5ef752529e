package data_test

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/thinkjepa/thinkjepa/data"
	"github.com/thinkjepa/thinkjepa/data/egoexofix"
	"github.com/thinkjepa/thinkjepa/data/h5"
	"github.com/thinkjepa/thinkjepa/internal/fuzzutil"
)

// egoExoFuzzFiles are the user files of the official-layout fixture a fuzz input replaces.
var egoExoFuzzFiles = []string{
	"takes.json",
	"annotations/splits.json",
	"annotations/ego_pose/train/hand/annotation/" + egoexofix.UIDCurrent + ".json",
	"annotations/ego_pose/train/hand/automatic/" + egoexofix.UIDCurrent + ".json",
	"annotations/ego_pose/train/camera_pose/" + egoexofix.UIDCurrent + ".json",
	"annotations/ego_pose/hand/camera_pose/" + egoexofix.UIDOld + ".json",
	"annotations/ego_pose/hand/annotation/" + egoexofix.UIDOld + ".json",
}

// FuzzEgoExoFiles: any one Ego-Exo4D JSON file (takes.json, splits, hand annotations in
// either kind, camera poses in either layout) replaced by arbitrary bytes never panics
// listing or clip loading (check on and off), and every clip returned is internally
// consistent. (Inspect goes through the same loader; FuzzEgoExoAnnJSON and
// FuzzEgoExoCamPoseJSON fuzz the per-file readers faster.)
func FuzzEgoExoFiles(f *testing.F) {
	root := f.TempDir()
	if err := egoexofix.Write(root); err != nil {
		f.Fatal(err)
	}
	orig := make([][]byte, len(egoExoFuzzFiles))
	for i, p := range egoExoFuzzFiles {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			f.Fatal(err)
		}
		orig[i] = b
		f.Add(uint8(i), b)
	}
	f.Add(uint8(4), []byte(`{"-1": {"aria02": {"camera_intrinsics": [[1,0,0],[0,1,0],[0,0,1]], "camera_extrinsics": [[1,0,0],[0,1,0]]}}}`))
	f.Add(uint8(4), []byte(`{"99999999999999999999": {"aria02": {"camera_intrinsics": [[1,0,0]], "camera_extrinsics": [[1,0,0,0],[0,1,0,0],[0,0,1,0,7]]}}}`))
	f.Add(uint8(5), []byte(`{"aria01": {"camera_intrinsics": [[1e308,0,0],[0,1,0],[0,0,1]], "camera_extrinsics": {"0": [[1,2,3,4],[5,6,7,8],[9,10,11,12]], "x": []}}}`))
	f.Add(uint8(2), []byte(`{"0": [], "2": [{"annotation3D": {"right_wrist": {"x": 1, "y": 2, "z": 3, "num_views_for_3d": 1e400}}}], "4": {"annotation3D": null}}`))
	f.Add(uint8(3), []byte(`{"0": [{"annotation3D": {"right_wrist": {"x": 0, "y": 0, "z": 0}, "right_thumb_1": {"x": 0, "y": 0, "z": 0}}}]}`))
	f.Add(uint8(0), []byte(`[{"take_uid": "`+egoexofix.UIDCurrent+`", "root_dir": "../../../../etc", "capture": {"cameras": [{"cam_id": "", "is_ego": true}]}, "frame_aligned_videos": {"": {"rgb": 7}}}]`))
	f.Add(uint8(1), []byte(`{"split_to_take_uids": {"TRAIN": ["`+egoexofix.UIDCurrent+`", null]}, "take_uid_to_split": {"x": "dev"}}`))
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		k := int(which) % len(egoExoFuzzFiles)
		p := filepath.Join(root, egoExoFuzzFiles[k])
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(p, orig[k], 0o644)
		for _, auto := range []bool{false, true} {
			d, err := data.OpenDatasetWith(root, data.DatasetOptions{EgoExo: data.EgoExoOptions{Automatic: auto}})
			if err != nil {
				continue
			}
			for _, ep := range d.Episodes {
				c, err := data.LoadClip(ep, data.Episode64{T: 8}, data.LoadOptions{SkipVideo: true, NoJointCheck: auto})
				if err != nil {
					continue
				}
				if err := c.Validate(); err != nil {
					t.Fatalf("LoadClip returned an inconsistent clip: %v", err)
				}
			}
		}
	})
}

// FuzzManifest: any bytes as a split manifest never panic ReadManifest or OpenDataset.
func FuzzManifest(f *testing.F) {
	f.Add([]byte(`{"dataset": "egodex", "root": ".", "sampler": "episode64", "episodes": [{"id": "part1/t/0", "path": "part1/t/0.hdf5", "task": "t", "split": "train"}]}`))
	f.Add([]byte(`{"dataset": "egoexo4d", "root": "/abs", "hand_annotations": "automatic", "episodes": [{"id": "u", "path": "a.json", "camera_pose": "c.json", "ego_cam": "aria01"}]}`))
	f.Add([]byte(`{"dataset": "egodex", "episodes": []}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "split.json")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if m, err := data.ReadManifest(p); err == nil {
			for _, e := range m.Episodes {
				if e.ID == "" || e.Path == "" {
					t.Fatalf("accepted an episode without id or path: %+v", e)
				}
			}
		}
		if d, err := data.OpenDataset(p); err == nil && len(d.Episodes) > 0 {
			d.Find(d.Episodes[0].ID)
		}
	})
}

// FuzzClipNPZ: a clip .npz with any one member replaced by arbitrary .npy bytes (or one
// added) never panics ReadClipNPZ or inspect, and a clip it returns is consistent.
func FuzzClipNPZ(f *testing.F) {
	root := f.TempDir()
	if err := egoexofix.Write(root); err != nil {
		f.Fatal(err)
	}
	d, err := data.OpenDataset(root)
	if err != nil {
		f.Fatal(err)
	}
	c, err := data.LoadClip(d.Episodes[0], data.Episode64{T: 4}, data.LoadOptions{SkipVideo: true})
	if err != nil {
		f.Fatal(err)
	}
	c.H, c.W, c.Frames = 2, 3, make([]uint8, 4*2*3*3) // a few pixels, so frames is a real array
	seed := filepath.Join(root, "seed.npz")
	if err := c.WriteNPZ(seed); err != nil {
		f.Fatal(err)
	}
	a, err := fuzzutil.ReadArchive(seed)
	if err != nil {
		f.Fatal(err)
	}
	a.Seeds(func(which int, b []byte) { f.Add(uint8(which), b) })
	p := filepath.Join(root, "f.npz")
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		if err := fuzzutil.WriteTemp(p, a.With(int(which), b)); err != nil {
			t.Fatal(err)
		}
		if c, err := data.ReadClipNPZ(p); err == nil {
			if err := c.Validate(); err != nil {
				t.Fatalf("ReadClipNPZ returned an inconsistent clip: %v", err)
			}
		}
		data.Inspect(p, data.InspectOptions{})
	})
}

// FuzzEgoDexFile: EgoDex episode files (made by libhdf5) with one hand joint's dataset
// altered — wrong shape, a declared size with no storage, a non-finite value, missing,
// an extra row — or the confidences altered, with arbitrary instruction attributes, never
// panic ReadEgoDexFile, clip loading or inspect.
func FuzzEgoDexFile(f *testing.F) {
	f.Add(uint8(8), uint8(0), uint8(0), false, false, "reversible", "pick", "1", float32(0))
	f.Add(uint8(8), uint8(24), uint8(2), false, false, "", "", "", float32(0))
	f.Add(uint8(3), uint8(50), uint8(3), true, false, "irreversible", "wipe", "2", float32(math.NaN()))
	f.Add(uint8(5), uint8(10), uint8(6), false, true, "x", "\xff\xfe", "", float32(math.Inf(1)))
	f.Add(uint8(1), uint8(51), uint8(1), false, false, "", "", "", float32(1e30))
	dir := f.TempDir()
	run := 0
	f.Fuzz(func(t *testing.T, n, joint, mode uint8, f64, noConf bool, llmType, desc, which string, val float32) {
		run++
		task := filepath.Join(dir, "part1", "task")
		p := filepath.Join(task, "0.hdf5")
		os.MkdirAll(task, 0o755)
		os.Remove(p)
		N := 1 + int(n)%24
		w, err := h5.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		w.Float64 = f64
		eye := func(rows int) []float32 {
			v := make([]float32, rows*16)
			for r := 0; r < rows; r++ {
				for i := 0; i < 4; i++ {
					v[r*16+i*5] = 1
				}
				v[r*16+3] = float32(r) * 0.01
			}
			return v
		}
		w.WriteFloat32("/transforms/camera", eye(N), N, 4, 4)
		alt := data.JointNames[int(joint)%data.NumJoints]
		for _, name := range data.JointNames {
			ds := "/transforms/" + name
			if name != alt {
				w.WriteFloat32(ds, eye(N), N, 4, 4)
				continue
			}
			switch mode % 7 {
			case 0:
				w.WriteFloat32(ds, eye(N), N, 4, 4)
			case 1:
				w.WriteFloat32(ds, eye(N)[:N*12], N, 3, 4)
			case 2:
				w.CreateUnwritten(ds, 1000000000, 4, 4)
			case 3:
				v := eye(N)
				v[len(v)/2] = val
				w.WriteFloat32(ds, v, N, 4, 4)
			case 4: // missing
			case 5:
				w.WriteFloat32(ds, eye(N+1), N+1, 4, 4)
			case 6:
				w.WriteFloat32(ds, eye(N), N*16)
			}
		}
		if !noConf {
			for j, name := range data.JointNames {
				c := make([]float32, N)
				for i := range c {
					c[i] = 0.5
				}
				if j == int(joint)%data.NumJoints && mode%7 == 3 {
					c[0] = val
				}
				if j == int(joint)%data.NumJoints && mode%7 == 6 {
					w.WriteFloat32("/confidences/"+name, c[:N-1], N-1)
					continue
				}
				w.WriteFloat32("/confidences/"+name, c, N)
			}
		}
		w.StringAttr("llm_type", llmType, false)
		w.StringAttr("llm_description", desc, true)
		w.StringAttr("which_llm_description", which, false)
		if err := w.Close(); err != nil {
			return
		}
		if e, err := data.ReadEgoDexFile(p); err == nil {
			if len(e.XYZ) != e.N*data.NumJoints*3 || len(e.Conf) != e.N*data.NumJoints {
				t.Fatalf("N=%d with %d xyz and %d conf values", e.N, len(e.XYZ), len(e.Conf))
			}
		}
		data.LoadClip(data.EpisodeFromPath(p), data.Episode64{T: 4}, data.LoadOptions{SkipVideo: true})
		data.Inspect(p, data.InspectOptions{})
	})
}

// FuzzEgoExoSplitCSV: the split CSV (read when annotations/splits.json is absent) as
// arbitrary bytes never panics listing.
func FuzzEgoExoSplitCSV(f *testing.F) {
	root := f.TempDir()
	if err := egoexofix.Write(root); err != nil {
		f.Fatal(err)
	}
	if err := os.Remove(filepath.Join(root, "annotations", "splits.json")); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("take_uid,take_name,split,scenario_name\n" + egoexofix.UIDCurrent + ",x,TRAIN,Cooking\n" + egoexofix.UIDOld + ",y,VAL,Bike Repair\n"))
	f.Add([]byte("split,take_uid\nTEST\n\"unterminated,\n"))
	f.Add([]byte("take_uid\n"))
	p := filepath.Join(root, "annotations", "egoexo_split_latest_train_val_test.csv")
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if d, err := data.OpenDataset(root); err == nil {
			for _, ep := range d.Episodes {
				if ep.Split != "train" && ep.Split != "val" && ep.Split != "test" {
					t.Fatalf("take %s in split %q", ep.ID, ep.Split)
				}
			}
		}
	})
}
