package npy

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

func npyBytes(t testing.TB, a *Array) []byte {
	var b bytes.Buffer
	if err := Write(&b, a); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// hugeHeader is a valid .npy header whose shape asks for 10⁹×10⁹ float32 with no data.
func hugeHeader(shape string, version byte) []byte {
	h := "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }\n"
	var b bytes.Buffer
	b.Write(magic)
	b.WriteByte(version)
	b.WriteByte(0)
	if version == 1 {
		binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	} else {
		binary.Write(&b, binary.LittleEndian, uint32(len(h)))
	}
	b.WriteString(h)
	return b.Bytes()
}

// exercise runs every accessor on a decoded array: none may panic.
func exercise(a *Array) {
	a.Float32s()
	a.Float64s()
	a.Int64s()
	a.Uint8s()
	a.String()
	a.Strings()
}

func npySeeds(f *testing.F) {
	f.Add(npyBytes(f, FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)))
	f.Add(npyBytes(f, FromFloat32AsHalf([]float32{1, -2, 65504, 1e-7}, 4)))
	f.Add(npyBytes(f, FromFloat64([]float64{1.5}, 1, 1)))
	f.Add(npyBytes(f, FromInt64([]int64{7}, 1)))
	f.Add(npyBytes(f, FromInt32([]int32{-1, 2}, 2)))
	f.Add(npyBytes(f, FromUint8([]uint8{1, 2, 3}, 3)))
	f.Add(npyBytes(f, FromBool([]bool{true, false}, 1, 2)))
	f.Add(npyBytes(f, FromString("pick the cup")))
	f.Add(npyBytes(f, FromString("")))
	f.Add(npyBytes(f, FromStrings([]string{"rightHand", "leftHand"})))
	f.Add(hugeHeader("(1000000000, 1000000000)", 1))
	f.Add(hugeHeader("(4611686018427387904,)", 2))
	f.Add(hugeHeader("(3037000500, 3037000500, 4)", 1))
}

// FuzzNPY: .npy bytes from a user never panic the reader or its accessors, and a header
// asking for more than MaxArrayBytes is refused before allocation.
func FuzzNPY(f *testing.F) {
	npySeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		if want, err := DataBytes(a.Shape, max(1, itemSize(a.DType))); err == nil && a.DType.Size() > 0 && int64(len(a.Raw)) > want && len(a.Raw) > len(b) {
			t.Fatalf("decoded %d bytes from a %d-byte input", len(a.Raw), len(b))
		}
		exercise(a)
	})
}

// FuzzNPZ: an .npz (zip of .npy) from a user never panics OpenNPZ, Get or the accessors.
func FuzzNPZ(f *testing.F) {
	w := NewNPZWriter()
	w.Add("xyz", FromFloat32([]float32{1, 2, 3}, 1, 3))
	w.Add("feat", FromFloat32AsHalf([]float32{0.5, 0.25}, 2))
	w.Add("name", FromString("clip"))
	var b bytes.Buffer
	if _, err := w.WriteTo(&b); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	w = NewNPZWriter()
	w.Add("big", &Array{DType: Float32, Shape: []int{1 << 30, 1 << 30}, Raw: nil})
	b.Reset()
	w.WriteTo(&b) // the member's header lies about its size; the writer refuses the data, keeping the header
	f.Add(b.Bytes())
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "f.npz")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		z, err := OpenNPZ(p)
		if err != nil {
			return
		}
		defer z.Close()
		for _, k := range z.Keys() {
			if a, err := z.Get(k); err == nil {
				exercise(a)
			}
			z.Float32s(k, -1)
		}
	})
}

// TestHugeHeaderRefused: the planted giant shapes are clear errors (no allocation: the
// test would run out of memory otherwise).
func TestHugeHeaderRefused(t *testing.T) {
	for _, s := range []string{"(1000000000, 1000000000)", "(4611686018427387904,)", "(3037000500, 3037000500, 4)", "(-1, 3)"} {
		if _, err := Read(bytes.NewReader(hugeHeader(s, 1))); err == nil {
			t.Errorf("shape %s: no error", s)
		}
	}
	// 2 GiB declared, 0 present: a truncation error after reading what is there.
	if _, err := Read(bytes.NewReader(hugeHeader("(536870912,)", 1))); err == nil {
		t.Error("truncated 2 GiB array: no error")
	}
}
