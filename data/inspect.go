package data

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// ConfStats summarises confidences.
type ConfStats struct {
	Mean     float64 `json:"mean"`
	Min      float64 `json:"min"`
	ZeroFrac float64 `json:"zero_frac"`
	Count    int     `json:"count"`
}

func (c *ConfStats) add(v []float32) {
	for _, x := range v {
		if c.Count == 0 || float64(x) < c.Min {
			c.Min = float64(x)
		}
		c.Mean += float64(x)
		if x <= 0 {
			c.ZeroFrac++
		}
		c.Count++
	}
}

func (c *ConfStats) finish() {
	if c.Count > 0 {
		c.Mean /= float64(c.Count)
		c.ZeroFrac /= float64(c.Count)
	}
}

// EpisodeReport is the inspection of one episode.
type EpisodeReport struct {
	ID            string   `json:"id"`
	Frames        int      `json:"frames"`
	VideoFrames   int      `json:"video_frames,omitempty"` // -1 when no video
	DType         string   `json:"dtype,omitempty"`
	HasConf       bool     `json:"has_confidences"`
	Instruction   string   `json:"instruction,omitempty"`
	JointsMissing []string `json:"joints_missing,omitempty"` // of the 68 + camera
	// SkippedFrames (Ego-Exo4D) counts annotated frames left out of the timeline by reason:
	// no_ego_extrinsic, empty_annotation3d (the official loader skips both).
	SkippedFrames map[string]int `json:"skipped_frames,omitempty"`
	Problems      []string       `json:"problems,omitempty"`
}

// Report is a dataset summary.
type Report struct {
	Path          string          `json:"path"`
	Dataset       string          `json:"dataset"`
	HandAnnots    string          `json:"hand_annotations,omitempty"` // Ego-Exo4D: manual or automatic
	Episodes      int             `json:"episodes"`
	PerSplit      map[string]int  `json:"per_split"`
	PerTask       map[string]int  `json:"per_task"`
	FramesTotal   int             `json:"frames_total"`
	FramesMin     int             `json:"frames_min"`
	FramesMax     int             `json:"frames_max"`
	JointsPresent int             `json:"hand_joints_present"` // of the 52 in every episode read
	Confidence    ConfStats       `json:"confidence"`
	Skipped       []string        `json:"skipped,omitempty"`
	Problems      []string        `json:"problems,omitempty"`
	PerEpisode    []EpisodeReport `json:"per_episode,omitempty"`
	Clip          *ClipSummary    `json:"clip,omitempty"`
	// JointNames is the 52-slot order of every clip (and of the clip's joint_names key).
	JointNames []string `json:"joint_names"`
}

// ClipSummary describes a clip .npz.
type ClipSummary struct {
	T, H, W, Past int
	Episode       string
	Instruction   string
	ValidFrac     float64
	FrameIndices  []int
	Warnings      []string
}

// InspectOptions controls Inspect.
type InspectOptions struct {
	CountVideo bool // count MP4 frames with ffprobe and compare with the pose rows
	Limit      int  // inspect at most this many episodes (0: all)
	Dataset    DatasetOptions
	// NoJointCheck inspects Ego-Exo4D takes without the bone-length/joint-angle check.
	NoJointCheck bool
}

// Inspect summarises a dataset root, a manifest, one EgoDex .hdf5 or one clip .npz.
func Inspect(path string, o InspectOptions) (*Report, error) {
	switch {
	case o.Dataset.EgoExo.Automatic && (strings.HasSuffix(path, ".npz") || strings.HasSuffix(path, ".hdf5") || strings.HasSuffix(path, ".h5")):
		return nil, fmt.Errorf("inspect %s: automatic hand annotations apply to an Ego-Exo4D root, not to a single file", path)
	case strings.HasSuffix(path, ".npz"):
		c, err := ReadClipNPZ(path)
		if err != nil {
			return nil, err
		}
		r := &Report{Path: path, Dataset: c.Dataset, Episodes: 1, FramesTotal: c.T, FramesMin: c.T, FramesMax: c.T,
			PerSplit: map[string]int{c.Split: 1}, PerTask: map[string]int{c.Task: 1}, JointNames: JointNames[:]}
		for j := 0; j < NumJoints; j++ { // joints valid in at least one frame
			for t := 0; t < c.T; t++ {
				if c.Valid[t*NumJoints+j] {
					r.JointsPresent++
					break
				}
			}
		}
		r.Confidence.add(c.Conf)
		r.Confidence.finish()
		nv := 0
		for _, v := range c.Valid {
			if v {
				nv++
			}
		}
		r.Clip = &ClipSummary{T: c.T, H: c.H, W: c.W, Past: c.Past, Episode: c.Episode, Instruction: c.Instruction,
			ValidFrac: float64(nv) / float64(len(c.Valid)), FrameIndices: c.FrameIndices, Warnings: c.Warnings}
		r.Problems = append(r.Problems, c.Warnings...)
		return r, nil
	case strings.HasSuffix(path, ".hdf5") || strings.HasSuffix(path, ".h5"):
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("inspect: %w", err)
		}
		d := &Dataset{Name: EgoDex, Root: path, Episodes: []Episode{EpisodeFromPath(path)}}
		return inspectDataset(path, d, o), nil
	}
	d, err := OpenDatasetWith(path, o.Dataset)
	if err != nil {
		return nil, err
	}
	return inspectDataset(path, d, o), nil
}

func inspectDataset(path string, d *Dataset, o InspectOptions) *Report {
	r := &Report{Path: path, Dataset: d.Name, HandAnnots: d.HandAnnotations, PerSplit: map[string]int{}, PerTask: map[string]int{}, Skipped: d.Skipped, JointsPresent: NumJoints,
		JointNames: JointNames[:]}
	for _, s := range d.Skipped {
		r.Problems = append(r.Problems, "skipped "+s)
	}
	eps := d.Episodes
	if o.Limit > 0 && len(eps) > o.Limit {
		eps = eps[:o.Limit]
	}
	r.FramesMin = math.MaxInt
	for _, ep := range eps {
		r.Episodes++
		r.PerSplit[ep.Split]++
		r.PerTask[ep.Task]++
		er := EpisodeReport{ID: ep.ID}
		if ep.Dataset == EgoExo4D {
			c, err := LoadClip(ep, Episode64{}, LoadOptions{SkipVideo: true, NoJointCheck: o.NoJointCheck})
			if err != nil {
				er.Problems = append(er.Problems, err.Error())
			} else {
				er.Frames = c.T
				r.Confidence.add(c.Conf)
				if len(c.SkippedFrames) > 0 {
					er.SkippedFrames = c.SkippedFrames
				}
				er.Problems = append(er.Problems, c.Warnings...)
			}
		} else {
			f, err := ReadEgoDexFile(ep.Path)
			if err != nil {
				er.Problems = append(er.Problems, err.Error())
				r.JointsPresent = jointsReadable(ep.Path, r.JointsPresent)
			} else {
				er.Frames, er.DType, er.HasConf, er.Instruction = f.N, f.DType, f.HasConf, f.Instruction
				er.Problems = append(er.Problems, f.Warnings...)
				have := map[string]bool{}
				for _, j := range f.Joints {
					have[j] = true
				}
				for _, j := range append(append([]string(nil), SkeletonJoints68...), "camera") {
					if !have[j] {
						er.JointsMissing = append(er.JointsMissing, j)
					}
				}
				if len(er.JointsMissing) > 0 {
					er.Problems = append(er.Problems, fmt.Sprintf("missing transforms: %s", strings.Join(er.JointsMissing, ", ")))
				}
				if f.HasConf {
					r.Confidence.add(f.Conf)
				}
				if f.Instruction == "" {
					er.Problems = append(er.Problems, "no instruction (llm_description attributes empty)")
				}
			}
		}
		if o.CountVideo {
			if ep.Video == "" {
				er.VideoFrames = -1
				er.Problems = append(er.Problems, "no video")
			} else if n, err := CountVideoFrames(ep.Video); err != nil {
				er.Problems = append(er.Problems, err.Error())
			} else {
				er.VideoFrames = n
				if ep.Dataset != EgoExo4D && er.Frames > 0 && n != er.Frames {
					er.Problems = append(er.Problems, fmt.Sprintf("video has %d frames, poses have %d (clips clamp to the last video frame)", n, er.Frames))
				}
			}
		}
		if er.Frames > 0 {
			r.FramesTotal += er.Frames
			r.FramesMin = min(r.FramesMin, er.Frames)
			r.FramesMax = max(r.FramesMax, er.Frames)
		}
		for _, p := range er.Problems {
			r.Problems = append(r.Problems, ep.ID+": "+p)
		}
		r.PerEpisode = append(r.PerEpisode, er)
	}
	if r.FramesMin == math.MaxInt {
		r.FramesMin = 0
	}
	r.Confidence.finish()
	sort.Strings(r.Problems)
	return r
}

// jointsReadable lowers the count of hand joints present when a file lacks some.
func jointsReadable(path string, cur int) int {
	f, err := openH5(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	for _, j := range JointNames {
		if f.Exists("/transforms/" + j) {
			n++
		}
	}
	return min(cur, n)
}

// CountVideoFrames counts an MP4's video frames with ffprobe (packet count, no decode).
func CountVideoFrames(path string) (int, error) {
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets",
		"-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", path).Output()
	if err != nil {
		return 0, fmt.Errorf("video %s: ffprobe failed: %v", path, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(string(out)), ",")))
	if err != nil {
		return 0, fmt.Errorf("video %s: ffprobe frame count %q: %v", path, out, err)
	}
	return n, nil
}
