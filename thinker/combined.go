package thinker

// Upstream's combined caches (model-spec §4.12): ThinkJEPA's
// cache_train/add_vjepa_feats_to_qwen_cache.py appends the dense V-JEPA branch to an
// existing VLM cache, so that one archive holds both branches:
//
//	vjepa_feats    [T,P,D]        fp16 (save_dtype fp32: float32; bf16: the bfloat16 bits as uint16)
//	imgs           [T,H,W,3]      uint8, the sampled frames the encoder saw (before normalisation)
//	frame_indices  [T]            int64, the source-video frame of each latent frame
//	nframes_used   ()             int32, T
//	total_frames   ()             int32, frames of the source video
//
// upstream's NpzCacheDataset (egodex/trajectory_dataset.py) reads them back: frame_indices,
// else linspace(0, total_frames−1, T); it requires imgs.
//
// VLM caches written by upstream's Qwen extractor (qwen3_parallel_cache_extractor.py)
// already carry nframes_used (the VLM's frame count, e.g. 32), total_frames (0 unless
// the decoder reported it) and sometimes frame_indices (the supervision's, stored as
// float32). upstream's appender overwrites them; AppendBranch keeps their bytes under
// "vlm_"+key instead, so nothing in the archive is lost.
//
// Upstream's appender also writes path and video_path (the video's path) and
// dummy_geometry(T): identity poses and intrinsics, zero joints, unit confidences and an
// empty lang_instruct, so that its NpzCacheDataset can load a cache of a video without
// supervision. It overwrites those keys too, even a VLM cache's real supervision copies
// and its path (the supervision's .hdf5, a hint the loader uses). NewBranch.Fill adds such
// keys only where the archive lacks them; the keys it added are listed in
// vjepa_filled_keys, so that --overwrite replaces them along with the branch.

import (
	"archive/zip"
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/thinkjepa/thinkjepa/internal/fsutil"
	"github.com/thinkjepa/thinkjepa/internal/npy"
)

// Keys of the V-JEPA branch of a combined cache. KeyBranchProvenance is ours: the JSON
// provenance (config, weights, versions) of the appended features.
const (
	KeyFeats            = "vjepa_feats"
	KeyImgs             = "imgs"
	KeyFrameIndices     = "frame_indices"
	KeyNFramesUsed      = "nframes_used"
	KeyTotalFrames      = "total_frames"
	KeyBranchProvenance = "vjepa_provenance"
	// KeyTemporalStride is not written by upstream (its --temporal_stride is a trainer
	// flag); an archive that records one is refused unless it is 1, see ReadBranch.
	KeyTemporalStride = "temporal_stride"
	// VLMKeyPrefix renames the VLM extractor's own frame fields when a branch is appended.
	VLMKeyPrefix = "vlm_"
	// KeyFilledKeys (ours) lists, as a JSON array, the NewBranch.Fill keys AppendBranch
	// added; absent when it added none.
	KeyFilledKeys = "vjepa_filled_keys"
)

// branchKeys are the keys AppendBranch owns, in the order it writes them.
var branchKeys = []string{KeyFeats, KeyFrameIndices, KeyNFramesUsed, KeyTotalFrames, KeyImgs, KeyBranchProvenance, KeyFilledKeys}

// Branch is the V-JEPA branch of a combined cache, decoded to float32.
type Branch struct {
	Feats   []float32 // [T,P,D]
	T, P, D int
	DType   npy.DType // vjepa_feats as stored ("<u2": upstream's bf16 bits)
	// FrameIndices is frame_indices (len T), nil when the archive has none.
	FrameIndices []int64
	// NFramesUsed is nframes_used, −1 when absent. It may differ from T only in archives
	// whose total_frames is absent or 0: there it is the VLM extractor's own frame count.
	NFramesUsed int
	// TotalFrames is total_frames: −1 absent, 0 unknown (the VLM extractor's value when
	// the decoder did not report a count).
	TotalFrames int
	// Layout is vjepa_provenance's layout: LayoutV2 (one latent frame per clip frame, P =
	// a tubelet's tokens) or LayoutUpstream (pseudo-frames, P = half a tubelet's tokens);
	// "" when the archive does not say (upstream's own appender writes no provenance).
	Layout string
}

// Layouts of vjepa_feats, recorded in vjepa_provenance by `encode --into-cache --layout`.
const (
	// LayoutV2: the observed and target halves encoded separately, each tubelet repeated
	// to its frames (model-spec §4.2): T = the clip's frames, P = Hp·Wp.
	LayoutV2 = "v2"
	// LayoutUpstream: upstream's add_vjepa_feats_to_qwen_cache.py, one encoder forward
	// over all T frames reshaped to v1's pseudo-frames (model-spec §4.0): P = Hp·Wp/2.
	LayoutUpstream = "upstream"
)

// HasBranch reports whether the archive at path holds vjepa_feats, without decoding it.
func HasBranch(path string) (bool, error) {
	z, err := npy.OpenNPZ(path)
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	defer z.Close()
	return z.Has(KeyFeats), nil
}

// ReadBranch decodes vjepa_feats and its frame fields and checks that they agree:
//   - vjepa_feats is [T,P,D] with T, P, D > 0, float16/float32 (or uint16 bf16 bits),
//     all finite;
//   - frame_indices, when present, holds T integers (integral floats accepted: the VLM
//     extractor stores the supervision's indices as float32), each in [0, total_frames)
//     when total_frames > 0, never negative;
//   - total_frames, when present, is one integer ≥ 0 (0: unknown);
//   - nframes_used, when present, is one integer > 0 and equals T whenever total_frames
//     is known (> 0): both upstream's appender and ours write nframes_used = T with the
//     video's frame count. With total_frames absent or 0 the field comes from the VLM
//     extractor and counts the VLM's frames, so it is kept but not compared;
//   - temporal_stride: upstream applies its trainer's --temporal_stride to the latents
//     (and poses) but not to frame_indices (thinker_train.py, stride_time_tensor), so
//     labels aligned through frame_indices drift from the strided latents. No archive
//     records a stride today, and our readers never subsample in time, so frame_indices
//     always pairs 1:1 with the latent frames; an archive that does record a stride ≠ 1
//     is refused rather than guessed at.
//
// Errors wrap ErrInvalid and name the file and the key.
func ReadBranch(z *npy.NPZ) (*Branch, error) {
	path := z.Path()
	a, err := z.Get(KeyFeats)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(a.Shape) != 3 || a.Shape[0] <= 0 || a.Shape[1] <= 0 || a.Shape[2] <= 0 {
		return nil, bad(path, KeyFeats, "shape %v, expected [T,P,D] with T, P, D > 0", a.Shape)
	}
	b := &Branch{T: a.Shape[0], P: a.Shape[1], D: a.Shape[2], DType: a.DType, NFramesUsed: -1, TotalFrames: -1}
	switch a.DType {
	case npy.Float16, npy.Float32:
		if b.Feats, err = a.Float32s(); err != nil {
			return nil, bad(path, KeyFeats, "%v", err)
		}
	case npy.Uint16:
		// upstream's --save_dtype bf16 stores tensor.bfloat16().view(torch.uint16): the
		// top half of a float32, so the bits shift into place exactly.
		bits, err := a.Int64s()
		if err != nil {
			return nil, bad(path, KeyFeats, "%v", err)
		}
		b.Feats = make([]float32, len(bits))
		for i, v := range bits {
			b.Feats[i] = math.Float32frombits(uint32(v) << 16)
		}
	default:
		return nil, bad(path, KeyFeats, "dtype %s, expected float16, float32 or uint16 (bf16 bits)", a.DType)
	}
	if i := firstNonFinite(b.Feats); i >= 0 {
		return nil, bad(path, KeyFeats, "value %v at element %d, expected finite values", b.Feats[i], i)
	}
	if z.Has(KeyTemporalStride) {
		s, err := scalarInt(z, KeyTemporalStride)
		if err != nil {
			return nil, err
		}
		if s != 1 {
			return nil, bad(path, KeyTemporalStride, "%d: the latents were subsampled in time, and nothing says frame_indices was subsampled with them (upstream's --temporal_stride caveat); re-encode without a stride", s)
		}
	}
	if z.Has(KeyTotalFrames) {
		if b.TotalFrames, err = scalarInt(z, KeyTotalFrames); err != nil {
			return nil, err
		}
		if b.TotalFrames < 0 {
			return nil, bad(path, KeyTotalFrames, "%d, expected a frame count ≥ 0 (0: unknown)", b.TotalFrames)
		}
	}
	if z.Has(KeyFrameIndices) {
		if b.FrameIndices, err = integers(z, KeyFrameIndices); err != nil {
			return nil, err
		}
		if len(b.FrameIndices) != b.T {
			return nil, bad(path, KeyFrameIndices, "%d entries for the %d latent frames of vjepa_feats %v", len(b.FrameIndices), b.T, a.Shape)
		}
		for i, f := range b.FrameIndices {
			if f < 0 || (b.TotalFrames > 0 && f >= int64(b.TotalFrames)) {
				return nil, bad(path, KeyFrameIndices, "entry %d is frame %d, outside [0, total_frames = %d)", i, f, b.TotalFrames)
			}
		}
	}
	b.Layout = branchLayout(z)
	if z.Has(KeyNFramesUsed) {
		if b.NFramesUsed, err = scalarInt(z, KeyNFramesUsed); err != nil {
			return nil, err
		}
		if b.NFramesUsed <= 0 {
			return nil, bad(path, KeyNFramesUsed, "%d, expected a frame count > 0", b.NFramesUsed)
		}
		if b.NFramesUsed != b.T && b.TotalFrames > 0 {
			return nil, bad(path, KeyNFramesUsed, "%d, but vjepa_feats has %d latent frames (total_frames = %d)", b.NFramesUsed, b.T, b.TotalFrames)
		}
	}
	return b, nil
}

// branchLayout reads the layout from vjepa_provenance ("" when absent or unparsable;
// archives written before --layout existed describe the v2 layout in words).
func branchLayout(z *npy.NPZ) string {
	s, ok := readString(z, KeyBranchProvenance)
	if !ok {
		return ""
	}
	var meta struct {
		Layout string `json:"layout"`
	}
	if json.Unmarshal([]byte(s), &meta) != nil {
		return ""
	}
	switch {
	case meta.Layout == LayoutV2 || meta.Layout == LayoutUpstream:
		return meta.Layout
	case strings.HasPrefix(meta.Layout, "encode --split-clips"):
		return LayoutV2
	}
	return ""
}

// integers decodes key as integers; float arrays must hold whole numbers.
func integers(z *npy.NPZ, key string) ([]int64, error) {
	a, err := z.Get(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	switch a.DType {
	case npy.Float16, npy.Float32, npy.Float64:
		f, err := a.Float64s()
		if err != nil {
			return nil, bad(z.Path(), key, "%v", err)
		}
		out := make([]int64, len(f))
		for i, v := range f {
			if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
				return nil, bad(z.Path(), key, "entry %d is %v, expected a whole number", i, v)
			}
			out[i] = int64(v)
		}
		return out, nil
	}
	v, err := a.Int64s()
	if err != nil {
		return nil, bad(z.Path(), key, "expected integers: %v", err)
	}
	return v, nil
}

func scalarInt(z *npy.NPZ, key string) (int, error) {
	v, err := integers(z, key)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, bad(z.Path(), key, "%d values, expected one integer", len(v))
	}
	return int(v[0]), nil
}

// NewBranch is what AppendBranch writes.
type NewBranch struct {
	Feats   []float32 // [T,P,D], one latent frame per sampled frame
	T, P, D int
	FP32    bool // store float32 instead of upstream's default float16
	// FrameIndices are the source frames of the T latent frames.
	FrameIndices []int64
	// TotalFrames is the source's frame count; 0 when unknown (upstream's convention).
	TotalFrames int
	// Imgs, when not nil, are the T sampled frames [T,ImgH,ImgW,3] uint8.
	Imgs       []uint8
	ImgH, ImgW int
	// Provenance (JSON) is stored as vjepa_provenance.
	Provenance string
	// Fill are further members written only where the archive has no member of that
	// name (upstream's path, video_path and dummy geometry); the ones written are listed
	// in vjepa_filled_keys. Their keys must not be branch keys.
	Fill []Member
}

// Member is one named array of an archive.
type Member struct {
	Key string
	Arr *npy.Array
}

// ErrHasBranch is returned by AppendBranch for an archive that already holds
// vjepa_feats when replacing was not asked for.
var ErrHasBranch = errors.New("already holds vjepa_feats")

// AppendResult says what AppendBranch did to the existing keys.
type AppendResult struct {
	Renamed  map[string]string // VLM-side key → its new name
	Replaced []string          // keys of an earlier V-JEPA branch that were replaced or dropped
	Filled   []string          // NewBranch.Fill keys written (the others existed and were kept)
}

type member struct {
	name string
	arr  *npy.Array
}

// AppendBranch adds b to the cache at path atomically (temporary file + rename; on any
// error the original is untouched): every existing member is copied byte for byte (its
// compressed bytes, CRC and header), then the branch's arrays are added (stored, as
// np.savez does). The existing archive must read as a thinker cache (Read).
//
//   - An archive with vjepa_feats is refused (ErrHasBranch) unless overwrite; with
//     overwrite, every key of the old branch (vjepa_feats, frame_indices, nframes_used,
//     total_frames, imgs, vjepa_provenance, and the keys vjepa_filled_keys lists) is
//     dropped and the new branch written.
//   - b.Fill members are written where the archive (less what was dropped) has no
//     member of their name; existing ones are kept.
//   - Without vjepa_feats, frame_indices/nframes_used/total_frames/imgs already present
//     belong to the VLM cache: their members are kept under "vlm_"+key.
//   - An archive with our v2 latents (vjepa_input_feats) is refused: every reader takes
//     those before vjepa_feats, so the appended branch would be ignored.
func AppendBranch(path string, b *NewBranch, overwrite bool) (*AppendResult, error) {
	members, err := b.members()
	if err != nil {
		return nil, fmt.Errorf("append to %s: %w", path, err)
	}
	fill := make([]member, 0, len(b.Fill))
	for _, m := range b.Fill {
		if m.Arr == nil || m.Key == "" || slices.Contains(branchKeys, m.Key) || strings.HasPrefix(m.Key, VLMKeyPrefix) {
			return nil, fmt.Errorf("append to %s: fill member %q: empty, or a key the branch owns", path, m.Key)
		}
		fill = append(fill, member{m.Key, m.Arr})
	}
	return appendMembers(path, members, fill, overwrite)
}

func (b *NewBranch) members() ([]member, error) {
	n := b.T * b.P * b.D
	if b.T <= 0 || b.P <= 0 || b.D <= 0 || len(b.Feats) != n {
		return nil, fmt.Errorf("%d feature values for [%d,%d,%d]", len(b.Feats), b.T, b.P, b.D)
	}
	if i := firstNonFinite(b.Feats); i >= 0 {
		return nil, fmt.Errorf("vjepa_feats is not finite at element %d", i)
	}
	if len(b.FrameIndices) != b.T {
		return nil, fmt.Errorf("%d frame indices for %d latent frames", len(b.FrameIndices), b.T)
	}
	for i, f := range b.FrameIndices {
		if f < 0 || (b.TotalFrames > 0 && f >= int64(b.TotalFrames)) {
			return nil, fmt.Errorf("frame index %d is %d, outside [0, %d)", i, f, b.TotalFrames)
		}
	}
	if b.TotalFrames < 0 {
		return nil, fmt.Errorf("total frames %d < 0", b.TotalFrames)
	}
	feats := npy.FromFloat32AsHalf(b.Feats, b.T, b.P, b.D)
	if b.FP32 {
		feats = npy.FromFloat32(b.Feats, b.T, b.P, b.D)
	}
	ms := []member{
		{KeyFeats, feats},
		{KeyFrameIndices, npy.FromInt64(b.FrameIndices, b.T)},
		{KeyNFramesUsed, npy.FromInt32([]int32{int32(b.T)})},
		{KeyTotalFrames, npy.FromInt32([]int32{int32(b.TotalFrames)})},
	}
	if b.Imgs != nil {
		if len(b.Imgs) != b.T*b.ImgH*b.ImgW*3 {
			return nil, fmt.Errorf("%d image bytes for [%d,%d,%d,3]", len(b.Imgs), b.T, b.ImgH, b.ImgW)
		}
		ms = append(ms, member{KeyImgs, npy.FromUint8(b.Imgs, b.T, b.ImgH, b.ImgW, 3)})
	}
	ms = append(ms, member{KeyBranchProvenance, npy.FromString(b.Provenance)})
	return ms, nil
}

func appendMembers(path string, add, fill []member, overwrite bool) (*AppendResult, error) {
	if _, err := Read(path); err != nil {
		return nil, fmt.Errorf("append to %s: not a readable VLM cache: %w", path, err)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("append to %s: %w", path, err)
	}
	defer zr.Close()
	has := map[string]bool{}
	for _, f := range zr.File {
		has[npzKey(f.Name)] = true
	}
	if has["vjepa_input_feats"] || has["vjepa_target_feats"] {
		return nil, fmt.Errorf("%w: append to %s: it holds vjepa_input_feats/vjepa_target_feats (v2 layout), which every reader takes before vjepa_feats", ErrInvalid, path)
	}
	res := &AppendResult{Renamed: map[string]string{}}
	drop := map[string]bool{}
	if has[KeyFeats] {
		if !overwrite {
			return nil, fmt.Errorf("%s %w (pass --overwrite to replace it)", path, ErrHasBranch)
		}
		for _, k := range branchKeys {
			if has[k] {
				drop[k] = true
				res.Replaced = append(res.Replaced, k)
			}
		}
		// the keys an earlier Fill added go with its branch
		if has[KeyFilledKeys] {
			var filled []string
			z, err := npy.OpenNPZ(path)
			if err == nil {
				s, ok := readString(z, KeyFilledKeys)
				z.Close()
				if !ok || json.Unmarshal([]byte(s), &filled) != nil {
					err = errors.New("not a JSON list of keys")
				}
			}
			if err != nil {
				return nil, bad(path, KeyFilledKeys, "%v", err)
			}
			for _, k := range filled {
				if has[k] && !drop[k] && !strings.HasPrefix(k, VLMKeyPrefix) {
					drop[k] = true
					res.Replaced = append(res.Replaced, k)
				}
			}
		}
	} else {
		for _, k := range []string{KeyBranchProvenance, KeyFilledKeys} {
			if has[k] {
				return nil, bad(path, k, "present without vjepa_feats; remove it or restore the features")
			}
		}
		for _, k := range []string{KeyFrameIndices, KeyNFramesUsed, KeyTotalFrames, KeyImgs} {
			if !has[k] {
				continue
			}
			if has[VLMKeyPrefix+k] {
				return nil, bad(path, k, "belongs to the VLM cache and cannot be kept as %q, which exists too", VLMKeyPrefix+k)
			}
			res.Renamed[k] = VLMKeyPrefix + k
		}
	}
	for _, m := range fill {
		if has[m.name] && !drop[m.name] {
			continue
		}
		add = append(add, m)
		res.Filled = append(res.Filled, m.name)
	}
	if len(res.Filled) > 0 {
		js, err := json.Marshal(res.Filled)
		if err != nil {
			return nil, err
		}
		add = append(add, member{KeyFilledKeys, npy.FromString(string(js))})
	}
	err = fsutil.WriteAtomic(path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		zw := zip.NewWriter(bw)
		for _, f := range zr.File {
			k := npzKey(f.Name)
			if drop[k] {
				continue
			}
			fh := f.FileHeader
			if nk, ok := res.Renamed[k]; ok {
				fh.Name = nk + f.Name[len(k):]
			}
			if err := copyMember(zw, f, &fh); err != nil {
				return fmt.Errorf("copying member %q: %w", f.Name, err)
			}
		}
		for _, m := range add {
			fw, err := zw.CreateHeader(&zip.FileHeader{Name: m.name + ".npy", Method: zip.Store})
			if err != nil {
				return err
			}
			if err := npy.Write(fw, m.arr); err != nil {
				return fmt.Errorf("member %q: %w", m.name, err)
			}
		}
		if err := zw.SetComment(zr.Comment); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return nil, fmt.Errorf("append to %s (left unchanged): %w", path, err)
	}
	return res, nil
}

// copyMember copies f's compressed bytes under fh (f's header, maybe renamed).
func copyMember(zw *zip.Writer, f *zip.File, fh *zip.FileHeader) error {
	r, err := f.OpenRaw()
	if err != nil {
		return err
	}
	w, err := zw.CreateRaw(fh)
	if err != nil {
		return err
	}
	n, err := io.Copy(w, r)
	if err != nil {
		return err
	}
	if uint64(n) != f.CompressedSize64 {
		return fmt.Errorf("%d of %d compressed bytes: %w", n, f.CompressedSize64, io.ErrUnexpectedEOF)
	}
	return nil
}

// npzKey is the array name of an .npz member ("x.npy" → "x").
func npzKey(name string) string {
	if len(name) > 4 && name[len(name)-4:] == ".npy" {
		return name[:len(name)-4]
	}
	return name
}
