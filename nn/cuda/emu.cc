// The emulator build of every kernel in kernels/ (see kernels/emu.h), and the C entry
// points the Go emu backend calls.
#define TJ_EMU 1
#include "kernels/emu.h"

namespace tjk {
#include "kernels/all.cu"
}

#include "emu_registry.h"
#include "emu_api.h"

static const tjemu::Entry kernels[] = {
#define X(name, nosync) TJ_ENTRY(tjk, name, nosync),
#include "kernels/list.h"
#undef X
};

namespace tjk_planted {
extern const tjemu::Entry planted[];
extern const int nplanted;
} // namespace tjk_planted

static thread_local std::string last_err;

#if defined(__x86_64__)
// tj_emu_switch(save_sp, load_sp): pushes the callee-saved registers and the floating-point
// control state, stores the stack pointer in *save_sp, switches to load_sp and pops the
// same frame from there (see tjemu::init_fiber for the frame of a fiber not yet started).
__asm__(R"(
	.text
	.globl tj_emu_switch
	.type tj_emu_switch, @function
tj_emu_switch:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	subq $8, %rsp
	stmxcsr (%rsp)
	fnstcw 4(%rsp)
	movq %rsp, (%rdi)
	movq %rsi, %rsp
	ldmxcsr (%rsp)
	fldcw 4(%rsp)
	addq $8, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
	.size tj_emu_switch, .-tj_emu_switch
	.section .note.GNU-stack,"",@progbits
	.text
)");
#endif

extern "C" int tj_emu_find(int planted, const char *name) {
	const tjemu::Entry *t = planted ? tjk_planted::planted : kernels;
	int n = planted ? tjk_planted::nplanted : (int)(sizeof(kernels) / sizeof(kernels[0]));
	for (int i = 0; i < n; i++)
		if (std::strcmp(t[i].name, name) == 0) return i;
	return -1;
}

extern "C" const char *tj_emu_launch(int planted, int idx, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                     unsigned by, unsigned bz, unsigned long smem, const uint64_t *slots, int nargs) {
	const tjemu::Entry &e = (planted ? tjk_planted::planted : kernels)[idx];
	std::vector<void *> args(nargs);
	for (int i = 0; i < nargs; i++) args[i] = (void *)&slots[i];
	last_err = tjemu::launch(e.invoke, e.nosync, dim3(gx, gy, gz), dim3(bx, by, bz), smem, args.data());
	if (last_err.empty()) return nullptr;
	last_err = std::string(e.name) + ": " + last_err;
	return last_err.c_str();
}
