// Package linspace is NumPy's integer linspace, the frame selection ThinkJEPA upstream
// uses everywhere it picks T frames out of n: np.linspace(0, n−1, T).astype(np.int64)
// (episode64) and np.linspace(0, n−1, T, dtype=np.int64) (the v2 and combined cache
// builders, uniform_frame_indices, NpzCacheDataset's total_frames fallback).
//
// NumPy does not floor the exact quotient i·(n−1)/(T−1): it computes step = (n−1)/(T−1)
// in float64, y = arange(T)·step (+ start, here 0), sets the last element to stop
// exactly, and truncates (astype) or floors (NumPy ≥ 2 with an integer dtype; the same for
// these non-negative values). The rounded product can land just below an integer: at
// n = 154, T = 64, frame 21 is 21·(153/63) = 50.99999999999999 → 50, where the exact
// floor is 51. For T = 64 that happens for 679 lengths n in 1..20000.
package linspace

// Ints is numpy.linspace(0, stop, num).astype(np.int64) for stop ≥ 0: num points from 0
// to stop inclusive, i·(stop/(num−1)) in float64 and truncated, the last one exactly stop.
// num ≤ 0 gives nil; num = 1 gives [0] (NumPy's linspace(0, stop, 1)).
func Ints(stop, num int) []int {
	if num <= 0 {
		return nil
	}
	out := make([]int, num)
	if num == 1 {
		return out
	}
	step := float64(stop) / float64(num-1)
	for i := range out {
		out[i] = int(float64(i) * step)
	}
	out[num-1] = stop
	return out
}
