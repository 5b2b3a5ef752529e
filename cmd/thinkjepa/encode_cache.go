package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/thinkjepa/thinkjepa/anomaly"
	"github.com/thinkjepa/thinkjepa/internal/buildinfo"
	"github.com/thinkjepa/thinkjepa/internal/linspace"
	"github.com/thinkjepa/thinkjepa/internal/npy"
	"github.com/thinkjepa/thinkjepa/jepa"
	"github.com/thinkjepa/thinkjepa/thinker"
)

// encode --into-cache: append our V-JEPA features to existing VLM caches, the way
// upstream's cache_train/add_vjepa_feats_to_qwen_cache.py does (model-spec §4.12), so
// one archive holds both branches. The archive work (byte-identical copies, atomic
// rewrite, upstream's keys) is thinker.AppendBranch; this file matches inputs to caches
// and turns encoder output into the [T,P,D] frame layout.

// cacheStats counts what --into-cache did.
type cacheStats struct {
	updated, existing, missing int
	failed                     []string
}

// unsafeID is upstream's make_safe_video_identifier rule: runs of other characters
// become one "_".
var unsafeID = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// cacheIndex finds the caches under a folder the way upstream's build_cache_index /
// resolve_cache_path do: by (subfolder, stem) first, else by a stem only one cache has.
// The stem drops upstream's _L<n>_nf<n>_res<n>_new<n>_s<i>of<n> suffix (anomaly.Stem).
type cacheIndex struct {
	byRelStem map[[2]string]string
	byStem    map[string][]string
}

func indexCaches(dir string) (*cacheIndex, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("--into-cache: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("--into-cache %s is not a directory", dir)
	}
	ix := &cacheIndex{byRelStem: map[[2]string]string{}, byStem: map[string][]string{}}
	n := 0
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != dir { // hidden, and our half-written temporaries
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !strings.EqualFold(filepath.Ext(p), ".npz") {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		stem := anomaly.Stem(p)
		ix.byRelStem[[2]string{filepath.Dir(rel), stem}] = p
		ix.byStem[stem] = append(ix.byStem[stem], p)
		n++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("--into-cache %s: %w", dir, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("--into-cache %s: no .npz caches", dir)
	}
	return ix, nil
}

// find returns the cache of an input with path rel (relative to --input, no extension),
// "" when there is none, or an error when several caches share its stem.
func (ix *cacheIndex) find(rel string) (string, error) {
	// rel has no extension: add one for Stem to drop, so that dots in the name stay
	stem := unsafeID.ReplaceAllString(anomaly.Stem(filepath.Base(rel)+".x"), "_")
	if p, ok := ix.byRelStem[[2]string{filepath.Dir(rel), stem}]; ok {
		return p, nil
	}
	switch c := ix.byStem[stem]; len(c) {
	case 0:
		return "", nil
	case 1:
		return c[0], nil
	default:
		return "", fmt.Errorf("%d caches have the stem %q and none is in the input's subfolder %q: %s", len(c), stem, filepath.Dir(rel), strings.Join(c, ", "))
	}
}

// matchCaches points every item at its cache and decides what to do with it: write
// (no vjepa_feats yet, or --overwrite), leave (has vjepa_feats), or skip (no cache: not
// encoded; a cache that cannot be opened, or one claimed by two inputs: failed).
func matchCaches(items []encodeItem, o encodeOpts) (*cacheStats, error) {
	ix, err := indexCaches(o.intoCache)
	if err != nil {
		return nil, err
	}
	cs := &cacheStats{}
	claimed := map[string][]int{}
	for k := range items {
		it := &items[k]
		p, err := ix.find(it.rel)
		switch {
		case err != nil:
			slog.Error("skipping input: ambiguous cache", "input", it.src, "err", err)
			cs.failed = append(cs.failed, it.src)
			it.skip = true
			continue
		case p == "":
			slog.Warn("no cache for input", "input", it.src, "stem", anomaly.Stem(it.rel+".x"), "caches", o.intoCache)
			cs.missing++
			it.skip = true
			continue
		}
		it.out = p
		claimed[p] = append(claimed[p], k)
	}
	paths := make([]string, 0, len(claimed))
	for p := range claimed {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		ks := claimed[p]
		if len(ks) > 1 {
			var srcs []string
			for _, k := range ks {
				srcs = append(srcs, items[k].src)
				items[k].skip = true
				cs.failed = append(cs.failed, items[k].src)
			}
			slog.Error("skipping inputs: they match the same cache", "cache", p, "inputs", srcs)
			continue
		}
		it := &items[ks[0]]
		has, err := thinker.HasBranch(p)
		switch {
		case err != nil:
			slog.Error("skipping input: bad cache", "input", it.src, "err", err)
			cs.failed = append(cs.failed, it.src)
			it.skip = true
		case has && !o.overwrite:
			cs.existing++
		default:
			it.write = true
		}
	}
	return cs, nil
}

// appendBatch turns each forwarded clip of the batch whose cache is to be written into
// vjepa_feats [T,P,D] and appends it with the frame fields. It returns the inputs that
// failed: a bad cache, a clip that does not split into whole tubelets.
func appendBatch(enc *jepa.Encoder, items []encodeItem, clips []*loadedClip, feats [][2][]float32, o encodeOpts, cfgJSON []byte, cs *cacheStats) []string {
	var failed []string
	for i, it := range items {
		c := clips[i]
		if !it.write || c == nil {
			continue
		}
		nb, err := branchOf(enc, it, c, feats[i], o, cfgJSON)
		if err == nil {
			var res *thinker.AppendResult
			if res, err = thinker.AppendBranch(it.out, nb, o.overwrite); err == nil {
				cs.updated++
				if len(res.Renamed) > 0 {
					slog.Info("kept the VLM cache's own frame fields under new names", "cache", it.out, "renamed", res.Renamed)
				}
				var kept []string
				for _, m := range nb.Fill {
					if !slices.Contains(res.Filled, m.Key) {
						kept = append(kept, m.Key)
					}
				}
				if len(kept) > 0 {
					slog.Info("kept the cache's own keys (upstream's appender overwrites them with the video path and dummy geometry)", "cache", it.out, "kept", kept)
				}
				continue
			}
		}
		if errors.Is(err, thinker.ErrHasBranch) { // written since matchCaches looked
			cs.existing++
			continue
		}
		slog.Error("skipping input", "input", it.src, "cache", it.out, "err", err)
		failed = append(failed, it.src)
	}
	return failed
}

// branchOf lays a clip's encoding out as vjepa_feats [T,P,D] in o.layout with its frame
// fields (and, for the upstream layout, upstream's further keys).
func branchOf(enc *jepa.Encoder, it encodeItem, c *loadedClip, f [2][]float32, o encodeOpts, cfgJSON []byte) (*thinker.NewBranch, error) {
	tub := enc.Cfg.TubeletSize
	D := enc.Cfg.EmbedDim
	var all []float32
	var P int
	var layout string
	if o.layout == layoutUpstream {
		var err error
		if P, err = pseudoFrames(len(f[0]), c.T, D); err != nil {
			return nil, fmt.Errorf("%s: %w", it.src, err)
		}
		all = f[0] // the reshape is a view: same values, same order
		layout = "upstream: add_vjepa_feats_to_qwen_cache.py, one encoder forward over all T frames, output [T/tubelet·Hp·Wp,D] viewed as [T,P,D] pseudo-frames: P = Hp·Wp/2, pseudo-frame 2k = rows 0..Hp/2−1 of tubelet k, 2k+1 = the other rows"
	} else {
		var err error
		if all, P, err = tubeletFrames(enc, it, c, f); err != nil {
			return nil, err
		}
		layout = "v2: encode --split-clips (observed and target halves encoded separately), each tubelet repeated to its frames"
	}
	// A frames .npy is its own source: frame t is source frame t of T.
	idx := make([]int64, c.T)
	total := c.T
	for t := range idx {
		idx[t] = int64(t)
	}
	if c.frameIndex != nil {
		total = c.sourceFrames
		for t, v := range c.frameIndex {
			idx[t] = int64(v)
		}
	}
	nb := &thinker.NewBranch{Feats: all, T: c.T, P: P, D: D, FP32: o.fp32, FrameIndices: idx, TotalFrames: total}
	if !o.noImgs {
		if c.frames == nil {
			slog.Warn("no uint8 frames (--no-preprocess input): imgs not written", "input", it.src)
		} else {
			nb.Imgs, nb.ImgH, nb.ImgW = c.frames, c.fh, c.fw
		}
	}
	dtype := "float16"
	if o.fp32 {
		dtype = "float32"
	}
	meta := map[string]any{"source": it.src, "config": json.RawMessage(cfgJSON), "weights": o.weights,
		"preprocess": preprocessName(o), "build": buildinfo.Get(), "frame_indices": c.frameIndex,
		"layout": o.layout, "layout_detail": layout,
		"past": c.past, "tubelet_size": tub, "dtype": dtype, "writer": "thinkjepa encode --into-cache"}
	if o.layout == layoutUpstream {
		delete(meta, "past") // one forward: nothing is split
		meta["frames"] = c.T
		meta["tokens_per_frame"] = P
		meta["filled_if_absent"] = "path, video_path, dummy geometry (add_vjepa_feats_to_qwen_cache.py::dummy_geometry)"
		nb.Fill = upstreamExtras(c.videoPath, c.T)
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	nb.Provenance = string(b)
	return nb, nil
}

// tubeletFrames is the v2 layout: the clip's two encoded halves as one latent frame per
// clip frame, each tubelet repeated to its frames, as training aligns them (model-spec
// §4.2) and as anomaly.ReadClipLatents reads our split files, so the archive's latents
// equal those of `encode --split-clips` (within float16 rounding).
func tubeletFrames(enc *jepa.Encoder, it encodeItem, c *loadedClip, f [2][]float32) ([]float32, int, error) {
	tub := enc.Cfg.TubeletSize
	tpIn, hp, wp := enc.Cfg.Grid(c.past, c.H, c.W)
	tpTg, _, _ := enc.Cfg.Grid(c.T-c.past, c.H, c.W)
	if tpIn*tub != c.past || tpTg*tub != c.T-c.past {
		return nil, 0, fmt.Errorf("%s: %d observed and %d target frames are not whole tubelets of %d; vjepa_feats needs one latent frame per clip frame", it.src, c.past, c.T-c.past, tub)
	}
	P, D := hp*wp, enc.Cfg.EmbedDim
	frame := P * D
	steps := append(append(make([]float32, 0, len(f[0])+len(f[1])), f[0]...), f[1]...)
	if len(steps) != (tpIn+tpTg)*frame {
		return nil, 0, fmt.Errorf("%s: %d encoder values for %d tubelets of [%d,%d]", it.src, len(steps), tpIn+tpTg, P, D)
	}
	all := make([]float32, 0, c.T*frame)
	for s := 0; s < tpIn+tpTg; s++ {
		for r := 0; r < tub; r++ {
			all = append(all, steps[s*frame:(s+1)*frame]...)
		}
	}
	return all, P, nil
}

// --layout upstream: GGQQWang/ThinkJEPA cache_train/add_vjepa_feats_to_qwen_cache.py
// (read at 0b552e7; unchanged since eaae49d), restated:
//
//   - read_video_clip: decord VideoReader(path, width=decode_size, height=decode_size)
//     (default 256: the whole frame squashed), total = len(vr), frames at
//     uniform_frame_indices(total, num_frames) = np.linspace(0, total−1, num_frames,
//     dtype=np.int64) (num_frames default 48): numpy's i·((total−1)/(num−1)) truncated,
//     the last exactly total−1, repeats when total < num; see upstreamSampler.
//   - preprocess_vjepa_video: ÷255 (only when the clip's max > 1: not restated, a clip
//     of values ≤ 1 is all but black), bilinear resize (align_corners=False, no
//     antialias) of the short side to int(256/224·256) = 292, the long side
//     round(side·292/short), centre crop 256 at round((new−256)/2), ImageNet
//     normalisation. On its square frames that is jepa.Preprocess's Crop.
//   - encode_dense_jepa_video: ONE forward of vit_large_rope over all T frames (no
//     observed/target split), out [B, T/2·16·16, 1024] → out.contiguous().view(B, T, −1,
//     D): [T,128,D] (pseudoFrames).
//   - payload: imgs = the decoded uint8 frames [T,256,256,3]; vjepa_feats (fp16; fp32;
//     bf16 as uint16 bits, which its own loader cannot read: not offered);
//     path = video_path = str(video path); nframes_used = int32 num_frames; total_frames =
//     int32 len(vr); frame_indices = int64 indices; dummy_geometry(num_frames)
//     (upstreamExtras). It overwrites every one of these keys; we keep a cache's own
//     path and supervision (see thinker.NewBranch.Fill) and its frame fields as vlm_*.
const (
	upstreamDecodeSize = 256 // --decode_size default
	upstreamNumFrames  = 48  // --num_frames default
)

// Layouts of --into-cache (recorded in vjepa_provenance).
const (
	layoutV2       = thinker.LayoutV2
	layoutUpstream = thinker.LayoutUpstream
)

// upstreamSampler is uniform_frame_indices: np.linspace(0, n−1, T, dtype=np.int64), the
// same indices as data.Episode64 (both are package linspace); it keeps its own name and
// its error for T < 1 (Episode64 takes T ≤ 0 as 64).
type upstreamSampler struct{ T int }

func (s upstreamSampler) Name() string { return fmt.Sprintf("upstream-linspace%d", s.T) }

func (s upstreamSampler) Indices(n int) ([]int, int, error) {
	if n < 1 {
		return nil, 0, fmt.Errorf("sampler %s: empty video (%d frames)", s.Name(), n)
	}
	if s.T < 1 {
		return nil, 0, fmt.Errorf("sampler %s: --frames must be positive", s.Name())
	}
	return linspace.Ints(n-1, s.T), s.T / 2, nil
}

// upstreamSelect applies upstream's frame selection to a frames file ([T][frame bytes]
// uint8): it is the video. The source indices are the file's own (idx, composed) or the
// file's frame numbers (its T frames are then the source's length).
func upstreamSelect(frames []uint8, T, frame int, idx []int, n int) ([]uint8, []int, int) {
	sel, _, _ := upstreamSampler{T: n}.Indices(T)
	out := make([]uint8, 0, n*frame)
	src := make([]int, n)
	for k, t := range sel {
		out = append(out, frames[t*frame:(t+1)*frame]...)
		src[k] = t
		if idx != nil {
			src[k] = idx[t]
		}
	}
	total := 0 // a clip's source length is unknown
	if idx == nil {
		total = T
	}
	return out, src, total
}

// pseudoFrames is encode_dense_jepa_video's reshape: the encoder's n = len/D tokens of
// one forward over T frames, out.contiguous().view(B, T, −1, D). It moves no value: token
// j (time-major, then row, then column: model-spec §1.2) lands in pseudo-frame j / P at
// position j mod P, with P = n/T. With tubelet 2 and an Hp×Wp grid that is P = Hp·Wp/2:
// pseudo-frame 2k holds rows 0..Hp/2−1 of tubelet k, pseudo-frame 2k+1 rows Hp/2..Hp−1
// (v1's layout, model-spec §4.0). torch refuses the view when T does not divide n; so
// do we.
func pseudoFrames(values, T, D int) (int, error) {
	if T <= 0 || D <= 0 || values <= 0 || values%D != 0 {
		return 0, fmt.Errorf("pseudo-frames: %d values are not tokens of %d channels over %d frames", values, D, T)
	}
	n := values / D
	if n%T != 0 {
		return 0, fmt.Errorf("--layout upstream: the encoder gives %d tokens, which do not split into %d frames (upstream's view(B, T, -1, D) fails the same way; it needs an even grid Hp·Wp)", n, T)
	}
	return n / T, nil
}

// upstreamExtras are upstream's path, video_path and dummy_geometry(T): zero joints
// [T,1,3], identity rotations [T,1,3,3] and transforms [T,1,4,4] and extrinsics [T,4,4],
// intrinsics [[256,0,128],[0,256,128],[0,0,1]], unit confidences [T,1] (float32), and an
// empty lang_instruct.
func upstreamExtras(video string, T int) []thinker.Member {
	eye := func(n int) []float32 { // T identity n×n matrices
		out := make([]float32, 0, T*n*n)
		for k := 0; k < T; k++ {
			for i := 0; i < n; i++ {
				for j := 0; j < n; j++ {
					out = append(out, float32(b2i(i == j)))
				}
			}
		}
		return out
	}
	camInt := make([]float32, 0, T*9)
	confs := make([]float32, T)
	for t := 0; t < T; t++ {
		camInt = append(camInt, 256, 0, 128, 0, 256, 128, 0, 0, 1)
		confs[t] = 1
	}
	return []thinker.Member{
		{Key: "path", Arr: npy.FromString(video)},
		{Key: "video_path", Arr: npy.FromString(video)},
		{Key: "xyz_cam", Arr: npy.FromFloat32(make([]float32, T*3), T, 1, 3)},
		{Key: "R_cam", Arr: npy.FromFloat32(eye(3), T, 1, 3, 3)},
		{Key: "xyz_world", Arr: npy.FromFloat32(make([]float32, T*3), T, 1, 3)},
		{Key: "R_world", Arr: npy.FromFloat32(eye(3), T, 1, 3, 3)},
		{Key: "tfs_in_cam", Arr: npy.FromFloat32(eye(4), T, 1, 4, 4)},
		{Key: "tfs", Arr: npy.FromFloat32(eye(4), T, 1, 4, 4)},
		{Key: "cam_ext", Arr: npy.FromFloat32(eye(4), T, 4, 4)},
		{Key: "cam_int", Arr: npy.FromFloat32(camInt, T, 3, 3)},
		{Key: "confs", Arr: npy.FromFloat32(confs, T, 1)},
		{Key: "lang_instruct", Arr: npy.FromString("")},
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
