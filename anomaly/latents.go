package anomaly

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/thinkjepa/thinkjepa/internal/linspace"
	"github.com/thinkjepa/thinkjepa/internal/npy"
	"github.com/thinkjepa/thinkjepa/thinker"
)

// ClipLatents are one clip's V-JEPA latents as the stage scores them.
type ClipLatents struct {
	Path    string
	T, P, D int
	X       []float32 // [T,P,D], one latent frame per clip frame
	// Source holds the source-video frame of each latent frame (len T), or nil when the
	// file does not say; labels are aligned through it (Align rule 1).
	Source []int64
}

// ReadClipLatents reads a per-clip feature file in either layout:
//   - ours (`encode --split-clips`): vjepa_input_feats [Ti,P,D] and vjepa_target_feats
//     [Tt,P,D] in tubelets, with past_raw_indices/target_raw_indices (source frames)
//     when the clip had them. Each tubelet is repeated to its frames, as training does
//     (model-spec §4.2); the tubelet length is len(past_raw_indices)/Ti, else the
//     provenance's frame_indices count over Ti+Tt, else 1;
//   - upstream's combined cache: vjepa_feats [T,P,D] with frame_indices (else
//     linspace(0, total_frames−1, T), else none), read and checked by
//     thinker.ReadBranch (frame_indices, nframes_used, total_frames agree with T).
//
// Non-finite latents are an error: they would silently drop every window they touch.
func ReadClipLatents(path string) (*ClipLatents, error) {
	z, err := npy.OpenNPZ(path)
	if err != nil {
		return nil, err
	}
	defer z.Close()
	c := &ClipLatents{Path: path}
	switch {
	case z.Has("vjepa_input_feats"):
		in, s1, err := z.Float32s("vjepa_input_feats", -1, -1, -1)
		if err != nil {
			return nil, err
		}
		tg, s2, err := z.Float32s("vjepa_target_feats", -1, s1[1], s1[2])
		if err != nil {
			return nil, err
		}
		past, err := optInts(z, "past_raw_indices")
		if err != nil {
			return nil, err
		}
		target, err := optInts(z, "target_raw_indices")
		if err != nil {
			return nil, err
		}
		steps := s1[0] + s2[0]
		rep := 1
		switch {
		case past != nil:
			if s1[0] == 0 || len(past)%s1[0] != 0 {
				return nil, fmt.Errorf("%s: past_raw_indices has %d frames, not a multiple of vjepa_input_feats' %d time steps", path, len(past), s1[0])
			}
			rep = len(past) / s1[0]
			c.Source = append(append([]int64(nil), past...), target...)
		default:
			if n := provenanceFrames(z); n > 0 && steps > 0 && n%steps == 0 {
				rep = n / steps
			}
		}
		c.P, c.D = s1[1], s1[2]
		c.T = steps * rep
		c.X = repeatFrames(append(in, tg...), steps, c.P*c.D, rep)
		if c.Source != nil && len(c.Source) != c.T {
			return nil, fmt.Errorf("%s: %d past + %d target raw indices for %d latent frames", path, len(past), len(target), c.T)
		}
	case z.Has(thinker.KeyFeats):
		b, err := thinker.ReadBranch(z)
		if err != nil {
			return nil, err
		}
		c.T, c.P, c.D, c.X = b.T, b.P, b.D, b.Feats
		c.Source = b.FrameIndices
		if c.Source == nil && b.TotalFrames > 0 {
			// upstream's NpzCacheDataset fallback; total_frames 0 means unknown
			for _, f := range linspace.Ints(b.TotalFrames-1, c.T) {
				c.Source = append(c.Source, int64(f))
			}
		}
	default:
		return nil, fmt.Errorf("%s: no V-JEPA latents (want vjepa_input_feats + vjepa_target_feats, or vjepa_feats; have %v)", path, z.Keys())
	}
	if c.T == 0 || c.P == 0 || c.D == 0 {
		return nil, fmt.Errorf("%s: empty latents [%d,%d,%d]", path, c.T, c.P, c.D)
	}
	for i, v := range c.X {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("%s: latent value %v at element %d, want finite values", path, v, i)
		}
	}
	return c, nil
}

func optInts(z *npy.NPZ, key string) ([]int64, error) {
	if !z.Has(key) {
		return nil, nil
	}
	a, err := z.Get(key)
	if err != nil {
		return nil, err
	}
	v, err := a.Int64s()
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", z.Path(), key, err)
	}
	return v, nil
}

// provenanceFrames is the length of frame_indices in the provenance JSON `encode` writes,
// or 0.
func provenanceFrames(z *npy.NPZ) int {
	if !z.Has("provenance") {
		return 0
	}
	a, err := z.Get("provenance")
	if err != nil {
		return 0
	}
	s, err := a.String()
	if err != nil {
		return 0
	}
	var meta struct {
		FrameIndices []int `json:"frame_indices"`
	}
	if json.Unmarshal([]byte(s), &meta) != nil {
		return 0
	}
	return len(meta.FrameIndices)
}

func repeatFrames(v []float32, steps, frame, rep int) []float32 {
	if rep == 1 {
		return v
	}
	out := make([]float32, 0, steps*rep*frame)
	for t := 0; t < steps; t++ {
		for r := 0; r < rep; r++ {
			out = append(out, v[t*frame:(t+1)*frame]...)
		}
	}
	return out
}
