package cuda

import (
	"errors"
	"fmt"
)

// Options select the GPU engine's device and the precision of its fp32 GEMMs.
type Options struct {
	Device int
	// Precision is "tf32" (the default: tensor-core GEMMs with 10-bit mantissa products
	// and fp32 accumulation, about 1e-3 relative) or "fp32" (exact fp32 GEMMs).
	Precision string
}

func (o Options) tf32() (bool, error) {
	switch o.Precision {
	case "", "tf32":
		return true, nil
	case "fp32":
		return false, nil
	}
	return false, fmt.Errorf("cuda: precision %q (want fp32 or tf32)", o.Precision)
}

// Info is what the driver reports about the machine (Probe).
type Info struct {
	Built      bool   // the binary has the GPU backend (build tag cuda)
	Driver     string // CUDA driver API version, e.g. "13.0"
	Devices    int
	Device     string // name of the probed device
	Capability string // compute capability, e.g. "9.0"
	SMs        int
	Memory     int64  // bytes
	CUBLAS     string // the cuBLAS library found, or why none was
	major      int
}

// String is one line for `thinkjepa version`.
func (i Info) String() string {
	if !i.Built {
		return "not built (build with -tags cuda, see make gpu-bundle)"
	}
	return fmt.Sprintf("driver %s, %d device(s); %s (sm_%s, %d SMs, %.0f GiB); cuBLAS: %s", i.Driver, i.Devices, i.Device,
		stripDot(i.Capability), i.SMs, float64(i.Memory)/(1<<30), i.CUBLAS)
}

func stripDot(s string) string {
	out := []byte{}
	for i := 0; i < len(s); i++ {
		if s[i] != '.' {
			out = append(out, s[i])
		}
	}
	return string(out)
}

// ErrNotBuilt is returned by New and Probe in a binary built without the cuda tag.
var ErrNotBuilt = errors.New("cuda: this binary was built without GPU support (build with -tags cuda; make gpu-bundle does)")
