package weights

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

func safetensorsHeader(header string, data int) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(make([]byte, data))
	return b.Bytes()
}

// FuzzSafetensors: safetensors bytes (plain, or our checkpoint format) never panic
// ReadSafetensors or Load; shapes whose element count overflows are refused.
func FuzzSafetensors(f *testing.F) {
	dir := f.TempDir()
	tensors := map[string]*Tensor{"a.weight": {Name: "a.weight", Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}},
		"b": {Name: "b", Shape: []int{}, Data: []float32{7}}}
	for i, half := range []bool{false, true} {
		p := filepath.Join(dir, "seed.safetensors")
		if err := WriteSafetensors(p, tensors, map[string]string{"k": "v"}, half); err != nil {
			f.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		f.Add(b)
		if i == 0 {
			c := &Checkpoint{Tensors: tensors, Config: []byte(`{"kind":"vjepa_encoder","embed_dim":8}`), Provenance: NewProvenance("seed", "", "fuzz")}
			if err := c.Save(p); err != nil {
				f.Fatal(err)
			}
			b, _ = os.ReadFile(p)
			f.Add(b)
		}
	}
	if b, err := os.ReadFile("../testdata/golden/released_tiny/hf_tiny.safetensors"); err == nil && len(b) < 1<<20 {
		f.Add(b)
	}
	// 2⁶² header length; a shape of 10⁹×10⁹ with empty data; an element count that wraps to 0.
	f.Add(safetensorsHeader("", 0)[:8])
	f.Add(append(binary.LittleEndian.AppendUint64(nil, 1<<62), '{', '}'))
	f.Add(safetensorsHeader(`{"x":{"dtype":"F32","shape":[1000000000,1000000000],"data_offsets":[0,0]}}`, 0))
	f.Add(safetensorsHeader(`{"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "f.safetensors")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if sf, err := ReadSafetensors(p); err == nil {
			for _, tt := range sf.Tensors {
				if tt.NumElements() != len(tt.Data) {
					t.Fatalf("tensor %s: shape %v with %d values", tt.Name, tt.Shape, len(tt.Data))
				}
			}
		}
		if c, err := Load(p); err == nil {
			c.Names()
		}
	})
}

// FuzzPT: PyTorch zip checkpoints (zip + pickle) never panic ReadPT or StateDict, and a
// pickled storage size larger than its zip record is refused before allocation.
func FuzzPT(f *testing.F) {
	for _, n := range []string{"head_state_dict.pt", "vjepa2_tiny_half.pt", "thinkjepa_ckpt.pt"} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "golden", "released_tiny", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "f.pt")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		pf, err := ReadPT(p)
		if err != nil {
			return
		}
		for _, k := range pf.Order {
			pf.StateDict(k)
		}
		Import(p, ImportOptions{})
	})
}
