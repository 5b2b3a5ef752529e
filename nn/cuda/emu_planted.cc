// A second emulator build of the attention kernels with one barrier deleted
// (TJ_PLANT_MISSING_SYNC, see kernels/common.cuh). Only the tests launch it: it proves
// that the emulator and the conformance suite catch a missing __syncthreads.
#define TJ_EMU 1
#define TJ_PLANT_MISSING_SYNC 1
#include "kernels/emu.h"

namespace tjk_planted {
#include "kernels/common.cuh"
#include "kernels/attention.cu"
} // namespace tjk_planted

#include "emu_registry.h"

namespace tjk_planted {
extern const tjemu::Entry planted[] = {
    TJ_ENTRY(tjk_planted, tj_attn_fwd, 0),
};
extern const int nplanted = 1;
} // namespace tjk_planted
