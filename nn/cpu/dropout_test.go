package cpu

import (
	"testing"

	"github.com/thinkjepa/thinkjepa/nn/kern"
)

func TestEngineDropout(t *testing.T) {
	e := New()
	n := 1000
	in := make([]float32, n)
	for i := range in {
		in[i] = float32(i%7) - 3
	}
	x := e.FromHost(in, n)
	out := e.Zeros(n)
	e.Dropout(out, x, 5, 0.25, n)
	dIn := e.Zeros(n)
	e.Fill(dIn, 1)
	dOut := e.FromHost(in, n)
	e.DropoutBackward(dIn, dOut, 5, 0.25, n)
	for i := 0; i < n; i++ {
		want, wantG := float32(0), float32(1)
		if kern.DropoutKeep(5, i, float64(float32(0.25))) {
			s := float32(1 / (1 - 0.25))
			want, wantG = in[i]*s, 1+in[i]*s
		}
		if out.Data[i] != want || dIn.Data[i] != wantG {
			t.Fatalf("element %d: out %v grad %v, want %v and %v", i, out.Data[i], dIn.Data[i], want, wantG)
		}
	}
	e.DropoutBackward(nil, dOut, 5, 0.25, n) // a nil gradient is skipped
	defer func() {
		if recover() == nil {
			t.Fatal("p = 1 did not panic")
		}
	}()
	e.Dropout(out, x, 5, 1, n)
}
