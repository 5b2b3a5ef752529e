package data

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"

	"github.com/thinkjepa/thinkjepa/data/h5"
)

// EgoDexFile is the pose content of one EgoDex episode HDF5 (data-spec §1.2): the 52 hand
// joints' positions, the camera pose, confidences, intrinsics and language attributes.
type EgoDexFile struct {
	Path        string
	N           int       // pose rows
	XYZ         []float32 // [N][52][3] world positions
	Cam         []float32 // [N][4][4] world←camera
	Conf        []float32 // [N][52]
	HasConf     bool      // false when the /confidences group is absent (Conf is then all 1)
	K           [9]float32
	DType       string            // stored dtype of /transforms/camera ("f4" or "f8")
	Attrs       map[string]string // root attributes that are strings
	Joints      []string          // names under /transforms
	Warnings    []string
	Instruction string
}

// ReadEgoDexFile reads and checks one EgoDex episode file. A missing /confidences group
// is a documented skip (confidences set to 1, warning); a missing hand joint, a missing
// camera, a shape mismatch or a non-finite value is an error naming the file and field.
func ReadEgoDexFile(path string) (*EgoDexFile, error) {
	f, err := h5.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	e := &EgoDexFile{Path: path, Attrs: map[string]string{}}
	if !f.Exists("/transforms") {
		return nil, fmt.Errorf("%s: group /transforms missing, expected 68 joints + camera as N×4×4", path)
	}
	if e.Joints, err = f.Children("/transforms"); err != nil {
		return nil, err
	}
	readTF := func(name string) ([]float32, error) {
		field := "/transforms/" + name
		if !f.Exists(field) {
			return nil, fmt.Errorf("%s: dataset %s missing (joint %q not present), expected N×4×4", path, field, name)
		}
		v, shape, dt, err := f.ReadFloat32(field)
		if err != nil {
			return nil, err
		}
		if !dt.Float {
			return nil, fmt.Errorf("%s: dataset %s has stored type %s, expected float32/float64", path, field, dt)
		}
		if len(shape) != 3 || shape[1] != 4 || shape[2] != 4 {
			return nil, fmt.Errorf("%s: dataset %s has shape %v, expected [N,4,4]", path, field, shape)
		}
		if e.N == 0 && name == "camera" {
			e.N = shape[0]
			e.DType = dt.String()
		}
		if shape[0] != e.N {
			return nil, fmt.Errorf("%s: dataset %s has %d rows, expected %d (as /transforms/camera)", path, field, shape[0], e.N)
		}
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, fmt.Errorf("%s: dataset %s: non-finite value %v at frame %d, element %d; expected finite SE(3) matrices", path, field, x, i/16, i%16)
			}
		}
		return v, nil
	}
	if e.Cam, err = readTF("camera"); err != nil {
		return nil, err
	}
	if e.N == 0 {
		return nil, fmt.Errorf("%s: /transforms/camera has 0 frames", path)
	}
	e.XYZ = make([]float32, e.N*NumJoints*3)
	for j, name := range JointNames {
		tf, err := readTF(name)
		if err != nil {
			return nil, err
		}
		for t := 0; t < e.N; t++ {
			m := tf[t*16:]
			o := (t*NumJoints + j) * 3
			e.XYZ[o], e.XYZ[o+1], e.XYZ[o+2] = m[3], m[7], m[11]
		}
	}
	e.Conf = make([]float32, e.N*NumJoints)
	e.HasConf = f.Exists("/confidences")
	if !e.HasConf {
		for i := range e.Conf {
			e.Conf[i] = 1
		}
		e.warn("group /confidences missing: confidences set to 1")
	} else {
		for j, name := range JointNames {
			field := "/confidences/" + name
			if !f.Exists(field) {
				for t := 0; t < e.N; t++ {
					e.Conf[t*NumJoints+j] = 1
				}
				e.warn(fmt.Sprintf("dataset %s missing: confidence set to 1", field))
				continue
			}
			v, shape, _, err := f.ReadFloat32(field)
			if err != nil {
				return nil, err
			}
			if len(shape) != 1 || shape[0] != e.N {
				return nil, fmt.Errorf("%s: dataset %s has shape %v, expected [%d]", path, field, shape, e.N)
			}
			for t, c := range v {
				if math.IsNaN(float64(c)) || math.IsInf(float64(c), 0) {
					return nil, fmt.Errorf("%s: dataset %s: non-finite confidence at frame %d, expected a value in [0,1]", path, field, t)
				}
				e.Conf[t*NumJoints+j] = c
			}
		}
	}
	if !f.Exists("/camera/intrinsic") {
		return nil, fmt.Errorf("%s: dataset /camera/intrinsic missing, expected a 3×3 matrix", path)
	}
	k, shape, _, err := f.ReadFloat32("/camera/intrinsic")
	if err != nil {
		return nil, err
	}
	if len(k) != 9 {
		return nil, fmt.Errorf("%s: dataset /camera/intrinsic has shape %v, expected [3,3]", path, shape)
	}
	copy(e.K[:], k)
	names, err := f.AttrNames("/")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		s, err := f.StringAttr("/", n)
		if err != nil {
			if errors.Is(err, h5.ErrNoAttr) {
				continue
			}
			continue // non-string attributes (e.g. lists) are not needed
		}
		e.Attrs[n] = s
	}
	e.Instruction = InstructionFromAttrs(e.Attrs)
	return e, nil
}

func (e *EgoDexFile) warn(msg string) {
	e.Warnings = append(e.Warnings, msg)
	slog.Warn("egodex: "+msg, "file", e.Path)
}

// InstructionFromAttrs applies data-spec §1.5: reversible tasks use llm_description when
// which_llm_description is "1" and llm_description2 otherwise; others use llm_description.
func InstructionFromAttrs(a map[string]string) string {
	if strings.TrimSpace(a["llm_type"]) == "reversible" && strings.TrimSpace(a["which_llm_description"]) != "1" {
		if d := a["llm_description2"]; d != "" {
			return d
		}
	}
	return a["llm_description"]
}

// EgoDexVideoPath is the MP4 paired with an EgoDex HDF5 file (same stem).
func EgoDexVideoPath(h5path string) string {
	return strings.TrimSuffix(h5path, filepath.Ext(h5path)) + ".mp4"
}

func openH5(path string) (*h5.File, error) { return h5.Open(path) }
