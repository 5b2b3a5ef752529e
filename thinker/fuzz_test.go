package thinker

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/thinkjepa/thinkjepa/internal/fuzzutil"
)

// bigNPY is a .npy header asking for a 10⁹×10⁹×10⁹ fp16 array with no data.
func bigNPY() []byte {
	h := "{'descr': '<f2', 'fortran_order': False, 'shape': (1000000000, 1000000000, 1000000000), }\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	b.WriteString(h)
	return b.Bytes()
}

// FuzzThinkerCache: a thinker cache (v2 as written by Write, v1 as the authors' older
// layout) with any one member replaced by arbitrary .npy bytes never panics Read or
// Validate.
func FuzzThinkerCache(f *testing.F) {
	dir := f.TempDir()
	var archives []*fuzzutil.Archive
	for i, v1 := range []bool{false, true} {
		p := gen(f, dir, "seed"+string(rune('a'+i))+".npz", genOpts{L: 2, So: 3, Sn: 2, D: 4, half: !v1, v1: v1})
		a, err := fuzzutil.ReadArchive(p)
		if err != nil {
			f.Fatal(err)
		}
		archives = append(archives, a)
	}
	for ai, a := range archives {
		a.Seeds(func(which int, data []byte) { f.Add(uint8(ai), uint8(which), data) })
		f.Add(uint8(ai), uint8(0), bigNPY())
	}
	f.Fuzz(func(t *testing.T, arch, which uint8, data []byte) {
		a := archives[int(arch)%len(archives)]
		p := filepath.Join(dir, "f.npz")
		if err := fuzzutil.WriteTemp(p, a.With(int(which), data)); err != nil {
			t.Fatal(err)
		}
		c, err := Read(p)
		if err != nil {
			return
		}
		c.Validate(Expect{Truncate: true, OldCapacity: 2, NewCapacity: 1})
		for l := 0; l < c.L; l++ {
			c.OldLayer(l)
			c.NewLayer(l)
		}
	})
}
