package main

import (
	"encoding/json"

	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/thinkjepa/thinkjepa/arch"
	"github.com/thinkjepa/thinkjepa/data"
	"github.com/thinkjepa/thinkjepa/internal/buildinfo"
	"github.com/thinkjepa/thinkjepa/internal/fsutil"
	"github.com/thinkjepa/thinkjepa/internal/npy"
	"github.com/thinkjepa/thinkjepa/internal/progress"
	"github.com/thinkjepa/thinkjepa/jepa"
	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/weights"
)

func init() {
	register(&command{
		name:    "encode",
		summary: "run the V-JEPA 2 encoder over clips and write token features",
		usage:   "--weights W --input (episode.hdf5 | clip.npz | frames.npy | DIR | manifest.json) (--out OUT | --into-cache CACHES) [flags]",
		setup: func(fs *flag.FlagSet) func([]string) error {
			o := encodeOpts{}
			o.dev = addDeviceFlags(fs)
			fs.StringVar(&o.weights, "weights", "", "checkpoint in thinkjepa format (from thinkjepa weights import or init); its config gives the architecture")
			fs.StringVar(&o.input, "input", "", "an EgoDex episode .hdf5, a clip .npz, frames .npy ([T,H,W,3] uint8, or float32 with --no-preprocess), a directory of those, or a data manifest .json")
			fs.StringVar(&o.out, "out", "", "output file for one input (.npy, or .npz with --split-clips); output directory for several")
			fs.IntVar(&o.batch, "batch", 1, "clips per encoder forward")
			o.shard = addShardFlag(fs, "encode the batches (of --batch inputs)")
			fs.BoolVar(&o.noPre, "no-preprocess", false, "input .npy is already normalised float32 [T,H,W,3]")
			crop := fs.Bool("crop", false, "V-JEPA 2 eval transform: short side 292, centre crop 256 (default)")
			squash := fs.Bool("squash", false, "resize frames directly to the crop size (ThinkJEPA v1 decode)")
			fs.BoolVar(&o.split, "split-clips", false, "encode the observed and target halves separately (ThinkJEPA v2 layout) and write an .npz with vjepa_input_feats, vjepa_target_feats")
			fs.IntVar(&o.frames, "frames", 64, "frames sampled from an episode (linspace over the whole episode); with --layout upstream from every input, default 48 as upstream's --num_frames")
			fs.BoolVar(&o.overwrite, "overwrite", false, "re-encode inputs whose outputs exist (with --into-cache: replace the vjepa_feats of caches that have them)")
			fs.StringVar(&o.intoCache, "into-cache", "", "append the features to the existing VLM cache archives (.npz) under this folder instead of writing --out, "+
				"as upstream's add_vjepa_feats_to_qwen_cache.py: vjepa_feats [T,P,D] (in the --layout), "+
				"imgs, frame_indices, nframes_used, total_frames; an input goes to the cache with its file stem (upstream's rule: the "+
				"_L8_nf32_res256_new16_s0of1 suffix dropped, same subfolder first); every existing key is kept byte for byte")
			fs.BoolVar(&o.fp32, "fp32", false, "with --into-cache: store vjepa_feats as float32 (default float16, as upstream)")
			fs.BoolVar(&o.noImgs, "no-imgs", false, "with --into-cache: do not store the sampled frames as imgs (upstream's NpzCacheDataset requires them)")
			fs.StringVar(&o.layout, "layout", layoutV2, "with --into-cache: vjepa_feats layout: v2 ([T,P,D] one latent frame per clip frame, the --split-clips encoding with each tubelet repeated), "+
				"or upstream (add_vjepa_feats_to_qwen_cache.py: --frames (default 48) linspace frames over the whole input, decoded squashed to 256×256, one encoder forward, "+
				"reshaped to v1's pseudo-frames of half a tubelet's tokens [T,Hp·Wp/2,D], plus its path, video_path and dummy geometry where the cache lacks them)")
			return func(args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				if err := requireFlags(fs, "weights", "input"); err != nil {
					return err
				}
				switch {
				case o.intoCache == "" && o.out == "":
					return usageErrorf("--out or --into-cache is required")
				case o.intoCache != "" && o.out != "":
					return usageErrorf("--out and --into-cache exclude each other (--into-cache rewrites the caches in place)")
				case o.intoCache == "" && (o.fp32 || o.noImgs):
					return usageErrorf("--fp32 and --no-imgs apply to --into-cache only")
				case o.layout != layoutV2 && o.layout != layoutUpstream:
					return usageErrorf("--layout must be %s or %s, got %q", layoutV2, layoutUpstream, o.layout)
				case o.layout == layoutUpstream && o.intoCache == "":
					return usageErrorf("--layout applies to --into-cache only")
				case o.layout == layoutUpstream && (*squash || o.noPre):
					return usageErrorf("--layout upstream fixes the preprocessing (frames squashed to 256×256, short side 292, centre crop): --squash and --no-preprocess do not apply")
				case o.layout == layoutUpstream && o.split:
					return usageErrorf("--layout upstream encodes all frames in one forward: --split-clips does not apply")
				}
				if o.layout == layoutUpstream && !flagSet(fs, "frames") {
					o.frames = upstreamNumFrames
				}
				if *crop && *squash {
					return usageErrorf("--crop and --squash exclude each other")
				}
				o.mode = jepa.Crop
				if *squash {
					o.mode = jepa.Squash
				}
				if o.batch < 1 {
					return usageErrorf("--batch must be ≥ 1, got %d", o.batch)
				}
				if o.frames < 2 || o.frames%2 != 0 || o.frames > maxClipFrames {
					return usageErrorf("--frames must be even and in 2..%d, got %d", maxClipFrames, o.frames)
				}
				return runEncode(o)
			}
		},
	})
}

type encodeOpts struct {
	dev                     *deviceFlags
	weights, input, out     string
	batch, frames           int
	shard                   *shard
	noPre, split, overwrite bool
	mode                    jepa.ResizeMode
	intoCache               string // folder of VLM caches to append to
	fp32, noImgs            bool   // --into-cache storage
	layout                  string // --into-cache: layoutV2 or layoutUpstream
}

// encodeItem is one input and where its features go.
type encodeItem struct {
	src     string
	episode *data.Episode // set for manifest / .hdf5 inputs
	out     string        // output file; with --into-cache the matched cache
	rel     string        // path relative to --input without extension (episode ID for manifests)
	group   int           // batch: index / --batch in the full, sorted input list
	// --into-cache: skip (no cache or a bad one: not encoded), write (append to out)
	skip, write bool
}

func (o encodeOpts) ext() string {
	if o.split {
		return ".npz"
	}
	return ".npy"
}

// listInputs expands --input into items, assigns output paths and applies --shard.
func listInputs(o encodeOpts) ([]encodeItem, error) {
	st, err := os.Stat(o.input)
	if err != nil {
		return nil, fmt.Errorf("--input: %w", err)
	}
	var items []encodeItem
	multi := false
	switch {
	case st.IsDir():
		multi = true
		err := filepath.WalkDir(o.input, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			switch strings.ToLower(filepath.Ext(p)) {
			case ".hdf5", ".h5", ".npz", ".npy":
				rel, _ := filepath.Rel(o.input, p)
				rel = strings.TrimSuffix(rel, filepath.Ext(rel))
				items = append(items, encodeItem{src: p, out: rel, rel: rel})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("--input %s: %w", o.input, err)
		}
		if len(items) == 0 {
			return nil, fmt.Errorf("--input %s: no .hdf5, .npz or .npy files", o.input)
		}
	case strings.EqualFold(filepath.Ext(o.input), ".json"):
		multi = true
		m, err := data.ReadManifest(o.input)
		if err != nil {
			return nil, err
		}
		for i := range m.Episodes {
			ep := m.Episodes[i]
			items = append(items, encodeItem{src: ep.Path, episode: &ep, out: filepath.FromSlash(ep.ID), rel: filepath.FromSlash(ep.ID)})
		}
	default:
		base := filepath.Base(o.input)
		items = []encodeItem{{src: o.input, out: o.out, rel: strings.TrimSuffix(base, filepath.Ext(base))}}
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].src < items[j].src })
	// Batches are fixed groups of --batch consecutive inputs of the whole list, and a shard
	// takes whole batches: batched GEMMs round differently for different batch
	// compositions, so an input's features must not depend on the sharding or on which
	// inputs an interrupted run had finished.
	var mine []encodeItem
	for k, it := range items {
		it.group = k / max(1, o.batch)
		if !o.shard.Mine(it.group) {
			continue
		}
		if multi && o.intoCache == "" {
			it.out = filepath.Join(o.out, it.out+o.ext())
		}
		mine = append(mine, it)
	}
	return mine, nil
}

// loadedClip is one input ready for the encoder: [C,T,S,S] normalised.
type loadedClip struct {
	video      []float32
	T, H, W    int
	past       int
	frameIndex []int
	// The frames before preprocessing ([T,FH,FW,3] uint8; nil for --no-preprocess input)
	// and the length of the timeline frameIndex indexes (0: unknown), for --into-cache.
	frames       []uint8
	fh, fw       int
	sourceFrames int
	// videoPath is the video the frames came from (the input itself for frame files).
	videoPath string
}

func loadInput(it encodeItem, o encodeOpts, crop int) (*loadedClip, error) {
	ext := strings.ToLower(filepath.Ext(it.src))
	if o.noPre && ext != ".npy" {
		return nil, fmt.Errorf("%s: --no-preprocess needs a float32 .npy [T,H,W,3]", it.src)
	}
	var frames []uint8
	var T, H, W, past int
	var idx []int
	src := 0
	mode := o.mode
	upstream := o.intoCache != "" && o.layout == layoutUpstream
	video := it.src
	switch {
	case it.episode != nil || ext == ".hdf5" || ext == ".h5":
		ep := data.EpisodeFromPath(it.src)
		if it.episode != nil {
			ep = *it.episode
		}
		// Decode through ffmpeg to a square (aspect-preserving crop for --crop), at
		// 292 px for crop 256 so that the centre crop below completes §1.1.
		vo := data.VideoOptions{W: crop, H: crop}
		if mode == jepa.Crop {
			side := crop * 256 / 224
			vo = data.VideoOptions{W: side, H: side, Crop: true}
		}
		var s data.Sampler = data.Episode64{T: o.frames}
		if upstream {
			// read_video_clip: decord's VideoReader(width=height=decode_size) squashes
			// the whole frame; the transform below then resizes and crops it
			vo = data.VideoOptions{W: upstreamDecodeSize, H: upstreamDecodeSize}
			s = upstreamSampler{T: o.frames}
		}
		c, err := data.LoadClip(ep, s, data.LoadOptions{Video: vo})
		if err != nil {
			return nil, err
		}
		frames, T, H, W, past, idx, src = c.Frames, c.T, c.H, c.W, c.Past, c.FrameIndices, c.SourceFrames
		video = ep.Video
		upstream = false // sampled and decoded already
	case ext == ".npz":
		c, err := data.ReadClipNPZ(it.src)
		if err != nil {
			return nil, err
		}
		frames, T, H, W, past, idx = c.Frames, c.T, c.H, c.W, c.Past, c.FrameIndices
	case ext == ".npy":
		a, err := npy.ReadNPYFile(it.src)
		if err != nil {
			return nil, err
		}
		if len(a.Shape) != 4 || a.Shape[3] != 3 {
			return nil, fmt.Errorf("%s: shape %v, expected [T,H,W,3]", it.src, a.Shape)
		}
		T, H, W = a.Shape[0], a.Shape[1], a.Shape[2]
		if o.noPre {
			if a.DType != npy.Float32 && a.DType != npy.Float16 && a.DType != npy.Float64 {
				return nil, fmt.Errorf("%s: dtype %s, --no-preprocess expects normalised float32 [T,H,W,3]", it.src, a.DType)
			}
			x, err := a.Float32s()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", it.src, err)
			}
			for i, v := range x {
				if v != v || v > 1e30 || v < -1e30 {
					return nil, fmt.Errorf("%s: value %d is %g (not finite)", it.src, i, v)
				}
			}
			v, err := jepa.THWCToCTHW(x, T, H, W, 3)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", it.src, err)
			}
			return &loadedClip{video: v, T: T, H: H, W: W, past: T / 2}, nil
		}
		if a.DType != npy.Uint8 {
			return nil, fmt.Errorf("%s: dtype %s, expected uint8 RGB frames (pass --no-preprocess for normalised float32)", it.src, a.DType)
		}
		if frames, err = a.Uint8s(); err != nil {
			return nil, fmt.Errorf("%s: frames must be uint8 RGB (or pass --no-preprocess for normalised float32): %w", it.src, err)
		}
	default:
		return nil, fmt.Errorf("%s: unknown input type %q (want .hdf5, .npz, .npy or a manifest .json)", it.src, ext)
	}
	if upstream {
		// a frames file is the video: upstream's frame selection over its frames
		if H != W {
			return nil, fmt.Errorf("%s: %d×%d frames; --layout upstream needs square frames (upstream decodes every video squashed to --decode_size², 256²)", it.src, H, W)
		}
		frames, idx, src = upstreamSelect(frames, T, H*W*3, idx, o.frames)
		T, past = o.frames, 0
	}
	v, err := jepa.Preprocess(frames, T, H, W, crop, mode)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", it.src, err)
	}
	if past <= 0 {
		past = T / 2
	}
	return &loadedClip{video: v, T: T, H: crop, W: crop, past: past, frameIndex: idx, frames: frames, fh: H, fw: W, sourceFrames: src, videoPath: video}, nil
}

// sliceFrames takes frames [t0,t1) of a [C,T,H,W] clip.
func sliceFrames(v []float32, C, T, H, W, t0, t1 int) []float32 {
	out := make([]float32, 0, C*(t1-t0)*H*W)
	for c := 0; c < C; c++ {
		out = append(out, v[(c*T+t0)*H*W:(c*T+t1)*H*W]...)
	}
	return out
}

func runEncode(o encodeOpts) error {
	ck, err := weights.Load(o.weights)
	if err != nil {
		return err
	}
	cfg, err := arch.EncoderFromJSON(ck.Config)
	if err != nil {
		return fmt.Errorf("%s: %w", o.weights, err)
	}
	cfg.OutLayers = nil
	src := ck.Sub(weights.PrefixEncoder)
	if len(src) == 0 {
		src = ck.Tensors
	}
	host := map[string]jepa.HostTensor{}
	for n, t := range src {
		host[n] = jepa.HostTensor{Shape: t.Shape, Data: t.Data}
	}
	e, err := o.dev.engine()
	if err != nil {
		return err
	}
	enc, err := jepa.NewEncoder(e, cfg)
	if err != nil {
		return err
	}
	unused, err := enc.Load(e, host)
	if err != nil {
		return fmt.Errorf("%s: %w", o.weights, err)
	}
	if len(unused) > 0 {
		slog.Info("encoder weights not used", "count", len(unused), "names", unused)
	}
	items, err := listInputs(o)
	if err != nil {
		return err
	}
	var cs *cacheStats
	if o.intoCache != "" {
		if cs, err = matchCaches(items, o); err != nil {
			return err
		}
	}
	// A batch with any output missing is encoded whole (its finished outputs are rewritten
	// with the same bytes; with --into-cache they are left alone), so its composition is
	// the uninterrupted run's.
	var todo [][]encodeItem
	nTodo := 0
	for s := 0; s < len(items); {
		e := s
		need := false
		for ; e < len(items) && items[e].group == items[s].group; e++ {
			if o.intoCache != "" {
				need = need || items[e].write
			} else {
				need = need || o.overwrite || !fsutil.Exists(items[e].out)
			}
		}
		if need {
			todo = append(todo, items[s:e])
			nTodo += e - s
			if o.intoCache != "" {
				nTodo -= e - s
				for _, it := range items[s:e] {
					if it.write {
						nTodo++
					}
				}
			}
		}
		s = e
	}
	archDesc := fmt.Sprintf("D=%d depth=%d heads=%d", cfg.EmbedDim, cfg.Depth, cfg.NumHeads)
	if cs != nil {
		slog.Info("encode", "inputs", len(items), "to_do", nTodo, "skipped_existing", cs.existing, "missing_cache", cs.missing,
			"bad", len(cs.failed), "engine", e.Name(), "arch", archDesc)
	} else {
		slog.Info("encode", "inputs", len(items), "to_do", nTodo, "skipped_existing", len(items)-nTodo, "engine", e.Name(), "arch", archDesc)
	}
	cfgJSON, _ := json.Marshal(cfg)
	bar := progress.New(nTodo, "encode")
	defer bar.Finish()
	var failed []string
	if cs != nil {
		failed = cs.failed
	}
	for _, batch := range todo {
		clips := make([]*loadedClip, len(batch))
		for i, it := range batch {
			if it.skip {
				continue
			}
			if clips[i], err = loadInput(it, o, cfg.ImgSize); err != nil {
				if len(items) == 1 {
					return err
				}
				slog.Error("skipping input", "input", it.src, "err", err)
				failed = append(failed, it.src)
			}
		}
		if o.intoCache != "" {
			feats, err := forwardBatch(e, enc, batch, clips, o)
			if err != nil {
				return err
			}
			failed = append(failed, appendBatch(enc, batch, clips, feats, o, cfgJSON, cs)...)
			for _, it := range batch {
				if it.write {
					bar.Add(1)
				}
			}
			continue
		}
		if err := encodeBatch(e, enc, batch, clips, o, cfgJSON); err != nil {
			return err
		}
		bar.Add(len(batch))
	}
	if cs != nil {
		slog.Info("into-cache", "updated", cs.updated, "skipped_existing", cs.existing, "missing_cache", cs.missing, "failed", len(failed))
		if cs.updated+cs.existing+len(failed) == 0 {
			return fmt.Errorf("--into-cache %s: none of the %d inputs has a cache there (matched by file stem)", o.intoCache, cs.missing)
		}
	}
	if len(failed) > 0 {
		n := nTodo
		if cs != nil {
			n = len(items)
		}
		return fmt.Errorf("%d of %d inputs failed (first: %s)", len(failed), n, failed[0])
	}
	return nil
}

// encodeBatch encodes the loaded clips of a batch (nil entries failed to load) and
// writes outputs.
func encodeBatch(e nn.Engine, enc *jepa.Encoder, items []encodeItem, clips []*loadedClip, o encodeOpts, cfgJSON []byte) error {
	feats, err := forwardBatch(e, enc, items, clips, o)
	if err != nil {
		return err
	}
	return writeBatch(enc, items, clips, feats, o, cfgJSON)
}

// forwardBatch encodes the loaded clips of a batch (nil entries are left out), grouping
// same-sized clips (or halves with --split-clips / --into-cache) into one forward:
// per clip [whole or observed half, target half] tokens.
func forwardBatch(e nn.Engine, enc *jepa.Encoder, items []encodeItem, clips []*loadedClip, o encodeOpts) ([][2][]float32, error) {
	type part struct {
		item, half int
		video      []float32
		T, H, W    int
	}
	var parts []part
	for i, c := range clips {
		if c == nil {
			continue
		}
		if o.split || (o.intoCache != "" && o.layout != layoutUpstream) {
			if c.past <= 0 || c.past >= c.T {
				return nil, fmt.Errorf("%s: cannot split %d frames at %d", items[i].src, c.T, c.past)
			}
			parts = append(parts, part{i, 0, sliceFrames(c.video, 3, c.T, c.H, c.W, 0, c.past), c.past, c.H, c.W},
				part{i, 1, sliceFrames(c.video, 3, c.T, c.H, c.W, c.past, c.T), c.T - c.past, c.H, c.W})
		} else {
			parts = append(parts, part{i, 0, c.video, c.T, c.H, c.W})
		}
	}
	feats := make([][2][]float32, len(items))
	done := make([]bool, len(parts))
	for i := range parts {
		if done[i] {
			continue
		}
		var group []int
		for j := i; j < len(parts); j++ {
			if !done[j] && parts[j].T == parts[i].T && parts[j].H == parts[i].H && parts[j].W == parts[i].W {
				group = append(group, j)
				done[j] = true
			}
		}
		videos := make([][]float32, len(group))
		for k, j := range group {
			videos[k] = parts[j].video
		}
		t0 := time.Now()
		out, err := enc.Encode(e, videos, parts[i].T, parts[i].H, parts[i].W)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", items[parts[i].item].src, err)
		}
		slog.Debug("forward", "clips", len(group), "seconds", time.Since(t0).Seconds())
		for k, j := range group {
			feats[parts[j].item][parts[j].half] = out[k]
		}
	}
	return feats, nil
}

// writeBatch writes the --out files of a forwarded batch.
func writeBatch(enc *jepa.Encoder, items []encodeItem, clips []*loadedClip, feats [][2][]float32, o encodeOpts, cfgJSON []byte) error {
	D := enc.Cfg.EmbedDim
	for i, it := range items {
		c := clips[i]
		if c == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(it.out), 0o755); err != nil && filepath.Dir(it.out) != "." {
			return err
		}
		tp, hp, wp := enc.Cfg.Grid(c.T, c.H, c.W)
		meta := map[string]any{"source": it.src, "config": json.RawMessage(cfgJSON), "weights": o.weights,
			"preprocess": preprocessName(o), "build": buildinfo.Get(), "frame_indices": c.frameIndex}
		metaJSON, err := json.Marshal(meta)
		if err != nil {
			return err
		}
		if o.split {
			tpIn, _, _ := enc.Cfg.Grid(c.past, c.H, c.W)
			tpTg, _, _ := enc.Cfg.Grid(c.T-c.past, c.H, c.W)
			w := npy.NewNPZWriter()
			w.Add("vjepa_input_feats", npy.FromFloat32(feats[i][0], tpIn, hp*wp, D))
			w.Add("vjepa_target_feats", npy.FromFloat32(feats[i][1], tpTg, hp*wp, D))
			if c.frameIndex != nil {
				idx := make([]int32, len(c.frameIndex))
				for k, v := range c.frameIndex {
					idx[k] = int32(v)
				}
				w.Add("past_raw_indices", npy.FromInt32(idx[:c.past], c.past))
				w.Add("target_raw_indices", npy.FromInt32(idx[c.past:], c.T-c.past))
			}
			w.Add("provenance", npy.FromString(string(metaJSON)))
			if err := w.WriteFile(it.out); err != nil {
				return fmt.Errorf("writing %s: %w", it.out, err)
			}
			continue
		}
		if err := fsutil.WriteFileAtomic(it.out+".meta.json", metaJSON); err != nil {
			return fmt.Errorf("writing %s.meta.json: %w", it.out, err)
		}
		// The features file is written last: its presence marks the input as done.
		if err := npy.WriteNPYFile(it.out, npy.FromFloat32(feats[i][0], tp, hp*wp, D)); err != nil {
			return fmt.Errorf("writing %s: %w", it.out, err)
		}
	}
	return nil
}

func preprocessName(o encodeOpts) string {
	switch {
	case o.noPre:
		return "none (input already normalised)"
	case o.mode == jepa.Squash:
		return "squash"
	}
	return "crop"
}
