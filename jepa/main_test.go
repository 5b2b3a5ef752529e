package jepa

import (
	"os"
	"testing"

	"github.com/thinkjepa/thinkjepa/nn/cpu"
)

// Every uncleared tensor (Engine.Empty) starts as NaN in these tests, so a kernel that
// leaves part of its output unwritten fails the parity and gradient checks.
func TestMain(m *testing.M) {
	cpu.PoisonEmpty = true
	os.Exit(m.Run())
}
