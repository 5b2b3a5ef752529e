// cu_api.h: the C interface of the GPU backend (cu.c, build tag cuda) for cgo. Every
// function returns NULL or an error message (valid until the next call).
#pragma once
#include <stddef.h>
#include <stdint.h>

struct tj_cu_info {
	int driver, count, major, minor, sms;
	long long mem;
	char name[256];
};

const char *tj_cu_load(void);
const char *tj_cu_info(int ordinal, struct tj_cu_info *out);
const char *tj_cublas_load(void);
const char *tj_cublas_name(void);
const char *tj_cu_open(int ordinal, int tf32, int *cublas_version, uint64_t *handle);
const char *tj_cu_module(const char *ptx, uint64_t *module);
const char *tj_cu_function(uint64_t module, const char *name, uint64_t *fn);
const char *tj_cu_alloc(size_t bytes, uint64_t *p);
const char *tj_cu_free(uint64_t p);
const char *tj_cu_htod(uint64_t dst, const void *src, size_t n);
const char *tj_cu_dtoh(void *dst, uint64_t src, size_t n);
const char *tj_cu_dtod(uint64_t dst, uint64_t src, size_t n);
const char *tj_cu_zero(uint64_t p, size_t n);
const char *tj_cu_launch(uint64_t fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                         unsigned smem, uint64_t *slots, int nargs);
const char *tj_cu_sync(void);
const char *tj_cu_gemm(uint64_t handle, int transA, int transB, int m, int n, int k, float alpha, uint64_t a, int lda, long long sa,
                       uint64_t b, int ldb, long long sb, float beta, uint64_t c, int ldc, long long sc, int batch);
