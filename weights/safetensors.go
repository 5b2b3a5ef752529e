// Package weights reads and writes model weights: our own checkpoint format (one
// safetensors file with a JSON config and provenance in its metadata), plain safetensors
// files, and importers for the released V-JEPA 2 .pt files, the Hugging Face export and
// ThinkJEPA training checkpoints. It knows key names and shapes, never model maths.
package weights

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/thinkjepa/thinkjepa/internal/fsutil"
	"github.com/thinkjepa/thinkjepa/internal/npy"
)

// Tensor is a named float32 tensor in row-major order.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// NumElements is the product of the shape.
func (t *Tensor) NumElements() int { return numel(t.Shape) }

func numel(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}

// File is the content of a safetensors file, decoded to float32.
type File struct {
	Path     string
	Tensors  map[string]*Tensor
	DTypes   map[string]string // dtype as stored: F32, F16, BF16, F64
	Metadata map[string]string
}

// Names returns the tensor names sorted.
func (f *File) Names() []string { return sortedNames(f.Tensors) }

func sortedNames(m map[string]*Tensor) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var dtypeSize = map[string]int{"F32": 4, "F16": 2, "BF16": 2, "F64": 8}

// maxHeader bounds the JSON header so a corrupt length cannot make us allocate gigabytes.
const maxHeader = 100 << 20

type headerEntry struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// ReadSafetensors reads and validates a safetensors file (ours or any other writer's).
// Floating dtypes F32, F16, BF16 and F64 are decoded to float32.
func ReadSafetensors(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	size := st.Size()
	if size < 8 {
		return nil, fmt.Errorf("%s: not a safetensors file: %d bytes, need at least 8", path, size)
	}
	var hlen uint64
	if err := binary.Read(fh, binary.LittleEndian, &hlen); err != nil {
		return nil, fmt.Errorf("%s: reading header length: %w", path, err)
	}
	if hlen > maxHeader || int64(hlen) > size-8 {
		return nil, fmt.Errorf("%s: header length %d does not fit in a %d-byte file (truncated or not safetensors)", path, hlen, size)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(fh, hb); err != nil {
		return nil, fmt.Errorf("%s: reading header: %w", path, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hb, &raw); err != nil {
		return nil, fmt.Errorf("%s: header is not valid JSON: %w", path, err)
	}
	dataLen := size - 8 - int64(hlen)
	f := &File{Path: path, Tensors: map[string]*Tensor{}, DTypes: map[string]string{}, Metadata: map[string]string{}}
	type span struct {
		name       string
		begin, end int64
	}
	var spans []span
	entries := map[string]headerEntry{}
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, fmt.Errorf("%s: __metadata__ must map strings to strings: %w", path, err)
			}
			continue
		}
		var e headerEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("%s: tensor %q: bad header entry: %w", path, name, err)
		}
		es, ok := dtypeSize[e.DType]
		if !ok {
			return nil, fmt.Errorf("%s: tensor %q: unsupported dtype %q (want F32, F16, BF16 or F64)", path, name, e.DType)
		}
		for _, d := range e.Shape {
			if d < 0 {
				return nil, fmt.Errorf("%s: tensor %q: negative dimension in shape %v", path, name, e.Shape)
			}
		}
		b, en := e.DataOffsets[0], e.DataOffsets[1]
		if b < 0 || en < b || en > dataLen {
			return nil, fmt.Errorf("%s: tensor %q: data offsets [%d,%d) outside the %d data bytes (truncated file?)", path, name, b, en, dataLen)
		}
		want, err := npy.DataBytes(e.Shape, es) // overflow-checked: a wrapped count could match
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %q: %w", path, name, err)
		}
		if en-b != want {
			return nil, fmt.Errorf("%s: tensor %q: %d bytes for shape %v %s, expected %d", path, name, en-b, e.Shape, e.DType, want)
		}
		entries[name] = e
		spans = append(spans, span{name, b, en})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].begin < spans[j].begin })
	var end int64
	for _, s := range spans {
		if s.begin < end {
			return nil, fmt.Errorf("%s: tensor %q overlaps the previous tensor's data", path, s.name)
		}
		end = s.end
	}
	if end != dataLen {
		return nil, fmt.Errorf("%s: data section has %d bytes but tensors cover %d (trailing or missing bytes)", path, dataLen, end)
	}
	br := bufio.NewReaderSize(fh, 1<<20)
	var pos int64
	for _, s := range spans {
		if s.begin > pos {
			if _, err := br.Discard(int(s.begin - pos)); err != nil {
				return nil, fmt.Errorf("%s: tensor %q: %w", path, s.name, err)
			}
		}
		e := entries[s.name]
		buf := make([]byte, s.end-s.begin)
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, fmt.Errorf("%s: tensor %q: reading data: %w", path, s.name, err)
		}
		pos = s.end
		f.Tensors[s.name] = &Tensor{Name: s.name, Shape: append([]int{}, e.Shape...), Data: decode(buf, e.DType)}
		f.DTypes[s.name] = e.DType
	}
	return f, nil
}

func decode(buf []byte, dtype string) []float32 {
	switch dtype {
	case "F32":
		out := make([]float32, len(buf)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
		}
		return out
	case "F64":
		out := make([]float32, len(buf)/8)
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(buf[8*i:])))
		}
		return out
	case "F16":
		out := make([]float32, len(buf)/2)
		for i := range out {
			out[i] = npy.HalfToFloat32(binary.LittleEndian.Uint16(buf[2*i:]))
		}
		return out
	case "BF16":
		out := make([]float32, len(buf)/2)
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(buf[2*i:])) << 16)
		}
		return out
	}
	panic("weights: decode: unchecked dtype " + dtype)
}

// WriteSafetensors writes tensors as F32 (or F16 when half is true) with the given
// metadata, atomically.
func WriteSafetensors(path string, tensors map[string]*Tensor, metadata map[string]string, half bool) error {
	names := sortedNames(tensors)
	header := map[string]any{}
	dtype, es := "F32", 4
	if half {
		dtype, es = "F16", 2
	}
	var off int64
	for _, n := range names {
		t := tensors[n]
		if len(t.Data) != numel(t.Shape) {
			return fmt.Errorf("writing %s: tensor %q has %d values for shape %v", path, n, len(t.Data), t.Shape)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		sz := int64(len(t.Data) * es)
		header[n] = headerEntry{DType: dtype, Shape: shape, DataOffsets: [2]int64{off, off + sz}}
		off += sz
	}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	for len(hb)%8 != 0 {
		hb = append(hb, ' ')
	}
	return fsutil.WriteAtomic(path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		if err := binary.Write(bw, binary.LittleEndian, uint64(len(hb))); err != nil {
			return err
		}
		if _, err := bw.Write(hb); err != nil {
			return err
		}
		var b [4]byte
		for _, n := range names {
			for _, v := range tensors[n].Data {
				if half {
					binary.LittleEndian.PutUint16(b[:2], npy.Float32ToHalf(v))
					_, err = bw.Write(b[:2])
				} else {
					binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
					_, err = bw.Write(b[:])
				}
				if err != nil {
					return err
				}
			}
		}
		return bw.Flush()
	})
}
