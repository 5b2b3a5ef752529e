package h5

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoundTripDTypesLayoutsAttrs(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		f64     bool
		deflate int
	}{{"f4_contig", false, 0}, {"f8_gzip", true, 4}, {"f4_gzip", false, 6}} {
		p := filepath.Join(dir, tc.name+".h5")
		w, err := Create(p)
		if err != nil {
			t.Fatal(err)
		}
		w.Float64, w.Deflate = tc.f64, tc.deflate
		vals := make([]float32, 5*4*4)
		for i := range vals {
			vals[i] = float32(i)*0.25 - 3
		}
		if err := w.WriteFloat32("/transforms/camera", vals, 5, 4, 4); err != nil {
			t.Fatal(err)
		}
		if err := w.StringAttr("llm_description", "pick up the cup ✓", false); err != nil {
			t.Fatal(err)
		}
		if err := w.StringAttr("session_name", "sess_07", true); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		f, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		got, shape, dt, err := f.ReadFloat32("/transforms/camera")
		if err != nil {
			t.Fatal(err)
		}
		wantSize := 4
		if tc.f64 {
			wantSize = 8
		}
		if !dt.Float || dt.Size != wantSize {
			t.Errorf("%s: stored dtype %v, want f%d", tc.name, dt, wantSize)
		}
		if len(shape) != 3 || shape[0] != 5 || shape[1] != 4 || shape[2] != 4 {
			t.Errorf("%s: shape %v", tc.name, shape)
		}
		for i := range vals {
			if got[i] != vals[i] {
				t.Fatalf("%s: value %d = %v, want %v", tc.name, i, got[i], vals[i])
			}
		}
		for attr, want := range map[string]string{"llm_description": "pick up the cup ✓", "session_name": "sess_07"} {
			s, err := f.StringAttr("/", attr)
			if err != nil || s != want {
				t.Errorf("%s: attr %s = %q, %v; want %q", tc.name, attr, s, err, want)
			}
		}
		names, err := f.AttrNames("/")
		if err != nil || len(names) != 2 {
			t.Errorf("attr names %v %v", names, err)
		}
		if _, err := f.StringAttr("/", "absent"); err == nil {
			t.Error("absent attribute: no error")
		}
		if !f.Exists("/transforms/camera") || f.Exists("/transforms/nope") || f.Exists("/nope/deeper") {
			t.Error("Exists wrong")
		}
		f.Close()
		// Independent check with h5dump (hdf5-tools) when installed.
		if h5dump, err := exec.LookPath("h5dump"); err == nil {
			out, err := exec.Command(h5dump, "-d", "/transforms/camera", "-p", p).CombinedOutput()
			if err != nil {
				t.Fatalf("h5dump: %v %s", err, out)
			}
			s := string(out)
			if !strings.Contains(s, "-3, -2.75, -2.5, -2.25") {
				t.Errorf("%s: h5dump does not show the written values:\n%s", tc.name, s[:min(len(s), 600)])
			}
			if tc.deflate > 0 && !strings.Contains(s, "DEFLATE") {
				t.Errorf("%s: h5dump shows no DEFLATE filter", tc.name)
			}
			out, _ = exec.Command(h5dump, "-a", "/session_name", p).CombinedOutput()
			if !strings.Contains(string(out), "sess_07") {
				t.Errorf("h5dump attr: %s", out)
			}
		}
	}
}

func TestOpenRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "g.hdf5")
	os.WriteFile(garbage, []byte("this is not hdf5 at all"), 0o644)
	if _, err := Open(garbage); err == nil || !strings.Contains(err.Error(), "g.hdf5") {
		t.Errorf("garbage: err = %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing.hdf5")); err == nil {
		t.Error("missing file: no error")
	}
	// A valid file cut in half.
	p := filepath.Join(dir, "ok.h5")
	w, _ := Create(p)
	w.WriteFloat32("/a", make([]float32, 4096), 4096)
	w.Close()
	b, _ := os.ReadFile(p)
	tr := filepath.Join(dir, "trunc.h5")
	os.WriteFile(tr, b[:len(b)/2], 0o644)
	f, err := Open(tr)
	if err == nil {
		_, _, _, err = f.ReadFloat32("/a")
		f.Close()
	}
	if err == nil {
		t.Error("truncated file read without error")
	}
}
