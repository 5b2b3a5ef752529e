package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/thinkjepa/thinkjepa/anomaly"
	"github.com/thinkjepa/thinkjepa/internal/buildinfo"
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

// branchOf lays a clip's two encoded halves out as one latent frame per clip frame:
// each tubelet repeated to its frames, as training aligns them (model-spec §4.2) and as
// anomaly.ReadClipLatents reads our split files, so the archive's latents equal those of
// `encode --split-clips` (within float16 rounding).
func branchOf(enc *jepa.Encoder, it encodeItem, c *loadedClip, f [2][]float32, o encodeOpts, cfgJSON []byte) (*thinker.NewBranch, error) {
	tub := enc.Cfg.TubeletSize
	tpIn, hp, wp := enc.Cfg.Grid(c.past, c.H, c.W)
	tpTg, _, _ := enc.Cfg.Grid(c.T-c.past, c.H, c.W)
	if tpIn*tub != c.past || tpTg*tub != c.T-c.past {
		return nil, fmt.Errorf("%s: %d observed and %d target frames are not whole tubelets of %d; vjepa_feats needs one latent frame per clip frame", it.src, c.past, c.T-c.past, tub)
	}
	P, D := hp*wp, enc.Cfg.EmbedDim
	frame := P * D
	steps := append(append(make([]float32, 0, len(f[0])+len(f[1])), f[0]...), f[1]...)
	if len(steps) != (tpIn+tpTg)*frame {
		return nil, fmt.Errorf("%s: %d encoder values for %d tubelets of [%d,%d]", it.src, len(steps), tpIn+tpTg, P, D)
	}
	all := make([]float32, 0, c.T*frame)
	for s := 0; s < tpIn+tpTg; s++ {
		for r := 0; r < tub; r++ {
			all = append(all, steps[s*frame:(s+1)*frame]...)
		}
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
		"layout": "encode --split-clips (observed and target halves encoded separately), each tubelet repeated to its frames",
		"past":   c.past, "tubelet_size": tub, "dtype": dtype, "writer": "thinkjepa encode --into-cache"}
	b, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	nb.Provenance = string(b)
	return nb, nil
}
