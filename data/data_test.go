package data_test

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/thinkjepa/thinkjepa/data"
	"github.com/thinkjepa/thinkjepa/data/h5"
	"github.com/thinkjepa/thinkjepa/data/synth"
)

var (
	synthOnce sync.Once
	synthDir  string
	synthErr  error
)

// synthSet writes a small synthetic set once per test binary.
func synthSet(t testing.TB) string {
	t.Helper()
	synthOnce.Do(func() {
		synthDir, synthErr = os.MkdirTemp("", "thinkjepa-synth-")
		if synthErr == nil {
			synthErr = synth.Write(synthDir, synth.Options{Episodes: 9, EgoExo: 3, Seed: 7, TestEvery: 3})
		}
	})
	if synthErr != nil {
		t.Fatal(synthErr)
	}
	return synthDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if synthDir != "" {
		os.RemoveAll(synthDir)
	}
	os.Exit(code)
}

func TestJointNames(t *testing.T) {
	if data.JointNames[0] != "rightLittleFingerMetacarpal" || data.JointNames[24] != "rightHand" || data.JointNames[25] != "rightForearm" ||
		data.JointNames[26] != "leftLittleFingerMetacarpal" || data.JointNames[50] != "leftHand" || data.JointNames[51] != "leftForearm" ||
		data.JointNames[10] != "rightMiddleFingerMetacarpal" || data.JointNames[36] != "leftMiddleFingerMetacarpal" || data.JointNames[23] != "rightThumbTip" {
		t.Errorf("canonical order wrong: %v", data.JointNames)
	}
	seen := map[string]bool{}
	for _, n := range data.SkeletonJoints68 {
		seen[n] = true
	}
	if len(data.SkeletonJoints68) != 68 || len(seen) != 68 {
		t.Errorf("68 joints expected, got %d (%d unique)", len(data.SkeletonJoints68), len(seen))
	}
	for _, n := range data.JointNames {
		if !seen[n] {
			t.Errorf("hand joint %s not among the 68", n)
		}
	}
}

func TestSamplers(t *testing.T) {
	idx, past, err := data.Episode64{}.Indices(127)
	if err != nil || past != 32 || len(idx) != 64 {
		t.Fatal(idx, past, err)
	}
	for i, v := range idx {
		if v != 2*i { // linspace(0,126,64) = 2i exactly
			t.Fatalf("idx[%d]=%d", i, v)
		}
	}
	// NumPy's rule, not the exact floor (internal/linspace checks it against NumPy for
	// every length up to 20000): np.linspace(0, 153, 64).astype(np.int64)[21] = 50, 51 exactly.
	if idx, _, _ := (data.Episode64{}).Indices(154); idx[21] != 50 || idx[42] != 101 || idx[49] != 118 || idx[63] != 153 {
		t.Errorf("episode64(154) = %v, want numpy's (idx[21] 50, [42] 101, [49] 118, [63] 153)", idx)
	}
	w, past, err := data.Window{Stride: 2, Start: 3}.Indices(200)
	if err != nil || w[0] != 3 || w[63] != 3+126 || past != 32 {
		t.Errorf("window: %v %d %v", w, past, err)
	}
	if _, _, err := (data.Window{Stride: 4}).Indices(100); err == nil {
		t.Error("window past the end: no error")
	}
	if _, err := data.ParseSampler("bogus", 64, 1, 0); err == nil {
		t.Error("unknown sampler accepted")
	}
}

func TestInstructionRule(t *testing.T) {
	for _, tc := range []struct {
		a    map[string]string
		want string
	}{
		{map[string]string{"llm_type": "reversible", "which_llm_description": "1", "llm_description": "A", "llm_description2": "B"}, "A"},
		{map[string]string{"llm_type": "reversible", "which_llm_description": "2", "llm_description": "A", "llm_description2": "B"}, "B"},
		{map[string]string{"llm_type": "irreversible", "which_llm_description": "2", "llm_description": "A", "llm_description2": "B"}, "A"},
		{map[string]string{"llm_description": "A"}, "A"},
	} {
		if got := data.InstructionFromAttrs(tc.a); got != tc.want {
			t.Errorf("%v → %q, want %q", tc.a, got, tc.want)
		}
	}
}

// markerHits projects a joint with the clip's intrinsics and counts frames where the
// rendered marker colour (synth draws wrists and fingertips as (200,60,90) discs) is found
// near the projection.
func markerHits(c *data.Clip, joint int) (hits, inside int) {
	K := c.Intrinsics
	for t := 0; t < c.T; t++ {
		p := c.XYZCam[(t*data.NumJoints+joint)*3:]
		if p[2] <= 0 {
			continue
		}
		u := float64(K[0]*p[0]/p[2] + K[2])
		v := float64(K[4]*p[1]/p[2] + K[5])
		if u < 3 || v < 3 || u > float64(c.W-4) || v > float64(c.H-4) {
			continue
		}
		inside++
		found := false
		for dy := -2; dy <= 2 && !found; dy++ {
			for dx := -2; dx <= 2 && !found; dx++ {
				o := ((t*c.H+int(v)+dy)*c.W + int(u) + dx) * 3
				r, g, b := int(c.Frames[o]), int(c.Frames[o+1]), int(c.Frames[o+2])
				if abs(r-200) < 45 && abs(g-60) < 45 && abs(b-90) < 45 {
					found = true
				}
			}
		}
		if found {
			hits++
		}
	}
	return
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestSynthEgoDexReadBack(t *testing.T) {
	dir := synthSet(t)
	d, err := data.OpenDataset(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Episodes) != 9 || len(d.Skipped) != 0 {
		t.Fatalf("%d episodes, skipped %v", len(d.Episodes), d.Skipped)
	}
	for _, ep := range d.Episodes[:3] {
		f, err := data.ReadEgoDexFile(ep.Path)
		if err != nil {
			t.Fatal(err)
		}
		if f.N < 120 || f.N > 230 || len(f.Joints) != 69 || !f.HasConf || f.DType != "f4" || f.Instruction == "" {
			t.Errorf("%s: N=%d joints=%d conf=%v dtype=%s instr=%q", ep.ID, f.N, len(f.Joints), f.HasConf, f.DType, f.Instruction)
		}
		if !strings.Contains(f.Instruction, "tray") && !strings.Contains(f.Instruction, "side of the table") {
			t.Errorf("instruction %q names no goal", f.Instruction)
		}
		for _, crop := range []bool{false, true} {
			c, err := data.LoadClip(ep, data.Episode64{}, data.LoadOptions{Video: data.VideoOptions{Crop: crop}})
			if err != nil {
				t.Fatal(err)
			}
			if c.T != 64 || c.Past != 32 || c.W != 256 || c.H != 256 || len(c.Warnings) != 0 || c.FrameIndices[63] != f.N-1 {
				t.Fatalf("clip shape T=%d past=%d %dx%d warnings=%v last=%d", c.T, c.Past, c.W, c.H, c.Warnings, c.FrameIndices[63])
			}
			// Projection of camera-frame joints lands on the rendered markers: checks
			// world→camera, the OpenCV convention, K scaling and frame/pose alignment.
			for _, j := range []int{data.RightWrist, data.LeftWrist} {
				hits, inside := markerHits(c, j)
				if inside < 20 || float64(hits) < 0.8*float64(inside) {
					t.Errorf("%s crop=%v joint %s: marker found in %d of %d frames", ep.ID, crop, data.JointNames[j], hits, inside)
				}
			}
		}
	}
}

func TestClipNPZRoundTrip(t *testing.T) {
	dir := synthSet(t)
	d, _ := data.OpenDataset(dir)
	c, err := data.LoadClip(d.Episodes[0], data.Window{Stride: 1, Start: 5}, data.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "c.npz")
	if err := c.WriteNPZ(p); err != nil {
		t.Fatal(err)
	}
	r, err := data.ReadClipNPZ(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Frames, c.Frames) || r.Instruction != c.Instruction || r.Episode != c.Episode || r.Intrinsics != c.Intrinsics || r.FrameIndices[0] != 5 {
		t.Error("round trip differs")
	}
	for i := range c.XYZCam {
		if r.XYZCam[i] != c.XYZCam[i] || r.XYZWorld[i] != c.XYZWorld[i] {
			t.Fatal("xyz differ")
		}
	}
	// numpy reads it with the documented keys, shapes and dtypes.
	if py, err := exec.LookPath("python3"); err == nil {
		script := `import numpy as np,sys
z=np.load(sys.argv[1])
assert z['frames'].shape==(64,256,256,3) and z['frames'].dtype==np.uint8
assert z['xyz_world'].shape==(64,52,3) and z['xyz_world'].dtype==np.float32
assert z['cam_ext'].shape==(64,4,4) and z['valid'].dtype==np.bool_ and z['frame_indices'].dtype==np.int64
assert z['intrinsics'].shape==(3,3)
R=z['cam_ext'][:,:3,:3]; t=z['cam_ext'][:,:3,3]
cam=np.einsum('tji,tkj->tki',R,z['xyz_world']-t[:,None,:])
assert np.abs(cam-z['xyz_cam']).max()<1e-4, np.abs(cam-z['xyz_cam']).max()
print(str(z['instruction']))`
		out, err := exec.Command(py, "-c", script, p).CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "No module named") {
				t.Log("numpy absent: independent check skipped")
				return
			}
			t.Fatalf("numpy check: %v\n%s", err, out)
		}
		if strings.TrimSpace(string(out)) != c.Instruction {
			t.Errorf("numpy instruction %q", out)
		}
	}
}

func TestEgoExoReader(t *testing.T) {
	dir := filepath.Join(synthSet(t), "egoexo4d")
	for _, auto := range []bool{false, true} {
		d, err := data.OpenEgoExo(dir, data.EgoExoOptions{Automatic: auto})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Episodes) != 3 {
			t.Fatalf("auto=%v: %d takes, skipped %v", auto, len(d.Episodes), d.Skipped)
		}
		splits := map[string]bool{}
		for _, ep := range d.Episodes {
			splits[ep.Split] = true
			c, err := data.LoadClip(ep, data.Episode64{}, data.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for tt := 0; tt < c.T; tt++ {
				for j := 0; j < data.NumJoints; j++ {
					v := c.Valid[tt*data.NumJoints+j]
					name := data.JointNames[j]
					if strings.HasSuffix(name, "Metacarpal") && v {
						t.Fatalf("metacarpal slot %s marked valid", name)
					}
					if (name == "rightHand" || name == "leftIndexFingerTip") && !v {
						t.Fatalf("%s invalid at t=%d", name, tt)
					}
				}
			}
			if !auto && c.FrameIndices[1]%3 != 0 {
				t.Errorf("manual annotations are every 3rd frame, got frame %d", c.FrameIndices[1])
			}
			hits, inside := markerHits(c, data.RightWrist)
			if inside < 10 || float64(hits) < 0.8*float64(inside) {
				t.Errorf("egoexo %s: wrist marker found in %d of %d frames", ep.ID, hits, inside)
			}
		}
		if len(splits) != 3 {
			t.Errorf("splits %v", splits)
		}
	}
}

func TestManifestAndSplits(t *testing.T) {
	dir := synthSet(t)
	d, _ := data.OpenDataset(dir)
	m, err := data.SplitGrouped(d, data.GroupedOptions{Seed: 42, TrainRatio: 0.6, Sampler: "episode64"})
	if err != nil {
		t.Fatal(err)
	}
	taskSplit := map[string]string{}
	for _, e := range m.Episodes {
		if s, ok := taskSplit[e.Task]; ok && s != e.Split {
			t.Fatalf("task %s in both %s and %s", e.Task, s, e.Split)
		}
		taskSplit[e.Task] = e.Split
	}
	p := filepath.Join(t.TempDir(), "m.json")
	if err := data.WriteManifest(p, m); err != nil {
		t.Fatal(err)
	}
	d2, err := data.OpenDataset(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(d2.Episodes) != 9 || d2.Episodes[0].Path != m.Episodes[0].Path {
		t.Fatalf("manifest round trip: %d, %s vs %s", len(d2.Episodes), d2.Episodes[0].Path, m.Episodes[0].Path)
	}
	if _, err := data.LoadClip(d2.Episodes[0], data.Episode64{}, data.LoadOptions{SkipVideo: true}); err != nil {
		t.Fatal(err)
	}
	m2, _ := data.SplitGrouped(d, data.GroupedOptions{Seed: 42, TrainRatio: 0.6})
	for i := range m.Episodes {
		if m.Episodes[i].Split != m2.Episodes[i].Split {
			t.Fatal("grouped split not deterministic")
		}
	}
	sub, err := data.SplitGrouped(d, data.GroupedOptions{Seed: 1, TrainRatio: 0.5, Subset: 6})
	if err != nil || len(sub.Episodes) != 6 {
		t.Fatalf("subset: %v %v", err, sub)
	}
	per := map[string]int{}
	for _, e := range sub.Episodes {
		per[e.Task]++
	}
	for task, n := range per {
		if n != 2 {
			t.Errorf("round-robin subset: task %s has %d", task, n)
		}
	}
	off, err := data.SplitOfficial(d, "episode64")
	if err != nil {
		t.Fatal(err)
	}
	if got := off.Splits(); len(got) != 2 || got[0] != "test" || got[1] != "train" {
		t.Errorf("official splits %v", got)
	}
}

// writeEpisode writes an EgoDex-layout HDF5 with the given modifications, copying poses
// from a synthetic episode.
func writeEpisode(t *testing.T, src, dst string, skipConf bool, dropJoint string, nanJoint string) {
	t.Helper()
	f, err := h5.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := h5.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, j := range append(append([]string(nil), data.SkeletonJoints68...), "camera") {
		v, shape, _, err := f.ReadFloat32("/transforms/" + j)
		if err != nil {
			t.Fatal(err)
		}
		if j == dropJoint {
			continue
		}
		if j == nanJoint {
			v[16*3+7] = float32(math.NaN())
		}
		w.WriteFloat32("/transforms/"+j, v, shape...)
		if !skipConf && j != "camera" {
			c, shape, _, _ := f.ReadFloat32("/confidences/" + j)
			w.WriteFloat32("/confidences/"+j, c, shape...)
		}
	}
	k, _, _, _ := f.ReadFloat32("/camera/intrinsic")
	w.WriteFloat32("/camera/intrinsic", k, 3, 3)
	w.StringAttr("llm_description", "test instruction", false)
}

func TestBadInputs(t *testing.T) {
	dir := synthSet(t)
	d, _ := data.OpenDataset(dir)
	src := d.Episodes[0]
	bad := t.TempDir()
	task := filepath.Join(bad, "part9", "task")
	os.MkdirAll(task, 0o755)
	video, _ := os.ReadFile(src.Video)
	put := func(k string) string {
		os.WriteFile(filepath.Join(task, k+".mp4"), video, 0o644)
		return filepath.Join(task, k+".hdf5")
	}

	t.Run("non-HDF5", func(t *testing.T) {
		p := put("0")
		os.WriteFile(p, []byte("<html>not hdf5</html>"), 0o644)
		_, err := data.ReadEgoDexFile(p)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "HDF5") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		p := put("1")
		b, _ := os.ReadFile(src.Path)
		os.WriteFile(p, b[:len(b)/3], 0o644)
		_, err := data.ReadEgoDexFile(p)
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("missing confidences", func(t *testing.T) {
		p := put("2")
		writeEpisode(t, src.Path, p, true, "", "")
		c, err := data.LoadClip(data.EpisodeFromPath(p), data.Episode64{}, data.LoadOptions{SkipVideo: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range c.Conf {
			if v != 1 {
				t.Fatal("confidence not set to 1")
			}
		}
		if len(c.Warnings) == 0 || !strings.Contains(c.Warnings[0], "/confidences") {
			t.Errorf("no warning: %v", c.Warnings)
		}
	})
	t.Run("missing joint", func(t *testing.T) {
		p := put("3")
		writeEpisode(t, src.Path, p, false, "leftThumbTip", "")
		_, err := data.ReadEgoDexFile(p)
		if err == nil || !strings.Contains(err.Error(), "/transforms/leftThumbTip") {
			t.Errorf("err = %v", err)
		}
		r, err := data.Inspect(p, data.InspectOptions{})
		if err != nil || len(r.Problems) == 0 || r.JointsPresent != 51 {
			t.Errorf("inspect: %v %+v", err, r)
		}
	})
	t.Run("NaN transform", func(t *testing.T) {
		p := put("4")
		writeEpisode(t, src.Path, p, false, "", "rightHand")
		_, err := data.ReadEgoDexFile(p)
		if err == nil || !strings.Contains(err.Error(), "/transforms/rightHand") || !strings.Contains(err.Error(), "non-finite") || !strings.Contains(err.Error(), "frame 3") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("short video", func(t *testing.T) {
		p := put("5")
		b, _ := os.ReadFile(src.Path)
		os.WriteFile(p, b, 0o644)
		short := filepath.Join(task, "5.mp4")
		out, err := exec.Command("ffmpeg", "-v", "error", "-y", "-i", src.Video, "-frames:v", "40", "-c:v", "libx264", "-preset", "ultrafast", short).CombinedOutput()
		if err != nil {
			t.Fatalf("ffmpeg: %v %s", err, out)
		}
		c, err := data.LoadClip(data.EpisodeFromPath(p), data.Episode64{}, data.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "clamped") {
			t.Fatalf("warnings %v", c.Warnings)
		}
		fs := c.H * c.W * 3
		last := c.Frames[(c.T-1)*fs:]
		for tt := 0; tt < c.T; tt++ {
			if c.FrameIndices[tt] >= 40 && !bytes.Equal(c.Frames[tt*fs:(tt+1)*fs], last) {
				t.Fatalf("frame %d (source %d) not clamped to the last video frame", tt, c.FrameIndices[tt])
			}
		}
		r, _ := data.Inspect(p, data.InspectOptions{CountVideo: true})
		if r == nil || len(r.Problems) == 0 || !strings.Contains(strings.Join(r.Problems, ";"), "video has 40 frames") {
			t.Errorf("inspect problems: %+v", r)
		}
	})
	t.Run("missing mp4", func(t *testing.T) {
		p := filepath.Join(task, "6.hdf5")
		b, _ := os.ReadFile(src.Path)
		os.WriteFile(p, b, 0o644)
		_, err := data.LoadClip(data.EpisodeFromPath(p), data.Episode64{}, data.LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), "6.mp4") {
			t.Errorf("err = %v", err)
		}
		ds, err := data.OpenDataset(bad)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, s := range ds.Skipped {
			found = found || strings.Contains(s, "6.hdf5")
		}
		if !found {
			t.Errorf("missing mp4 not in skipped: %v", ds.Skipped)
		}
	})
	t.Run("malformed JSON", func(t *testing.T) {
		p := filepath.Join(bad, "m.json")
		os.WriteFile(p, []byte(`{"dataset": "egodex", "episodes": [`), 0o644)
		if _, err := data.ReadManifest(p); err == nil || !strings.Contains(err.Error(), "malformed JSON") || !strings.Contains(err.Error(), p) {
			t.Errorf("manifest err = %v", err)
		}
		ee := filepath.Join(bad, "ee")
		os.MkdirAll(ee, 0o755)
		os.WriteFile(filepath.Join(ee, "takes.json"), []byte(`[{"take_uid": `), 0o644)
		if _, err := data.OpenDataset(ee); err == nil || !strings.Contains(err.Error(), "takes.json") {
			t.Errorf("takes.json err = %v", err)
		}
	})
	t.Run("unknown split name", func(t *testing.T) {
		m, _ := data.SplitOfficial(d, "episode64")
		if _, err := m.Select("validation"); err == nil || !strings.Contains(err.Error(), "validation") || !strings.Contains(err.Error(), "train") {
			t.Errorf("select err = %v", err)
		}
		if _, err := data.OfficialSplitName("banana"); err == nil {
			t.Error("official split banana accepted")
		}
		ee := filepath.Join(bad, "ee2")
		os.MkdirAll(filepath.Join(ee, "annotations"), 0o755)
		os.WriteFile(filepath.Join(ee, "takes.json"), []byte(`[{"take_uid":"u1","take_name":"n1"}]`), 0o644)
		os.WriteFile(filepath.Join(ee, "annotations", "splits.json"), []byte(`{"take_uid_to_split":{"u1":"holdout"}}`), 0o644)
		if _, err := data.OpenDataset(ee); err == nil || !strings.Contains(err.Error(), "holdout") || !strings.Contains(err.Error(), "splits.json") {
			t.Errorf("egoexo split err = %v", err)
		}
	})
}

func BenchmarkLoadClip(b *testing.B) {
	dir := synthSet(b)
	d, err := data.OpenDataset(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := data.LoadClip(d.Episodes[i%len(d.Episodes)], data.Episode64{}, data.LoadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "clips/s")
}

// BenchmarkLoadClipPosesOnly isolates the HDF5 part of LoadClip (no video decode).
func BenchmarkLoadClipPosesOnly(b *testing.B) {
	dir := synthSet(b)
	d, err := data.OpenDataset(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := data.LoadClip(d.Episodes[i%len(d.Episodes)], data.Episode64{}, data.LoadOptions{SkipVideo: true}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "clips/s")
}

func TestLoadBatchMatchesLoadClip(t *testing.T) {
	d, _ := data.OpenDataset(synthSet(t))
	eps := d.Episodes[:4]
	cs, err := data.LoadBatch(eps, data.Episode64{T: 16}, data.LoadOptions{Video: data.VideoOptions{W: 64, H: 64}}, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, ep := range eps {
		c, err := data.LoadClip(ep, data.Episode64{T: 16}, data.LoadOptions{Video: data.VideoOptions{W: 64, H: 64}})
		if err != nil {
			t.Fatal(err)
		}
		if cs[i].Episode != ep.ID || !bytes.Equal(cs[i].Frames, c.Frames) || cs[i].T != 16 || cs[i].W != 64 {
			t.Errorf("batch item %d differs", i)
		}
	}
	bad := append([]data.Episode{}, eps[0], data.Episode{ID: "x", Path: "/nonexistent/0.hdf5", Dataset: data.EgoDex})
	if _, err := data.LoadBatch(bad, data.Episode64{}, data.LoadOptions{}, 2); err == nil || !strings.Contains(err.Error(), "/nonexistent/0.hdf5") {
		t.Errorf("err = %v", err)
	}
}

// BenchmarkLoadBatch measures throughput with 2 clips in flight.
func BenchmarkLoadBatch(b *testing.B) {
	d, _ := data.OpenDataset(synthSet(b))
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		cs, err := data.LoadBatch(d.Episodes[:4], data.Episode64{}, data.LoadOptions{}, 2)
		if err != nil {
			b.Fatal(err)
		}
		n += len(cs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "clips/s")
}
