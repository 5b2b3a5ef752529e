package kern

import "testing"

func benchGELU(b *testing.B, bwd bool) {
	n := 512 * 1536
	in, out, dout := make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range in {
		in[i] = float32(i%200-100) / 25
		dout[i] = 1
	}
	b.SetBytes(int64(4 * n))
	for i := 0; i < b.N; i++ {
		if bwd {
			GELUBackward(out, dout, in)
		} else {
			GELU(out, in)
		}
	}
}

func BenchmarkGELU(b *testing.B)         { benchGELU(b, false) }
func BenchmarkGELUBackward(b *testing.B) { benchGELU(b, true) }
