// emu.h: runs unmodified CUDA kernels on the CPU, for the tests of the emu backend.
//
// Only the C++ build of the kernels (nn/cuda/emu.cc) includes this header; nvcc never
// sees it. It supplies what the kernels use from CUDA: threadIdx/blockIdx/blockDim/gridDim,
// __global__/__device__/__shared__, __syncthreads, __syncwarp, warp shuffles and atomicAdd.
//
// How a launch runs: the blocks of the grid run one after another on the calling OS
// thread. The threads of a block run as fibers: thread 0 runs until it reaches
// a barrier, then thread 1, and so on; when every live thread waits at the barrier they
// are all released and run on, again in thread order. The order is deterministic, and it
// is the order that exposes a missing barrier: thread 0 always runs ahead of the others,
// so it reads shared memory that they have not written yet (a missing barrier before a
// read) or overwrites what they have not read yet (a missing barrier before a write).
// Dynamic shared memory starts as NaN, so reading a slot that nobody wrote shows up as
// NaN in the result. Threads waiting at different barriers (different source lines) are
// reported as divergent barriers instead of silently released.
//
// Kernels registered as barrier-free (TJ_NOSYNC in list.h) run without fibers: each
// thread is a plain call. A barrier-free kernel that does reach a barrier is an error.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#include <sys/mman.h>
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

struct dim3 {
	unsigned x, y, z;
	constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct uint3 {
	unsigned x, y, z;
};

namespace tjemu {

enum State { NEW, RUNNABLE, AT_BLOCK, AT_WARP, DONE };

// Context switches: on x86-64 a few instructions of our own (tj_emu_switch in emu.cc:
// callee-saved registers, the stack pointer, MXCSR and the x87 control word), about 50×
// cheaper than swapcontext, which makes a sigprocmask system call every time; elsewhere
// ucontext.
#if defined(__x86_64__)
extern "C" void tj_emu_switch(void **save_sp, void *load_sp);
struct Context {
	void *sp = nullptr;
};
#else
struct Context {
	ucontext_t uc;
};
#endif

struct Fiber {
	Context ctx;
	State state = NEW;
	int line = 0;
	char *stack = nullptr;
};

using Invoke = void (*)(void **args);

// Per OS thread: the launch in progress and the fiber now running. Constant-initialised
// (constinit, trivial members only), so an access is a plain TLS load: with a dynamic
// initialiser every threadIdx in a kernel went through a TLS init call (a fifth of the
// emulator's time).
struct Ctx {
	uint3 threadIdx{}, blockIdx{};
	dim3 blockDim, gridDim;
	unsigned tid = 0;         // linear thread index in the block
	Fiber *cur = nullptr;     // nullptr: running without fibers (barrier-free kernel)
	Context sched;            // the scheduler's context
	Invoke invoke = nullptr;
	void **args = nullptr;
	void *smem = nullptr;     // dynamic shared memory of the current block
	uint64_t *shfl = nullptr; // one slot per thread for warp shuffles
};

inline thread_local constinit Ctx g;

// The per-thread state touched once per launch or block.
struct Cold {
	std::string err; // first error of the launch
	std::vector<Fiber> fibers;
	std::vector<char *> stacks;
};

inline thread_local Cold cold;

constexpr size_t kStack = 256 << 10;

inline void fail(const std::string &msg) {
	if (cold.err.empty()) cold.err = msg;
}

inline void switch_to(Context &save, Context &load) {
#if defined(__x86_64__)
	tj_emu_switch(&save.sp, load.sp);
#else
	swapcontext(&save.uc, &load.uc);
#endif
}

inline void fiber_main() {
	g.invoke(g.args);
	g.cur->state = DONE;
	switch_to(g.cur->ctx, g.sched);
	std::abort(); // a finished fiber is never resumed
}

// init_fiber prepares f to start in fiber_main on its own stack.
inline void init_fiber(Fiber &f) {
#if defined(__x86_64__)
	// The frame tj_emu_switch pops: MXCSR + x87 control word (8 bytes), r15 r14 r13 r12 rbx
	// rbp, then the return address fiber_main, above it a zero as fiber_main's own return
	// address so that it starts with the stack aligned as after a call.
	uint64_t *top = (uint64_t *)((uintptr_t)(f.stack + kStack) & ~(uintptr_t)15);
	uint64_t *sp = top;
	*--sp = 0;
	*--sp = (uint64_t)(uintptr_t)&fiber_main;
	for (int i = 0; i < 6; i++) *--sp = 0;
	uint32_t mxcsr;
	uint16_t fcw;
	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(fcw));
	*--sp = (uint64_t)mxcsr | ((uint64_t)fcw << 32);
	f.ctx.sp = sp;
#else
	getcontext(&f.ctx.uc);
	f.ctx.uc.uc_stack.ss_sp = f.stack;
	f.ctx.uc.uc_stack.ss_size = kStack;
	f.ctx.uc.uc_link = nullptr;
	makecontext(&f.ctx.uc, fiber_main, 0);
#endif
}

// wait parks the current fiber at a barrier (block- or warp-wide) until the scheduler
// releases it.
inline void wait(State s, int line) {
	if (g.cur == nullptr) {
		fail("barrier at line " + std::to_string(line) + " in a kernel registered as barrier-free");
		return;
	}
	g.cur->state = s;
	g.cur->line = line;
	switch_to(g.cur->ctx, g.sched);
}

inline void set_thread(unsigned t) {
	g.tid = t;
	g.threadIdx.x = t % g.blockDim.x;
	g.threadIdx.y = (t / g.blockDim.x) % g.blockDim.y;
	g.threadIdx.z = t / (g.blockDim.x * g.blockDim.y);
}

// run_block runs every thread of the current block to completion.
inline void run_block(unsigned nthreads, bool nosync) {
	if (nosync) {
		for (unsigned t = 0; t < nthreads && cold.err.empty(); t++) {
			set_thread(t);
			g.cur = nullptr;
			g.invoke(g.args);
		}
		return;
	}
	if (cold.fibers.size() < nthreads) cold.fibers.resize(nthreads);
	while (cold.stacks.size() < nthreads) {
		void *p = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED) {
			fail("emu: cannot map a fiber stack");
			return;
		}
		cold.stacks.push_back((char *)p);
	}
	for (unsigned t = 0; t < nthreads; t++) {
		cold.fibers[t].state = NEW;
		cold.fibers[t].stack = cold.stacks[t];
	}
	const unsigned nwarps = (nthreads + 31) / 32;
	for (;;) {
		for (unsigned t = 0; t < nthreads; t++) {
			Fiber &f = cold.fibers[t];
			if (f.state == NEW) {
				init_fiber(f);
			} else if (f.state != RUNNABLE) {
				continue;
			}
			set_thread(t);
			g.cur = &f;
			f.state = RUNNABLE;
			switch_to(g.sched, f.ctx);
			g.cur = nullptr;
		}
		if (!cold.err.empty()) return;
		// Everyone is done or parked at a barrier. Release complete warps first.
		bool released = false, live = false;
		for (unsigned w = 0; w < nwarps; w++) {
			unsigned lo = w * 32, hi = lo + 32 < nthreads ? lo + 32 : nthreads;
			bool all = true, any = false;
			int line = -1;
			for (unsigned t = lo; t < hi; t++) {
				Fiber &f = cold.fibers[t];
				if (f.state == DONE) continue;
				if (f.state != AT_WARP || (line >= 0 && f.line != line)) {
					all = false;
					break;
				}
				line = f.line;
				any = true;
			}
			if (all && any) {
				for (unsigned t = lo; t < hi; t++)
					if (cold.fibers[t].state == AT_WARP) cold.fibers[t].state = RUNNABLE;
				released = true;
			}
		}
		if (released) continue;
		int line = -1;
		bool all = true;
		for (unsigned t = 0; t < nthreads; t++) {
			Fiber &f = cold.fibers[t];
			if (f.state == DONE) continue;
			live = true;
			if (f.state != AT_BLOCK) {
				all = false;
				continue;
			}
			if (line >= 0 && f.line != line) {
				fail("divergent __syncthreads: threads wait at lines " + std::to_string(line) + " and " +
				     std::to_string(f.line));
				return;
			}
			line = f.line;
		}
		if (!live) return;
		if (!all) {
			fail("deadlock: some threads wait at a block barrier, others at a warp barrier");
			return;
		}
		for (unsigned t = 0; t < nthreads; t++)
			if (cold.fibers[t].state == AT_BLOCK) cold.fibers[t].state = RUNNABLE;
	}
}

// launch runs a grid. Returns the first error, or an empty string.
inline std::string launch(Invoke inv, bool nosync, dim3 grid, dim3 block, size_t smem, void **args) {
	cold.err.clear();
	g.invoke = inv;
	g.args = args;
	g.gridDim = grid;
	g.blockDim = block;
	unsigned nthreads = block.x * block.y * block.z;
	if (nthreads == 0 || nthreads > 1024) return "emu: block of " + std::to_string(nthreads) + " threads";
	if (grid.x == 0 || grid.y == 0 || grid.z == 0) return "";
	std::vector<float> sm((smem + 3) / 4 + 1);
	std::vector<uint64_t> sh(nthreads);
	g.shfl = sh.data();
	for (unsigned z = 0; z < grid.z; z++)
		for (unsigned y = 0; y < grid.y; y++)
			for (unsigned x = 0; x < grid.x; x++) {
				g.blockIdx = {x, y, z};
				// Shared memory starts as NaN: a read of a slot nobody wrote poisons the result.
				for (auto &v : sm) v = NAN;
				g.smem = sm.data();
				run_block(nthreads, nosync);
				if (!cold.err.empty()) return cold.err;
			}
	return "";
}

// Warp shuffles: every lane publishes its value, the warp meets at a barrier, each lane
// reads its source lane's slot, and the warp meets again before the slots are reused.
template <class T>
inline T shfl(T v, int src_lane, int line) {
	static_assert(sizeof(T) <= 8, "shuffle of a type wider than 8 bytes");
	uint64_t bits = 0;
	std::memcpy(&bits, &v, sizeof(T));
	g.shfl[g.tid] = bits;
	wait(AT_WARP, line);
	unsigned base = g.tid & ~31u;
	unsigned src = base + (unsigned)src_lane;
	unsigned n = g.blockDim.x * g.blockDim.y * g.blockDim.z;
	T out = v;
	if (src < n) std::memcpy(&out, &g.shfl[src], sizeof(T));
	else fail("warp shuffle reads lane " + std::to_string(src_lane) + " past the block");
	wait(AT_WARP, line);
	return out;
}

} // namespace tjemu

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static thread_local

#define threadIdx (tjemu::g.threadIdx)
#define blockIdx (tjemu::g.blockIdx)
#define blockDim (tjemu::g.blockDim)
#define gridDim (tjemu::g.gridDim)
#define warpSize 32

#define __syncthreads() tjemu::wait(tjemu::AT_BLOCK, __LINE__)
#define __syncwarp(...) tjemu::wait(tjemu::AT_WARP, __LINE__)
#define __shfl_sync(mask, v, lane, ...) tjemu::shfl((v), (int)(lane) & 31, __LINE__)
#define __shfl_xor_sync(mask, v, m, ...) tjemu::shfl((v), (int)((tjemu::g.tid & 31) ^ (unsigned)(m)), __LINE__)
#define __shfl_down_sync(mask, v, d, ...)                                                                   \
	tjemu::shfl((v), (int)((tjemu::g.tid & 31) + (unsigned)(d) < 32 ? (tjemu::g.tid & 31) + (unsigned)(d) \
	                                                                 : (tjemu::g.tid & 31)),              \
	            __LINE__)

// Dynamic shared memory: `extern __shared__ T name[]` is spelled TJ_SMEM(T, name).
#define TJ_SMEM(T, name) T *name = (T *)tjemu::g.smem

// One block runs at a time per OS thread, and fibers switch only at barriers, so a plain
// read-modify-write is atomic here.
inline float atomicAdd(float *p, float v) {
	float old = *p;
	*p = old + v;
	return old;
}
inline double atomicAdd(double *p, double v) {
	double old = *p;
	*p = old + v;
	return old;
}

inline float __int_as_float(int i) {
	float f;
	std::memcpy(&f, &i, 4);
	return f;
}
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
