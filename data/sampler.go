package data

import (
	"fmt"

	"github.com/thinkjepa/thinkjepa/internal/linspace"
)

// Sampler chooses which source frames of an n-frame episode form a clip.
// ADE is not comparable across samplers, so its Name goes into every report.
type Sampler interface {
	// Indices returns T source frame indices in [0, n) and the number of past frames.
	Indices(n int) (idx []int, past int, err error)
	Name() string
}

// Episode64 is ThinkJEPA's sampler: T (64) indices np.linspace(0, n−1, T).astype(int64)
// over the whole episode, NumPy's rule (i·((n−1)/(T−1)) in float64, truncated; not always
// the exact floor, see package linspace); past = the first T/2 (data-spec §3.1).
type Episode64 struct{ T int }

func (s Episode64) t() int {
	if s.T <= 0 {
		return 64
	}
	return s.T
}

// Name implements Sampler.
func (s Episode64) Name() string {
	if s.t() == 64 {
		return "episode64"
	}
	return fmt.Sprintf("episode%d", s.t())
}

// Indices implements Sampler. Episodes shorter than T repeat frames, as linspace does.
func (s Episode64) Indices(n int) ([]int, int, error) {
	T := s.t()
	if n < 1 {
		return nil, 0, fmt.Errorf("sampler %s: episode has %d frames, expected at least 1", s.Name(), n)
	}
	return linspace.Ints(n-1, T), T / 2, nil
}

// Window is a T-frame window of frames start, start+stride, …; past = first T/2.
type Window struct{ T, Stride, Start int }

// Name implements Sampler.
func (s Window) Name() string {
	return fmt.Sprintf("window(T=%d,stride=%d,start=%d)", s.t(), s.stride(), s.Start)
}

func (s Window) t() int {
	if s.T <= 0 {
		return 64
	}
	return s.T
}

func (s Window) stride() int {
	if s.Stride <= 0 {
		return 1
	}
	return s.Stride
}

// Indices implements Sampler. The window must fit inside the episode.
func (s Window) Indices(n int) ([]int, int, error) {
	T, st := s.t(), s.stride()
	last := s.Start + (T-1)*st
	if s.Start < 0 || last >= n {
		return nil, 0, fmt.Errorf("sampler %s: needs frames %d..%d but the episode has %d frames", s.Name(), s.Start, last, n)
	}
	idx := make([]int, T)
	for i := range idx {
		idx[i] = s.Start + i*st
	}
	return idx, T / 2, nil
}

// ParseSampler builds a sampler from its CLI/config name ("episode64" or "window").
func ParseSampler(name string, T, stride, start int) (Sampler, error) {
	switch name {
	case "episode64", "episode":
		return Episode64{T: T}, nil
	case "window":
		return Window{T: T, Stride: stride, Start: start}, nil
	}
	return nil, fmt.Errorf("unknown sampler %q, expected episode64 or window", name)
}
