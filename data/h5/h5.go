// Package h5 is the project's thin HDF5 layer over gonum.org/v1/hdf5 (cgo, libhdf5).
//
// It reads numeric datasets in whatever float type they were stored with (f32 or f64,
// contiguous or chunked+deflate; libhdf5 converts to float32 on read), reads root
// attributes stored as variable- or fixed-length strings, and writes the files the
// synthetic generator needs. Every HDF5 object opened here is closed before returning.
package h5

/*
#cgo LDFLAGS: -lhdf5
#cgo linux,!arm64 CFLAGS: -I/usr/lib/x86_64-linux-gnu/hdf5/serial/include
#cgo linux,!arm64 LDFLAGS: -L/usr/lib/x86_64-linux-gnu/hdf5/serial/
#cgo linux,arm64 CFLAGS: -I/usr/lib/aarch64-linux-gnu/hdf5/serial/include
#cgo linux,arm64 LDFLAGS: -L/usr/lib/aarch64-linux-gnu/hdf5/serial/
#include "h5helpers.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"gonum.org/v1/hdf5"
)

func init() { C.h5go_quiet() }

// mu serialises every call into libhdf5: the Debian serial build is not guaranteed to be
// thread-safe, and callers (batch loading, parallel synthesis) use goroutines.
var mu sync.Mutex // errors are returned, not printed by libhdf5

// ErrNotHDF5 is returned when a file lacks the HDF5 signature or cannot be opened as one.
var ErrNotHDF5 = errors.New("not a readable HDF5 file")

// File is an open HDF5 file.
type File struct {
	f    *hdf5.File
	path string
}

// Open opens path read-only.
func Open(path string) (*File, error) {
	mu.Lock()
	defer mu.Unlock()
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory, expected an HDF5 file", path)
	}
	if !hdf5.IsHDF5(path) {
		return nil, fmt.Errorf("%s: %w (no HDF5 signature)", path, ErrNotHDF5)
	}
	f, err := hdf5.OpenFile(path, hdf5.F_ACC_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (truncated or corrupt?): %v", path, ErrNotHDF5, err)
	}
	return &File{f: f, path: path}, nil
}

// Path is the file's path.
func (f *File) Path() string { return f.path }

// Close closes the file.
func (f *File) Close() error {
	mu.Lock()
	defer mu.Unlock()
	return f.f.Close()
}

// Exists reports whether a link (group or dataset) exists at an absolute or relative path.
// Intermediate groups are checked first so a missing parent is not an error.
func (f *File) Exists(name string) bool {
	mu.Lock()
	defer mu.Unlock()
	parts := splitPath(name)
	cur := ""
	for _, p := range parts {
		cur += "/" + p
		if !f.f.LinkExists(cur) {
			return false
		}
	}
	return len(parts) > 0
}

// Children lists the names of the members of group name.
func (f *File) Children(name string) ([]string, error) {
	mu.Lock()
	defer mu.Unlock()
	g, err := f.f.OpenGroup(name)
	if err != nil {
		return nil, fmt.Errorf("%s: open group %q: %v", f.path, name, err)
	}
	defer g.Close()
	n, err := g.NumObjects()
	if err != nil {
		return nil, fmt.Errorf("%s: group %q: %v", f.path, name, err)
	}
	out := make([]string, 0, n)
	for i := uint(0); i < n; i++ {
		s, err := g.ObjectNameByIndex(i)
		if err != nil {
			return nil, fmt.Errorf("%s: group %q member %d: %v", f.path, name, i, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// DType describes a dataset's stored element type.
type DType struct {
	Float bool
	Size  int // bytes
}

func (d DType) String() string {
	if d.Float {
		return fmt.Sprintf("f%d", d.Size)
	}
	return fmt.Sprintf("class-other/%d", d.Size)
}

// Info returns a dataset's shape and stored element type.
func (f *File) Info(name string) ([]int, DType, error) {
	mu.Lock()
	defer mu.Unlock()
	ds, err := f.f.OpenDataset(name)
	if err != nil {
		return nil, DType{}, fmt.Errorf("%s: dataset %q: %v", f.path, name, err)
	}
	defer ds.Close()
	return dsInfo(f.path, name, ds)
}

func dsInfo(path, name string, ds *hdf5.Dataset) ([]int, DType, error) {
	sp := ds.Space()
	if sp == nil {
		return nil, DType{}, fmt.Errorf("%s: dataset %q: no dataspace", path, name)
	}
	defer sp.Close()
	dims, _, err := sp.SimpleExtentDims()
	if err != nil {
		return nil, DType{}, fmt.Errorf("%s: dataset %q: dims: %v", path, name, err)
	}
	shape := make([]int, len(dims))
	for i, d := range dims {
		shape[i] = int(d)
	}
	dt, err := ds.Datatype()
	if err != nil {
		return nil, DType{}, fmt.Errorf("%s: dataset %q: datatype: %v", path, name, err)
	}
	defer dt.Close()
	return shape, DType{Float: dt.Class() == hdf5.T_FLOAT, Size: int(dt.Size())}, nil
}

// Bounds on what ReadFloat32 allocates from a file's declared shape.
const (
	maxElements  = 1 << 34
	smallDataset = 64 << 20
)

// ReadFloat32 reads a whole numeric dataset converted to float32, with its shape and
// stored type. Integer and float storage are both converted by libhdf5.
func (f *File) ReadFloat32(name string) ([]float32, []int, DType, error) {
	mu.Lock()
	defer mu.Unlock()
	ds, err := f.f.OpenDataset(name)
	if err != nil {
		return nil, nil, DType{}, fmt.Errorf("%s: dataset %q: %v", f.path, name, err)
	}
	defer ds.Close()
	shape, dt, err := dsInfo(f.path, name, ds)
	if err != nil {
		return nil, nil, dt, err
	}
	// The shape comes from the file: check it before allocating. Stored bytes bound the
	// real size (deflate expands at most ~1032×); small datasets may be all fill value.
	n := 1
	for _, d := range shape {
		if d < 0 || (d > 0 && n > maxElements/d) {
			return nil, nil, dt, fmt.Errorf("%s: dataset %q: shape %v is implausibly large (over %d elements)", f.path, name, shape, maxElements)
		}
		n *= d
	}
	if stored := int64(C.h5go_storage_size(C.hid_t(ds.ID()))); int64(n)*4 > smallDataset && int64(n)*4 > 1100*stored {
		return nil, nil, dt, fmt.Errorf("%s: dataset %q: shape %v needs %d bytes but the file stores only %d for it (truncated or corrupt file?)", f.path, name, shape, int64(n)*4, stored)
	}
	out := make([]float32, n)
	if n == 0 {
		return out, shape, dt, nil
	}
	// Read with an explicit float32 memory type: gonum's Dataset.Read would use the file
	// type and misread f64 data into a float32 buffer.
	if C.h5go_read_float(C.hid_t(ds.ID()), (*C.float)(unsafe.Pointer(&out[0]))) != 0 {
		return nil, nil, dt, fmt.Errorf("%s: dataset %q: read failed (stored %s, shape %v; truncated or corrupt file?)", f.path, name, dt, shape)
	}
	return out, shape, dt, nil
}

// ErrNoAttr is returned by StringAttr when the attribute does not exist.
var ErrNoAttr = errors.New("attribute not present")

// StringAttr reads the string attribute attr of object obj ("/" for the root).
func (f *File) StringAttr(obj, attr string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	oid, closeFn, err := f.openObj(obj)
	if err != nil {
		return "", err
	}
	defer closeFn()
	cname := C.CString(attr)
	defer C.free(unsafe.Pointer(cname))
	var out *C.char
	rc := C.h5go_read_str_attr(oid, cname, &out)
	if out != nil {
		defer C.free(unsafe.Pointer(out))
	}
	switch rc {
	case 0:
		return C.GoString(out), nil
	case -1:
		return "", fmt.Errorf("%s: %s attribute %q: %w", f.path, obj, attr, ErrNoAttr)
	case -2:
		return "", fmt.Errorf("%s: %s attribute %q: not a string", f.path, obj, attr)
	default:
		return "", fmt.Errorf("%s: %s attribute %q: read failed", f.path, obj, attr)
	}
}

// AttrNames lists the attribute names of object obj.
func (f *File) AttrNames(obj string) ([]string, error) {
	mu.Lock()
	defer mu.Unlock()
	oid, closeFn, err := f.openObj(obj)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	n := int(C.h5go_num_attrs(oid))
	if n < 0 {
		return nil, fmt.Errorf("%s: %s: cannot list attributes", f.path, obj)
	}
	var names []string
	buf := make([]byte, 1024)
	for i := 0; i < n; i++ {
		l := C.h5go_attr_name(oid, C.int(i), (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
		if l < 0 {
			return nil, fmt.Errorf("%s: %s: attribute %d name", f.path, obj, i)
		}
		names = append(names, string(buf[:min(int(l), len(buf)-1)]))
	}
	return names, nil
}

func (f *File) openObj(obj string) (C.hid_t, func(), error) {
	g, err := f.f.OpenGroup(obj)
	if err == nil {
		return C.hid_t(g.ID()), func() { g.Close() }, nil
	}
	ds, err2 := f.f.OpenDataset(obj)
	if err2 == nil {
		return C.hid_t(ds.ID()), func() { ds.Close() }, nil
	}
	return 0, nil, fmt.Errorf("%s: object %q: %v", f.path, obj, err)
}

func splitPath(name string) []string {
	var parts []string
	cur := ""
	for _, r := range name {
		if r == '/' {
			if cur != "" {
				parts = append(parts, cur)
			}
			cur = ""
			continue
		}
		cur += string(r)
	}
	if cur != "" {
		parts = append(parts, cur)
	}
	return parts
}
