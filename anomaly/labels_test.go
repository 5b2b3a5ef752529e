package anomaly

import (
	"errors"
	"github.com/thinkjepa/thinkjepa/internal/linspace"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/internal/npy"
)

func writeFile(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeNPY(t *testing.T, path string, a *npy.Array) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := npy.WriteNPYFile(path, a); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeNPZ(t *testing.T, path string, names []string, arrays ...*npy.Array) string {
	t.Helper()
	w := npy.NewNPZWriter()
	for i, n := range names {
		w.Add(n, arrays[i])
	}
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// Every upstream format, binarised as value > 0.
func TestReadLabelsFormats(t *testing.T) {
	d := t.TempDir()
	want := bools(0, 1, 1, 0, 1, 0)
	other := npy.FromInt64([]int64{9, 9, 9}, 3)
	cases := map[string]string{
		"float npy":  writeNPY(t, d+"/f.npy", npy.FromFloat32([]float32{0, 0.5, 2, -1, 1e-3, 0}, 2, 3)),
		"half npy":   writeNPY(t, d+"/h.npy", npy.FromFloat32AsHalf([]float32{0, 1, 1, 0, 1, -0.5}, 6)),
		"bool npy":   writeNPY(t, d+"/b.npy", npy.FromBool([]bool{false, true, true, false, true, false}, 6)),
		"int npy":    writeNPY(t, d+"/i.npy", npy.FromInt64([]int64{-3, 1, 7, 0, 2, -1}, 6)),
		"uint8 npy":  writeNPY(t, d+"/u.npy", npy.FromUint8([]uint8{0, 1, 255, 0, 3, 0}, 3, 2)),
		"npz labels": writeNPZ(t, d+"/a.npz", []string{"first", "labels", "gt"}, other, npy.FromInt32([]int32{0, 1, 1, 0, 1, 0}, 6), other),
		"npz gt":     writeNPZ(t, d+"/g.npz", []string{"first", "gt"}, other, npy.FromInt32([]int32{0, 1, 1, 0, 1, 0}, 6)),
		// the first array in archive order, not in sorted order ("alpha" sorts first)
		"npz first": writeNPZ(t, d+"/z.npz", []string{"zeta", "alpha"}, npy.FromFloat64([]float64{0, 1, 1, 0, 1, 0}, 6), other),
		"txt lines": writeFile(t, d+"/l.txt", "0\n1\n1\n0\n1\n0\n"),
		"txt space": writeFile(t, d+"/s.txt", "# frame labels\n0 1 1\n\n0\t1   0\n"),
		"txt comma": writeFile(t, d+"/c.txt", "0, 1, 1, 0, 1, 0\n"),
		"csv rows":  writeFile(t, d+"/r.csv", "0,1\r\n1,0\r\n1,0\r\n"),
		"csv float": writeFile(t, d+"/x.csv", "0.0,0.9,1e0,-2,3,0\n"),
		"json list": writeFile(t, d+"/j.json", "[0, 1, 1, 0, 1, 0]"),
		"json nest": writeFile(t, d+"/n.json", "[[0, 1], [true, false], [1.5, 0]]"),
		"json lab":  writeFile(t, d+"/k.json", `{"labels": [0,1,1,0,1,0], "gt": [1,1,1,1,1,1]}`),
		"json gt":   writeFile(t, d+"/m.json", `{"gt": [0,1,1,0,1,0], "frame_labels": [1,1,1,1,1,1]}`),
		"json fl":   writeFile(t, d+"/o.json", `{"video": "x", "frame_labels": [false,true,true,false,true,false]}`),
	}
	for name, path := range cases {
		got, err := ReadLabels(path)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		w := want
		if name == "csv rows" {
			w = bools(0, 1, 1, 0, 1, 0) // row-major flattening of [[0,1],[1,0],[1,0]]
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s: %v, want %v", name, got, w)
		}
	}
}

// A file that cannot be read is an error naming the file and saying why.
func TestReadLabelsBad(t *testing.T) {
	d := t.TempDir()
	npyBytes := func(a *npy.Array) string {
		p := writeNPY(t, d+"/tmp.npy", a)
		b, _ := os.ReadFile(p)
		return string(b)
	}
	good := npyBytes(npy.FromInt64([]int64{0, 1, 1, 0}, 4))
	cases := []struct{ name, body, reason string }{
		{"empty.txt", "", "no labels"},
		{"comments.txt", "# nothing\n\n", "no labels"},
		{"header.csv", "frame,label\n0,1\n", "not a number"},
		{"ragged.txt", "0 1 1\n0 1\n", "has 2 values"},
		{"mixed.csv", "0,1\n0 1\n", "neither comma-separated"},
		{"nan.txt", "0\nnan\n1\n", "label 1 is NaN"},
		{"bad.json", "[0, 1,", "not valid JSON"},
		{"trailing.json", "[0] [1]", "trailing data"},
		{"nokey.json", `{"frames": [0,1]}`, `has ["frames"]`},
		{"strings.json", `["0", "1"]`, "want a number or boolean"},
		{"null.json", `{"labels": [0, null]}`, `field "labels": value 1 is null`},
		{"obj.json", `{"gt": [0, {"a": 1}]}`, "map[string]interface"},
		{"scalar.json", `{"labels": 1}`, ""}, // a bare number is one label: allowed
		{"emptylist.json", `[]`, "no labels"},
		{"deep.json", strings.Repeat("[", 40) + "1" + strings.Repeat("]", 40), "nested deeper"},
		{"trunc.npy", good[:len(good)-3], "not a readable .npy"},
		{"text.npy", "0 1 1 0\n", "not a readable .npy"},
		{"notzip.npz", "0 1 1 0\n", "not a readable .npz"},
		{"strs.npy", npyBytes(npy.FromStrings([]string{"a", "b"})), "want numbers or booleans"},
		{"nan.npy", npyBytes(npy.FromFloat32([]float32{0, float32(nan())}, 2)), "label 1 is NaN"},
		{"empty.npy", npyBytes(npy.FromFloat32(nil, 0)), "no labels"},
		{"labels.mp4", "x", "unknown label format"},
	}
	for _, c := range cases {
		p := writeFile(t, filepath.Join(d, c.name), c.body)
		_, err := ReadLabels(p)
		if c.reason == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var le *LabelError
		if err == nil || !errors.As(err, &le) {
			t.Errorf("%s: error %v, want a LabelError", c.name, err)
			continue
		}
		if le.Path != p || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: %q should name %s and say %q", c.name, err, p, c.reason)
		}
	}
	emptyNPZ := writeNPZ(t, d+"/none.npz", nil)
	if _, err := ReadLabels(emptyNPZ); err == nil || !strings.Contains(err.Error(), "no arrays") {
		t.Errorf("empty npz: %v", err)
	}
	if _, err := ReadLabels(d + "/missing.npy"); err == nil || !strings.Contains(err.Error(), "missing.npy") {
		t.Errorf("missing file: %v", err)
	}
}

func nan() float64 { var z float64; return z / z }

func TestStem(t *testing.T) {
	for in, want := range map[string]string{
		"a/b/clip_007.npz":                         "clip_007",
		"clip_007_L8_nf64_res256_new512_s0of4.npz": "clip_007",
		"clip_L8_nf64_res256_new512_s3of4.json":    "clip",
		"clip_L8_nf64_res256_new512_s3of4_x.npz":   "clip_L8_nf64_res256_new512_s3of4_x", // not a suffix
		"clip_L8_nf64.npz":                         "clip_L8_nf64",
		"part1_part2.tar.npy":                      "part1_part2.tar",
		"clip_007":                                 "clip_007",
	} {
		if got := Stem(in); got != want {
			t.Errorf("Stem(%q) = %q, want %q", in, got, want)
		}
	}
}

// Upstream's matching: recursive, patterns in order, sorted within, first per stem wins.
func TestIndexLabels(t *testing.T) {
	d := t.TempDir()
	writeFile(t, d+"/z/a.json", "[1]")
	writeFile(t, d+"/b/a.txt", "1")
	writeNPY(t, d+"/y/a.npy", npy.FromInt64([]int64{1}, 1))
	writeNPY(t, d+"/x/a.npy", npy.FromInt64([]int64{1}, 1)) // sorts before y/a.npy
	writeFile(t, d+"/b.csv", "1")
	writeFile(t, d+"/b.json", "[1]")
	writeFile(t, d+"/c_L8_nf64_res256_new1_s0of2.json", "[1]")
	writeFile(t, d+"/.hidden/d.txt", "1")
	writeFile(t, d+"/.e.txt", "1")
	writeFile(t, d+"/f.md", "1")
	idx, err := IndexLabels(d)
	if err != nil {
		t.Fatal(err)
	}
	for clip, want := range map[string]string{
		"a":                               "x/a.npy",
		"b":                               "b.csv",
		"c":                               "c_L8_nf64_res256_new1_s0of2.json",
		"c_L8_nf64_res256_new9_s1of2.npz": "c_L8_nf64_res256_new1_s0of2.json", // the clip's suffix is dropped too
		"d":                               "",
		".e":                              "",
		"f":                               "",
	} {
		got := idx.Lookup(clip)
		if want != "" {
			want = filepath.Join(d, want)
		}
		if got != want {
			t.Errorf("Lookup(%q) = %q, want %q", clip, got, want)
		}
	}
	if idx.Len() != 3 {
		t.Errorf("%d stems, want 3", idx.Len())
	}
	if _, err := IndexLabels(d + "/nope"); err == nil {
		t.Error("missing label folder accepted")
	}
	if _, err := IndexLabels(d + "/b.csv"); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file as label folder: %v", err)
	}
	var nilIdx *LabelIndex
	if nilIdx.Lookup("a") != "" || nilIdx.Len() != 0 {
		t.Error("nil index found labels")
	}
}

func TestAlign(t *testing.T) {
	labels := bools(0, 0, 1, 1, 0, 1, 0, 0, 0, 1)
	cases := []struct {
		name string
		T    int
		idx  []int64
		want []bool
		rule Alignment
	}{
		{"frame indices", 3, []int64{9, 2, 0, 99}, bools(1, 1, 0), AlignFrameIndices},
		{"index outside → exact", 10, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 10}, labels, AlignExact},
		{"negative index → linspace", 4, []int64{0, -1, 2, 3}, bools(0, 1, 0, 1), AlignLinspace},
		{"too few indices → linspace", 4, []int64{0, 1}, bools(0, 1, 0, 1), AlignLinspace},
		{"exact", 10, nil, labels, AlignExact},
		// linspace(0, 9, 4) = 0, 3, 6, 9
		{"downsample", 4, nil, bools(0, 1, 0, 1), AlignLinspace},
		// linspace(0, 9, 12) = 0 0.82 1.64 2.45 3.27 4.09 4.91 5.73 6.55 7.36 8.18 9
		{"upsample", 12, nil, bools(0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 1), AlignLinspace},
	}
	for _, c := range cases {
		got, rule, err := Align(labels, c.T, c.idx)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if rule != c.rule || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v by %s, want %v by %s", c.name, got, rule, c.want, c.rule)
		}
	}
	for _, c := range []struct {
		labels []bool
		T      int
	}{{labels, 0}, {nil, 4}} {
		if _, _, err := Align(c.labels, c.T, nil); !errors.Is(err, ErrAlign) {
			t.Errorf("T=%d with %d labels: %v, want ErrAlign", c.T, len(c.labels), err)
		}
	}
}

// NumPy's linspace(...).astype(int64) values, including a point that lands just below an
// integer in floating point (i=49 of linspace(0, 2, 99) is 0.9999999999999999 → 0).
func TestAlignLinspaceRule(t *testing.T) {
	if got := linspace.Ints(4, 8); !reflect.DeepEqual(got, []int{0, 0, 1, 1, 2, 2, 3, 4}) {
		t.Errorf("linspace(0,4,8) = %v", got)
	}
	if got := linspace.Ints(0, 4); !reflect.DeepEqual(got, []int{0, 0, 0, 0}) {
		t.Errorf("linspace(0,0,4) = %v", got)
	}
	if got := linspace.Ints(2, 1); !reflect.DeepEqual(got, []int{0}) {
		t.Errorf("linspace(0,2,1) = %v", got)
	}
	got := linspace.Ints(2, 99)
	if got[49] != 0 || got[50] != 1 || got[98] != 2 {
		t.Errorf("linspace(0,2,99)[49:51] = %v, [98] = %d; want 0 1, 2", got[49:51], got[98])
	}
	if got := linspace.Ints(99, 64); got[7] != 11 || got[63] != 99 {
		t.Errorf("linspace(0,99,64)[7] = %d, [63] = %d; want 11, 99", got[7], got[63])
	}
}
