// all.cu: every kernel, one PTX module (make ptx) and one emulator build (emu.cc).
#include "common.cuh"
#include "elementwise.cu"
#include "layout.cu"
#include "reduce.cu"
#include "norm.cu"
#include "attention.cu"
