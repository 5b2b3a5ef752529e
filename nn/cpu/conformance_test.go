package cpu

import (
	"testing"

	"github.com/thinkjepa/thinkjepa/nn/enginetest"
)

// The engine conformance suite (shared with nn/cuda) on the CPU engine.
func TestConformance(t *testing.T) {
	prev := PoisonEmpty
	PoisonEmpty = true
	defer func() { PoisonEmpty = prev }()
	rows := enginetest.Run(t, New(), nil)
	if testing.Verbose() {
		t.Logf("cpu vs float64 reference:\n%s", enginetest.Table(rows, ""))
	}
}
