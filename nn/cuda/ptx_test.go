package cuda

import (
	"crypto/sha256"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// sourceHash is scripts/ptx-hash.sh over the embedded sources: sha256 of
// "kernels/<name>\n<content>" for every .cu and .cuh, names in byte order.
func sourceHash(t *testing.T) string {
	t.Helper()
	ents, err := kernelSources.ReadDir("kernels")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range ents {
		if strings.HasSuffix(f.Name(), ".cu") || strings.HasSuffix(f.Name(), ".cuh") {
			names = append(names, "kernels/"+f.Name())
		}
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := kernelSources.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s\n", n)
		h.Write(b)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// The committed PTX (what the GPU backend loads) must come from the kernel sources as
// they are: a kernel edited without `make ptx` would pass every emulator test here and
// then run the old code on a GPU.
func TestPTXUpToDate(t *testing.T) {
	rec, err := os.ReadFile("ptx/SOURCES.sha256")
	if err != nil {
		t.Fatalf("%v (generate the PTX with make ptx)", err)
	}
	if got, want := sourceHash(t), strings.TrimSpace(string(rec)); got != want {
		t.Fatalf("the committed PTX is stale: kernel sources hash to %s, ptx/SOURCES.sha256 records %s; run make ptx and commit nn/cuda/ptx", got, want)
	}
	list, err := kernelSources.ReadFile("kernels/list.h")
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"sm_80", "sm_90"} {
		ptx, err := os.ReadFile("ptx/kernels." + arch + ".ptx")
		if err != nil {
			t.Fatalf("%v (make ptx)", err)
		}
		if !strings.Contains(string(ptx), ".target "+arch) {
			t.Errorf("ptx/kernels.%s.ptx does not target %s", arch, arch)
		}
		for _, m := range regexp.MustCompile(`(?m)^X\((\w+),`).FindAllStringSubmatch(string(list), -1) {
			if !regexp.MustCompile(`\.entry ` + m[1] + `\(`).Match(ptx) {
				t.Errorf("kernel %s missing from ptx/kernels.%s.ptx", m[1], arch)
			}
		}
	}
}
