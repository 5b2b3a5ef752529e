package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/thinker"
)

func TestThinkerCheckExitCodes(t *testing.T) {
	dir := t.TempDir()
	c := thinker.NewStandIn(thinker.DefaultLayers, 8, 1).Cache("put the cup on the tray")
	if err := c.Write(filepath.Join(dir, "ok.npz")); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if rc := run([]string{"thinker", "check", "--hidden", "8", dir}, &out, &errb); rc != 0 {
		t.Fatalf("good folder: rc %d\n%s", rc, errb.String())
	}
	os.WriteFile(filepath.Join(dir, "bad.npz"), []byte("PK\x03\x04 truncated"), 0o644)
	errb.Reset()
	if rc := run([]string{"thinker", "check", "--hidden", "8", dir}, &out, &errb); rc != 1 || !strings.Contains(errb.String(), "1 of 2 cache files failed") {
		t.Fatalf("bad folder: rc %d\n%s", rc, errb.String())
	}
	if rc := run([]string{"thinker", "check", "--capacity", "5", dir}, &out, &errb); rc != 2 {
		t.Fatalf("bad --capacity: rc %d", rc)
	}
}
