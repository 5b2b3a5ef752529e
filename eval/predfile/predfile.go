// Package predfile reads and writes prediction folders, the hand-off format between
// forecasting (thinkjepa forecast, the baselines) and scoring (thinkjepa eval, report).
//
// A prediction folder holds, per clip, DIR/<clip_id>.npz with the keys
//
//	pred          f4 [Tf,52,3]  predicted future joints, world frame, metres
//	gt            f4 [Tf,52,3]  true future joints (optional)
//	mask          bool [Tf,52]  validity of gt (optional; absent = all valid)
//	past          f4 [Tp,52,3]  observed world joints (optional)
//	cam_ext_last  f4 [4,4]      world←camera at the last observed frame
//	intrinsics    f4 [3,3]      pixel intrinsics K of frame_last
//	frame_last    u1 [H,W,3]    last observed RGB frame (optional, for plots)
//
// and DIR/<clip_id>.json with metadata. The JSON is written after the npz, so a clip
// counts as finished (Done) only when both exist. DIR/run.json describes the run.
package predfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/thinkjepa/thinkjepa/internal/buildinfo"
	"github.com/thinkjepa/thinkjepa/internal/fsutil"
	"github.com/thinkjepa/thinkjepa/internal/npy"
)

// NumJoints is the size of the canonical hand layout (data-spec §1.3).
const NumJoints = 52

// Meta is the per-clip JSON. Extra holds any further fields; they are written at the
// top level next to the named ones and read back into Extra.
type Meta struct {
	ClipID  string         `json:"clip_id"`
	Model   string         `json:"model"`
	Dataset string         `json:"dataset"`
	Split   string         `json:"split"`
	Task    string         `json:"task"`
	Extra   map[string]any `json:"-"`
}

var metaKeys = []string{"clip_id", "model", "dataset", "split", "task"}

// MarshalJSON flattens Extra into the object.
func (m Meta) MarshalJSON() ([]byte, error) {
	obj := map[string]any{}
	for k, v := range m.Extra {
		obj[k] = v
	}
	obj["clip_id"], obj["model"], obj["dataset"], obj["split"], obj["task"] = m.ClipID, m.Model, m.Dataset, m.Split, m.Task
	return json.Marshal(obj)
}

// UnmarshalJSON reads the named fields and keeps the rest in Extra.
func (m *Meta) UnmarshalJSON(b []byte) error {
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	str := func(k string) string { s, _ := obj[k].(string); return s }
	m.ClipID, m.Model, m.Dataset, m.Split, m.Task = str("clip_id"), str("model"), str("dataset"), str("split"), str("task")
	for _, k := range metaKeys {
		delete(obj, k)
	}
	m.Extra = nil
	if len(obj) > 0 {
		m.Extra = obj
	}
	return nil
}

// Prediction is one clip's forecast.
type Prediction struct {
	Pred       [][NumJoints][3]float32 // [Tf]
	GT         [][NumJoints][3]float32 // [Tf] or nil when unknown
	Mask       [][NumJoints]bool       // [Tf] or nil (all valid)
	Past       [][NumJoints][3]float32 // [Tp] or nil
	CamExtLast [4][4]float32           // world←camera at the last observed frame
	Intrinsics [3][3]float32
	// FrameLast is the last observed RGB frame, row-major [FrameH][FrameW][3]; nil if absent.
	FrameLast      []uint8
	FrameH, FrameW int
	Meta           Meta
}

// Run describes the whole folder (DIR/run.json).
type Run struct {
	Model    string         `json:"model"`
	Config   any            `json:"config,omitempty"`
	Seed     int64          `json:"seed"`
	Versions buildinfo.Info `json:"versions"`
	Extra    map[string]any `json:"extra,omitempty"`
}

// Validate checks shapes and finiteness so that nothing malformed is written or scored.
func (p *Prediction) Validate() error {
	if len(p.Pred) == 0 {
		return errors.New("pred is empty")
	}
	if p.GT != nil && len(p.GT) != len(p.Pred) {
		return fmt.Errorf("gt has %d steps, pred has %d", len(p.GT), len(p.Pred))
	}
	if p.Mask != nil && len(p.Mask) != len(p.Pred) {
		return fmt.Errorf("mask has %d steps, pred has %d", len(p.Mask), len(p.Pred))
	}
	if p.FrameLast != nil && (p.FrameH <= 0 || p.FrameW <= 0 || len(p.FrameLast) != p.FrameH*p.FrameW*3) {
		return fmt.Errorf("frame_last has %d bytes, expected %d×%d×3", len(p.FrameLast), p.FrameH, p.FrameW)
	}
	if t, j, ok := firstNonFinite(p.Pred); !ok {
		return fmt.Errorf("pred is not finite at step %d joint %d", t, j)
	}
	if t, j, ok := firstNonFinite(p.GT); !ok {
		return fmt.Errorf("gt is not finite at step %d joint %d", t, j)
	}
	return nil
}

func firstNonFinite(x [][NumJoints][3]float32) (int, int, bool) {
	for t := range x {
		for j := range x[t] {
			for _, v := range x[t][j] {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return t, j, false
				}
			}
		}
	}
	return 0, 0, true
}

// validID rejects clip ids that would escape the folder or clash with run.json.
func validID(id string) error {
	if id == "" || id == "run" || strings.ContainsAny(id, `/\`) || id == "." || id == ".." || strings.HasPrefix(id, ".") {
		return fmt.Errorf("invalid clip id %q", id)
	}
	return nil
}

// Write stores p as DIR/<id>.npz and DIR/<id>.json, both atomically, the JSON last.
// Meta.ClipID is set to id when empty.
func Write(dir, id string, p *Prediction) error {
	if err := validID(id); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("prediction %s: %w", id, err)
	}
	w := npy.NewNPZWriter()
	w.Add("pred", npy.FromFloat32(flatJoints(p.Pred), len(p.Pred), NumJoints, 3))
	if p.GT != nil {
		w.Add("gt", npy.FromFloat32(flatJoints(p.GT), len(p.GT), NumJoints, 3))
	}
	if p.Mask != nil {
		m := make([]bool, 0, len(p.Mask)*NumJoints)
		for _, row := range p.Mask {
			m = append(m, row[:]...)
		}
		w.Add("mask", npy.FromBool(m, len(p.Mask), NumJoints))
	}
	if p.Past != nil {
		w.Add("past", npy.FromFloat32(flatJoints(p.Past), len(p.Past), NumJoints, 3))
	}
	ext := make([]float32, 0, 16)
	for _, r := range p.CamExtLast {
		ext = append(ext, r[:]...)
	}
	w.Add("cam_ext_last", npy.FromFloat32(ext, 4, 4))
	k := make([]float32, 0, 9)
	for _, r := range p.Intrinsics {
		k = append(k, r[:]...)
	}
	w.Add("intrinsics", npy.FromFloat32(k, 3, 3))
	if p.FrameLast != nil {
		w.Add("frame_last", npy.FromUint8(p.FrameLast, p.FrameH, p.FrameW, 3))
	}
	if err := w.WriteFile(filepath.Join(dir, id+".npz")); err != nil {
		return err
	}
	meta := p.Meta
	if meta.ClipID == "" {
		meta.ClipID = id
	}
	b, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return fmt.Errorf("prediction %s: metadata: %w", id, err)
	}
	return fsutil.WriteFileAtomic(filepath.Join(dir, id+".json"), append(b, '\n'))
}

// Done reports whether clip id has been written completely (npz and json).
func Done(dir, id string) bool {
	return fsutil.Exists(filepath.Join(dir, id+".npz")) && fsutil.Exists(filepath.Join(dir, id+".json"))
}

// WriteRun writes DIR/run.json atomically. Versions is filled from buildinfo when empty.
func WriteRun(dir string, r Run) error {
	if r.Versions.GoVersion == "" {
		r.Versions = buildinfo.Get()
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("run.json: %w", err)
	}
	return fsutil.WriteFileAtomic(filepath.Join(dir, "run.json"), append(b, '\n'))
}

// ReadRun reads DIR/run.json.
func ReadRun(dir string) (*Run, error) {
	path := filepath.Join(dir, "run.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Run
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// Read loads clip id from dir.
func Read(dir, id string) (*Prediction, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, id+".npz")
	z, err := npy.OpenNPZ(path)
	if err != nil {
		return nil, err
	}
	defer z.Close()
	p := &Prediction{}
	pred, shape, err := z.Float32s("pred", -1, NumJoints, 3)
	if err != nil {
		return nil, err
	}
	tf := shape[0]
	p.Pred = unflatJoints(pred, tf)
	if z.Has("gt") {
		gt, _, err := z.Float32s("gt", tf, NumJoints, 3)
		if err != nil {
			return nil, err
		}
		p.GT = unflatJoints(gt, tf)
	}
	if z.Has("mask") {
		a, err := z.Get("mask")
		if err != nil {
			return nil, err
		}
		if err := npy.CheckShape(a.Shape, []int{tf, NumJoints}); err != nil {
			return nil, fmt.Errorf("%s: key \"mask\": %w", path, err)
		}
		m, err := boolValues(a)
		if err != nil {
			return nil, fmt.Errorf("%s: key \"mask\": %w", path, err)
		}
		p.Mask = make([][NumJoints]bool, tf)
		for t := range p.Mask {
			copy(p.Mask[t][:], m[t*NumJoints:])
		}
	}
	if z.Has("past") {
		past, sh, err := z.Float32s("past", -1, NumJoints, 3)
		if err != nil {
			return nil, err
		}
		p.Past = unflatJoints(past, sh[0])
	}
	ext, _, err := z.Float32s("cam_ext_last", 4, 4)
	if err != nil {
		return nil, err
	}
	for i := range 16 {
		p.CamExtLast[i/4][i%4] = ext[i]
	}
	k, _, err := z.Float32s("intrinsics", 3, 3)
	if err != nil {
		return nil, err
	}
	for i := range 9 {
		p.Intrinsics[i/3][i%3] = k[i]
	}
	if z.Has("frame_last") {
		a, err := z.Get("frame_last")
		if err != nil {
			return nil, err
		}
		if err := npy.CheckShape(a.Shape, []int{-1, -1, 3}); err != nil {
			return nil, fmt.Errorf("%s: key \"frame_last\": %w", path, err)
		}
		px, err := a.Uint8s()
		if err != nil {
			return nil, fmt.Errorf("%s: key \"frame_last\": %w", path, err)
		}
		p.FrameLast, p.FrameH, p.FrameW = px, a.Shape[0], a.Shape[1]
	}
	jpath := filepath.Join(dir, id+".json")
	b, err := os.ReadFile(jpath)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &p.Meta); err != nil {
		return nil, fmt.Errorf("%s: %w", jpath, err)
	}
	if p.Meta.ClipID == "" {
		p.Meta.ClipID = id
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// IDs lists the finished clips in dir, sorted.
func IDs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".npz") {
			continue
		}
		id := strings.TrimSuffix(name, ".npz")
		if Done(dir, id) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// ReadDir loads every finished clip in dir, sorted by clip id.
func ReadDir(dir string) ([]*Prediction, error) {
	ids, err := IDs(dir)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s: no predictions (<clip_id>.npz with <clip_id>.json)", dir)
	}
	out := make([]*Prediction, 0, len(ids))
	for _, id := range ids {
		p, err := Read(dir, id)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func flatJoints(x [][NumJoints][3]float32) []float32 {
	out := make([]float32, 0, len(x)*NumJoints*3)
	for t := range x {
		for j := range x[t] {
			out = append(out, x[t][j][:]...)
		}
	}
	return out
}

func unflatJoints(v []float32, t int) [][NumJoints][3]float32 {
	out := make([][NumJoints][3]float32, t)
	for i := range out {
		for j := range NumJoints {
			copy(out[i][j][:], v[(i*NumJoints+j)*3:])
		}
	}
	return out
}

// boolValues accepts bool, integer and float masks (non-zero = valid).
func boolValues(a *npy.Array) ([]bool, error) {
	out := make([]bool, a.Len())
	switch a.DType {
	case npy.Bool, npy.Uint8, npy.Int8:
		for i, b := range a.Raw {
			out[i] = b != 0
		}
		return out, nil
	}
	if f, err := a.Float64s(); err == nil {
		for i, v := range f {
			out[i] = v != 0
		}
		return out, nil
	}
	iv, err := a.Int64s()
	if err != nil {
		return nil, fmt.Errorf("mask dtype %s is not bool, integer or float", a.DType)
	}
	for i, v := range iv {
		out[i] = v != 0
	}
	return out, nil
}

// BoolValues exposes the mask decoding rule (non-zero = valid) for plain .npy masks.
func BoolValues(a *npy.Array) ([]bool, error) { return boolValues(a) }

// SafeID turns an episode id such as "test/basic_pick_place/3" into a clip id usable as
// a file name ("test__basic_pick_place__3"): path separators become "__", any other
// character outside [A-Za-z0-9._-] becomes "_", and a leading "." becomes "_". Every
// writer of prediction folders uses it, so folders from different models line up.
func SafeID(episode string) string {
	var sb strings.Builder
	for _, r := range episode {
		switch {
		case r == '/' || r == '\\':
			sb.WriteString("__")
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			sb.WriteRune(r)
		default:
			sb.WriteByte('_')
		}
	}
	id := sb.String()
	if strings.HasPrefix(id, ".") {
		id = "_" + id[1:]
	}
	if id == "run" {
		id = "run_"
	}
	return id
}
