package main

import (
	"flag"
	"fmt"

	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/nn/cpu"
	"github.com/thinkjepa/thinkjepa/nn/cuda"
)

// deviceFlags are --device and --precision, shared by the commands that compute.
type deviceFlags struct{ device, precision *string }

func addDeviceFlags(fs *flag.FlagSet) *deviceFlags {
	return &deviceFlags{
		device: fs.String("device", "cpu", "compute engine: cpu, cuda (an NVIDIA GPU; needs a binary built with -tags cuda), "+
			"or cuda-emu (the CUDA kernels on the CPU emulator: slow, for checking)"),
		precision: fs.String("precision", "tf32", "with --device cuda: fp32 GEMMs, or tf32 tensor-core GEMMs (about 1e-3 relative)"),
	}
}

// engine opens the engine the flags select.
func (d *deviceFlags) engine() (nn.Engine, error) {
	switch *d.device {
	case "cpu":
		return cpu.New(), nil
	case "cuda":
		e, err := cuda.New(cuda.Options{Precision: *d.precision})
		if err != nil {
			return nil, fmt.Errorf("--device cuda: %w", err)
		}
		return e, nil
	case "cuda-emu":
		return cuda.NewEmu(), nil
	}
	return nil, usageErrorf("--device %q: want cpu, cuda or cuda-emu", *d.device)
}
