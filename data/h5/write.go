package h5

/*
#include "h5helpers.h"
*/
import "C"

import (
	"fmt"
	"os"
	"unsafe"

	"gonum.org/v1/hdf5"
)

// Writer creates an HDF5 file. Close it to flush; write to a temporary name and rename
// for atomicity (the synthetic generator does).
type Writer struct {
	f      *hdf5.File
	path   string
	groups map[string]bool
	// Chunked+gzip storage for 2-D+ datasets when > 0 (deflate level).
	Deflate int
	// Float64 stores float data as f8 instead of f4.
	Float64 bool
}

// Create creates (truncating) an HDF5 file.
func Create(path string) (*Writer, error) {
	mu.Lock()
	defer mu.Unlock()
	f, err := hdf5.CreateFile(path, hdf5.F_ACC_TRUNC)
	if err != nil {
		return nil, fmt.Errorf("%s: create HDF5: %v", path, err)
	}
	return &Writer{f: f, path: path, groups: map[string]bool{"": true}}, nil
}

// Close closes the file.
func (w *Writer) Close() error {
	mu.Lock()
	defer mu.Unlock()
	return w.f.Close()
}

func (w *Writer) ensureGroups(name string) error {
	parts := splitPath(name)
	cur := ""
	for _, p := range parts[:max(0, len(parts)-1)] {
		cur += "/" + p
		if w.groups[cur] {
			continue
		}
		if !w.f.LinkExists(cur) {
			g, err := w.f.CreateGroup(cur)
			if err != nil {
				return fmt.Errorf("%s: create group %q: %v", w.path, cur, err)
			}
			g.Close()
		}
		w.groups[cur] = true
	}
	return nil
}

// WriteFloat32 writes data with the given shape at name (creating parent groups).
func (w *Writer) WriteFloat32(name string, data []float32, shape ...int) error {
	mu.Lock()
	defer mu.Unlock()
	if err := w.ensureGroups(name); err != nil {
		return err
	}
	dims := make([]uint, len(shape))
	n := 1
	for i, d := range shape {
		dims[i] = uint(d)
		n *= d
	}
	if n != len(data) {
		return fmt.Errorf("%s: dataset %q: %d values for shape %v", w.path, name, len(data), shape)
	}
	sp, err := hdf5.CreateSimpleDataspace(dims, nil)
	if err != nil {
		return fmt.Errorf("%s: dataspace %q: %v", w.path, name, err)
	}
	defer sp.Close()
	dcpl, err := hdf5.NewPropList(hdf5.P_DATASET_CREATE)
	if err != nil {
		return err
	}
	defer dcpl.Close()
	if w.Deflate > 0 && len(shape) >= 1 && n > 0 {
		chunk := append([]uint(nil), dims...)
		chunk[0] = uint(min(int(dims[0]), 64))
		if err := dcpl.SetChunk(chunk); err != nil {
			return err
		}
		if err := dcpl.SetDeflate(w.Deflate); err != nil {
			return err
		}
	}
	ft := hdf5.T_NATIVE_FLOAT
	if w.Float64 {
		ft = hdf5.T_NATIVE_DOUBLE
	}
	ds, err := w.f.CreateDatasetWith(name, ft, sp, dcpl)
	if err != nil {
		return fmt.Errorf("%s: create dataset %q: %v", w.path, name, err)
	}
	defer ds.Close()
	if n == 0 {
		return nil
	}
	if w.Float64 {
		d64 := make([]float64, n)
		for i, v := range data {
			d64[i] = float64(v)
		}
		err = ds.Write(&d64)
	} else {
		err = ds.Write(&data)
	}
	if err != nil {
		return fmt.Errorf("%s: write dataset %q: %v", w.path, name, err)
	}
	return nil
}

// CreateUnwritten creates a chunked float32 dataset of the given shape and writes no data,
// so its declared size has no storage behind it (what a writer killed mid-file leaves).
// For test fixtures of readers that must not trust declared sizes.
func (w *Writer) CreateUnwritten(name string, shape ...int) error {
	mu.Lock()
	defer mu.Unlock()
	if err := w.ensureGroups(name); err != nil {
		return err
	}
	dims := make([]C.ulonglong, len(shape))
	for i, d := range shape {
		dims[i] = C.ulonglong(d)
	}
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	if len(dims) == 0 || C.h5go_create_unwritten(C.hid_t(w.f.ID()), cn, C.int(len(dims)), &dims[0]) != 0 {
		return fmt.Errorf("%s: create dataset %q of shape %v failed", w.path, name, shape)
	}
	return nil
}

// StringAttr writes a scalar string attribute on the root group, variable-length UTF-8
// (as h5py writes Python str) or fixed-length null-padded (as h5py writes numpy bytes).
func (w *Writer) StringAttr(name, value string, fixed bool) error {
	mu.Lock()
	defer mu.Unlock()
	g, err := w.f.OpenGroup("/")
	if err != nil {
		return err
	}
	defer g.Close()
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	cv := C.CString(value)
	defer C.free(unsafe.Pointer(cv))
	var rc C.int
	if fixed {
		rc = C.h5go_write_fixed_str_attr(C.hid_t(g.ID()), cn, cv, C.size_t(len(value)))
	} else {
		rc = C.h5go_write_vlen_str_attr(C.hid_t(g.ID()), cn, cv)
	}
	if rc != 0 {
		return fmt.Errorf("%s: write attribute %q failed", w.path, name)
	}
	return nil
}

// Remove deletes path if it exists (used to drop partially written files).
func Remove(path string) { _ = os.Remove(path) }
