package npy

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sbinet/npyio"
)

// Our writer's output must be readable by an independent reader (sbinet/npyio).
func TestWriteReadableByNpyio(t *testing.T) {
	data := []float32{1, -2.5, 3, 4, 5, 6}
	var buf bytes.Buffer
	if err := Write(&buf, FromFloat32(data, 2, 3)); err != nil {
		t.Fatal(err)
	}
	r, err := npyio.NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Header.Descr.Shape; len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Fatalf("npyio sees shape %v", got)
	}
	var back []float32
	if err := r.Read(&back); err != nil {
		t.Fatal(err)
	}
	for i := range data {
		if back[i] != data[i] {
			t.Fatalf("element %d: %v != %v", i, back[i], data[i])
		}
	}
	if buf.Len()%64 != 24%64 && (buf.Len()-24)%64 != 0 {
		t.Fatalf("header not 64-byte aligned: total %d", buf.Len())
	}
}

func TestRoundTripDTypes(t *testing.T) {
	cases := []*Array{
		FromFloat64([]float64{1.5, math.Inf(1)}, 2),
		FromUint8([]uint8{1, 2, 3, 4}, 2, 1, 2),
		FromInt64([]int64{-7, 1 << 40}, 2),
		FromInt32([]int32{-7, 9}, 1, 2),
		FromBool([]bool{true, false, true}, 3),
		FromFloat32AsHalf([]float32{1, -0.5, 65504, 6e-8}, 4),
		FromString("Describe this video. ✓"),
	}
	for _, a := range cases {
		var buf bytes.Buffer
		if err := Write(&buf, a); err != nil {
			t.Fatal(err)
		}
		b, err := Read(&buf)
		if err != nil {
			t.Fatalf("%s: %v", a.DType, err)
		}
		if b.DType != a.DType || !bytes.Equal(a.Raw, b.Raw) || len(a.Shape) != len(b.Shape) {
			t.Fatalf("%s: round trip changed the array: %+v -> %+v", a.DType, a.Shape, b.Shape)
		}
	}
	var ebuf bytes.Buffer
	if err := Write(&ebuf, FromString("")); err != nil {
		t.Fatal(err)
	}
	if e, err := Read(&ebuf); err != nil {
		t.Fatalf("empty string: %v", err)
	} else if s, _ := e.String(); s != "" {
		t.Fatalf("empty string read back as %q", s)
	}
	s, _ := FromString("héllo").String()
	if s != "héllo" {
		t.Fatalf("string round trip: %q", s)
	}
}

func TestHalfConversion(t *testing.T) {
	// Values exactly representable in binary16 survive; others round to nearest even.
	for _, v := range []float32{0, 1, -2, 0.333251953125, 65504, 6.103515625e-05, 5.960464477539063e-08} {
		if got := HalfToFloat32(Float32ToHalf(v)); got != v {
			t.Errorf("%v -> %v", v, got)
		}
	}
	if got := HalfToFloat32(Float32ToHalf(1 + 1.0/4096)); got != 1 { // tie rounds to even
		t.Errorf("tie rounding: got %v", got)
	}
	if got := HalfToFloat32(Float32ToHalf(1e6)); !math.IsInf(float64(got), 1) {
		t.Errorf("overflow: got %v", got)
	}
	if got := HalfToFloat32(0x7e00); !math.IsNaN(float64(got)) {
		t.Errorf("NaN: got %v", got)
	}
	// Every binary16 value converts to float32 and back to itself.
	for h := 0; h < 1<<16; h++ {
		f := HalfToFloat32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if back := Float32ToHalf(f); back != uint16(h) {
			t.Fatalf("half %#04x -> %v -> %#04x", h, f, back)
		}
	}
}

func TestNPZRoundTripAndErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.npz")
	w := NewNPZWriter()
	w.Add("feats", FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 3, 2))
	w.Add("ids", FromInt32([]int32{5}, 1))
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	z, err := OpenNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	if _, _, err := z.Float32s("feats", -1, 2); err != nil {
		t.Fatal(err)
	}
	_, _, err = z.Float32s("feats", 2, 3)
	if err == nil || !strings.Contains(err.Error(), "feats") || !strings.Contains(err.Error(), "[2 3]") {
		t.Fatalf("shape error should name key and expected shape, got %v", err)
	}
	if _, err := z.Get("nope"); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("missing key error should name the file, got %v", err)
	}
	// A truncated archive is refused with the file named.
	raw, _ := os.ReadFile(path)
	bad := filepath.Join(dir, "bad.npz")
	os.WriteFile(bad, raw[:len(raw)/2], 0o644)
	if _, err := OpenNPZ(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("truncated npz: %v", err)
	}
}

func TestReadRejectsTruncatedAndGarbage(t *testing.T) {
	var buf bytes.Buffer
	Write(&buf, FromFloat32(make([]float32, 100), 10, 10))
	if _, err := Read(bytes.NewReader(buf.Bytes()[:buf.Len()-8])); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("truncated data: %v", err)
	}
	if _, err := Read(strings.NewReader("PK\x03\x04 not npy at all")); err == nil {
		t.Fatal("garbage accepted")
	}
}
