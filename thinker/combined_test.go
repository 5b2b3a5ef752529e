package thinker

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thinkjepa/thinkjepa/internal/npy"
)

// writeQwenCache writes a VLM cache the way upstream's Qwen extractor does (np.savez_compressed:
// deflated members), with the extractor's own frame fields: nframes_used (its 32 VLM
// frames), total_frames 0 (unknown), the supervision's frame_indices as float32, plus
// text and a zip comment.
func writeQwenCache(t *testing.T, path string, extra ...member) {
	t.Helper()
	L, So, Sn, D := 2, 5, 3, 4
	ms := []member{
		{"vlm_old", npy.FromFloat32AsHalf(vals(L*So*D, 0), L, So, D)},
		{"vlm_new", npy.FromFloat32AsHalf(vals(L*Sn*D, 1), L, Sn, D)},
		{"token_ids", npy.FromInt32([]int32{5, 6, 7, 8}, 4)},
		{"layers", npy.FromInt32([]int32{0, 27}, 2)},
		{"text", npy.FromString("<think> a hand")},
		{"nframes_used", npy.FromInt32([]int32{32})},
		{"total_frames", npy.FromInt32([]int32{0})},
		{"frame_indices", npy.FromFloat32([]float32{0, 3, 6, 9}, 4)},
	}
	ms = append(ms, extra...)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i, m := range ms {
		method := zip.Deflate
		if i%3 == 2 {
			method = zip.Store
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: m.name + ".npy", Method: method, Modified: time.Date(2026, 5, 11, 16, 45, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		if err := npy.Write(w, m.arr); err != nil {
			t.Fatal(err)
		}
	}
	zw.SetComment("upstream cache")
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

type rawMember struct {
	method uint16
	crc    uint32
	mod    time.Time
	raw    []byte
}

// rawMembers maps member names to their compressed bytes and header fields.
func rawMembers(t *testing.T, path string) (map[string]rawMember, string) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := map[string]rawMember{}
	for _, f := range zr.File {
		r, err := f.OpenRaw()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name] = rawMember{f.Method, f.CRC32, f.Modified.UTC(), b}
	}
	return out, zr.Comment
}

func testBranch(T, P, D int) *NewBranch {
	f := make([]float32, T*P*D)
	for i := range f {
		f[i] = float32(math.Sin(float64(i)*0.37)) * 3 // not fp16-exact
	}
	imgs := make([]uint8, T*2*3*3)
	for i := range imgs {
		imgs[i] = uint8(i)
	}
	idx := make([]int64, T)
	for i := range idx {
		idx[i] = int64(10 + 5*i)
	}
	return &NewBranch{Feats: f, T: T, P: P, D: D, FrameIndices: idx, TotalFrames: 200, Imgs: imgs, ImgH: 2, ImgW: 3, Provenance: `{"weights": "w"}`}
}

// Appending keeps every member of the VLM cache byte for byte (the extractor's frame
// fields under vlm_*), adds upstream's keys with the right dtypes, reads back through
// ReadBranch, Read and the raw arrays; a second append is refused without overwrite
// and leaves the file as it was; overwrite replaces the whole old branch.
func TestAppendBranch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ep7_L8_nf32_res256_new16_s0of1.npz")
	writeQwenCache(t, path, member{"imgs", npy.FromUint8(make([]uint8, 2*2*2*3), 2, 2, 2, 3)})
	before, comment := rawMembers(t, path)
	orig, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	b := testBranch(4, 3, 2)
	res, err := AppendBranch(path, b, false)
	if err != nil {
		t.Fatal(err)
	}
	wantRenamed := map[string]string{"nframes_used": "vlm_nframes_used", "total_frames": "vlm_total_frames", "frame_indices": "vlm_frame_indices", "imgs": "vlm_imgs"}
	if len(res.Renamed) != 4 || res.Renamed["nframes_used"] != wantRenamed["nframes_used"] || res.Renamed["frame_indices"] != wantRenamed["frame_indices"] || len(res.Replaced) != 0 {
		t.Errorf("result %+v", res)
	}
	after, comment2 := rawMembers(t, path)
	if comment2 != comment {
		t.Errorf("zip comment %q, want %q", comment2, comment)
	}
	for name, m := range before {
		key := strings.TrimSuffix(name, ".npy")
		if nk, ok := wantRenamed[key]; ok {
			name = nk + ".npy"
		}
		got, ok := after[name]
		if !ok {
			t.Errorf("member %s lost", name)
			continue
		}
		if got.method != m.method || got.crc != m.crc || !got.mod.Equal(m.mod) || !bytes.Equal(got.raw, m.raw) {
			t.Errorf("member %s changed: method %d→%d crc %x→%x, %d→%d bytes", name, m.method, got.method, m.crc, got.crc, len(m.raw), len(got.raw))
		}
	}
	if len(after) != len(before)+6 {
		t.Errorf("%d members after, %d before + 6 new", len(after), len(before))
	}
	z, err := npy.OpenNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	for key, dt := range map[string]npy.DType{"vjepa_feats": npy.Float16, "frame_indices": npy.Int64, "nframes_used": npy.Int32, "total_frames": npy.Int32, "imgs": npy.Uint8} {
		a, err := z.Get(key)
		if err != nil {
			t.Fatal(err)
		}
		if a.DType != dt {
			t.Errorf("%s: dtype %s, want %s (upstream's)", key, a.DType, dt)
		}
	}
	if a, _ := z.Get("imgs"); !slices.Equal(a.Shape, []int{4, 2, 3, 3}) || !bytes.Equal(a.Raw, b.Imgs) {
		t.Errorf("imgs %v", a.Shape)
	}
	br, err := ReadBranch(z)
	if err != nil {
		t.Fatal(err)
	}
	if br.T != 4 || br.P != 3 || br.D != 2 || br.NFramesUsed != 4 || br.TotalFrames != 200 || !slices.Equal(br.FrameIndices, b.FrameIndices) {
		t.Errorf("branch %+v", br)
	}
	for i, v := range br.Feats {
		if want := npy.HalfToFloat32(npy.Float32ToHalf(b.Feats[i])); v != want {
			t.Fatalf("vjepa_feats[%d] = %v, want fp16(%v) = %v", i, v, b.Feats[i], want)
		}
	}
	c, err := Read(path)
	if err != nil {
		t.Fatalf("Read of the combined cache: %v", err)
	}
	if !slices.Equal(c.Old, orig.Old) || !slices.Equal(c.New, orig.New) || c.Text != orig.Text || c.VJEPAShape != [3]int{4, 3, 2} || !slices.Equal(c.VJEPAInput, br.Feats) {
		t.Errorf("Read: VLM fields changed or branch missing: %v", c.VJEPAShape)
	}
	for _, k := range []string{"imgs", "vlm_imgs"} {
		if _, ok := c.Provenance[k]; ok {
			t.Errorf("%s read as provenance", k)
		}
	}
	if !strings.Contains(c.Provenance["vjepa_provenance"], `"weights": "w"`) {
		t.Errorf("provenance %v", c.Provenance)
	}

	whole, _ := os.ReadFile(path)
	if _, err := AppendBranch(path, testBranch(4, 3, 2), false); !errors.Is(err, ErrHasBranch) || !strings.Contains(err.Error(), path) {
		t.Errorf("second append: %v", err)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, whole) {
		t.Error("a refused append changed the file")
	}
	if has, err := HasBranch(path); !has || err != nil {
		t.Errorf("HasBranch %v %v", has, err)
	}

	b2 := testBranch(6, 3, 2)
	b2.FP32, b2.Imgs, b2.TotalFrames = true, nil, 0
	res, err = AppendBranch(path, b2, true)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(res.Replaced)
	if !slices.Equal(res.Replaced, []string{"frame_indices", "imgs", "nframes_used", "total_frames", "vjepa_feats", "vjepa_provenance"}) || len(res.Renamed) != 0 {
		t.Errorf("overwrite result %+v", res)
	}
	again, _ := rawMembers(t, path)
	if _, ok := again["imgs.npy"]; ok {
		t.Error("overwrite without images kept the old imgs")
	}
	for _, k := range []string{"vlm_nframes_used.npy", "vlm_total_frames.npy", "vlm_frame_indices.npy", "vlm_old.npy", "text.npy"} {
		if !bytes.Equal(again[k].raw, after[k].raw) {
			t.Errorf("%s changed by overwrite", k)
		}
	}
	z2, _ := npy.OpenNPZ(path)
	defer z2.Close()
	br2, err := ReadBranch(z2)
	if err != nil {
		t.Fatal(err)
	}
	if br2.T != 6 || br2.DType != npy.Float32 || !slices.Equal(br2.Feats, b2.Feats) || br2.TotalFrames != 0 {
		t.Errorf("fp32 overwrite: %+v", br2.DType)
	}
}

// A write that fails after the members were copied (here: an inconsistent array) leaves
// the original byte-identical and no temporary file behind.
func TestAppendFailureLeavesOriginal(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.npz")
	writeQwenCache(t, path)
	whole, _ := os.ReadFile(path)
	ms, err := testBranch(4, 3, 2).members()
	if err != nil {
		t.Fatal(err)
	}
	ms = append(ms, member{"broken", &npy.Array{DType: npy.Float32, Shape: []int{1000}, Raw: make([]byte, 8)}})
	if _, err := appendMembers(path, ms, nil, false); err == nil || !strings.Contains(err.Error(), "left unchanged") || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("error %v", err)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, whole) {
		t.Error("failed append changed the file")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("leftovers: %v", ents)
	}
}

// Bad caches are refused before anything is written, naming the file and the field.
func TestAppendBadCaches(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.npz")
	writeQwenCache(t, good)
	whole, _ := os.ReadFile(good)
	cases := map[string]struct {
		make  func(p string)
		parts []string
	}{
		"truncated": {func(p string) { os.WriteFile(p, whole[:len(whole)/2], 0o644) }, []string{"truncated.npz", "not a readable"}},
		"not npz":   {func(p string) { os.WriteFile(p, []byte("hello"), 0o644) }, []string{"not_npz.npz"}},
		"no vlm_old": {func(p string) {
			w := npy.NewNPZWriter()
			w.Add("vlm_new", npy.FromFloat32(vals(8, 0), 2, 1, 4))
			w.WriteFile(p)
		}, []string{"no_vlm_old.npz", "vlm_old"}},
		"wrong shape": {func(p string) {
			writeQwenCache(t, p)
			w := npy.NewNPZWriter()
			w.Add("vlm_old", npy.FromFloat32(vals(8, 0), 8))
			w.Add("vlm_new", npy.FromFloat32(vals(8, 0), 2, 1, 4))
			w.Add("layers", npy.FromInt32([]int32{0, 1}, 2))
			w.WriteFile(p)
		}, []string{"wrong_shape.npz", "vlm_old", "shape [8]"}},
		"nan": {func(p string) {
			v := vals(2*5*4, 0)
			v[3] = float32(math.NaN())
			writeQwenCache(t, p, member{"vlm_old", npy.FromFloat32(v, 2, 5, 4)})
		}, []string{"nan.npz", "vlm_old", "NaN"}},
		"v2 layout": {func(p string) {
			writeQwenCache(t, p, member{"vjepa_input_feats", npy.FromFloat32(vals(6, 0), 1, 3, 2)}, member{"vjepa_target_feats", npy.FromFloat32(vals(6, 0), 1, 3, 2)},
				member{"vlm_new_token_ids", npy.FromInt32([]int32{5, 6, 7, 8}, 4)})
		}, []string{"v2_layout.npz", "vjepa_input_feats"}},
		"vlm key taken": {func(p string) {
			writeQwenCache(t, p, member{"vlm_total_frames", npy.FromInt32([]int32{3})})
		}, []string{"vlm_key_taken.npz", "total_frames", "vlm_total_frames"}},
		"bad old branch": {func(p string) {
			writeQwenCache(t, p, member{"vjepa_feats", npy.FromFloat32(vals(6, 0), 6)})
		}, []string{"bad_old_branch.npz", "vjepa_feats", "shape [6]"}},
	}
	for name, tc := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".npz")
		tc.make(p)
		pre, _ := os.ReadFile(p)
		_, err := AppendBranch(p, testBranch(4, 3, 2), true)
		if err == nil {
			t.Errorf("%s: appended", name)
			continue
		}
		for _, part := range tc.parts {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("%s: error %q does not mention %q", name, err, part)
			}
		}
		if post, _ := os.ReadFile(p); !bytes.Equal(pre, post) {
			t.Errorf("%s: file changed", name)
		}
	}
	// a branch inconsistent in itself is refused before the archive is opened
	nb := testBranch(4, 3, 2)
	nb.FrameIndices[2] = 500
	if _, err := AppendBranch(good, nb, false); err == nil || !strings.Contains(err.Error(), "outside [0, 200)") {
		t.Errorf("frame index past total: %v", err)
	}
}

// ReadBranch's consistency rules, case by case.
func TestReadBranchChecks(t *testing.T) {
	dir := t.TempDir()
	feats := npy.FromFloat32AsHalf(vals(4*3*2, 0), 4, 3, 2)
	i64 := func(v ...int64) *npy.Array { return npy.FromInt64(v, len(v)) }
	one := func(v int32) *npy.Array { return npy.FromInt32([]int32{v}) }
	bf16 := make([]byte, 2*24)
	for i, v := range vals(24, 0) {
		b := math.Float32bits(v) >> 16
		bf16[2*i], bf16[2*i+1] = byte(b), byte(b>>8)
	}
	for _, tc := range []struct {
		name string
		ms   []member
		err  []string // nil: reads
		chk  func(b *Branch) bool
	}{
		{"upstream", []member{{"vjepa_feats", feats}, {"frame_indices", i64(0, 5, 10, 15)}, {"nframes_used", one(4)}, {"total_frames", one(16)}}, nil,
			func(b *Branch) bool { return b.NFramesUsed == 4 && b.TotalFrames == 16 && b.FrameIndices[3] == 15 }},
		{"bf16 bits", []member{{"vjepa_feats", &npy.Array{DType: npy.Uint16, Shape: []int{4, 3, 2}, Raw: bf16}}}, nil,
			func(b *Branch) bool {
				return b.Feats[5] == vals(24, 0)[5] && b.FrameIndices == nil && b.NFramesUsed == -1
			}},
		{"vlm counts", []member{{"vjepa_feats", feats}, {"nframes_used", one(32)}, {"total_frames", one(0)}, {"frame_indices", npy.FromFloat32([]float32{0, 2, 4, 6}, 4)}}, nil,
			func(b *Branch) bool { return b.NFramesUsed == 32 && b.TotalFrames == 0 && b.FrameIndices[2] == 4 }},
		{"stride 1", []member{{"vjepa_feats", feats}, {"temporal_stride", one(1)}}, nil, nil},
		{"nframes vs T", []member{{"vjepa_feats", feats}, {"nframes_used", one(8)}, {"total_frames", one(100)}}, []string{"nframes_used", "8", "4 latent frames"}, nil},
		{"short indices", []member{{"vjepa_feats", feats}, {"frame_indices", i64(0, 1, 2)}}, []string{"frame_indices", "3 entries", "4 latent frames"}, nil},
		{"index past total", []member{{"vjepa_feats", feats}, {"frame_indices", i64(0, 1, 2, 16)}, {"total_frames", one(16)}}, []string{"frame_indices", "frame 16", "total_frames = 16"}, nil},
		{"negative index", []member{{"vjepa_feats", feats}, {"frame_indices", i64(0, -1, 2, 3)}}, []string{"frame_indices", "frame -1"}, nil},
		{"fractional index", []member{{"vjepa_feats", feats}, {"frame_indices", npy.FromFloat32([]float32{0, 1.5, 2, 3}, 4)}}, []string{"frame_indices", "1.5"}, nil},
		{"negative total", []member{{"vjepa_feats", feats}, {"total_frames", one(-3)}}, []string{"total_frames", "-3"}, nil},
		{"two totals", []member{{"vjepa_feats", feats}, {"total_frames", i64(3, 4)}}, []string{"total_frames", "2 values"}, nil},
		{"zero nframes", []member{{"vjepa_feats", feats}, {"nframes_used", one(0)}}, []string{"nframes_used", "0"}, nil},
		{"stride 2", []member{{"vjepa_feats", feats}, {"temporal_stride", one(2)}}, []string{"temporal_stride", "2"}, nil},
		{"2-D feats", []member{{"vjepa_feats", npy.FromFloat32(vals(6, 0), 2, 3)}}, []string{"vjepa_feats", "[2 3]"}, nil},
		{"int feats", []member{{"vjepa_feats", npy.FromInt32(make([]int32, 6), 1, 3, 2)}}, []string{"vjepa_feats", "dtype"}, nil},
		{"inf feats", []member{{"vjepa_feats", npy.FromFloat32([]float32{0, float32(math.Inf(1)), 0, 0, 0, 0}, 1, 3, 2)}}, []string{"vjepa_feats", "+Inf"}, nil},
	} {
		w := npy.NewNPZWriter()
		for _, m := range tc.ms {
			w.Add(m.name, m.arr)
		}
		p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".npz")
		if err := w.WriteFile(p); err != nil {
			t.Fatal(err)
		}
		z, err := npy.OpenNPZ(p)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ReadBranch(z)
		z.Close()
		if tc.err == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			} else if tc.chk != nil && !tc.chk(b) {
				t.Errorf("%s: branch %+v", tc.name, b)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", tc.name, err)
			continue
		}
		for _, part := range append(tc.err, p) {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("%s: error %q does not mention %q", tc.name, err, part)
			}
		}
	}
}

// Fill members (upstream's path, video_path, dummy geometry) are added only where the
// cache lacks them: a VLM cache's real supervision and path stay byte for byte. The
// added keys are listed in vjepa_filled_keys and replaced with the branch on overwrite;
// the provenance's layout reads back.
func TestAppendBranchFill(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ep7.npz")
	sup := npy.FromFloat32(vals(4*52*3, 7), 4, 52, 3)
	writeQwenCache(t, path, member{"path", npy.FromString("/data/ep7.hdf5")}, member{"xyz_world", sup})
	before, _ := rawMembers(t, path)
	fill := func(T int) []Member {
		return []Member{
			{"path", npy.FromString("/videos/ep7.mp4")},
			{"video_path", npy.FromString("/videos/ep7.mp4")},
			{"xyz_world", npy.FromFloat32(make([]float32, T*3), T, 1, 3)},
			{"cam_ext", npy.FromFloat32(make([]float32, T*16), T, 4, 4)},
		}
	}
	b := testBranch(4, 3, 2)
	b.Provenance = `{"layout": "upstream"}`
	b.Fill = fill(4)
	res, err := AppendBranch(path, b, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Filled, []string{"video_path", "cam_ext"}) {
		t.Errorf("filled %v", res.Filled)
	}
	after, _ := rawMembers(t, path)
	for _, k := range []string{"path.npy", "xyz_world.npy"} {
		if !bytes.Equal(after[k].raw, before[k].raw) {
			t.Errorf("%s not kept byte for byte", k)
		}
	}
	z, err := npy.OpenNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := readString(z, KeyFilledKeys)
	vp, _ := readString(z, "video_path")
	ce, _ := z.Get("cam_ext")
	br, err := ReadBranch(z)
	z.Close()
	if err != nil {
		t.Fatal(err)
	}
	if s != `["video_path","cam_ext"]` || vp != "/videos/ep7.mp4" || !slices.Equal(ce.Shape, []int{4, 4, 4}) || br.Layout != LayoutUpstream {
		t.Errorf("filled keys %q video_path %q cam_ext %v layout %q", s, vp, ce.Shape, br.Layout)
	}

	// overwrite with another T: the filled keys follow the new branch, the real ones stay
	b2 := testBranch(6, 3, 2)
	b2.Provenance = `{"layout": "v2"}`
	b2.Fill = fill(6)
	res, err = AppendBranch(path, b2, true)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(res.Replaced)
	if !slices.Equal(res.Filled, []string{"video_path", "cam_ext"}) || !slices.Contains(res.Replaced, "cam_ext") || !slices.Contains(res.Replaced, "video_path") || slices.Contains(res.Replaced, "path") {
		t.Errorf("overwrite: filled %v replaced %v", res.Filled, res.Replaced)
	}
	again, _ := rawMembers(t, path)
	for _, k := range []string{"path.npy", "xyz_world.npy", "vlm_old.npy"} {
		if !bytes.Equal(again[k].raw, before[k].raw) {
			t.Errorf("%s changed by overwrite", k)
		}
	}
	z, _ = npy.OpenNPZ(path)
	ce, _ = z.Get("cam_ext")
	br, err = ReadBranch(z)
	z.Close()
	if err != nil || !slices.Equal(ce.Shape, []int{6, 4, 4}) || br.Layout != LayoutV2 {
		t.Errorf("after overwrite: cam_ext %v layout %q err %v", ce.Shape, br.Layout, err)
	}
	if _, err := Read(path); err != nil {
		t.Errorf("Read: %v", err)
	}

	// a fill member may not take a key of the branch; a stale key list is refused
	b3 := testBranch(4, 3, 2)
	b3.Fill = []Member{{KeyImgs, npy.FromUint8([]uint8{1}, 1)}}
	if _, err := AppendBranch(path, b3, true); err == nil || !strings.Contains(err.Error(), "imgs") {
		t.Errorf("fill with a branch key: %v", err)
	}
	stale := filepath.Join(dir, "stale.npz")
	writeQwenCache(t, stale, member{KeyFilledKeys, npy.FromString(`["cam_ext"]`)})
	if _, err := AppendBranch(stale, testBranch(4, 3, 2), false); err == nil || !strings.Contains(err.Error(), KeyFilledKeys) {
		t.Errorf("stale %s: %v", KeyFilledKeys, err)
	}
}
