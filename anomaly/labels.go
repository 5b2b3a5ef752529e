// Package anomaly is the latent anomaly detection stage (model-spec §4.12): the
// predictor's latent prediction error over sliding windows becomes a per-frame score,
// which is compared with frame-level labels by ranking metrics.
//
// It sits beside eval, not inside it (architecture.md: "latent anomaly scoring, a stage
// of its own beside eval"): eval reads trajectory predictions, this stage reads latents
// and frame labels. This file reads and aligns labels in every format upstream accepts.
package anomaly

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/thinkjepa/thinkjepa/internal/linspace"
	"github.com/thinkjepa/thinkjepa/internal/npy"
)

// LabelPatterns are the label file extensions in upstream's search order: for a stem
// found under several, the earlier extension wins.
var LabelPatterns = []string{".npy", ".npz", ".txt", ".csv", ".json"}

// maxLabelBytes bounds a text/JSON label file. Frame labels are a few kB; a larger file
// is a wrong path, and reading it whole would only exhaust memory.
const maxLabelBytes = 64 << 20

// LabelError is a label file that cannot be read or aligned.
type LabelError struct {
	Path   string
	Reason string
	Err    error // the underlying error, if any
}

func (e *LabelError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("labels %s: %s: %v", e.Path, e.Reason, e.Err)
	}
	return fmt.Sprintf("labels %s: %s", e.Path, e.Reason)
}

func (e *LabelError) Unwrap() error { return e.Err }

func labelErr(path string, err error, format string, args ...any) error {
	return &LabelError{Path: path, Reason: fmt.Sprintf(format, args...), Err: err}
}

// ReadLabels reads one frame-label file and returns its values flattened (C order) and
// binarised as value > 0, as upstream does. The format follows the extension:
//   - .npy: any numeric or bool array;
//   - .npz: key "labels", else "gt", else the first array in the archive;
//   - .txt/.csv: numbers separated by commas, or else by whitespace (one file is one
//     or the other, like numpy.loadtxt with delimiter "," and then the default);
//     blank lines and '#' comments are skipped;
//   - .json: a list (nested lists are flattened), or an object's "labels", "gt" or
//     "frame_labels" (first present); numbers or booleans.
//
// Upstream binarises NaN to 0 silently; a NaN label here is an error, since it can only
// come from a broken file. An empty label array is an error too.
func ReadLabels(path string) ([]bool, error) {
	var (
		vals []float64
		err  error
	)
	switch ext := filepath.Ext(path); ext {
	case ".npy":
		vals, err = readNPYLabels(path)
	case ".npz":
		vals, err = readNPZLabels(path)
	case ".txt", ".csv":
		vals, err = readTextLabels(path)
	case ".json":
		vals, err = readJSONLabels(path)
	default:
		return nil, labelErr(path, nil, "unknown label format %q (want one of %s)", ext, strings.Join(LabelPatterns, " "))
	}
	if err != nil {
		return nil, err
	}
	if len(vals) == 0 {
		return nil, labelErr(path, nil, "no labels (empty array)")
	}
	out := make([]bool, len(vals))
	for i, v := range vals {
		if math.IsNaN(v) {
			return nil, labelErr(path, nil, "label %d is NaN", i)
		}
		out[i] = v > 0
	}
	return out, nil
}

func readNPYLabels(path string) ([]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, labelErr(path, err, "cannot open")
	}
	defer f.Close()
	a, err := npy.Read(f)
	if err != nil {
		return nil, labelErr(path, err, "not a readable .npy array")
	}
	return arrayLabels(path, "", a)
}

func readNPZLabels(path string) ([]float64, error) {
	z, err := npy.OpenNPZ(path)
	if err != nil {
		return nil, labelErr(path, err, "not a readable .npz archive")
	}
	defer z.Close()
	keys := z.Ordered()
	if len(keys) == 0 {
		return nil, labelErr(path, nil, "archive holds no arrays")
	}
	key := keys[0]
	for _, k := range []string{"labels", "gt"} {
		if z.Has(k) {
			key = k
			break
		}
	}
	a, err := z.Get(key)
	if err != nil {
		return nil, labelErr(path, err, "key %q is not a readable array", key)
	}
	return arrayLabels(path, key, a)
}

// arrayLabels converts a numeric array to float64 without losing the sign of any value
// (an unsigned 64-bit value above 2⁶³ must stay positive).
func arrayLabels(path, key string, a *npy.Array) ([]float64, error) {
	where := "array"
	if key != "" {
		where = fmt.Sprintf("key %q", key)
	}
	switch a.DType {
	case npy.Float16, npy.Float32, npy.Float64:
		v, err := a.Float64s()
		if err != nil {
			return nil, labelErr(path, err, "%s", where)
		}
		return v, nil
	case npy.Uint64:
		raw, err := a.Int64s()
		if err != nil {
			return nil, labelErr(path, err, "%s", where)
		}
		out := make([]float64, len(raw))
		for i, r := range raw {
			if r != 0 {
				out[i] = 1
			}
		}
		return out, nil
	}
	ints, err := a.Int64s()
	if err != nil {
		return nil, labelErr(path, err, "%s has dtype %s, want numbers or booleans", where, a.DType)
	}
	out := make([]float64, len(ints))
	for i, v := range ints {
		out[i] = float64(v)
	}
	return out, nil
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, labelErr(path, err, "cannot open")
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxLabelBytes+1))
	if err != nil {
		return nil, labelErr(path, err, "cannot read")
	}
	if len(b) > maxLabelBytes {
		return nil, labelErr(path, nil, "larger than %d MiB; not a frame-label file", maxLabelBytes>>20)
	}
	return b, nil
}

func readTextLabels(path string) ([]float64, error) {
	b, err := readSmall(path)
	if err != nil {
		return nil, err
	}
	vals, errComma := parseDelimited(b, true)
	if errComma == nil {
		return vals, nil
	}
	vals, errSpace := parseDelimited(b, false)
	if errSpace == nil {
		return vals, nil
	}
	return nil, labelErr(path, nil, "neither comma-separated (%v) nor whitespace-separated (%v) numbers", errComma, errSpace)
}

// parseDelimited parses rows of numbers separated by commas (comma) or by whitespace.
// Every row must have as many values as the first, as numpy.loadtxt requires.
func parseDelimited(b []byte, comma bool) ([]float64, error) {
	var out []float64
	cols := -1
	for ln, line := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var fields []string
		if comma {
			fields = strings.Split(line, ",")
		} else {
			fields = strings.Fields(line)
		}
		if cols >= 0 && len(fields) != cols {
			return nil, fmt.Errorf("line %d has %d values, earlier lines %d", ln+1, len(fields), cols)
		}
		cols = len(fields)
		for _, f := range fields {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: %q is not a number", ln+1, strings.TrimSpace(f))
			}
			out = append(out, v)
		}
	}
	return out, nil
}

func readJSONLabels(path string) ([]float64, error) {
	b, err := readSmall(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, labelErr(path, err, "not valid JSON")
	}
	if dec.More() {
		return nil, labelErr(path, nil, "trailing data after the JSON value")
	}
	field := ""
	if m, ok := doc.(map[string]any); ok {
		for _, k := range []string{"labels", "gt", "frame_labels"} {
			if v, ok := m[k]; ok {
				doc, field = v, k
				break
			}
		}
		if field == "" {
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			return nil, labelErr(path, nil, "object has none of the keys labels, gt, frame_labels (has %q)", keys)
		}
	}
	var out []float64
	if err := flattenJSON(doc, &out, 0); err != nil {
		if field != "" {
			return nil, labelErr(path, nil, "field %q: %v", field, err)
		}
		return nil, labelErr(path, nil, "%v", err)
	}
	return out, nil
}

// maxJSONDepth bounds list nesting; frame labels are one or two levels deep.
const maxJSONDepth = 32

func flattenJSON(v any, out *[]float64, depth int) error {
	if depth > maxJSONDepth {
		return fmt.Errorf("lists nested deeper than %d", maxJSONDepth)
	}
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if err := flattenJSON(e, out, depth+1); err != nil {
				return err
			}
		}
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return fmt.Errorf("value %d: %q is not a number", len(*out), string(x))
		}
		*out = append(*out, f)
	case bool:
		if x {
			*out = append(*out, 1)
		} else {
			*out = append(*out, 0)
		}
	case nil:
		return fmt.Errorf("value %d is null", len(*out))
	default:
		return fmt.Errorf("value %d is a %T, want a number or boolean", len(*out), v)
	}
	return nil
}

// stemSuffix is the cache-name suffix upstream's extractor appends (pyramid layers,
// frames, resolution, new tokens, shard); labels are named without it.
var stemSuffix = regexp.MustCompile(`_L\d+_nf\d+_res\d+_new\d+_s\d+of\d+$`)

// Stem is the key a label file and a clip are matched by: the base name without its
// last extension and without upstream's cache suffix.
func Stem(name string) string {
	base := filepath.Base(name)
	base = strings.TrimSuffix(base, filepath.Ext(base))
	return stemSuffix.ReplaceAllString(base, "")
}

// LabelIndex maps stems to label files.
type LabelIndex struct {
	Dir   string
	paths map[string]string
}

// IndexLabels finds the label files under dir, recursively, the way upstream does:
// extension by extension in LabelPatterns order, paths sorted within each, the first
// file per stem wins (so a.npy beats a.json, and sub1/a.npy beats sub2/a.npy). Hidden
// files and directories are skipped, as Python's glob does (and so are half-written
// temporary files). A dir that does not exist or is not a directory is an error.
func IndexLabels(dir string) (*LabelIndex, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("label folder: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("label folder %s is not a directory", dir)
	}
	byExt := map[string][]string{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("label folder %s: %w", dir, err)
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		ext := filepath.Ext(p)
		byExt[ext] = append(byExt[ext], p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	idx := &LabelIndex{Dir: dir, paths: map[string]string{}}
	for _, ext := range LabelPatterns {
		ps := byExt[ext]
		sort.Strings(ps)
		for _, p := range ps {
			if _, seen := idx.paths[Stem(p)]; !seen {
				idx.paths[Stem(p)] = p
			}
		}
	}
	return idx, nil
}

// Len is the number of stems with labels (0 for a nil index: no --labels).
func (x *LabelIndex) Len() int {
	if x == nil {
		return 0
	}
	return len(x.paths)
}

// Lookup returns the label file for a clip (by its file name or id; the stem rule is
// applied to it too), or "" when there is none.
func (x *LabelIndex) Lookup(clip string) string {
	if x == nil {
		return ""
	}
	return x.paths[Stem(clip)]
}

// Alignment names the rule that mapped labels onto latent frames.
type Alignment string

const (
	AlignFrameIndices Alignment = "frame_indices" // labels[frame_indices[:T]]
	AlignExact        Alignment = "exact"         // len(labels) == T
	AlignLinspace     Alignment = "linspace"      // labels[linspace(0, len−1, T) as int64]
)

// ErrAlign is wrapped by alignment errors.
var ErrAlign = errors.New("cannot align labels")

// Align maps labels onto T latent frames by upstream's rules, in order:
//  1. if there are at least T frame indices and the first T all lie in [0, len(labels)),
//     frame t gets labels[frameIndices[t]];
//  2. else if len(labels) == T, as is;
//  3. else frame t gets labels[int64(linspace(0, len−1, T)[t])] (truncation, as NumPy's
//     astype; the last point is exactly len−1).
//
// Upstream would index with a negative frame index (Python wraps it); here a negative
// index is "outside" and rule 1 does not apply.
func Align(labels []bool, T int, frameIndices []int64) ([]bool, Alignment, error) {
	if T <= 0 {
		return nil, "", fmt.Errorf("%w: %d latent frames", ErrAlign, T)
	}
	if len(labels) == 0 {
		return nil, "", fmt.Errorf("%w: no labels", ErrAlign)
	}
	if len(frameIndices) >= T {
		inside := true
		for _, f := range frameIndices[:T] {
			if f < 0 || f >= int64(len(labels)) {
				inside = false
				break
			}
		}
		if inside {
			out := make([]bool, T)
			for t, f := range frameIndices[:T] {
				out[t] = labels[f]
			}
			return out, AlignFrameIndices, nil
		}
	}
	if len(labels) == T {
		return append([]bool(nil), labels...), AlignExact, nil
	}
	out := make([]bool, T)
	for t, i := range linspace.Ints(len(labels)-1, T) {
		out[t] = labels[i]
	}
	return out, AlignLinspace, nil
}
