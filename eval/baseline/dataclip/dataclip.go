// Package dataclip feeds data clips to the baselines: it adapts data.Clip to
// baseline.Clip and lists the clips of a --data argument (a manifest or dataset root,
// a folder of clip .npz files, or one clip .npz). It is kept apart from package
// baseline so that the baselines' maths does not depend on the data readers.
package dataclip

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/thinkjepa/thinkjepa/data"
	"github.com/thinkjepa/thinkjepa/eval/baseline"
	"github.com/thinkjepa/thinkjepa/eval/predfile"
)

const nj = predfile.NumJoints

// FromDataClip adapts a data.Clip (flat arrays) to a baseline Clip. The clip id is
// predfile.SafeID of the episode id, or fallbackID when the clip has none.
func FromDataClip(c *data.Clip, fallbackID string) (*baseline.Clip, error) {
	if data.NumJoints != nj {
		return nil, fmt.Errorf("data has %d joints, predictions %d", data.NumJoints, nj)
	}
	id := fallbackID
	if c.Episode != "" {
		id = predfile.SafeID(c.Episode)
	}
	if len(c.XYZWorld) != c.T*nj*3 || len(c.CamExt) != c.T*16 {
		return nil, fmt.Errorf("clip %s: xyz_world has %d values and cam_ext %d, expected %d and %d for T=%d",
			id, len(c.XYZWorld), len(c.CamExt), c.T*nj*3, c.T*16, c.T)
	}
	out := &baseline.Clip{ID: id, Past: c.Past, Dataset: c.Dataset, Split: c.Split, Task: c.Task,
		XYZWorld: make([][nj][3]float32, c.T), CamExt: make([][4][4]float32, c.T),
		Extra: map[string]any{"episode": c.Episode}}
	for t := range c.T {
		for j := range nj {
			copy(out.XYZWorld[t][j][:], c.XYZWorld[(t*nj+j)*3:])
		}
		for i := range 16 {
			out.CamExt[t][i/4][i%4] = c.CamExt[t*16+i]
		}
	}
	if len(c.Valid) == c.T*nj {
		out.Valid = make([][nj]bool, c.T)
		for t := range c.T {
			copy(out.Valid[t][:], c.Valid[t*nj:(t+1)*nj])
		}
	}
	if len(c.FrameIndices) == c.T {
		out.FrameIdx = make([]float64, c.T)
		for t, v := range c.FrameIndices {
			out.FrameIdx[t] = float64(v)
		}
		out.Extra["frame_indices"] = c.FrameIndices
	}
	for i := range 9 {
		out.Intrinsics[i/3][i%3] = c.Intrinsics[i]
	}
	if n := c.H * c.W * 3; n > 0 && len(c.Frames) == c.T*n {
		out.FrameLast = append([]uint8(nil), c.Frames[(c.Past-1)*n:c.Past*n]...)
		out.FrameH, out.FrameW = c.H, c.W
	}
	return out, nil
}

// Source yields clips one at a time (clip files and episodes can be large).
type Source struct {
	Desc  string
	Count int
	// Load returns clip i (0 ≤ i < Count), converted for the baselines.
	Load func(i int) (*baseline.Clip, error)
}

// Options choose how episodes are turned into clips when --data is a manifest or root.
type Options struct {
	Sampler string // "" = the manifest's sampler, else episode64
	T       int    // clip length for the sampler (0 = 64)
	Stride  int    // window sampler
	Start   int    // window sampler
	Split   string // keep only this split ("" = all)
	Frames  bool   // decode video to keep the last observed frame (for plots)
}

// ParseSamplerName reads a sampler as written in manifests: "episode64", "episodeN",
// "window(T=…,stride=…,start=…)", or a bare name completed by T, stride and start.
func ParseSamplerName(name string, T, stride, start int) (data.Sampler, error) {
	var t, st, s0 int
	if n, _ := fmt.Sscanf(name, "window(T=%d,stride=%d,start=%d)", &t, &st, &s0); n == 3 {
		return data.Window{T: t, Stride: st, Start: s0}, nil
	}
	if strings.HasPrefix(name, "episode") && name != "episode" && name != "episode64" {
		if _, err := fmt.Sscanf(name, "episode%d", &t); err == nil && t > 1 {
			return data.Episode64{T: t}, nil
		}
	}
	return data.ParseSampler(name, T, stride, start)
}

// Open lists the clips of path: a folder of clip .npz files, one clip .npz, or a
// manifest / dataset root opened with data.OpenDataset.
func Open(path string, o Options) (*Source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var files []string
	switch {
	case !st.IsDir() && strings.HasSuffix(path, ".npz"):
		files = []string{path}
	case st.IsDir():
		files, err = filepath.Glob(filepath.Join(path, "*.npz"))
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
	}
	if len(files) > 0 {
		return &Source{Desc: path, Count: len(files), Load: func(i int) (*baseline.Clip, error) {
			c, err := data.ReadClipNPZ(files[i])
			if err != nil {
				return nil, err
			}
			if o.Split != "" && c.Split != o.Split {
				return nil, nil
			}
			stem := strings.TrimSuffix(filepath.Base(files[i]), ".npz")
			return FromDataClip(c, predfile.SafeID(stem))
		}}, nil
	}
	d, err := data.OpenDataset(path)
	if err != nil {
		return nil, err
	}
	name := o.Sampler
	if name == "" && d.Manifest != nil {
		name = d.Manifest.Sampler
	}
	if name == "" {
		name = "episode64"
	}
	sampler, err := ParseSamplerName(name, o.T, o.Stride, o.Start)
	if err != nil {
		return nil, err
	}
	eps := d.Episodes
	if o.Split != "" {
		var keep []data.Episode
		for _, e := range eps {
			if e.Split == o.Split {
				keep = append(keep, e)
			}
		}
		if len(keep) == 0 {
			return nil, fmt.Errorf("%s: no episodes in split %q", path, o.Split)
		}
		eps = keep
	}
	return &Source{Desc: fmt.Sprintf("%s (%s)", path, sampler.Name()), Count: len(eps), Load: func(i int) (*baseline.Clip, error) {
		c, err := data.LoadClip(eps[i], sampler, data.LoadOptions{SkipVideo: !o.Frames})
		if err != nil {
			return nil, fmt.Errorf("episode %s: %w", eps[i].ID, err)
		}
		if c.Episode == "" {
			c.Episode = eps[i].ID
		}
		bc, err := FromDataClip(c, predfile.SafeID(eps[i].ID))
		if err != nil {
			return nil, err
		}
		bc.Extra["sampler"] = sampler.Name()
		return bc, nil
	}}, nil
}
