package data

import (
	"fmt"
	"os"

	"github.com/thinkjepa/thinkjepa/internal/npy"
)

// Clip is one training/evaluation sample: T frames (past = first Past) with the 52 hand
// joints in world and per-frame camera coordinates (data-spec §3.2).
type Clip struct {
	T, H, W                       int       // frames, height, width (default 64, 256, 256)
	Past                          int       // number of observed frames (T/2)
	Frames                        []uint8   // [T][H][W][3] RGB
	XYZWorld                      []float32 // [T][52][3] metres, world (ARKit) frame
	XYZCam                        []float32 // [T][52][3] each frame's joints in its own camera frame (OpenCV convention)
	CamExt                        []float32 // [T][4][4] world←camera
	Conf                          []float32 // [T][52]
	Valid                         []bool    // [T][52]
	FrameIndices                  []int     // [T] source frame indices
	Instruction                   string
	Dataset, Split, Task, Episode string
	Intrinsics                    [9]float32 // K scaled to the W×H frames

	// Report of problems met while building the clip (e.g. video shorter than poses);
	// empty when clean. Not stored in the NPZ arrays beyond the "warnings" key.
	Warnings []string
	// SkippedFrames counts source frames left out of the timeline, by reason (Ego-Exo4D:
	// "no_ego_extrinsic", "empty_annotation3d"); not stored in the NPZ.
	SkippedFrames map[string]int
	// SourceFrames is the length of the timeline FrameIndices index (EgoDex: the
	// episode's frames); 0 when unknown. Not stored in the NPZ.
	SourceFrames int
}

// Validate checks the internal consistency of the slices against T, H, W.
func (c *Clip) Validate() error {
	chk := func(name string, got, want int) error {
		if got != want {
			return fmt.Errorf("clip %s: field %s has %d values, expected %d", c.Episode, name, got, want)
		}
		return nil
	}
	for _, e := range []error{
		chk("frames", len(c.Frames), c.T*c.H*c.W*3),
		chk("xyz_world", len(c.XYZWorld), c.T*NumJoints*3),
		chk("xyz_cam", len(c.XYZCam), c.T*NumJoints*3),
		chk("cam_ext", len(c.CamExt), c.T*16),
		chk("conf", len(c.Conf), c.T*NumJoints),
		chk("valid", len(c.Valid), c.T*NumJoints),
		chk("frame_indices", len(c.FrameIndices), c.T),
	} {
		if e != nil {
			return e
		}
	}
	if c.Past <= 0 || c.Past >= c.T {
		return fmt.Errorf("clip %s: past=%d, expected 0<past<T=%d", c.Episode, c.Past, c.T)
	}
	return nil
}

// WriteNPZ writes the clip atomically with the keys of the contract.
func (c *Clip) WriteNPZ(path string) error {
	if err := c.Validate(); err != nil {
		return err
	}
	w := npy.NewNPZWriter()
	w.Add("frames", npy.FromUint8(c.Frames, c.T, c.H, c.W, 3))
	w.Add("xyz_world", npy.FromFloat32(c.XYZWorld, c.T, NumJoints, 3))
	w.Add("xyz_cam", npy.FromFloat32(c.XYZCam, c.T, NumJoints, 3))
	w.Add("cam_ext", npy.FromFloat32(c.CamExt, c.T, 4, 4))
	w.Add("conf", npy.FromFloat32(c.Conf, c.T, NumJoints))
	w.Add("valid", npy.FromBool(c.Valid, c.T, NumJoints))
	idx := make([]int64, c.T)
	for i, v := range c.FrameIndices {
		idx[i] = int64(v)
	}
	w.Add("frame_indices", npy.FromInt64(idx, c.T))
	w.Add("past", npy.FromInt64([]int64{int64(c.Past)}))
	// A fixed member order (not a map's): the same clip is the same bytes, so a rerun after
	// a kill can be checked byte for byte.
	for _, kv := range [][2]string{{"instruction", c.Instruction}, {"dataset", c.Dataset}, {"split", c.Split}, {"task", c.Task}, {"episode", c.Episode}} {
		w.Add(kv[0], npy.FromString(kv[1]))
	}
	w.Add("intrinsics", npy.FromFloat32(c.Intrinsics[:], 3, 3))
	// The slot order travels with the data so a reader never has to guess it.
	w.Add("joint_names", npy.FromStrings(JointNames[:]))
	warn := ""
	for i, s := range c.Warnings {
		if i > 0 {
			warn += "\n"
		}
		warn += s
	}
	w.Add("warnings", npy.FromString(warn))
	if err := w.WriteFile(path); err != nil {
		return fmt.Errorf("write clip %s: %w", path, err)
	}
	return nil
}

// ReadClipNPZ reads a clip written by WriteNPZ (or by any tool using the same keys).
func ReadClipNPZ(path string) (*Clip, error) {
	if _, err := os.Stat(path); err != nil { // "no such file", not "not a zip archive"
		return nil, fmt.Errorf("read clip: %w", err)
	}
	z, err := npy.OpenNPZ(path)
	if err != nil {
		return nil, fmt.Errorf("read clip: %w", err)
	}
	defer z.Close()
	// Errors from z (Get, Float32s) already name the file and the key.
	c := &Clip{}
	fa, err := z.Get("frames")
	if err != nil {
		return nil, fmt.Errorf("read clip: %w", err)
	}
	if len(fa.Shape) != 4 || fa.Shape[3] != 3 {
		return nil, fmt.Errorf("%s: key frames has shape %v, expected [T,H,W,3]", path, fa.Shape)
	}
	c.T, c.H, c.W = fa.Shape[0], fa.Shape[1], fa.Shape[2]
	if c.Frames, err = fa.Uint8s(); err != nil {
		return nil, fmt.Errorf("%s: key frames: %w", path, err)
	}
	f32 := func(key string, shape ...int) []float32 {
		if err != nil {
			return nil
		}
		var v []float32
		v, _, err = z.Float32s(key, shape...)
		return v
	}
	c.XYZWorld = f32("xyz_world", c.T, NumJoints, 3)
	c.XYZCam = f32("xyz_cam", c.T, NumJoints, 3)
	c.CamExt = f32("cam_ext", c.T, 4, 4)
	c.Conf = f32("conf", c.T, NumJoints)
	k := f32("intrinsics", 3, 3)
	if err != nil {
		return nil, fmt.Errorf("read clip: %w", err)
	}
	copy(c.Intrinsics[:], k)
	va, err := z.Get("valid")
	if err != nil {
		return nil, fmt.Errorf("read clip: %w", err)
	}
	if err := npy.CheckShape(va.Shape, []int{c.T, NumJoints}); err != nil {
		return nil, fmt.Errorf("%s: key valid: %w", path, err)
	}
	vb, err := va.Uint8s()
	if err != nil {
		return nil, fmt.Errorf("%s: key valid: %w", path, err)
	}
	c.Valid = make([]bool, len(vb))
	for i, b := range vb {
		c.Valid[i] = b != 0
	}
	ia, err := z.Get("frame_indices")
	if err != nil {
		return nil, fmt.Errorf("read clip: %w", err)
	}
	iv, err := ia.Int64s()
	if err != nil || len(iv) != c.T {
		return nil, fmt.Errorf("%s: key frame_indices: expected %d int64 values (%v)", path, c.T, err)
	}
	c.FrameIndices = make([]int, c.T)
	for i, v := range iv {
		c.FrameIndices[i] = int(v)
	}
	c.Past = c.T / 2
	if z.Has("past") {
		if pa, err := z.Get("past"); err == nil {
			if pv, err := pa.Int64s(); err == nil && len(pv) == 1 {
				c.Past = int(pv[0])
			}
		}
	}
	for key, dst := range map[string]*string{"instruction": &c.Instruction, "dataset": &c.Dataset, "split": &c.Split, "task": &c.Task, "episode": &c.Episode} {
		if !z.Has(key) {
			continue
		}
		a, err := z.Get(key)
		if err != nil {
			return nil, fmt.Errorf("read clip: %w", err)
		}
		if *dst, err = a.String(); err != nil {
			return nil, fmt.Errorf("%s: key %s: %w", path, key, err)
		}
	}
	// joint_names is optional (clips written before it existed); when present it must be
	// our slot order, or every joint index downstream would mean something else.
	if z.Has("joint_names") {
		a, err := z.Get("joint_names")
		if err != nil {
			return nil, fmt.Errorf("read clip: %w", err)
		}
		names, err := a.Strings()
		if err != nil {
			return nil, fmt.Errorf("%s: key joint_names: %w", path, err)
		}
		if len(names) != NumJoints {
			return nil, fmt.Errorf("%s: key joint_names has %d names, expected the %d canonical joints", path, len(names), NumJoints)
		}
		for j, n := range names {
			if n != JointNames[j] {
				return nil, fmt.Errorf("%s: key joint_names[%d] is %q, expected %q (a different joint order)", path, j, n, JointNames[j])
			}
		}
	}
	if z.Has("warnings") {
		if a, err := z.Get("warnings"); err == nil {
			if s, err := a.String(); err == nil && s != "" {
				c.Warnings = splitLines(s)
			}
		}
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}
