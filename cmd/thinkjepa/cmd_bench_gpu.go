package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/thinkjepa/thinkjepa/arch"
	"github.com/thinkjepa/thinkjepa/jepa"
	"github.com/thinkjepa/thinkjepa/nn"
)

// gpuWorkloads are the throughput workloads of the GPU check (issue 11; the same shapes
// as tools/gpu/torch_bench.py): a ViT-L encoder inference forward on 8 clips of 16×256²,
// and a ThinkJEPA predictor forward+backward at ViT-L width on 16 clips. small makes them
// tiny, for a dry run of the tooling on the emulator.
func gpuWorkloads(e nn.Engine, small bool) ([]string, []func() error, []int, error) {
	enc, err := arch.Lookup("vit_large")
	if err != nil {
		return nil, nil, nil, err
	}
	enc.NumFrames, enc.ImgSize = 16, 256
	pred := jepa.BenchConfigs["vitl_width"].Predictor
	encB, predB := 8, 16
	if small {
		enc, pred = jepa.BenchConfigs["small"].Encoder, jepa.BenchConfigs["small"].Predictor
		enc.Depth, pred.Depth = 1, 1
		encB, predB = 1, 1
	}
	ef, err := jepa.EncoderBenchBatch(e, enc, encB, 1)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("gpu bench encoder: %w", err)
	}
	pf, err := jepa.PredictorBenchBatch(e, pred, predB, 1)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("gpu bench predictor: %w", err)
	}
	return []string{"vitl_encoder_fwd", "vitl_predictor_fwd_bwd"}, []func() error{ef, pf}, []int{encB, predB}, nil
}

// runGPUBench times the GPU workloads on e and prints (and writes to jsonOut, when set)
// {"engine": …, "<workload>": {"seconds": s, "batch": B, "per_second": B/s}}.
func runGPUBench(e nn.Engine, repeats int, small bool, jsonOut string) error {
	names, fns, batches, err := gpuWorkloads(e, small)
	if err != nil {
		return err
	}
	res := map[string]any{"engine": e.Name()}
	for i, n := range names {
		s, err := jepa.TimeMedian(fns[i], repeats)
		if err != nil {
			return fmt.Errorf("gpu bench %s: %w", n, err)
		}
		res[n] = map[string]float64{"seconds": s, "batch": float64(batches[i]), "per_second": float64(batches[i]) / s}
		fmt.Printf("%-26s batch %-3d %9.4f s  %8.2f clips/s\n", n, batches[i], s, float64(batches[i])/s)
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if jsonOut != "" {
		if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("gpu bench: %w", err)
		}
	}
	return nil
}
