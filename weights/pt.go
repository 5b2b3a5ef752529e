package weights

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	pathpkg "path"
	"sort"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// PTFile is a PyTorch checkpoint (torch.save zip format) read without Python.
type PTFile struct {
	Path string
	// Top holds the top-level dict's values by key; Order keeps the file's key order.
	Top   map[string]any
	Order []string
}

// ReadPT reads a torch.save file. Its top level must be a dict with string keys.
func ReadPT(path string) (p *PTFile, err error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	if r, zerr := zip.OpenReader(path); zerr != nil {
		return nil, fmt.Errorf("%s: not a PyTorch zip checkpoint (torch.save since 1.6): %w", path, zerr)
	} else {
		r.Close()
	}
	defer func() { // the unpickler may panic on malformed input; never crash on user data
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("%s: malformed PyTorch checkpoint: %v", path, r)
		}
	}()
	if err := checkStorageSizes(path); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	obj, err := pytorch.Load(path)
	if err != nil {
		return nil, fmt.Errorf("%s: reading PyTorch checkpoint: %w", path, err)
	}
	keys, vals, ok := dictItems(obj)
	if !ok {
		return nil, fmt.Errorf("%s: top level is %T, want a dict", path, obj)
	}
	p = &PTFile{Path: path, Top: map[string]any{}}
	for i, k := range keys {
		ks, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("%s: top-level key %v is not a string", path, k)
		}
		p.Top[ks] = vals[i]
		p.Order = append(p.Order, ks)
	}
	return p, nil
}

// storageElem stands in for a torch.*Storage class during checkStorageSizes; its value
// is the element size in bytes.
type storageElem int

// stubCallable stands in for every other class or function during checkStorageSizes.
type stubCallable struct{}

func (stubCallable) Call(args ...interface{}) (interface{}, error) { return nil, nil }

var storageElemSize = map[string]int{"FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "DoubleStorage": 8,
	"LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1}

type storageSizeError struct{ msg string }

func (e *storageSizeError) Error() string { return e.msg }

// checkStorageSizes unpickles data.pkl once with stand-ins for torch's classes, only to
// compare every storage's declared element count with the bytes its zip record can hold.
// gopickle allocates a storage by the declared count before reading it, so a corrupt
// count would otherwise ask for terabytes. Errors other than a size mismatch are left to
// the real load, which reports them in its own words.
func checkStorageSizes(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		return err
	}
	defer zr.Close()
	records := map[string]*zip.File{}
	for _, f := range zr.File {
		_, name := pathpkg.Split(f.Name) // gopickle looks records up by base name
		records[name] = f
	}
	df, ok := records["data.pkl"]
	if !ok {
		return nil
	}
	const maxPickle = 256 << 20 // the pickle holds structure, not tensor data
	if df.UncompressedSize64 > maxPickle {
		return &storageSizeError{fmt.Sprintf("data.pkl declares %d bytes, more than the %d a checkpoint's structure needs", df.UncompressedSize64, maxPickle)}
	}
	rc, err := df.Open()
	if err != nil {
		return nil
	}
	// A checksum error comes only at the end, and gopickle never reads that far: scan
	// whatever was read either way.
	pkl, _ := io.ReadAll(io.LimitReader(rc, maxPickle))
	rc.Close()
	if err := scanPickleLengths(pkl); err != nil {
		return &storageSizeError{"data.pkl: " + err.Error()}
	}
	u := pickle.NewUnpickler(bytes.NewReader(pkl))
	u.FindClass = func(module, name string) (interface{}, error) {
		if module == "torch" && strings.HasSuffix(name, "Storage") {
			if n, ok := storageElemSize[name]; ok {
				return storageElem(n), nil
			}
			return storageElem(1), nil
		}
		return stubCallable{}, nil
	}
	seen := map[string]bool{}
	var total uint64
	u.PersistentLoad = func(id interface{}) (interface{}, error) {
		t, ok := id.(*types.Tuple)
		if !ok || t.Len() < 5 {
			return nil, nil
		}
		es, ok1 := t.Get(1).(storageElem)
		key, ok2 := t.Get(2).(string)
		size, ok3 := t.Get(4).(int)
		if !ok1 || !ok2 || !ok3 {
			return nil, nil
		}
		rec, ok := records[key]
		if !ok {
			return nil, &storageSizeError{fmt.Sprintf("storage %q has no data record in the zip", key)}
		}
		// What the record can really hold: torch.save stores storages uncompressed, so
		// their bytes are in the file; all of them together cannot exceed the file.
		if rec.Method != zip.Store {
			return nil, &storageSizeError{fmt.Sprintf("storage %q is compressed (method %d); torch.save stores storages uncompressed", key, rec.Method)}
		}
		limit := min(rec.UncompressedSize64, rec.CompressedSize64, uint64(st.Size()))
		if size < 0 || uint64(size) > limit/uint64(es) {
			return nil, &storageSizeError{fmt.Sprintf("storage %q declares %d elements of %d bytes but its zip record holds %d bytes", key, size, int(es), limit)}
		}
		if !seen[key] {
			seen[key] = true
			total += uint64(size) * uint64(es)
			if total > uint64(st.Size()) {
				return nil, &storageSizeError{fmt.Sprintf("storages declare %d bytes in all, more than the %d-byte file", total, st.Size())}
			}
		}
		return nil, nil
	}
	_, err = u.Load()
	var se *storageSizeError
	if errors.As(err, &se) {
		return se
	}
	return nil
}

// scanPickleLengths walks the opcodes of a pickle and checks that every length-prefixed
// argument (strings, bytes, frames, longs) fits in the bytes that remain: gopickle
// allocates such an argument by its declared length before reading it. It stops quietly
// at STOP or at an opcode it does not know (the unpickler then reports that).
func scanPickleLengths(b []byte) error {
	lenSize := map[byte]int{'T': 4, 'U': 1, 'X': 4, 'B': 4, 'C': 1, 0x8a: 1, 0x8b: 4, 0x8c: 1, 0x8d: 8, 0x8e: 8, 0x96: 8, 0x95: 8}
	fixed := map[byte]int{'K': 1, 'M': 2, 'J': 4, 'G': 8, 'h': 1, 'j': 4, 'q': 1, 'r': 4, 0x80: 1, 0x82: 1, 0x83: 2, 0x84: 4}
	lines := map[byte]int{'I': 1, 'L': 1, 'F': 1, 'S': 1, 'V': 1, 'P': 1, 'g': 1, 'p': 1, 'c': 2, 'i': 2}
	noArg := "()*.0120NR]abdelostuQ}\x81\x85\x86\x87\x88\x89\x8f\x90\x91\x92\x93\x94\x97\x98"
	for i := 0; i < len(b); {
		op := b[i]
		i++
		switch {
		case op == '.':
			return nil
		case lenSize[op] > 0:
			n := lenSize[op]
			if len(b)-i < n {
				return fmt.Errorf("opcode 0x%02x at offset %d: truncated length", op, i-1)
			}
			var l uint64
			for k := n - 1; k >= 0; k-- {
				l = l<<8 | uint64(b[i+k])
			}
			i += n
			if op == 0x95 { // FRAME: the frame's bytes follow and are parsed as opcodes
				if l > uint64(len(b)-i) {
					return fmt.Errorf("frame at offset %d declares %d bytes, %d remain", i-n-1, l, len(b)-i)
				}
				continue
			}
			if l > uint64(len(b)-i) {
				return fmt.Errorf("opcode 0x%02x at offset %d declares %d bytes, %d remain", op, i-n-1, l, len(b)-i)
			}
			i += int(l)
		case fixed[op] > 0:
			i += fixed[op]
		case lines[op] > 0:
			for k := 0; k < lines[op]; k++ {
				nl := bytes.IndexByte(b[i:], '\n')
				if nl < 0 {
					return nil
				}
				i += nl + 1
			}
		case strings.IndexByte(noArg, op) >= 0:
		default:
			return nil
		}
	}
	return nil
}

// dictItems returns the keys and values of a pickled dict or OrderedDict in file order.
func dictItems(obj any) ([]any, []any, bool) {
	switch d := obj.(type) {
	case *types.Dict:
		var ks, vs []any
		for _, e := range *d {
			ks = append(ks, e.Key)
			vs = append(vs, e.Value)
		}
		return ks, vs, true
	case *types.OrderedDict:
		var ks, vs []any
		for e := d.List.Front(); e != nil; e = e.Next() {
			en := e.Value.(*types.OrderedDictEntry)
			ks = append(ks, en.Key)
			vs = append(vs, en.Value)
		}
		return ks, vs, true
	}
	return nil, nil, false
}

// StateDict converts the top-level entry key (a dict of tensors) to float32 tensors. It
// also returns the stored dtype of each tensor and the key order of the file. Non-tensor
// entries are an error naming the key.
func (p *PTFile) StateDict(key string) (map[string]*Tensor, map[string]string, []string, error) {
	v, ok := p.Top[key]
	if !ok {
		return nil, nil, nil, fmt.Errorf("%s: no %q entry (top-level keys: %v)", p.Path, key, p.Order)
	}
	return stateDict(p.Path+": "+key, v)
}

func stateDict(where string, v any) (map[string]*Tensor, map[string]string, []string, error) {
	ks, vs, ok := dictItems(v)
	if !ok {
		return nil, nil, nil, fmt.Errorf("%s: is %T, want a state dict", where, v)
	}
	out := map[string]*Tensor{}
	dtypes := map[string]string{}
	var order []string
	for i, k := range ks {
		name, ok := k.(string)
		if !ok {
			return nil, nil, nil, fmt.Errorf("%s: key %v is not a string", where, k)
		}
		pt, ok := vs[i].(*pytorch.Tensor)
		if !ok {
			return nil, nil, nil, fmt.Errorf("%s: entry %q is %T, not a tensor", where, name, vs[i])
		}
		t, dt, err := convertTensor(name, pt)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", where, err)
		}
		out[name] = t
		dtypes[name] = dt
		order = append(order, name)
	}
	return out, dtypes, order, nil
}

// isStateDict reports whether v is a non-empty dict whose values are all tensors.
func isStateDict(v any) bool {
	_, vs, ok := dictItems(v)
	if !ok || len(vs) == 0 {
		return false
	}
	for _, x := range vs {
		if _, ok := x.(*pytorch.Tensor); !ok {
			return false
		}
	}
	return true
}

// convertTensor copies a (possibly strided) pickled tensor into a dense float32 tensor.
func convertTensor(name string, pt *pytorch.Tensor) (*Tensor, string, error) {
	var get func(i int) float32
	var n int
	var dtype string
	switch s := pt.Source.(type) {
	case *pytorch.FloatStorage:
		n, dtype, get = len(s.Data), "F32", func(i int) float32 { return s.Data[i] }
	case *pytorch.HalfStorage:
		n, dtype, get = len(s.Data), "F16", func(i int) float32 { return s.Data[i] }
	case *pytorch.BFloat16Storage:
		n, dtype, get = len(s.Data), "BF16", func(i int) float32 { return s.Data[i] }
	case *pytorch.DoubleStorage:
		n, dtype, get = len(s.Data), "F64", func(i int) float32 { return float32(s.Data[i]) }
	default:
		return nil, "", fmt.Errorf("tensor %q: unsupported storage %T (want float32, float16, bfloat16 or float64)", name, pt.Source)
	}
	shape := append([]int{}, pt.Size...)
	if len(pt.Stride) != len(shape) {
		return nil, "", fmt.Errorf("tensor %q: %d strides for shape %v", name, len(pt.Stride), shape)
	}
	// Every element must lie inside the storage, computed without overflow; the element
	// count may exceed the storage only through zero strides (an expanded tensor), and then
	// only up to maxBroadcast, so a corrupt shape cannot ask for an unbounded allocation.
	const maxBroadcast = 1 << 28
	total := 1
	broadcast := false
	for i, d := range shape {
		if d < 0 || pt.Stride[i] < 0 {
			return nil, "", fmt.Errorf("tensor %q: negative size or stride (shape %v, stride %v)", name, shape, pt.Stride)
		}
		if d > 1 && pt.Stride[i] == 0 {
			broadcast = true
		}
	}
	for _, d := range shape {
		if d == 0 {
			total = 0
			break
		}
		if total > (n+maxBroadcast)/d {
			return nil, "", fmt.Errorf("tensor %q: shape %v has more elements than its storage of %d", name, shape, n)
		}
		total *= d
	}
	if total > n && (!broadcast || total > maxBroadcast) {
		return nil, "", fmt.Errorf("tensor %q: shape %v has %d elements but its storage %d", name, shape, total, n)
	}
	if total > 0 {
		last := pt.StorageOffset
		if last < 0 || last >= n {
			return nil, "", fmt.Errorf("tensor %q: storage offset %d outside the storage of %d", name, last, n)
		}
		for i, d := range shape {
			if st := pt.Stride[i]; d > 1 && st > 0 {
				if d-1 > (n-1-last)/st {
					return nil, "", fmt.Errorf("tensor %q: shape %v stride %v at offset %d reaches past the storage of %d", name, shape, pt.Stride, pt.StorageOffset, n)
				}
				last += (d - 1) * st
			}
		}
	}
	data := make([]float32, total)
	idx := make([]int, len(shape))
	for i := 0; i < total; i++ {
		off := pt.StorageOffset
		for d := range idx {
			off += idx[d] * pt.Stride[d]
		}
		data[i] = get(off)
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return &Tensor{Name: name, Shape: shape, Data: data}, dtype, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
