// common.cuh: what every kernel file shares. Compiled by nvcc (PTX for the GPU) and, with
// TJ_EMU defined and emu.h included first, by g++ for the CPU emulator.
#pragma once

#ifdef TJ_EMU
// Kernels get C++ linkage in the emulator so that a second copy (the planted-bug build in
// emu_planted.cc) can live in another namespace of the same binary.
#define KERNEL void
#else
#define KERNEL extern "C" __global__ void
#define TJ_SMEM(T, name) extern __shared__ T name[]
#endif

// TJ_PLANTABLE_SYNC is a barrier that the planted-bug build deletes, to prove that the
// tests catch a missing __syncthreads.
#ifdef TJ_PLANT_MISSING_SYNC
#define TJ_PLANTABLE_SYNC() ((void)0)
#else
#define TJ_PLANTABLE_SYNC() __syncthreads()
#endif

typedef long long i64;
typedef unsigned long long u64;

#define TJ_NEG_INF (-INFINITY)

// Grid-stride loop over [0, n).
#define GRID_LOOP(i, n) for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)blockDim.x * gridDim.x)

static __device__ __forceinline__ int imin(int a, int b) { return a < b ? a : b; }
static __device__ __forceinline__ int imax(int a, int b) { return a > b ? a : b; }

// warp_sum adds v over the 32 lanes of a warp; every lane gets the total.
template <class T>
static __device__ __forceinline__ T warp_sum(T v) {
	for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

// block_sum adds v over the block (blockDim.x a multiple of 32, at most 1024); every
// thread gets the total. red is a __shared__ array of at least 33 elements. The order of
// additions is fixed, so the result is deterministic.
template <class T>
static __device__ __forceinline__ T block_sum(T v, T *red) {
	const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
	v = warp_sum(v);
	if (lane == 0) red[warp] = v;
	__syncthreads();
	if (warp == 0) {
		T t = lane < nw ? red[lane] : T(0);
		t = warp_sum(t);
		if (lane == 0) red[32] = t;
	}
	__syncthreads();
	T t = red[32];
	__syncthreads(); // red may be reused right after
	return t;
}

// True when every key in [k0,k1) is masked for every query in [q0,q1): query i sees key j
// iff kg[j] <= qg[i]. Every thread evaluates it, so the branch is uniform.
static __device__ __forceinline__ bool tile_masked(const int *qg, const int *kg, int q0, int q1, int k0, int k1) {
	if (qg == nullptr) return false;
	int qmax = qg[q0];
	for (int i = q0 + 1; i < q1; i++) qmax = imax(qmax, qg[i]);
	int kmin = kg[k0];
	for (int j = k0 + 1; j < k1; j++) kmin = imin(kmin, kg[j]);
	return kmin > qmax;
}
