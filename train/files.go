package train

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/thinkjepa/thinkjepa/anomaly"
	"github.com/thinkjepa/thinkjepa/data"
	"github.com/thinkjepa/thinkjepa/internal/npy"
	"github.com/thinkjepa/thinkjepa/rollout"
	"github.com/thinkjepa/thinkjepa/thinker"
)

// DataConfig locates one split's files. Clips are matched by ID (file name without
// .npz) across the three folders:
//
//	Clips/<id>.npz     clip supervision (data.Clip: xyz_world, cam_ext, past)
//	Features/<id>.npz  vjepa_input_feats [Ti,P,D], vjepa_target_feats [Tt,P,D]
//	                   (thinkjepa encode --split-clips); empty: taken from the thinker cache
//	                   (upstream's combined caches: vjepa_feats, see thinker.ReadBranch)
//	Thinker/<id>.npz   vlm_old [L,So,Dv], vlm_new [L,Sn,Dv] (ThinkJEPA cache layout);
//	                   empty: no guidance input (the streams are "missing")
//
// A feature or thinker file not named <id>.npz is found by upstream's stem rule: the one
// file of the folder whose name less its _L<n>_nf<n>_res<n>_new<n>_s<i>of<n> suffix is the
// id (upstream's caches are named so; anomaly.Stem). The folders may be anywhere: nothing
// ties them to where a model was trained (upstream's --test_cache_dir).
type DataConfig struct {
	Clips    string `json:"clips"`
	Features string `json:"features"`
	Thinker  string `json:"thinker"`
	// IDs restricts the split to these clips; empty: every clip in Clips.
	IDs []string `json:"ids,omitempty"`
}

// SampleConfig says how clips become samples.
type SampleConfig struct {
	// Camera: "last" (v2: the last observed pose for every step) or "future" (v1: each
	// future frame's own pose).
	Camera string `json:"camera"`
	// RefMode: "none" (default) or "perhand" (middle metacarpals at the last observed frame).
	RefMode string `json:"ref_mode"`
	// Recursive > 0 trains the recursive-rollout model: windows of Recursive observed and
	// Recursive future latent frames (model-spec §4.8 uses 4), every Recursive frames.
	Recursive int `json:"recursive"`
	// Windows, when Past > 0, makes one sample per sliding window of the latent_anomaly
	// task (model-spec §4.12): context [s, s+past), target [s+past, s+past+future) for
	// s = 0, stride, …; set from RunConfig.Anomaly, never read from JSON.
	Windows anomaly.Windows `json:"-"`
	// OldCapacity/NewCapacity cap the VLM stream lengths (v2: 1280/16, overflow is an
	// error; v1: 480/15 with Truncate). 0 = no cap.
	OldCapacity int  `json:"old_capacity"`
	NewCapacity int  `json:"new_capacity"`
	Truncate    bool `json:"truncate"`
	// Whiten maps every latent token by a fixed ZCA whitening fitted on the training
	// split (LatentWhitening; stored in the checkpoint). Standardize instead maps each
	// (token position, channel) to zero mean and unit variance over the training split
	// (LatentStandardization). Both off by default: upstream uses the raw features.
	Whiten      bool `json:"whiten,omitempty"`
	Standardize bool `json:"standardize,omitempty"`
	// Track serves whole clips for the track layout (set from the run's layout, not
	// from JSON): context and target are all T latent frames, supervision all T frames
	// with each frame's own extrinsics.
	Track bool `json:"-"`
}

// clipSup is the per-clip supervision kept in memory (small).
type clipSup struct {
	id          string
	T, past     int
	world, ext  []float32 // [T,52,3], [T,16]
	frames      []int     // [T] source frames (data.Clip.FrameIndices)
	featPath    string
	thinkerPath string
}

// sample is one training sample: a clip and, in recursive mode, a window start frame.
type sample struct {
	clip  int
	start int // first observed latent frame
}

// FileSet is a Dataset over clip, feature and thinker files.
type FileSet struct {
	Cfg    DataConfig
	Sample SampleConfig
	clips  []clipSup
	samps  []sample
	// Sizes fixed by the first clip, checked for all others.
	P, D, L, Dv int
	// LatentMap, when set, is applied to every latent the set serves.
	LatentMap LatentMap
}

// OpenFileSet reads the supervision of every clip and checks that feature (and thinker)
// files exist, so that a missing file fails at start, not mid-epoch.
func OpenFileSet(cfg DataConfig, sc SampleConfig) (*FileSet, error) {
	if cfg.Clips == "" {
		return nil, fmt.Errorf("data config: clips folder is empty")
	}
	if cfg.Features == "" && cfg.Thinker == "" {
		return nil, fmt.Errorf("data config: need a features or a thinker folder for the V-JEPA latents")
	}
	switch sc.Camera {
	case "", "last", "future":
	default:
		return nil, fmt.Errorf("sample config: camera %q (want last or future)", sc.Camera)
	}
	switch sc.RefMode {
	case "", "none", "perhand":
	default:
		return nil, fmt.Errorf("sample config: ref_mode %q (want none or perhand)", sc.RefMode)
	}
	ids := cfg.IDs
	if len(ids) == 0 {
		ents, err := os.ReadDir(cfg.Clips)
		if err != nil {
			return nil, fmt.Errorf("clips folder: %w", err)
		}
		for _, e := range ents {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".npz") && !strings.HasPrefix(e.Name(), ".") {
				ids = append(ids, strings.TrimSuffix(e.Name(), ".npz"))
			}
		}
		sort.Strings(ids)
	}
	fs := &FileSet{Cfg: cfg, Sample: sc}
	var feats, think *folderFiles
	var err error
	if cfg.Features != "" {
		if feats, err = listFolder(cfg.Features); err != nil {
			return nil, fmt.Errorf("features folder: %w", err)
		}
	}
	if cfg.Thinker != "" {
		if think, err = listFolder(cfg.Thinker); err != nil {
			return nil, fmt.Errorf("thinker folder: %w", err)
		}
	}
	for _, id := range ids {
		cp := filepath.Join(cfg.Clips, id+".npz")
		c, err := data.ReadClipNPZ(cp)
		if err != nil {
			return nil, err
		}
		if c.Past <= 0 || c.Past >= c.T {
			return nil, fmt.Errorf("%s: past = %d of %d frames leaves no observed or no future frames", cp, c.Past, c.T)
		}
		cs := clipSup{id: id, T: c.T, past: c.Past, world: c.XYZWorld, ext: c.CamExt, frames: c.FrameIndices}
		if feats != nil {
			if cs.featPath, err = feats.path(id); err != nil {
				return nil, fmt.Errorf("clip %s: %w", id, err)
			}
		}
		if think != nil {
			if cs.thinkerPath, err = think.path(id); err != nil {
				return nil, fmt.Errorf("clip %s: %w", id, err)
			}
		}
		fs.clips = append(fs.clips, cs)
	}
	if len(fs.clips) == 0 {
		return nil, fmt.Errorf("no clips in %s", cfg.Clips)
	}
	for i, c := range fs.clips {
		if sc.Windows.Past > 0 {
			for _, s := range sc.Windows.Starts(c.T) {
				fs.samps = append(fs.samps, sample{clip: i, start: s})
			}
			continue
		}
		if sc.Recursive > 0 {
			w := sc.Recursive
			for s := 0; s+2*w <= c.T; s += w {
				fs.samps = append(fs.samps, sample{clip: i, start: s})
			}
			continue
		}
		fs.samps = append(fs.samps, sample{clip: i, start: 0})
	}
	if len(fs.samps) == 0 && sc.Windows.Past > 0 {
		return nil, fmt.Errorf("%s: no clip is long enough for one %d+%d-frame window", cfg.Clips, sc.Windows.Past, sc.Windows.Future)
	}
	return fs, nil
}

// Len is the number of samples.
func (fs *FileSet) Len() int { return len(fs.samps) }

// ClipID names sample i's clip.
func (fs *FileSet) ClipID(i int) string { return fs.clips[fs.samps[i].clip].id }

// folderFiles resolves clip ids to the .npz files of one folder (not recursive).
type folderFiles struct {
	dir    string
	exact  map[string]bool     // file names
	byStem map[string][]string // upstream stem → file names
}

func listFolder(dir string) (*folderFiles, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	f := &folderFiles{dir: dir, exact: map[string]bool{}, byStem: map[string][]string{}}
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".npz") || strings.HasPrefix(n, ".") {
			continue
		}
		f.exact[n] = true
		st := anomaly.Stem(n)
		f.byStem[st] = append(f.byStem[st], n)
	}
	return f, nil
}

// path is dir/<id>.npz, else the one file with the id's upstream stem.
func (f *folderFiles) path(id string) (string, error) {
	if f.exact[id+".npz"] {
		return filepath.Join(f.dir, id+".npz"), nil
	}
	// id has no extension: add one for Stem to drop, so that dots in the id stay
	switch c := f.byStem[anomaly.Stem(id+".npz")]; len(c) {
	case 0:
		return "", fmt.Errorf("no %s, nor a file with its stem (upstream's _L<n>_nf<n>_res<n>_new<n>_s<i>of<n> suffix), in %s", id+".npz", f.dir)
	case 1:
		return filepath.Join(f.dir, c[0]), nil
	default:
		return "", fmt.Errorf("no %s, and %d files in %s share its stem: %s", id+".npz", len(c), f.dir, strings.Join(c, ", "))
	}
}

// latents reads a clip's observed and future latents and aligns V-JEPA tubelets to
// frames by repeating each tubelet (model-spec §4.2): [past,P,D] and [T−past,P,D].
func (fs *FileSet) latents(c *clipSup) (obs, fut []float32, P, D int, err error) {
	path := c.featPath
	if path == "" {
		path = c.thinkerPath
	}
	z, err := npy.OpenNPZ(path)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	defer z.Close()
	read := func(key string, frames int) ([]float32, []int, error) {
		v, shape, err := z.Float32s(key, -1, -1, -1)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		if shape[0] <= 0 || frames%shape[0] != 0 {
			return nil, nil, fmt.Errorf("%s: %s has %d time steps, which do not divide the clip's %d frames", path, key, shape[0], frames)
		}
		if i := firstNonFinite(v); i >= 0 {
			return nil, nil, fmt.Errorf("%s: %s is not finite at element %d", path, key, i)
		}
		return repeatTime(v, shape[0], shape[1]*shape[2], frames/shape[0]), shape, nil
	}
	if !z.Has("vjepa_input_feats") && z.Has(thinker.KeyFeats) {
		// upstream's combined cache: the whole clip in one array, split at the clip's past
		b, err := thinker.ReadBranch(z)
		if err != nil {
			return nil, nil, 0, 0, err
		}
		if c.T%b.T != 0 || (c.past*b.T)%c.T != 0 {
			return nil, nil, 0, 0, fmt.Errorf("%s: vjepa_feats has %d time steps, which do not divide the clip's %d frames at past %d", path, b.T, c.T, c.past)
		}
		rep := c.T / b.T
		if err := checkSourceFrames(path, b.FrameIndices, c.frames, rep); err != nil {
			return nil, nil, 0, 0, err
		}
		all := repeatTime(b.Feats, b.T, b.P*b.D, rep)
		frame := b.P * b.D
		return all[:c.past*frame], all[c.past*frame:], b.P, b.D, nil
	}
	obs, s1, err := read("vjepa_input_feats", c.past)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	fut, s2, err := read("vjepa_target_feats", c.T-c.past)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	if s1[1] != s2[1] || s1[2] != s2[2] {
		return nil, nil, 0, 0, fmt.Errorf("%s: input feats %v and target feats %v differ in tokens or channels", path, s1, s2)
	}
	return obs, fut, s1[1], s1[2], nil
}

// checkSourceFrames compares a combined cache's frame_indices with the clip's source
// frames: latent frame k stands for clip frames [k·rep, (k+1)·rep), so its source frame
// must lie within theirs. Features sampled from other frames than the supervision (say
// upstream's 48 frames over the whole video against a clip's 64) would otherwise train
// and score against the wrong poses without a word.
func checkSourceFrames(path string, idx []int64, clip []int, rep int) error {
	if idx == nil || clip == nil {
		return nil
	}
	for k, f := range idx {
		lo, hi := clip[k*rep], clip[(k+1)*rep-1]
		if lo > hi {
			lo, hi = hi, lo
		}
		if f < int64(lo) || f > int64(hi) {
			return fmt.Errorf("%s: frame_indices[%d] is source frame %d, but the clip's frames %d..%d there are %d..%d: the V-JEPA features were sampled from other frames than the clip", path, k, f, k*rep, (k+1)*rep-1, lo, hi)
		}
	}
	return nil
}

func repeatTime(v []float32, T, frame, rep int) []float32 {
	if rep == 1 {
		return v
	}
	out := make([]float32, 0, T*rep*frame)
	for t := 0; t < T; t++ {
		for r := 0; r < rep; r++ {
			out = append(out, v[t*frame:(t+1)*frame]...)
		}
	}
	return out
}

func firstNonFinite(v []float32) int {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i
		}
	}
	return -1
}

// vlm reads a thinker cache through package thinker (format checks, v1 and v2 layouts).
func (fs *FileSet) vlm(path string) (*thinker.Cache, error) {
	c, err := thinker.Read(path)
	if err != nil {
		return nil, err
	}
	if len(c.Old) == 0 && len(c.New) == 0 {
		return nil, fmt.Errorf("%s: vlm_old and vlm_new are both empty", path)
	}
	return c, nil
}

// Batch assembles samples idx: latents, padded guidance streams with masks, and
// supervision in the layout the model needs.
func (fs *FileSet) Batch(idx []int) (*Batch, error) {
	b := &Batch{B: len(idx), J: data.NumJoints}
	var caches []*thinker.Cache
	for bi, si := range idx {
		s := fs.samps[si]
		c := &fs.clips[s.clip]
		obs, fut, P, D, err := fs.latents(c)
		if err != nil {
			return nil, err
		}
		frame := P * D
		all := append(append([]float32(nil), obs...), fut...)
		if fs.LatentMap != nil {
			if all, err = fs.LatentMap.Apply(all); err != nil {
				return nil, fmt.Errorf("clip %s: %w", c.id, err)
			}
		}
		var tc, tf, split int // observed/future latent frames; first future frame index
		switch {
		case fs.Sample.Track:
			tc, tf, split = c.T, c.T, 0 // every frame is context and target
		case fs.Sample.Windows.Past > 0:
			tc, tf, split = fs.Sample.Windows.Past, fs.Sample.Windows.Future, s.start+fs.Sample.Windows.Past
		case fs.Sample.Recursive > 0:
			tc, tf, split = fs.Sample.Recursive, fs.Sample.Recursive, s.start+fs.Sample.Recursive
		default:
			tc, tf, split = c.past, c.T-c.past, c.past
		}
		if bi == 0 {
			b.Tc, b.Tf, b.P, b.D = tc, tf, P, D
		} else if tc != b.Tc || tf != b.Tf || P != b.P || D != b.D {
			return nil, fmt.Errorf("clip %s: latents [%d+%d,%d,%d] differ from the batch's [%d+%d,%d,%d]", c.id, tc, tf, P, D, b.Tc, b.Tf, b.P, b.D)
		}
		if fs.Sample.Track {
			b.Ctx = append(b.Ctx, all...)
		} else {
			b.Ctx = append(b.Ctx, all[(split-tc)*frame:split*frame]...)
		}
		b.Target = append(b.Target, all[split*frame:(split+tf)*frame]...)
		b.World = append(b.World, c.world[split*b.J*3:(split+tf)*b.J*3]...)
		var ext []float32
		if fs.Sample.Camera == "future" || fs.Sample.Recursive > 0 || fs.Sample.Track || fs.Sample.Windows.Past > 0 {
			ext = c.ext[split*16 : (split+tf)*16]
		} else {
			ext = rollout.ReplicateLast(c.ext[(split-1)*16:split*16], 1, tf)
		}
		b.Ext = append(b.Ext, ext...)
		if fs.Sample.RefMode == "perhand" {
			ref, err := rollout.PerHandRef(c.world[(split-1)*b.J*3:split*b.J*3], ext, 1, tf, b.J)
			if err != nil {
				return nil, fmt.Errorf("clip %s: %w", c.id, err)
			}
			b.Ref = append(b.Ref, ref...)
		}
		b.IDs = append(b.IDs, c.id)
		if bi == 0 || len(b.WorldAll) == bi*c.T*b.J*3 {
			b.WorldAll = append(b.WorldAll, c.world...)
			b.ExtAll = append(b.ExtAll, c.ext...)
		}
		if c.thinkerPath != "" {
			tc, err := fs.vlm(c.thinkerPath)
			if err != nil {
				return nil, err
			}
			caches = append(caches, tc)
		}
	}
	if len(caches) == len(idx) && len(caches) > 0 {
		// thinker.Pad checks that the caches agree on layers and hidden size, applies the
		// capacities (0: the longest in the batch; over capacity is an error unless
		// truncate, v1) and builds the masks the FiLM bank pools with.
		pb, err := thinker.Pad(caches, thinker.Capacity{Old: fs.Sample.OldCapacity, New: fs.Sample.NewCapacity}, fs.Sample.Truncate)
		if err != nil {
			return nil, err
		}
		b.L, b.So, b.Sn, b.Dv = pb.L, pb.SOld, pb.SNew, pb.Dv
		b.OldX, b.OldMask, b.NewX, b.NewMask = pb.Old, pb.OldMask, pb.New, pb.NewMask
	}
	return b, nil
}
