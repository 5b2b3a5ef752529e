package thinker

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// CheckReport summarises the validation of a cache folder.
type CheckReport struct {
	Files    int
	OK       int
	Problems []string // one per failing file
	Warnings []string
	Layers   map[string]int // layer list → files
	DTypes   map[string]int
	Hidden   map[int]int
	So, Sn   []int // lengths of the files that read
	Versions map[int]int
}

// CheckDir reads and validates every .npz under dir (recursively).
func CheckDir(dir string, e Expect) (*CheckReport, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".npz") {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check %s: %w", dir, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("check %s: no .npz files", dir)
	}
	sort.Strings(paths)
	r := &CheckReport{Layers: map[string]int{}, DTypes: map[string]int{}, Hidden: map[int]int{}, Versions: map[int]int{}}
	for _, p := range paths {
		r.Files++
		c, err := Read(p)
		if err == nil {
			var w []string
			w, err = c.Validate(e)
			r.Warnings = append(r.Warnings, w...)
		}
		if err != nil {
			r.Problems = append(r.Problems, err.Error())
			continue
		}
		r.OK++
		r.Layers[fmt.Sprint(c.Layers)]++
		r.DTypes[string(c.DType)]++
		r.Hidden[c.Dv]++
		r.Versions[c.Version]++
		r.So = append(r.So, c.So)
		r.Sn = append(r.Sn, c.Sn)
	}
	return r, nil
}

// Print writes a human-readable summary.
func (r *CheckReport) Print(w io.Writer) {
	fmt.Fprintf(w, "files: %d, ok: %d, failing: %d\n", r.Files, r.OK, len(r.Problems))
	fmt.Fprintf(w, "layout versions: %v\n", r.Versions)
	fmt.Fprintf(w, "layers: %v\n", r.Layers)
	fmt.Fprintf(w, "hidden sizes: %v\n", r.Hidden)
	fmt.Fprintf(w, "dtypes: %v\n", r.DTypes)
	fmt.Fprintf(w, "S_o (prompt tokens): %s\n", distribution(r.So))
	fmt.Fprintf(w, "S_n (generated tokens): %s\n", distribution(r.Sn))
	for _, s := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", s)
	}
	for _, s := range r.Problems {
		fmt.Fprintf(w, "FAIL: %s\n", s)
	}
}

func distribution(v []int) string {
	if len(v) == 0 {
		return "-"
	}
	s := append([]int(nil), v...)
	sort.Ints(s)
	sum := 0
	for _, x := range s {
		sum += x
	}
	q := func(f float64) int { return s[int(f*float64(len(s)-1)+0.5)] }
	return fmt.Sprintf("min %d, p50 %d, p95 %d, max %d, mean %.1f", s[0], q(0.5), q(0.95), s[len(s)-1], float64(sum)/float64(len(s)))
}
