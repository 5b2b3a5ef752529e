package jepa

import (
	"testing"

	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/nn/cpu"
)

func benchWorkload(b *testing.B, config string, w int, threads int) {
	old := nn.Threads()
	nn.SetThreads(threads)
	defer nn.SetThreads(old)
	e := cpu.New()
	_, fs, err := Workloads(e, BenchConfigs[config], 1)
	if err != nil {
		b.Fatal(err)
	}
	if err := fs[w](); err != nil { // warm-up
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := fs[w](); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncoderSmall1T(b *testing.B)       { benchWorkload(b, "small", 0, 1) }
func BenchmarkEncoderSmall2T(b *testing.B)       { benchWorkload(b, "small", 0, 2) }
func BenchmarkPredictorSmall1T(b *testing.B)     { benchWorkload(b, "small", 1, 1) }
func BenchmarkPredictorSmall2T(b *testing.B)     { benchWorkload(b, "small", 1, 2) }
func BenchmarkEncoderVitlWidth1T(b *testing.B)   { benchWorkload(b, "vitl_width", 0, 1) }
func BenchmarkEncoderVitlWidth2T(b *testing.B)   { benchWorkload(b, "vitl_width", 0, 2) }
func BenchmarkPredictorVitlWidth1T(b *testing.B) { benchWorkload(b, "vitl_width", 1, 1) }
func BenchmarkPredictorVitlWidth2T(b *testing.B) { benchWorkload(b, "vitl_width", 1, 2) }
