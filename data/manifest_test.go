package data_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/data"
)

// TestManifestRelativeRoot: a split made from a root given as a relative path must read
// back to the same files, from the directory it was written in and from any other.
// (The episode paths were relative to the working directory while root was made
// absolute, so writing kept them unchanged and reading joined root to them: root twice.)
func TestManifestRelativeRoot(t *testing.T) {
	set := synthSet(t)
	t.Chdir(filepath.Dir(set))
	d, err := data.OpenDataset(filepath.Base(set))
	if err != nil {
		t.Fatal(err)
	}
	m, err := data.SplitOfficial(d, "episode64")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "split.json")
	if err := data.WriteManifest(out, m); err != nil {
		t.Fatal(err)
	}
	check := func(where string) {
		t.Helper()
		back, err := data.ReadManifest(out)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if len(back.Episodes) != len(d.Episodes) {
			t.Fatalf("%s: %d episodes, wrote %d", where, len(back.Episodes), len(d.Episodes))
		}
		for i, e := range back.Episodes {
			want, _ := filepath.Abs(filepath.Join(filepath.Dir(set), d.Episodes[i].Path))
			if e.Path != want {
				t.Fatalf("%s: episode %s path %s, want %s", where, e.ID, e.Path, want)
			}
			if _, err := os.Stat(e.Video); err != nil {
				t.Fatalf("%s: episode %s video: %v", where, e.ID, err)
			}
		}
	}
	check("same directory")
	raw, _ := os.ReadFile(out)
	if !strings.Contains(string(raw), `"root": "`+set+`"`) {
		t.Errorf("manifest root is not the absolute root %s:\n%.300s", set, raw)
	}
	t.Chdir(t.TempDir())
	check("other directory")
}

// TestManifestRootRelativeToFile: a hand-written manifest whose root is relative names a
// directory relative to the manifest file, not to the working directory, so a data folder
// with its manifest inside can be moved.
func TestManifestRootRelativeToFile(t *testing.T) {
	set := synthSet(t)
	d, err := data.OpenDataset(set)
	if err != nil {
		t.Fatal(err)
	}
	m, err := data.SplitOfficial(d, "episode64")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "manifests", "split.json")
	os.MkdirAll(filepath.Dir(out), 0o755)
	if err := data.WriteManifest(out, m); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(filepath.Dir(out), set)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(out)
	raw = []byte(strings.Replace(string(raw), `"root": "`+set+`"`, `"root": "`+rel+`"`, 1))
	os.WriteFile(out, raw, 0o644)
	t.Chdir(dir)
	back, err := data.ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if back.Root != set {
		t.Errorf("root %q read as %s, want %s", rel, back.Root, set)
	}
	if back.Episodes[0].Path != m.Episodes[0].Path {
		t.Errorf("episode path %s, want %s", back.Episodes[0].Path, m.Episodes[0].Path)
	}
}
