package npy

import (
	"archive/zip"
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/thinkjepa/thinkjepa/internal/fsutil"
)

// NPZ is an opened .npz archive. Arrays are decoded on demand.
type NPZ struct {
	path  string
	zr    *zip.ReadCloser
	files map[string]*zip.File
	order []string // member names in archive order (NumPy's NpzFile.files order)
}

// OpenNPZ opens a .npz file. The error names the file when it is missing, truncated or not a zip.
func OpenNPZ(path string) (*NPZ, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable .npz (zip) archive: %w", path, err)
	}
	z := &NPZ{path: path, zr: zr, files: map[string]*zip.File{}}
	for _, f := range zr.File {
		k := strings.TrimSuffix(f.Name, ".npy")
		if _, dup := z.files[k]; !dup {
			z.order = append(z.order, k)
		}
		z.files[k] = f
	}
	return z, nil
}

// Close releases the archive.
func (z *NPZ) Close() error { return z.zr.Close() }

// Path is the file the archive was opened from.
func (z *NPZ) Path() string { return z.path }

// Keys lists the array names, sorted.
func (z *NPZ) Keys() []string {
	keys := make([]string, 0, len(z.files))
	for k := range z.files {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Ordered lists the array names in archive order, the order NumPy's np.load(...).files
// gives; formats that say "the first array" mean the first of these.
func (z *NPZ) Ordered() []string { return append([]string(nil), z.order...) }

// Has reports whether the archive holds key.
func (z *NPZ) Has(key string) bool { _, ok := z.files[key]; return ok }

// Get decodes one array. A missing key or a malformed member gives an error naming both
// the file and the key.
func (z *NPZ) Get(key string) (*Array, error) {
	f, ok := z.files[key]
	if !ok {
		return nil, fmt.Errorf("%s: missing key %q (have %s)", z.path, key, strings.Join(z.Keys(), ", "))
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: key %q: %w", z.path, key, err)
	}
	defer rc.Close()
	a, err := Read(rc)
	if err != nil {
		return nil, fmt.Errorf("%s: key %q: %w", z.path, key, err)
	}
	return a, nil
}

// Float32s decodes key as float32 and checks its shape against want; -1 in want matches
// any size. The error names file, key, and the expected and actual shapes.
func (z *NPZ) Float32s(key string, want ...int) ([]float32, []int, error) {
	a, err := z.Get(key)
	if err != nil {
		return nil, nil, err
	}
	if err := CheckShape(a.Shape, want); err != nil {
		return nil, nil, fmt.Errorf("%s: key %q: %w", z.path, key, err)
	}
	v, err := a.Float32s()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: key %q: %w", z.path, key, err)
	}
	return v, a.Shape, nil
}

// CheckShape compares a shape with a pattern in which -1 matches any size.
// A nil pattern matches everything.
func CheckShape(got, want []int) error {
	if want == nil {
		return nil
	}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = want[i] < 0 || want[i] == got[i]
	}
	if !ok {
		return fmt.Errorf("shape %v, expected %s", got, shapePattern(want))
	}
	return nil
}

func shapePattern(want []int) string {
	parts := make([]string, len(want))
	for i, w := range want {
		if w < 0 {
			parts[i] = "*"
		} else {
			parts[i] = fmt.Sprint(w)
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// NPZWriter collects named arrays and writes them as one .npz.
type NPZWriter struct {
	names  []string
	arrays map[string]*Array
}

// NewNPZWriter makes an empty archive.
func NewNPZWriter() *NPZWriter { return &NPZWriter{arrays: map[string]*Array{}} }

// Add stores an array under name (replacing an earlier one of the same name).
func (w *NPZWriter) Add(name string, a *Array) {
	if _, ok := w.arrays[name]; !ok {
		w.names = append(w.names, name)
	}
	w.arrays[name] = a
}

// WriteTo writes the archive (stored, uncompressed, as np.savez does).
func (w *NPZWriter) WriteTo(out io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(out, 1<<20)
	zw := zip.NewWriter(bw)
	for _, name := range w.names {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: name + ".npy", Method: zip.Store})
		if err != nil {
			return 0, err
		}
		if err := Write(fw, w.arrays[name]); err != nil {
			return 0, fmt.Errorf("npz member %q: %w", name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return 0, bw.Flush()
}

// WriteFile writes the archive atomically (temp file + rename).
func (w *NPZWriter) WriteFile(path string) error {
	return fsutil.WriteAtomic(path, func(f io.Writer) error {
		_, err := w.WriteTo(f)
		return err
	})
}

// WriteNPYFile writes one array to path atomically.
func WriteNPYFile(path string, a *Array) error {
	return fsutil.WriteAtomic(path, func(f io.Writer) error {
		bw := bufio.NewWriterSize(f, 1<<20)
		if err := Write(bw, a); err != nil {
			return err
		}
		return bw.Flush()
	})
}

// ReadNPYFile reads one .npy file; errors name the file.
func ReadNPYFile(path string) (*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}
