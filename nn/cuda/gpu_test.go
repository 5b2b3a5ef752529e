//go:build cuda

package cuda

import (
	"os"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/nn/cpu"
	"github.com/thinkjepa/thinkjepa/nn/enginetest"
)

// gpuOrSkip opens the GPU engine, or skips (fails when THINKJEPA_REQUIRE_GPU is set, as
// scripts/gpu-check.sh does, so a GPU run cannot pass by skipping).
func gpuOrSkip(t *testing.T, precision string) *Engine {
	t.Helper()
	e, err := New(Options{Precision: precision})
	if err != nil {
		if os.Getenv("THINKJEPA_REQUIRE_GPU") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return e
}

// The conformance suite on the GPU: fp32 GEMMs under the CPU's tolerances, then TF32
// GEMMs with every tolerance scaled to about 1e-3.
func TestConformanceGPU(t *testing.T) {
	for _, c := range []struct {
		precision string
		scale     float64
	}{{"fp32", 1}, {"tf32", 500}} {
		t.Run(c.precision, func(t *testing.T) {
			e := gpuOrSkip(t, c.precision)
			s := &enginetest.Suite{T: t, E: e, Other: cpu.New(), Scale: c.scale}
			s.RunAll()
			if err := e.Sync(); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s vs float64 reference and vs cpu:\n%s", e.Name(), enginetest.Table(s.Rows, "cpu"))
		})
	}
}

// Without a driver, the cuda-tagged build reports one clear error from New (the process
// neither exits nor fails to start).
func TestNoDriverIsAnError(t *testing.T) {
	if _, err := Probe(0); err == nil {
		t.Skip("a CUDA driver is present")
	}
	_, err := New(Options{})
	if err == nil {
		t.Fatal("New succeeded although Probe failed")
	}
	if msg := err.Error(); !strings.Contains(msg, "libcuda.so.1") && !strings.Contains(msg, "cuInit") {
		t.Fatalf("unclear error without a driver: %v", err)
	}
	t.Logf("without a driver: %v", err)
}
