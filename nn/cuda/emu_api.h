// emu_api.h: the C interface of the emulator (emu.cc) for cgo.
#pragma once
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
int tj_emu_find(int planted, const char *name);
const char *tj_emu_launch(int planted, int idx, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                          unsigned bz, unsigned long smem, const uint64_t *slots, int nargs);
#ifdef __cplusplus
}
#endif
