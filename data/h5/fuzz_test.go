package h5

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzH5Datasets: HDF5 files with fuzz-chosen dataset shapes (including declared shapes
// with no storage behind them), float widths, compression, values (NaN included) and
// string attributes never panic our layer, and a declared size the file does not hold is
// an error before allocation. The files are made by libhdf5 itself (feeding it corrupt
// bytes would test libhdf5's parser, which we cannot fix, not ours).
func FuzzH5Datasets(f *testing.F) {
	f.Add(uint8(3), uint32(5), uint32(4), uint32(4), false, false, false, "pick up the cup", false, []byte{1, 2, 3, 4})
	f.Add(uint8(3), uint32(1000000000), uint32(4), uint32(4), true, false, false, "", true, []byte{})
	f.Add(uint8(2), uint32(4000000000), uint32(4000000000), uint32(1), true, false, false, "x\x00y", false, []byte{})
	f.Add(uint8(1), uint32(7), uint32(0), uint32(0), false, true, true, strings.Repeat("é", 300), true, []byte{0, 0, 0xc0, 0x7f})
	f.Add(uint8(3), uint32(0), uint32(4), uint32(4), false, false, true, "", false, []byte{})
	dir := f.TempDir()
	run := 0
	f.Fuzz(func(t *testing.T, rank uint8, d0, d1, d2 uint32, unwritten, f64, deflate bool, attr string, fixed bool, vals []byte) {
		// A fresh name each time: libhdf5 will not truncate a file it still has open.
		run++
		p := filepath.Join(dir, fmt.Sprintf("f%d.h5", run))
		defer os.Remove(p)
		w, err := Create(p)
		if err != nil {
			t.Fatal(err)
		}
		w.Float64 = f64
		if deflate {
			w.Deflate = 4
		}
		shape := []int{int(d0), int(d1), int(d2)}[:1+int(rank)%3]
		n := 1.0 // float: the product of three uint32 overflows int64
		for _, d := range shape {
			n *= float64(d)
		}
		if unwritten {
			w.CreateUnwritten("/transforms/camera", shape...)
		} else if n <= 4096 {
			data := make([]float32, int(n))
			for i := range data {
				if 4*i+4 <= len(vals) {
					data[i] = math.Float32frombits(binary.LittleEndian.Uint32(vals[4*i:]))
				}
			}
			w.WriteFloat32("/transforms/camera", data, shape...)
		}
		w.StringAttr("llm_description", attr, fixed)
		if err := w.Close(); err != nil {
			return
		}
		r, err := Open(p)
		if err != nil {
			return
		}
		defer r.Close()
		r.Children("/")
		r.Children("/transforms")
		r.Info("/transforms/camera")
		if v, sh, _, err := r.ReadFloat32("/transforms/camera"); err == nil {
			m := 1
			for _, d := range sh {
				m *= d
			}
			if m != len(v) {
				t.Fatalf("shape %v with %d values", sh, len(v))
			}
		} else if unwritten && n*4 > 1<<30 && !strings.Contains(err.Error(), "stores only") && !strings.Contains(err.Error(), "implausibly large") {
			t.Fatalf("declared %g bytes with no storage: unexpected error %v", n*4, err)
		}
		r.StringAttr("/", "llm_description")
		r.AttrNames("/")
		r.Exists("/transforms/camera/x")
	})
}

// TestDeclaredSizeWithoutStorage: a 10⁹×4×4 dataset whose chunks were never written is an
// error naming the dataset, not a 64 GB allocation.
func TestDeclaredSizeWithoutStorage(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.h5")
	w, err := Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.CreateUnwritten("/transforms/camera", 1000000000, 4, 4); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, _, _, err = r.ReadFloat32("/transforms/camera")
	if err == nil || !strings.Contains(err.Error(), "stores only") || !strings.Contains(err.Error(), "/transforms/camera") {
		t.Fatalf("err = %v", err)
	}
}
