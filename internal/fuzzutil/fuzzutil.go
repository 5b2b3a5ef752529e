// Package fuzzutil helps fuzz targets of .npz-based formats reach past the zip layer:
// mutating an archive's raw bytes mostly breaks its CRCs, so targets mutate one member's
// .npy bytes instead and rebuild a well-formed archive around them.
package fuzzutil

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
)

// Archive is an .npz split into its members, in order.
type Archive struct {
	Names   []string
	Members [][]byte
}

// ReadArchive splits the .npz at path.
func ReadArchive(path string) (*Archive, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	a := &Archive{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		a.Names = append(a.Names, f.Name)
		a.Members = append(a.Members, b)
	}
	return a, nil
}

// With returns the archive's bytes with member which (modulo len+1) replaced by data;
// which == len adds data as a new member "extra.npy".
func (a *Archive) With(which int, data []byte) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	k := which % (len(a.Names) + 1)
	if k < 0 {
		k += len(a.Names) + 1
	}
	for i, n := range a.Names {
		m := a.Members[i]
		if i == k {
			m = data
		}
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Store})
		w.Write(m)
	}
	if k == len(a.Names) {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: "extra.npy", Method: zip.Store})
		w.Write(data)
	}
	zw.Close()
	return b.Bytes()
}

// Seeds passes every member unchanged, with its index, to add (a fuzz target's f.Add).
func (a *Archive) Seeds(add func(which int, data []byte)) {
	for i, m := range a.Members {
		add(i, m)
	}
}

// WriteTemp writes b to path (the fuzz targets' scratch file).
func WriteTemp(path string, b []byte) error { return os.WriteFile(path, b, 0o644) }
