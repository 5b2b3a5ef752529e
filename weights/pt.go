package weights

import (
	"archive/zip"
	"fmt"
	"os"
	"sort"

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
	total := numel(shape)
	if total > 0 {
		last := pt.StorageOffset
		for i, d := range shape {
			if pt.Stride[i] < 0 {
				return nil, "", fmt.Errorf("tensor %q: negative stride", name)
			}
			last += (d - 1) * pt.Stride[i]
		}
		if pt.StorageOffset < 0 || last >= n {
			return nil, "", fmt.Errorf("tensor %q: shape %v at offset %d needs storage element %d but the storage has %d", name, shape, pt.StorageOffset, last, n)
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
