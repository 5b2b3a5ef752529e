//go:build !cuda

package cuda

// Built reports whether this binary has the GPU backend (build tag cuda).
const Built = false

// Probe reports what the driver sees; without the cuda tag there is no GPU backend.
func Probe(device int) (Info, error) { return Info{}, ErrNotBuilt }

// New opens the GPU engine; without the cuda tag it fails with ErrNotBuilt (NewEmu is
// the emulator, available everywhere).
func New(o Options) (*Engine, error) {
	if _, err := o.tf32(); err != nil {
		return nil, err
	}
	return nil, ErrNotBuilt
}
