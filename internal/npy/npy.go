// Package npy reads and writes NumPy .npy arrays and .npz archives.
//
// It exists beside github.com/sbinet/npyio because the project needs three things that
// package does not give: writing an N-D array whose shape is only known at run time,
// float16 ('<f2') arrays (ThinkJEPA's released caches store features in fp16), and
// errors that name the file and the field. Arrays are always C-ordered, little-endian.
package npy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// DType is a NumPy dtype string in its canonical little-endian form.
type DType string

const (
	Float16 DType = "<f2"
	Float32 DType = "<f4"
	Float64 DType = "<f8"
	Uint8   DType = "|u1"
	Int8    DType = "|i1"
	Bool    DType = "|b1"
	Int16   DType = "<i2"
	Int32   DType = "<i4"
	Int64   DType = "<i8"
	Uint16  DType = "<u2"
	Uint32  DType = "<u4"
	Uint64  DType = "<u8"
)

// Size is the number of bytes of one element.
func (d DType) Size() int {
	n, err := strconv.Atoi(string(d[2:]))
	if err != nil {
		return 0
	}
	return n
}

// Array is one decoded array: raw little-endian element bytes plus dtype and shape.
// Use the typed accessors to get Go slices.
type Array struct {
	DType DType
	Shape []int
	Raw   []byte
}

// Len is the number of elements (the product of Shape; 1 for a 0-d array).
func (a *Array) Len() int { return NumElements(a.Shape) }

// NumElements is the product of a shape's dimensions.
func NumElements(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}

// rawOK reports whether Raw holds exactly Len() elements of size bytes, so the typed
// accessors never index past it (an Array built by hand may be inconsistent).
func (a *Array) rawOK(size int) error {
	switch a.DType {
	case Float16, Float32, Float64, Uint8, Int8, Bool, Int16, Int32, Int64, Uint16, Uint32, Uint64:
	default:
		return nil // not numeric: the accessor's own dtype check answers
	}
	want, err := DataBytes(a.Shape, size)
	if err != nil {
		return err
	}
	if int64(len(a.Raw)) != want {
		return fmt.Errorf("npy: %d data bytes for shape %v of %s, expected %d", len(a.Raw), a.Shape, a.DType, want)
	}
	return nil
}

// Float32s converts any numeric array to float32 (float16 and float64 included).
func (a *Array) Float32s() ([]float32, error) {
	if err := a.rawOK(a.DType.Size()); err != nil {
		return nil, err
	}
	n := a.Len()
	out := make([]float32, n)
	b := a.Raw
	switch a.DType {
	case Float32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case Float16:
		for i := range out {
			out[i] = HalfToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case Float64:
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	default:
		ints, err := a.Int64s()
		if err != nil {
			return nil, fmt.Errorf("npy: cannot convert dtype %s to float32", a.DType)
		}
		for i, v := range ints {
			out[i] = float32(v)
		}
	}
	return out, nil
}

// Float64s converts any numeric array to float64.
func (a *Array) Float64s() ([]float64, error) {
	if a.DType == Float64 {
		if err := a.rawOK(8); err != nil {
			return nil, err
		}
		out := make([]float64, a.Len())
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(a.Raw[8*i:]))
		}
		return out, nil
	}
	f, err := a.Float32s()
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(f))
	for i, v := range f {
		out[i] = float64(v)
	}
	return out, nil
}

// Int64s converts an integer or boolean array to int64.
func (a *Array) Int64s() ([]int64, error) {
	if err := a.rawOK(a.DType.Size()); err != nil {
		return nil, err
	}
	n := a.Len()
	out := make([]int64, n)
	b := a.Raw
	switch a.DType {
	case Uint8, Bool:
		for i := range out {
			out[i] = int64(b[i])
		}
	case Int8:
		for i := range out {
			out[i] = int64(int8(b[i]))
		}
	case Int16:
		for i := range out {
			out[i] = int64(int16(binary.LittleEndian.Uint16(b[2*i:])))
		}
	case Uint16:
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case Int32:
		for i := range out {
			out[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
		}
	case Uint32:
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case Int64, Uint64:
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
	default:
		return nil, fmt.Errorf("npy: dtype %s is not an integer type", a.DType)
	}
	return out, nil
}

// Uint8s returns the bytes of a uint8 or bool array.
func (a *Array) Uint8s() ([]uint8, error) {
	if a.DType != Uint8 && a.DType != Bool && a.DType != Int8 {
		return nil, fmt.Errorf("npy: dtype %s is not uint8", a.DType)
	}
	return a.Raw, nil
}

// FromFloat32 makes a float32 array.
func FromFloat32(data []float32, shape ...int) *Array {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &Array{DType: Float32, Shape: append([]int(nil), shape...), Raw: raw}
}

// FromFloat32AsHalf makes a float16 array from float32 values (round to nearest even).
func FromFloat32AsHalf(data []float32, shape ...int) *Array {
	raw := make([]byte, 2*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint16(raw[2*i:], Float32ToHalf(v))
	}
	return &Array{DType: Float16, Shape: append([]int(nil), shape...), Raw: raw}
}

// FromFloat64 makes a float64 array.
func FromFloat64(data []float64, shape ...int) *Array {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(v))
	}
	return &Array{DType: Float64, Shape: append([]int(nil), shape...), Raw: raw}
}

// FromUint8 makes a uint8 array (the slice is used, not copied).
func FromUint8(data []uint8, shape ...int) *Array {
	return &Array{DType: Uint8, Shape: append([]int(nil), shape...), Raw: data}
}

// FromBool makes a bool array.
func FromBool(data []bool, shape ...int) *Array {
	raw := make([]byte, len(data))
	for i, v := range data {
		if v {
			raw[i] = 1
		}
	}
	return &Array{DType: Bool, Shape: append([]int(nil), shape...), Raw: raw}
}

// FromInt32 makes an int32 array.
func FromInt32(data []int32, shape ...int) *Array {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], uint32(v))
	}
	return &Array{DType: Int32, Shape: append([]int(nil), shape...), Raw: raw}
}

// FromInt64 makes an int64 array.
func FromInt64(data []int64, shape ...int) *Array {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return &Array{DType: Int64, Shape: append([]int(nil), shape...), Raw: raw}
}

// FromString stores a UTF-8 string as a 0-d NumPy unicode scalar ('<U n'), the way
// np.savez stores a Python str.
func FromString(s string) *Array {
	rs := []rune(s)
	raw := make([]byte, 4*len(rs))
	for i, r := range rs {
		binary.LittleEndian.PutUint32(raw[4*i:], uint32(r))
	}
	if len(rs) == 0 {
		// NumPy stores the empty string as '<U1' holding one NUL: '<U0' has no size.
		return &Array{DType: "<U1", Shape: nil, Raw: make([]byte, 4)}
	}
	return &Array{DType: DType("<U" + strconv.Itoa(len(rs))), Shape: nil, Raw: raw}
}

// FromStrings stores strings as a 1-d NumPy unicode array ('<U n', n = the longest, NUL
// padded), the way np.array(list_of_str) does.
func FromStrings(ss []string) *Array {
	n := 1
	for _, s := range ss {
		n = max(n, len([]rune(s)))
	}
	raw := make([]byte, 4*n*len(ss))
	for i, s := range ss {
		for k, r := range []rune(s) {
			binary.LittleEndian.PutUint32(raw[4*(i*n+k):], uint32(r))
		}
	}
	return &Array{DType: DType("<U" + strconv.Itoa(n)), Shape: []int{len(ss)}, Raw: raw}
}

// Strings decodes a unicode ('<U') or bytes ('|S') array of any shape to one Go string per
// element (trailing NULs stripped).
func (a *Array) Strings() ([]string, error) {
	d := string(a.DType)
	if !strings.HasPrefix(d, "<U") && !strings.HasPrefix(d, "|S") {
		return nil, fmt.Errorf("npy: dtype %s is not a string type", a.DType)
	}
	size := itemSize(a.DType)
	n := a.Len()
	if size <= 0 || len(a.Raw) != n*size {
		return nil, fmt.Errorf("npy: %d bytes for %d strings of %s", len(a.Raw), n, a.DType)
	}
	out := make([]string, n)
	for i := range out {
		e := &Array{DType: a.DType, Raw: a.Raw[i*size : (i+1)*size]}
		out[i], _ = e.String()
	}
	return out, nil
}

// String decodes a unicode ('<U') or bytes ('|S') array of one element to a Go string.
// Trailing NULs are stripped, as NumPy does.
func (a *Array) String() (string, error) {
	d := string(a.DType)
	switch {
	case strings.HasPrefix(d, "<U"):
		var sb strings.Builder
		for i := 0; i+4 <= len(a.Raw); i += 4 {
			r := rune(binary.LittleEndian.Uint32(a.Raw[i:]))
			if r == 0 {
				break
			}
			sb.WriteRune(r)
		}
		return sb.String(), nil
	case strings.HasPrefix(d, "|S"):
		return strings.TrimRight(string(a.Raw), "\x00"), nil
	case d == string(Uint8) || d == string(Int8):
		return string(a.Raw), nil
	}
	return "", fmt.Errorf("npy: dtype %s is not a string type", a.DType)
}

var magic = []byte("\x93NUMPY")

// Write writes one array in .npy format (version 1.0, or 2.0 when the header is long).
func Write(w io.Writer, a *Array) error {
	if want := NumElements(a.Shape) * a.DType.Size(); !strings.HasPrefix(string(a.DType), "<U") && len(a.Raw) != want {
		return fmt.Errorf("npy: %d data bytes for shape %v of %s, want %d", len(a.Raw), a.Shape, a.DType, want)
	}
	var shape string
	switch len(a.Shape) {
	case 0:
		shape = "()"
	case 1:
		shape = "(" + strconv.Itoa(a.Shape[0]) + ",)"
	default:
		parts := make([]string, len(a.Shape))
		for i, s := range a.Shape {
			parts[i] = strconv.Itoa(s)
		}
		shape = "(" + strings.Join(parts, ", ") + ")"
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", a.DType, shape)
	// Pad so that magic + version + length + header + '\n' is a multiple of 64.
	version, lenBytes := byte(1), 2
	total := len(magic) + 2 + lenBytes + len(header) + 1
	if pad := (64 - total%64) % 64; len(header)+pad+1 > 65535 {
		version, lenBytes = 2, 4
	}
	total = len(magic) + 2 + lenBytes + len(header) + 1
	header += strings.Repeat(" ", (64-total%64)%64) + "\n"
	var pre bytes.Buffer
	pre.Write(magic)
	pre.WriteByte(version)
	pre.WriteByte(0)
	if lenBytes == 2 {
		binary.Write(&pre, binary.LittleEndian, uint16(len(header)))
	} else {
		binary.Write(&pre, binary.LittleEndian, uint32(len(header)))
	}
	pre.WriteString(header)
	if _, err := w.Write(pre.Bytes()); err != nil {
		return err
	}
	_, err := w.Write(a.Raw)
	return err
}

// ErrFormat is wrapped by every error about a malformed .npy stream.
var ErrFormat = errors.New("malformed .npy data")

// Read reads one .npy array. Fortran-ordered and big-endian arrays are refused with
// an error rather than silently transposed or byte-swapped.
func Read(r io.Reader) (*Array, error) {
	br := bufio.NewReader(r)
	pre := make([]byte, 8)
	if _, err := io.ReadFull(br, pre); err != nil {
		return nil, fmt.Errorf("%w: reading magic: %v", ErrFormat, err)
	}
	if !bytes.Equal(pre[:6], magic) {
		return nil, fmt.Errorf("%w: bad magic %q (not a .npy file)", ErrFormat, pre[:6])
	}
	var hlen int
	switch pre[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, fmt.Errorf("%w: header length: %v", ErrFormat, err)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, fmt.Errorf("%w: header length: %v", ErrFormat, err)
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
		if hlen > 1<<24 {
			return nil, fmt.Errorf("%w: header length %d too large", ErrFormat, hlen)
		}
	default:
		return nil, fmt.Errorf("%w: unsupported version %d.%d", ErrFormat, pre[6], pre[7])
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(br, hb); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrFormat, err)
	}
	descr, fortran, shape, err := parseHeader(string(hb))
	if err != nil {
		return nil, err
	}
	if fortran && len(shape) > 1 {
		return nil, fmt.Errorf("%w: Fortran-ordered arrays are not supported (save with np.ascontiguousarray)", ErrFormat)
	}
	dt, err := canonicalDType(descr)
	if err != nil {
		return nil, err
	}
	size := dt.Size()
	if strings.HasPrefix(string(dt), "<U") || strings.HasPrefix(string(dt), "|S") {
		size = itemSize(dt)
	}
	if size <= 0 {
		return nil, fmt.Errorf("%w: dtype %q has no fixed size", ErrFormat, descr)
	}
	want, err := DataBytes(shape, size)
	if err != nil {
		return nil, err
	}
	raw, err := readData(br, want)
	if err != nil {
		return nil, fmt.Errorf("%w: data truncated: want %d bytes for shape %v of %s: %v", ErrFormat, want, shape, dt, err)
	}
	return &Array{DType: dt, Shape: shape, Raw: raw}, nil
}

// MaxArrayBytes bounds one array's data: a header asking for more is an error before
// anything is allocated.
const MaxArrayBytes = 1 << 40

// DataBytes is the byte size of an array of shape with size-byte elements, or an error
// when a dimension is negative or the product exceeds MaxArrayBytes (never an overflow).
func DataBytes(shape []int, size int) (int64, error) {
	n := int64(size)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("%w: negative dimension in shape %v", ErrFormat, shape)
		}
		if d == 0 {
			return 0, nil
		}
	}
	for _, d := range shape {
		if n > MaxArrayBytes/int64(d) {
			return 0, fmt.Errorf("%w: shape %v of %d-byte elements is implausibly large (over %d bytes)", ErrFormat, shape, size, int64(MaxArrayBytes))
		}
		n *= int64(d)
	}
	return n, nil
}

// readData reads exactly n bytes. Small arrays are allocated at once; a large one grows
// with the data actually read, so a header that lies about the size costs no more memory
// than the file holds.
func readData(r io.Reader, n int64) ([]byte, error) {
	const direct = 64 << 20
	if n <= direct {
		buf := make([]byte, n)
		_, err := io.ReadFull(r, buf)
		return buf, err
	}
	buf := make([]byte, 0, direct)
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), min(n, 2*int64(cap(buf))))
			copy(nb, buf)
			buf = nb
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF && int64(len(buf)) < n {
			return nil, io.ErrUnexpectedEOF
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
	}
	return buf, nil
}

func itemSize(d DType) int {
	s := string(d)
	n, err := strconv.Atoi(s[2:])
	if err != nil || n <= 0 || n > 1<<20 {
		return 0 // no string element is a mebibyte long; refuse rather than overflow
	}
	if strings.HasPrefix(s, "<U") {
		return 4 * n
	}
	return n
}

func canonicalDType(descr string) (DType, error) {
	if len(descr) < 3 {
		return "", fmt.Errorf("%w: dtype %q", ErrFormat, descr)
	}
	order, kind, size := descr[0], descr[1], descr[2:]
	if order == '>' && size != "1" {
		return "", fmt.Errorf("%w: big-endian dtype %q is not supported", ErrFormat, descr)
	}
	if order == '=' {
		order = '<'
	}
	if size == "1" || kind == 'S' {
		order = '|'
	}
	if kind == 'U' {
		order = '<'
	}
	d := DType(string(order) + string(kind) + size)
	switch d {
	case Float16, Float32, Float64, Uint8, Int8, Bool, Int16, Int32, Int64, Uint16, Uint32, Uint64:
		return d, nil
	}
	if kind == 'U' || kind == 'S' {
		return d, nil
	}
	return "", fmt.Errorf("%w: unsupported dtype %q", ErrFormat, descr)
}

// parseHeader parses the Python dict literal of a .npy header.
func parseHeader(h string) (descr string, fortran bool, shape []int, err error) {
	get := func(key string) (string, bool) {
		i := strings.Index(h, "'"+key+"'")
		if i < 0 {
			return "", false
		}
		rest := strings.TrimLeft(h[i+len(key)+2:], " ")
		if !strings.HasPrefix(rest, ":") {
			return "", false
		}
		return strings.TrimLeft(rest[1:], " "), true
	}
	d, ok := get("descr")
	if !ok || len(d) < 2 || (d[0] != '\'' && d[0] != '"') {
		return "", false, nil, fmt.Errorf("%w: header has no simple 'descr' (structured dtypes are not supported): %q", ErrFormat, h)
	}
	end := strings.IndexByte(d[1:], d[0])
	if end < 0 {
		return "", false, nil, fmt.Errorf("%w: unterminated descr in header %q", ErrFormat, h)
	}
	descr = d[1 : 1+end]
	f, ok := get("fortran_order")
	if !ok {
		return "", false, nil, fmt.Errorf("%w: header has no fortran_order: %q", ErrFormat, h)
	}
	fortran = strings.HasPrefix(f, "True")
	s, ok := get("shape")
	if !ok || !strings.HasPrefix(s, "(") {
		return "", false, nil, fmt.Errorf("%w: header has no shape tuple: %q", ErrFormat, h)
	}
	end = strings.IndexByte(s, ')')
	if end < 0 {
		return "", false, nil, fmt.Errorf("%w: unterminated shape in header %q", ErrFormat, h)
	}
	shape = []int{}
	for _, p := range strings.Split(s[1:end], ",") {
		p = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(p), "L"))
		if p == "" {
			continue
		}
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return "", false, nil, fmt.Errorf("%w: bad dimension %q in shape", ErrFormat, p)
		}
		shape = append(shape, v)
	}
	return descr, fortran, shape, nil
}

// HalfToFloat32 converts an IEEE 754 binary16 value to float32.
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: renormalise
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	case exp == 0x1f: // inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// Float32ToHalf converts float32 to binary16 with round-to-nearest-even, as NumPy does.
func Float32ToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff { // inf / NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := mant >> shift
		rem := mant & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || (rem == mid && half&1 == 1) {
			half++
		}
		return sign | uint16(half)
	}
	half := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && half&1 == 1) {
		half++ // may carry into the exponent, which is the correct rounding
	}
	return sign | uint16(half)
}
