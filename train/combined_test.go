package train

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/internal/npy"
	"github.com/thinkjepa/thinkjepa/thinker"
)

// Feature and thinker files are found as <id>.npz, else by upstream's stem; two files
// with one stem are an error naming both, a missing one names the folder.
func TestFolderFilesByStem(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.npz", "b_L8_nf32_res256_new16_s0of1.npz", "c_L1_nf2_res3_new4_s0of2.npz", "c_L1_nf2_res3_new4_s1of2.npz",
		"a_L8_nf32_res256_new16_s0of1.npz", ".d_L8_nf32_res256_new16_s0of1.npz", "e.v2.npz"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	f, err := listFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"a": "a.npz", "b": "b_L8_nf32_res256_new16_s0of1.npz", "e.v2": "e.v2.npz",
		"b_L8_nf32_res256_new16_s0of1": "b_L8_nf32_res256_new16_s0of1.npz"} {
		if p, err := f.path(id); err != nil || p != filepath.Join(dir, want) {
			t.Errorf("%s: %q %v, want %s", id, p, err, want)
		}
	}
	if _, err := f.path("c"); err == nil || !strings.Contains(err.Error(), "s0of2.npz") || !strings.Contains(err.Error(), "s1of2.npz") {
		t.Errorf("ambiguous stem: %v", err)
	}
	if _, err := f.path("d"); err == nil || !strings.Contains(err.Error(), dir) { // hidden files are not candidates
		t.Errorf("missing: %v", err)
	}
}

// A combined cache whose frame_indices are not the clip's source frames is refused
// (latents and poses from different frames), naming the file; the right ones read.
func TestCombinedCacheSourceFrames(t *testing.T) {
	dir := t.TempDir()
	cfg := writeToySet(t, dir, 1, 3)
	fz, err := npy.OpenNPZ(filepath.Join(cfg.Features, "toy000.npz"))
	if err != nil {
		t.Fatal(err)
	}
	in, s1, _ := fz.Float32s("vjepa_input_feats", -1, -1, -1)
	tg, s2, _ := fz.Float32s("vjepa_target_feats", -1, -1, -1)
	fz.Close()
	for _, tc := range []struct {
		idx []int64
		err string
	}{{[]int64{0, 2, 4, 6}, ""}, {[]int64{1, 3, 5, 7}, ""}, {[]int64{0, 4, 8, 12}, "frame_indices[1] is source frame 4"}} {
		comb := filepath.Join(t.TempDir(), "upstream")
		os.MkdirAll(comb, 0o755)
		c := filepath.Join(comb, "toy000_L2_nf8_res2_new2_s0of1.npz")
		raw, _ := os.ReadFile(filepath.Join(cfg.Thinker, "toy000.npz"))
		os.WriteFile(c, raw, 0o644)
		b := &thinker.NewBranch{Feats: append(append([]float32(nil), in...), tg...), T: s1[0] + s2[0], P: s1[1], D: s1[2], FrameIndices: tc.idx, Provenance: "{}"}
		if _, err := thinker.AppendBranch(c, b, false); err != nil {
			t.Fatal(err)
		}
		fs, err := OpenFileSet(DataConfig{Clips: cfg.Clips, Thinker: comb}, SampleConfig{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = fs.Batch([]int{0})
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%v: %v", tc.idx, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), c)):
			t.Errorf("%v: error %v, want %q naming %s", tc.idx, err, tc.err, c)
		}
	}
}
