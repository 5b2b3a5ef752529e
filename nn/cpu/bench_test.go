package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/nn/internal/refblock"
)

func randT(e nn.Engine, rng *rand.Rand, shape ...int) *nn.Tensor {
	t := e.Zeros(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64())
	}
	return t
}

func withThreads(b *testing.B, f func(b *testing.B)) {
	for _, th := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", th), func(b *testing.B) {
			old := nn.Threads()
			nn.SetThreads(th)
			defer nn.SetThreads(old)
			f(b)
		})
	}
}

// BenchmarkGEMM times Linear at ViT-L MLP shape (M tokens × 1024 → 4096).
func BenchmarkGEMM(b *testing.B) {
	e := New()
	rng := rand.New(rand.NewPCG(1, 2))
	M, K, N := 512, 1024, 4096
	in, w, out := randT(e, rng, M, K), randT(e, rng, N, K), e.Zeros(M, N)
	withThreads(b, func(b *testing.B) {
		for b.Loop() {
			e.Linear(out, in, w, nil, M, K, N)
		}
		b.ReportMetric(2*float64(M*K*N)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}

func benchAttention(b *testing.B, N int, masked, backward bool) {
	e := New()
	rng := rand.New(rand.NewPCG(3, 4))
	B, H, hd := 1, 16, 64
	q, k, v := randT(e, rng, B, H, N, hd), randT(e, rng, B, H, N, hd), randT(e, rng, B, H, N, hd)
	out, lse := e.Zeros(B, H, N, hd), e.Zeros(B, H, N)
	dO := randT(e, rng, B, H, N, hd)
	dq, dk, dv := e.Zeros(B, H, N, hd), e.Zeros(B, H, N, hd), e.Zeros(B, H, N, hd)
	var mask *nn.AttnMask
	if masked {
		mask = &nn.AttnMask{QueryGroup: make([]int32, B*N), KeyGroup: make([]int32, B*N)}
		for i := range mask.QueryGroup {
			mask.QueryGroup[i] = int32((i % N) / 256)
			mask.KeyGroup[i] = mask.QueryGroup[i]
		}
	}
	flops := 4 * float64(B*H*N*N*hd)
	if backward {
		flops *= 2.5
	}
	withThreads(b, func(b *testing.B) {
		e.Attention(out, lse, q, k, v, B, H, N, hd, 0.125, mask)
		for b.Loop() {
			if backward {
				e.AttentionBackward(dq, dk, dv, dO, out, lse, q, k, v, B, H, N, hd, 0.125, mask)
			} else {
				e.Attention(out, lse, q, k, v, B, H, N, hd, 0.125, mask)
			}
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s(dense)")
	})
}

func BenchmarkAttention1024(b *testing.B)         { benchAttention(b, 1024, false, false) }
func BenchmarkAttention1024Masked(b *testing.B)   { benchAttention(b, 1024, true, false) }
func BenchmarkAttention1024Backward(b *testing.B) { benchAttention(b, 1024, false, true) }

// BenchmarkBlockViTL times one ViT-L-width block (D 1024, 16 heads, MLP 4096, RoPE) on
// B=1, N=256 tokens: forward, and forward+backward.
func BenchmarkBlockViTL(b *testing.B) {
	e := New()
	c := refblock.Config{B: 1, N: 256, D: 1024, H: 16, Hidden: 4096, DSub: 20, Eps: 1e-6}
	blk := refblock.New(e, c, 1)
	rng := rand.New(rand.NewPCG(5, 6))
	x := randT(e, rng, c.B, c.N, c.D)
	out := e.Zeros(c.B, c.N, c.D)
	dOut := randT(e, rng, c.B, c.N, c.D)
	dx := e.Zeros(c.B, c.N, c.D)
	b.Run("forward", func(b *testing.B) {
		withThreads(b, func(b *testing.B) {
			for b.Loop() {
				blk.Forward(e, out, x)
			}
		})
	})
	b.Run("forward+backward", func(b *testing.B) {
		withThreads(b, func(b *testing.B) {
			for b.Loop() {
				blk.Forward(e, out, x)
				blk.Backward(e, dx, dOut)
			}
		})
	})
}
