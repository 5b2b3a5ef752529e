package kern

// Inverted dropout with a counter-based mask: element i of a call survives iff
// DropoutKeep(seed, i, p). The mask is a pure function of (seed, i), so nothing is
// stored between forward and backward (backward regenerates it), nothing needs
// checkpointing (a resumed run that derives the same seed draws the same mask), and the
// result does not depend on how the work is split across threads or devices: a GPU
// kernel computes the same hash per element.

// dropoutHash is SplitMix64's finaliser applied to seed + (i+1)·golden ratio: a
// well-mixed 64-bit value per (seed, i).
func dropoutHash(seed uint64, i int) uint64 {
	z := seed + uint64(i+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// dropoutThreshold maps the drop probability p ∈ [0,1) to a 64-bit threshold: an
// element is dropped iff its hash is below it.
func dropoutThreshold(p float64) uint64 {
	if p <= 0 {
		return 0
	}
	// 2^64·p, computed in two halves to stay exact below 2^64.
	return uint64(p*(1<<63)) << 1
}

// DropoutKeep reports whether element i survives dropout with probability p under seed.
func DropoutKeep(seed uint64, i int, p float64) bool {
	return dropoutHash(seed, i) >= dropoutThreshold(p)
}

// Dropout: out[i] = in[i]/(1−p) if element i is kept, else 0. p must be in [0,1);
// p = 0 copies. out may alias in.
func Dropout[T Float](out, in []T, seed uint64, p float64) {
	n := len(out)
	if p <= 0 {
		copy(out, in[:n])
		return
	}
	th := dropoutThreshold(p)
	scale := T(1 / (1 - p))
	parallelFor(n, 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if dropoutHash(seed, i) >= th {
				out[i] = in[i] * scale
			} else {
				out[i] = 0
			}
		}
	})
}

// DropoutBackward: dIn[i] += dOut[i]/(1−p) where element i was kept (same seed and p as
// the forward).
func DropoutBackward[T Float](dIn, dOut []T, seed uint64, p float64) {
	n := len(dIn)
	if p <= 0 {
		AddInPlace(dIn, dOut[:n])
		return
	}
	th := dropoutThreshold(p)
	scale := T(1 / (1 - p))
	parallelFor(n, 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if dropoutHash(seed, i) >= th {
				dIn[i] += dOut[i] * scale
			}
		}
	})
}
