package train

import (
	"flag"
	"os"
	"testing"

	"github.com/thinkjepa/thinkjepa/nn/cpu"
	"github.com/thinkjepa/thinkjepa/nn/cuda"
)

// Every uncleared tensor (Engine.Empty) starts as NaN in these tests, so a kernel that
// leaves part of its output unwritten fails the parity and gradient checks. Not when
// benchmarking: poisoning is a pass over the memory that real runs do not make.
func TestMain(m *testing.M) {
	flag.Parse()
	if b := flag.Lookup("test.bench"); b == nil || b.Value.String() == "" {
		cpu.PoisonEmpty = true
		cuda.PoisonEmpty = true
	}
	os.Exit(m.Run())
}
