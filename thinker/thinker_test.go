package thinker

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/internal/npy"
)

// genOpts describes a synthetic cache file in the authors' layouts.
type genOpts struct {
	v1           bool
	half         bool
	L, So, Sn, D int
	layers       []int64
	drop         string // key to leave out
	nan          bool
}

func vals(n int, off float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = off + float32(i%97)/64 // exactly representable in fp16
	}
	return v
}

func gen(t testing.TB, dir, name string, o genOpts) string {
	t.Helper()
	if o.layers == nil {
		o.layers = make([]int64, o.L)
		for i := range o.layers {
			o.layers[i] = int64(4 * i)
		}
	}
	f := func(v []float32, shape ...int) *npy.Array {
		if o.half {
			return npy.FromFloat32AsHalf(v, shape...)
		}
		return npy.FromFloat32(v, shape...)
	}
	old := vals(o.L*o.So*o.D, 0)
	if o.nan {
		old[5] = float32(math.NaN())
	}
	w := npy.NewNPZWriter()
	add := func(k string, a *npy.Array) {
		if k != o.drop {
			w.Add(k, a)
		}
	}
	add("vlm_old", f(old, o.L, o.So, o.D))
	add("vlm_new", f(vals(o.L*o.Sn*o.D, 1), o.L, o.Sn, o.D))
	add("layers", npy.FromInt64(o.layers, len(o.layers)))
	toks := make([]int32, o.Sn+1)
	for i := range toks {
		toks[i] = int32(151667 + i)
	}
	add("input_valid_len", npy.FromInt64([]int64{int64(o.So)}))
	if o.v1 {
		add("token_ids", npy.FromInt32(toks, len(toks)))
		add("input_ids", npy.FromInt32(make([]int32, o.So), o.So))
		add("text", npy.FromString("<think> The hand picks up a cup"))
		add("vjepa_feats", f(vals(4*2*3, 2), 4, 2, 3))
		add("imgs", npy.FromUint8(make([]uint8, 4*2*2*3), 4, 2, 2, 3))
	} else {
		t64 := make([]int64, len(toks))
		for i, v := range toks {
			t64[i] = int64(v)
		}
		add("vlm_new_token_ids", npy.FromInt64(t64, len(t64)))
		add("vjepa_input_feats", f(vals(2*4*3, 3), 2, 4, 3))
		add("vjepa_target_feats", f(vals(2*4*3, 4), 2, 4, 3))
		add("past_raw_indices", npy.FromInt64([]int64{0, 1, 2, 3}, 4))
		add("target_raw_indices", npy.FromInt64([]int64{4, 5, 6, 7}, 4))
		add("qwen_raw_indices", npy.FromInt64([]int64{0, 1, 2, 3}, 4))
		add("schema_version", npy.FromString("causal_v2"))
	}
	p := filepath.Join(dir, name)
	if err := w.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadV2V1HalfAndFloat(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		o    genOpts
	}{
		{"v2_f16.npz", genOpts{half: true, L: 3, So: 7, Sn: 4, D: 5}},
		{"v2_f32.npz", genOpts{L: 3, So: 7, Sn: 4, D: 5}},
		{"v1_f16.npz", genOpts{v1: true, half: true, L: 1, So: 9, Sn: 15, D: 5, layers: []int64{27}}},
		{"v1_f32.npz", genOpts{v1: true, L: 1, So: 9, Sn: 15, D: 5, layers: []int64{27}}},
	} {
		p := gen(t, dir, tc.name, tc.o)
		c, err := Read(p)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if c.L != tc.o.L || c.So != tc.o.So || c.Sn != tc.o.Sn || c.Dv != tc.o.D {
			t.Fatalf("%s: dims %d %d %d %d", tc.name, c.L, c.So, c.Sn, c.Dv)
		}
		wantOld, wantNew := vals(tc.o.L*tc.o.So*tc.o.D, 0), vals(tc.o.L*tc.o.Sn*tc.o.D, 1)
		for i := range wantOld {
			if c.Old[i] != wantOld[i] {
				t.Fatalf("%s: old[%d]=%v want %v", tc.name, i, c.Old[i], wantOld[i])
			}
		}
		for i := range wantNew {
			if c.New[i] != wantNew[i] {
				t.Fatalf("%s: new[%d]=%v want %v", tc.name, i, c.New[i], wantNew[i])
			}
		}
		if len(c.TokenIDs) != tc.o.Sn+1 || c.TokenIDs[0] != 151667 {
			t.Fatalf("%s: token ids %v", tc.name, c.TokenIDs)
		}
		if c.ValidLen != tc.o.So {
			t.Fatalf("%s: valid len %d", tc.name, c.ValidLen)
		}
		wantDT := npy.Float32
		if tc.o.half {
			wantDT = npy.Float16
		}
		if c.DType != wantDT {
			t.Fatalf("%s: dtype %s", tc.name, c.DType)
		}
		if tc.o.v1 {
			if c.Version != 1 || c.Text != "<think> The hand picks up a cup" || c.VJEPAShape != [3]int{4, 2, 3} || c.VJEPATarget != nil || len(c.InputIDs) != tc.o.So {
				t.Fatalf("%s: v1 fields: version %d text %q vjepa %v", tc.name, c.Version, c.Text, c.VJEPAShape)
			}
		} else {
			if c.Version != 2 || c.VJEPAShape != [3]int{2, 4, 3} || len(c.VJEPATarget) != 24 || c.VJEPATarget[0] != 4 ||
				c.Provenance["schema_version"] != "causal_v2" || len(c.QwenIndices) != 4 {
				t.Fatalf("%s: v2 fields: version %d vjepa %v prov %v", tc.name, c.Version, c.VJEPAShape, c.Provenance)
			}
		}
	}
}

func expectErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected an error mentioning %v", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not mention %q", err, p)
		}
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	base := genOpts{half: true, L: 2, So: 6, Sn: 3, D: 4}
	with := func(f func(o *genOpts)) genOpts { o := base; f(&o); return o }

	_, err := Read(gen(t, dir, "nan.npz", with(func(o *genOpts) { o.nan = true })))
	expectErr(t, err, "nan.npz", "vlm_old", "NaN", "finite")
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("not ErrInvalid: %v", err)
	}
	_, err = Read(gen(t, dir, "nolayers.npz", with(func(o *genOpts) { o.drop = "layers" })))
	expectErr(t, err, "nolayers.npz", "missing key", "layers")
	_, err = Read(gen(t, dir, "nonew.npz", with(func(o *genOpts) { o.drop = "vlm_new" })))
	expectErr(t, err, "nonew.npz", "vlm_new")
	_, err = Read(gen(t, dir, "notok.npz", with(func(o *genOpts) { o.drop = "vlm_new_token_ids" })))
	expectErr(t, err, "notok.npz", "vlm_new_token_ids", "missing")
	_, err = Read(gen(t, dir, "laylen.npz", with(func(o *genOpts) { o.layers = []int64{0, 4, 8} })))
	expectErr(t, err, "laylen.npz", "layers", "expected 2")

	// Valid file, wrong expectations.
	p := gen(t, dir, "ok.npz", base)
	c, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Validate(Expect{Layers: []int{0, 4, 8}})
	expectErr(t, err, "ok.npz", "layers", "[0 4]", "expected [0 4 8]")
	_, err = c.Validate(Expect{Hidden: 2048})
	expectErr(t, err, "ok.npz", "hidden size 4", "expected 2048")
	_, err = c.Validate(Expect{OldCapacity: 5, NewCapacity: 16})
	expectErr(t, err, "ok.npz", "vlm_old", "6 tokens", "capacity 5")
	warn, err := c.Validate(Expect{OldCapacity: 5, NewCapacity: 2, Truncate: true})
	if err != nil || len(warn) != 2 || c.So != 5 || c.Sn != 2 || len(c.Old) != 2*5*4 || len(c.New) != 2*2*4 {
		t.Fatalf("truncate: %v %v So=%d Sn=%d", warn, err, c.So, c.Sn)
	}
	// The first tokens of each layer are kept.
	full := vals(2*6*4, 0)
	if c.Old[5*4] != full[6*4] || c.Old[4*4+3] != full[4*4+3] {
		t.Fatalf("truncation kept the wrong tokens")
	}

	// Truncated file.
	raw, _ := os.ReadFile(p)
	tp := filepath.Join(dir, "trunc.npz")
	os.WriteFile(tp, raw[:len(raw)/2], 0o644)
	_, err = Read(tp)
	expectErr(t, err, "trunc.npz")

	// v2: vlm_new length must be len(token_ids)-1.
	w := npy.NewNPZWriter()
	w.Add("vlm_old", npy.FromFloat32(vals(8, 0), 1, 2, 4))
	w.Add("vlm_new", npy.FromFloat32(vals(12, 0), 1, 3, 4))
	w.Add("layers", npy.FromInt64([]int64{27}, 1))
	w.Add("vlm_new_token_ids", npy.FromInt64([]int64{1, 2, 3}, 3))
	mp := filepath.Join(dir, "toklen.npz")
	if err := w.WriteFile(mp); err != nil {
		t.Fatal(err)
	}
	_, err = Read(mp)
	expectErr(t, err, "toklen.npz", "vlm_new", "3 tokens", "len(token_ids)-1 = 2")
}

func TestObjectKeySkipped(t *testing.T) {
	dir := t.TempDir()
	// Hand-made '|O' member: a header only; decoding it fails, and Read must not care.
	p := filepath.Join(dir, "obj.npz")
	w := npy.NewNPZWriter()
	w.Add("vlm_old", npy.FromFloat32(vals(8, 0), 1, 2, 4))
	w.Add("vlm_new", npy.FromFloat32(vals(4, 0), 1, 1, 4))
	w.Add("layers", npy.FromInt64([]int64{27}, 1))
	w.Add("token_ids", npy.FromInt64([]int64{1, 2}, 2))
	// A pickled object array's header says '|O'; it cannot be decoded without pickle.
	w.Add("meta", &npy.Array{DType: "|O"})
	if err := w.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	c, err := Read(p)
	if err != nil {
		t.Fatalf("object member broke Read: %v", err)
	}
	if _, ok := c.Provenance["meta"]; ok {
		t.Fatalf("object member decoded?")
	}
}

func TestWriteReadRoundTripAndPad(t *testing.T) {
	dir := t.TempDir()
	s := NewStandIn(DefaultLayers, 16, 7)
	a := s.Cache("pick up the red cup and place it on the plate")
	b := s.Cache("open the drawer")
	a.PastIndices = []int64{0, 2, 4}
	a.Provenance["episode"] = "x/y/0"
	pa, pb := filepath.Join(dir, "a.npz"), filepath.Join(dir, "b.npz")
	if err := a.Write(pa); err != nil {
		t.Fatal(err)
	}
	if err := b.Write(pb); err != nil {
		t.Fatal(err)
	}
	pa2 := filepath.Join(dir, "a2.npz.bak")
	if err := a.Write(pa2); err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(pa)
	b2, _ := os.ReadFile(pa2)
	if string(b1) != string(b2) {
		t.Fatal("writing the same cache twice gave different bytes")
	}
	ra, err := Read(pa)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ra.Validate(Expect{Layers: DefaultLayers, Hidden: 16, OldCapacity: 1280, NewCapacity: 16}); err != nil {
		t.Fatal(err)
	}
	if ra.Version != 2 || ra.So != a.So || ra.Sn != 15 || len(ra.TokenIDs) != 16 || ra.Provenance["episode"] != "x/y/0" ||
		ra.Provenance["schema"] != Schema || len(ra.PastIndices) != 3 {
		t.Fatalf("round trip: %+v", ra.Provenance)
	}
	for i, v := range a.Old {
		if d := math.Abs(float64(ra.Old[i] - v)); d > 2e-3*math.Max(1, math.Abs(float64(v))) {
			t.Fatalf("fp16 round trip old[%d] %v vs %v", i, ra.Old[i], v)
		}
	}
	rb, _ := Read(pb)
	if a.So == rb.So {
		t.Fatalf("different instructions gave the same prompt length")
	}
	bt, err := Pad([]*Cache{ra, rb}, CapacityV2, false)
	if err != nil {
		t.Fatal(err)
	}
	L, S, D := 8, 1280, 16
	for bi, c := range []*Cache{ra, rb} {
		for l := 0; l < L; l++ {
			for si := 0; si < S; si++ {
				m := bt.OldMask[(bi*L+l)*S+si]
				if (si < c.So) != (m == 1) {
					t.Fatalf("mask b%d l%d s%d = %v (So %d)", bi, l, si, m, c.So)
				}
				got := bt.Old[((bi*L+l)*S+si)*D]
				want := float32(0)
				if si < c.So {
					want = c.OldLayer(l)[si*D]
				}
				if got != want {
					t.Fatalf("padded value b%d l%d s%d = %v want %v", bi, l, si, got, want)
				}
			}
		}
	}
	if _, err := Pad([]*Cache{ra}, Capacity{Old: 4, New: 16}, false); err == nil {
		t.Fatal("over capacity accepted")
	}
	if bt, err := Pad([]*Cache{ra}, CapacityV1, true); err != nil || bt.SNew != 15 {
		t.Fatalf("v1 pad: %v", err)
	}
	if err := ra.SelectLayers("last"); err != nil || ra.L != 1 || ra.Layers[0] != 27 {
		t.Fatalf("last: %v %v", err, ra.Layers)
	}
	// Check folder: one good, one bad file → one failure named.
	os.WriteFile(filepath.Join(dir, "c.npz"), []byte("not a zip"), 0o644)
	r, err := CheckDir(dir, Expect{Layers: DefaultLayers, Hidden: 16, OldCapacity: 1280, NewCapacity: 16})
	if err != nil || r.Files != 3 || r.OK != 2 || len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "c.npz") {
		t.Fatalf("check: %+v %v", r, err)
	}
}

func TestStandInDeterministic(t *testing.T) {
	a := NewStandIn([]int{0, 27}, 8, 3).Cache("Fold the towel.")
	b := NewStandIn([]int{0, 27}, 8, 3).Cache("fold the towel")
	c := NewStandIn([]int{0, 27}, 8, 4).Cache("fold the towel")
	if len(a.Old) != len(b.Old) {
		t.Fatal("lengths differ")
	}
	same := func(x, y []float32) bool {
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	if !same(a.Old, b.Old) || !same(a.New, b.New) {
		t.Fatal("same words, same seed: different features")
	}
	if same(a.Old, c.Old) {
		t.Fatal("seed has no effect")
	}
	if same(a.OldLayer(0), a.OldLayer(1)) {
		t.Fatal("layers identical")
	}
}

// TestReadsNumpyOutput reads a file written by numpy itself (np.savez with fp16 arrays
// and unicode strings).
func TestReadsNumpyOutput(t *testing.T) {
	py := ""
	for _, c := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(c, "-c", "import numpy").Run() == nil {
			py = c
			break
		}
	}
	if py == "" {
		t.Skip("python3 with numpy not found")
	}
	p := filepath.Join(t.TempDir(), "np.npz")
	script := `
import numpy as np, sys
L,So,Sn,D=8,11,15,6
old=(np.arange(L*So*D)%97/64).astype(np.float16).reshape(L,So,D)
new=(np.arange(L*Sn*D)%89/32).astype(np.float16).reshape(L,Sn,D)
np.savez(sys.argv[1], vlm_old=old, vlm_new=new, layers=np.array([0,4,8,12,16,20,24,27]),
  vlm_new_token_ids=np.arange(16,dtype=np.int32)+151667, input_valid_len=np.int64(So),
  vjepa_input_feats=np.ones((2,3,4),np.float16), vjepa_target_feats=np.zeros((2,3,4),np.float16),
  past_raw_indices=np.arange(32), target_raw_indices=np.arange(32,64), qwen_raw_indices=np.arange(32),
  schema='causal_cache_v2 ü', fingerprint=np.array({'a':1},dtype=object))
`
	if out, err := exec.Command(py, "-c", script, p).CombinedOutput(); err != nil {
		t.Fatalf("numpy writer: %v\n%s", err, out)
	}
	c, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Validate(Expect{Layers: DefaultLayers, Hidden: 6, OldCapacity: 1280, NewCapacity: 16}); err != nil {
		t.Fatal(err)
	}
	if c.Provenance["schema"] != "causal_cache_v2 ü" || c.So != 11 || c.Sn != 15 || c.TokenIDs[15] != 151682 {
		t.Fatalf("numpy file: %+v So %d Sn %d", c.Provenance, c.So, c.Sn)
	}
	if c.Old[7] != float32(7.0/64) || c.New[40] != float32(40.0/32) || c.VJEPAInput[0] != 1 || c.VJEPATarget[0] != 0 {
		t.Fatalf("values: %v %v", c.Old[7], c.New[40])
	}
}

// The stand-in's generated tokens restate every content word, so an instruction's goal
// reaches vlm_new wherever it sits in the sentence, and instructions that differ only in
// the goal get different features in both streams.
func TestStandInCarriesGoal(t *testing.T) {
	s := NewStandIn([]int{0, 27}, 16, 1)
	for _, tc := range []struct{ a, b, goal string }{
		{"wipe the left side of the table with the red sponge", "wipe the right side of the table with the red sponge", "left"},
		{"place the red cup on the left tray", "place the red cup on the front tray", "left"},
	} {
		a, b := s.Cache(tc.a), s.Cache(tc.b)
		want := int64(hash64("tok", tc.goal) % standInVocab)
		found := false
		for _, id := range a.TokenIDs[:len(a.TokenIDs)-1] { // the last one is not fed back
			found = found || id == want
		}
		if !found {
			t.Errorf("%q: goal %q not among the generated tokens that make vlm_new", tc.a, tc.goal)
		}
		for name, pair := range map[string][2][]float32{"vlm_old": {a.Old, b.Old}, "vlm_new": {a.New, b.New}} {
			var d, n float64
			for i := range pair[0] {
				x := float64(pair[0][i] - pair[1][i])
				d += x * x
				n += float64(pair[0][i]) * float64(pair[0][i])
			}
			if d < 0.01*n {
				t.Errorf("%q vs %q: %s differs by only %.4f of its energy", tc.a, tc.b, name, d/n)
			}
		}
	}
}
