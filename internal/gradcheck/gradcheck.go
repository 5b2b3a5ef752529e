// Package gradcheck is the central-difference gradient the model tests check their
// hand-written backward passes against.
package gradcheck

import "github.com/thinkjepa/thinkjepa/nn"

// Numeric returns d loss / d dst by central differences with step h, perturbing one
// element of dst at a time (through the engine, so it works on any engine) and
// restoring it afterwards.
func Numeric(e nn.Engine, dst *nn.Tensor, loss func() float64, h float32) []float64 {
	data := e.ToHost(dst)
	g := make([]float64, len(data))
	set := func() {
		t := e.FromHost(data, dst.Shape...)
		e.CopyInto(dst, t)
		e.Free(t)
	}
	for i := range data {
		orig := data[i]
		data[i] = orig + h
		set()
		lp := loss()
		data[i] = orig - h
		set()
		lm := loss()
		data[i] = orig
		set()
		g[i] = (lp - lm) / (2 * float64(h))
	}
	return g
}
