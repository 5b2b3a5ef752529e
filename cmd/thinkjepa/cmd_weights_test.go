package main

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/thinkjepa/thinkjepa/weights"
)

func TestWeightsImportCLI(t *testing.T) {
	g := filepath.Join("..", "..", "testdata", "golden")
	out := filepath.Join(t.TempDir(), "w.safetensors")
	args := []string{"weights", "import", "--from", filepath.Join(g, "released_tiny", "vjepa2_tiny.pt"),
		"--out", out, "--arch", filepath.Join(g, "released_tiny", "config.json")}
	if rc := run(args, io.Discard, io.Discard); rc != 0 {
		t.Fatalf("import exit %d", rc)
	}
	c, err := weights.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := weights.ParseModelConfig(c.Config)
	if err != nil || mc.Encoder == nil || mc.Predictor == nil {
		t.Fatalf("config %s: %v", c.Config, err)
	}
	// a second import without -overwrite must refuse
	if rc := run(args, io.Discard, io.Discard); rc == 0 {
		t.Error("import overwrote an existing file without -overwrite")
	}
	// a wrong architecture is refused
	bad := []string{"weights", "import", "--from", filepath.Join(g, "released_tiny", "vjepa2_tiny.pt"),
		"--out", out + "2", "--arch", "vit_large"}
	if rc := run(bad, io.Discard, io.Discard); rc == 0 {
		t.Error("import accepted weights that do not match vit_large")
	}
}
