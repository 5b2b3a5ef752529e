package cuda

import (
	"math"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/nn/cpu"
	"github.com/thinkjepa/thinkjepa/nn/enginetest"
)

func TestMain(m *testing.M) {
	PoisonEmpty = true
	cpu.PoisonEmpty = true
	os.Exit(m.Run())
}

// The engine conformance suite on the emulator, against the float64 reference, with the
// emulator-vs-CPU-engine error of every output tabulated (go test -v shows the table).
func TestConformanceEmu(t *testing.T) {
	rows := enginetest.Run(t, NewEmu(), cpu.New())
	if testing.Verbose() {
		t.Logf("cuda/emu vs float64 reference and vs cpu:\n%s", enginetest.Table(rows, "cpu"))
	}
}

// A planted missing __syncthreads (the attention forward kernel compiled without the
// barrier that completes the K/V tile, emu_planted.cc) must make the suite fail: the
// emulator runs thread 0 ahead of the others, so it reads a tile they have not loaded.
func TestPlantedMissingSyncIsCaught(t *testing.T) {
	e := &Engine{b: newPlantedEmu()}
	B, H, N, hd := 1, 2, 40, 16
	n := B * H * N * hd
	x := make([]float32, n)
	for i := range x {
		x[i] = float32((i*37)%101)/50 - 1
	}
	run := func(e nn.Engine) []float32 {
		q := e.FromHost(x, n)
		o, l := e.Empty(n), e.Empty(B*H*N)
		e.Attention(o, l, q, q, q, B, H, N, hd, 0.25, nil)
		return e.ToHost(o)
	}
	good, bad := run(NewEmu()), run(e)
	ref := run(cpu.New())
	if d := maxDiff(good, ref); d > 1e-5 {
		t.Fatalf("the intact kernel differs from the CPU engine by %g", d)
	}
	if d := maxDiff(bad, ref); !(d > 1e-3) {
		t.Fatalf("the kernel without its barrier matches the CPU engine (max diff %g): a missing __syncthreads goes unnoticed", d)
	}
}

func maxDiff(a, b []float32) float64 {
	m := 0.0
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		if d < 0 {
			d = -d
		}
		if d != d { // NaN: a poisoned (never written) value reached the output
			return math.Inf(1)
		}
		m = max(m, d)
	}
	return m
}

// Every KERNEL in the .cu files is in kernels/list.h and the other way round, so the
// emulator registers (and the GPU backend can find) every kernel the engine launches.
func TestKernelListMatchesSources(t *testing.T) {
	defs := map[string]bool{}
	re := regexp.MustCompile(`(?m)^KERNEL\s+(\w+)\s*\(`)
	ents, err := kernelSources.ReadDir("kernels")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range ents {
		if !strings.HasSuffix(f.Name(), ".cu") {
			continue
		}
		b, err := kernelSources.ReadFile("kernels/" + f.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			defs[m[1]] = true
		}
	}
	list, err := kernelSources.ReadFile("kernels/list.h")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^X\((\w+),`).FindAllStringSubmatch(string(list), -1) {
		listed[m[1]] = true
	}
	var missing, extra []string
	for k := range defs {
		if !listed[k] {
			missing = append(missing, k)
		}
	}
	for k := range listed {
		if !defs[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing)+len(extra) > 0 || len(defs) == 0 {
		t.Fatalf("kernels/list.h out of step with the sources: not listed %v, listed but undefined %v", missing, extra)
	}
}
