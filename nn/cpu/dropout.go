package cpu

import (
	"fmt"

	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/nn/kern"
)

func checkDropP(p float32) {
	if !(p >= 0 && p < 1) {
		panic(fmt.Sprintf("cpu: dropout probability %v, expected 0 ≤ p < 1", p))
	}
}

// Dropout implements nn.Engine (kernel: kern.Dropout).
func (Engine) Dropout(out, in *nn.Tensor, seed uint64, p float32, n int) {
	checkDropP(p)
	kern.Dropout(pre(out, n, "out"), pre(in, n, "in"), seed, float64(p))
}

// DropoutBackward implements nn.Engine.
func (Engine) DropoutBackward(dIn, dOut *nn.Tensor, seed uint64, p float32, n int) {
	checkDropP(p)
	if dIn == nil {
		return
	}
	kern.DropoutBackward(pre(dIn, n, "dIn"), pre(dOut, n, "dOut"), seed, float64(p))
}
