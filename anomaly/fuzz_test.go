package anomaly

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadLabels feeds arbitrary bytes to every label format: the reader must never
// panic, and every failure must be a LabelError naming the file.
func FuzzReadLabels(f *testing.F) {
	for _, s := range []string{"0 1 1 0", "0,1\n1,0\n", "# c\n1\n", "[0, 1, [true]]", `{"labels": [0, 1]}`,
		`{"gt": 1}`, "\x93NUMPY\x01\x00v\x00{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", "PK\x05\x06"} {
		for ext := range len(LabelPatterns) {
			f.Add([]byte(s), uint8(ext))
		}
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body []byte, ext uint8) {
		p := filepath.Join(dir, "l"+LabelPatterns[int(ext)%len(LabelPatterns)])
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
		labels, err := ReadLabels(p)
		if err != nil {
			var le *LabelError
			if !errors.As(err, &le) || le.Path != p {
				t.Fatalf("error %v is not a LabelError for %s", err, p)
			}
			return
		}
		if len(labels) == 0 {
			t.Fatal("no error and no labels")
		}
		if _, _, err := Align(labels, 7, []int64{0, 1}); err != nil {
			t.Fatal(err)
		}
	})
}
