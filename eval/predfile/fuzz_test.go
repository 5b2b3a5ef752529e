package predfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/thinkjepa/thinkjepa/internal/fuzzutil"
)

// FuzzPredictionFolder: a prediction folder whose <id>.npz has one member replaced by
// arbitrary .npy bytes, and whose <id>.json and run.json hold arbitrary bytes, never
// panics Read, ReadDir or ReadRun.
func FuzzPredictionFolder(f *testing.F) {
	seedDir := f.TempDir()
	if err := Write(seedDir, "c0", sample()); err != nil {
		f.Fatal(err)
	}
	if err := WriteRun(seedDir, Run{}); err != nil {
		f.Fatal(err)
	}
	a, err := fuzzutil.ReadArchive(filepath.Join(seedDir, "c0.npz"))
	if err != nil {
		f.Fatal(err)
	}
	meta, _ := os.ReadFile(filepath.Join(seedDir, "c0.json"))
	run, _ := os.ReadFile(filepath.Join(seedDir, "run.json"))
	a.Seeds(func(which int, data []byte) { f.Add(uint8(which), data, meta) })
	f.Add(uint8(0), a.Members[0], run)
	f.Add(uint8(0), a.Members[0], []byte(`{"clip_id": "../../etc", "extra": {"x": [1e400]}}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, which uint8, member, js []byte) {
		if err := fuzzutil.WriteTemp(filepath.Join(dir, "c0.npz"), a.With(int(which), member)); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"c0.json", "run.json"} {
			if err := fuzzutil.WriteTemp(filepath.Join(dir, n), js); err != nil {
				t.Fatal(err)
			}
		}
		if p, err := Read(dir, "c0"); err == nil {
			if err := p.Validate(); err != nil {
				t.Fatalf("Read returned a prediction that fails Validate: %v", err)
			}
		}
		ReadDir(dir)
		ReadRun(dir)
	})
}
