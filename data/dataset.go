package data

import (
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Dataset names.
const (
	EgoDex   = "egodex"
	EgoExo4D = "egoexo4d"
)

// Episode identifies one episode on disk.
type Episode struct {
	ID      string `json:"id"`              // unique within the dataset, e.g. "test/basic_pick_place/3"
	Path    string `json:"path"`            // EgoDex: the .hdf5; Ego-Exo4D: the hand annotation JSON
	Video   string `json:"video,omitempty"` // MP4 path, empty when none was found
	Task    string `json:"task"`
	Split   string `json:"split"`
	Dataset string `json:"dataset"`
	// Ego-Exo4D only.
	TakeUID    string `json:"take_uid,omitempty"`
	TakeName   string `json:"take_name,omitempty"`
	CameraPose string `json:"camera_pose,omitempty"`
	BodyPath   string `json:"body,omitempty"`
	EgoCam     string `json:"ego_cam,omitempty"`
}

// Dataset is a list of episodes from one root (or manifest).
type Dataset struct {
	Name     string
	Root     string
	Episodes []Episode
	Skipped  []string // "path: reason" for files left out of the listing
	Manifest *Manifest
	// HandAnnotations is "manual" or "automatic" for Ego-Exo4D (which hand annotation
	// files the episodes point at), empty for EgoDex.
	HandAnnotations string
}

// OpenDataset lists the episodes of an EgoDex root (<split>/<task>/<k>.hdf5 + .mp4, or a
// single split folder <task>/<k>.hdf5), an Ego-Exo4D root (takes.json), or a manifest JSON.
// EgoDex episodes without an MP4 are skipped with a warning (data-spec §1.1).
func OpenDataset(path string) (*Dataset, error) {
	return OpenDatasetWith(path, DatasetOptions{})
}

// DatasetOptions controls OpenDatasetWith.
type DatasetOptions struct {
	// EgoExo applies to an Ego-Exo4D root. Asking for automatic annotations of anything
	// else is an error: an EgoDex root has one kind, and a manifest's episodes already
	// name their annotation files.
	EgoExo EgoExoOptions
}

// OpenDatasetWith is OpenDataset with options.
func OpenDatasetWith(path string, o DatasetOptions) (*Dataset, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open dataset: %w", err)
	}
	isEgoExo := false
	if st.IsDir() {
		_, err := os.Stat(filepath.Join(path, "takes.json"))
		isEgoExo = err == nil
	}
	if o.EgoExo.Automatic && !isEgoExo {
		what := "an EgoDex root (no takes.json)"
		if !st.IsDir() {
			what = "not a directory (a manifest's episodes already name their annotation files)"
		}
		return nil, fmt.Errorf("open dataset %s: automatic hand annotations apply to an Ego-Exo4D root (with takes.json); this is %s", path, what)
	}
	if !st.IsDir() {
		if strings.HasSuffix(path, ".json") {
			m, err := ReadManifest(path)
			if err != nil {
				return nil, err
			}
			return &Dataset{Name: m.Dataset, Root: m.Root, Episodes: m.Episodes, Manifest: m, HandAnnotations: m.HandAnnotations}, nil
		}
		return nil, fmt.Errorf("open dataset %s: expected a directory or a manifest .json", path)
	}
	if isEgoExo {
		return OpenEgoExo(path, o.EgoExo)
	}
	return openEgoDex(path)
}

func openEgoDex(root string) (*Dataset, error) {
	d := &Dataset{Name: EgoDex, Root: root}
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() || !strings.HasSuffix(p, ".hdf5") {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		var split, task string
		switch len(parts) {
		case 3:
			split, task = parts[0], parts[1]
		case 2:
			split, task = filepath.Base(root), parts[0]
		default:
			d.skip(p, "not at <split>/<task>/<k>.hdf5")
			return nil
		}
		stem := strings.TrimSuffix(parts[len(parts)-1], ".hdf5")
		if _, err := strconv.Atoi(stem); err != nil {
			d.skip(p, "file name is not <k>.hdf5 with integer k")
			return nil
		}
		video := EgoDexVideoPath(p)
		if _, err := os.Stat(video); err != nil {
			d.skip(p, "no matching .mp4")
			return nil
		}
		d.Episodes = append(d.Episodes, Episode{ID: split + "/" + task + "/" + stem, Path: p, Video: video, Task: task, Split: split, Dataset: EgoDex})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open EgoDex root %s: %w", root, err)
	}
	sortEpisodes(d.Episodes)
	if len(d.Episodes) == 0 {
		return d, fmt.Errorf("open EgoDex root %s: no episodes found (expected <split>/<task>/<k>.hdf5 with <k>.mp4; %d skipped)", root, len(d.Skipped))
	}
	return d, nil
}

func (d *Dataset) skip(path, why string) {
	d.Skipped = append(d.Skipped, path+": "+why)
	slog.Warn("dataset: skipping episode", "file", path, "reason", why)
}

// sortEpisodes orders by split, task, then numeric episode number.
func sortEpisodes(eps []Episode) {
	key := func(e Episode) (string, string, int, string) {
		base := filepath.Base(e.Path)
		k, err := strconv.Atoi(strings.TrimSuffix(base, filepath.Ext(base)))
		if err != nil {
			k = -1
		}
		return e.Split, e.Task, k, e.ID
	}
	sort.SliceStable(eps, func(i, j int) bool {
		a1, a2, a3, a4 := key(eps[i])
		b1, b2, b3, b4 := key(eps[j])
		if a1 != b1 {
			return a1 < b1
		}
		if a2 != b2 {
			return a2 < b2
		}
		if a3 != b3 {
			return a3 < b3
		}
		return a4 < b4
	})
}

// Find returns the episode whose ID equals id, or whose path ends with id.
func (d *Dataset) Find(id string) (Episode, error) {
	for _, e := range d.Episodes {
		if e.ID == id || e.Path == id || strings.HasSuffix(e.Path, "/"+id) || e.TakeUID == id || e.TakeName == id {
			return e, nil
		}
	}
	return Episode{}, fmt.Errorf("episode %q not found in %s (%d episodes)", id, d.Root, len(d.Episodes))
}

// LoadOptions controls clip loading.
type LoadOptions struct {
	Video     VideoOptions
	SkipVideo bool // poses only: Frames is left nil and H=W=0
	// NoJointCheck turns off Ego-Exo4D's bone-length/joint-angle plausibility check
	// (official joint_dist_angle_check), which is on by default.
	NoJointCheck bool
}

// LoadClip reads one episode and samples a clip.
func LoadClip(ep Episode, s Sampler, opt LoadOptions) (*Clip, error) {
	if s == nil {
		s = Episode64{}
	}
	switch ep.Dataset {
	case EgoExo4D:
		return loadEgoExoClip(ep, s, opt)
	case EgoDex, "":
		return loadEgoDexClip(ep, s, opt)
	}
	return nil, fmt.Errorf("episode %s: unknown dataset %q", ep.ID, ep.Dataset)
}

// EpisodeFromPath makes an EgoDex Episode for a single .hdf5 path.
func EpisodeFromPath(p string) Episode {
	dir := filepath.Dir(p)
	task := filepath.Base(dir)
	split := filepath.Base(filepath.Dir(dir))
	stem := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
	return Episode{ID: split + "/" + task + "/" + stem, Path: p, Video: EgoDexVideoPath(p), Task: task, Split: split, Dataset: EgoDex}
}

func loadEgoDexClip(ep Episode, s Sampler, opt LoadOptions) (*Clip, error) {
	f, err := ReadEgoDexFile(ep.Path)
	if err != nil {
		return nil, err
	}
	idx, past, err := s.Indices(f.N)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ep.Path, err)
	}
	c := newClip(len(idx), past)
	c.SourceFrames = f.N
	c.Dataset, c.Split, c.Task, c.Episode = EgoDex, ep.Split, ep.Task, ep.ID
	if t := f.Attrs["task"]; c.Task == "" && t != "" {
		c.Task = t
	}
	c.Instruction = f.Instruction
	c.Warnings = append(c.Warnings, f.Warnings...)
	for t, i := range idx {
		c.FrameIndices[t] = i
		copy(c.CamExt[t*16:(t+1)*16], f.Cam[i*16:(i+1)*16])
		copy(c.XYZWorld[t*NumJoints*3:(t+1)*NumJoints*3], f.XYZ[i*NumJoints*3:(i+1)*NumJoints*3])
		copy(c.Conf[t*NumJoints:(t+1)*NumJoints], f.Conf[i*NumJoints:(i+1)*NumJoints])
	}
	c.fillCamAndValid()
	if err := c.loadVideo(ep.Video, f.K, opt); err != nil {
		return nil, err
	}
	return c, nil
}

func newClip(T, past int) *Clip {
	return &Clip{
		T: T, Past: past,
		XYZWorld:     make([]float32, T*NumJoints*3),
		XYZCam:       make([]float32, T*NumJoints*3),
		CamExt:       make([]float32, T*16),
		Conf:         make([]float32, T*NumJoints),
		Valid:        make([]bool, T*NumJoints),
		FrameIndices: make([]int, T),
	}
}

// fillCamAndValid computes XYZCam = inv(CamExt[t])·XYZWorld[t] and the EgoDex validity mask
// (conf>0, and the wrist's conf>0 for finger joints).
func (c *Clip) fillCamAndValid() {
	for t := 0; t < c.T; t++ {
		WorldToCam(c.CamExt[t*16:(t+1)*16], c.XYZWorld[t*NumJoints*3:(t+1)*NumJoints*3], c.XYZCam[t*NumJoints*3:(t+1)*NumJoints*3])
		for j := 0; j < NumJoints; j++ {
			ok := c.Conf[t*NumJoints+j] > 0
			if IsFinger(j) {
				ok = ok && c.Conf[t*NumJoints+WristOf(j)] > 0
			}
			c.Valid[t*NumJoints+j] = ok
		}
	}
}

// WorldToCam maps points (n×3) by the inverse of a rigid world←camera 4×4 (row-major):
// p_cam = Rᵀ(p − t). Computed in float64.
func WorldToCam(ext []float32, world, cam []float32) {
	var R [3][3]float64
	var tr [3]float64
	for r := 0; r < 3; r++ {
		for k := 0; k < 3; k++ {
			R[r][k] = float64(ext[r*4+k])
		}
		tr[r] = float64(ext[r*4+3])
	}
	for p := 0; p+2 < len(world); p += 3 {
		d := [3]float64{float64(world[p]) - tr[0], float64(world[p+1]) - tr[1], float64(world[p+2]) - tr[2]}
		for k := 0; k < 3; k++ {
			cam[p+k] = float32(R[0][k]*d[0] + R[1][k]*d[1] + R[2][k]*d[2])
		}
	}
}

func (c *Clip) loadVideo(video string, K [9]float32, opt LoadOptions) error {
	c.Intrinsics = ScaleIntrinsics(K, 0, 0, opt.Video)
	if opt.SkipVideo {
		return nil
	}
	if video == "" {
		return fmt.Errorf("episode %s: no video file, expected an .mp4 next to the annotations", c.Episode)
	}
	vf, err := DecodeFrames(video, c.FrameIndices, opt.Video)
	if err != nil {
		return fmt.Errorf("episode %s: %w", c.Episode, err)
	}
	c.W, c.H = opt.Video.size()
	c.Frames = vf.Frames
	if vf.Clamped > 0 {
		msg := fmt.Sprintf("video has %d frames but the clip wants frame %d: %d clip frames clamped to the last video frame", vf.Decoded, maxInt(c.FrameIndices), vf.Clamped)
		c.Warnings = append(c.Warnings, msg)
		slog.Warn("clip: "+msg, "video", video)
	}
	return nil
}

func maxInt(v []int) int {
	m := math.MinInt
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// LoadBatch loads the clips of eps with up to workers episodes in flight (each clip's
// video decode is its own ffmpeg process, so this overlaps their start-up cost). Results
// are in the order of eps; the first error (by position) is returned.
func LoadBatch(eps []Episode, s Sampler, opt LoadOptions, workers int) ([]*Clip, error) {
	workers = max(1, min(workers, len(eps)))
	out := make([]*Clip, len(eps))
	errs := make([]error, len(eps))
	next := make(chan int)
	done := make(chan struct{})
	for w := 0; w < workers; w++ {
		go func() {
			for i := range next {
				out[i], errs[i] = LoadClip(eps[i], s, opt)
			}
			done <- struct{}{}
		}()
	}
	for i := range eps {
		next <- i
	}
	close(next)
	for w := 0; w < workers; w++ {
		<-done
	}
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("batch item %d (%s): %w", i, eps[i].ID, err)
		}
	}
	return out, nil
}
