//go:build cuda

// The GPU backend's C side: the CUDA driver API and cuBLAS, both loaded at run time with
// dlopen, so the cuda-tagged binary links neither (its only CUDA dependency is the driver
// it finds on the GPU machine, and a machine without one gets an error, not a failed
// start). cuda.h and cublas_api.h are used for their types and constants only.
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cuda.h>
#include <cublas_v2.h>

#include "cu_api.h"

static void *libcuda, *libcublas;
static char cublas_name[64];

static CUresult (*p_cuInit)(unsigned int);
static CUresult (*p_cuDriverGetVersion)(int *);
static CUresult (*p_cuDeviceGetCount)(int *);
static CUresult (*p_cuDeviceGet)(CUdevice *, int);
static CUresult (*p_cuDeviceGetName)(char *, int, CUdevice);
static CUresult (*p_cuDeviceGetAttribute)(int *, CUdevice_attribute, CUdevice);
static CUresult (*p_cuDeviceTotalMem)(size_t *, CUdevice);
static CUresult (*p_cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
static CUresult (*p_cuCtxSetCurrent)(CUcontext);
static CUresult (*p_cuCtxSynchronize)(void);
static CUresult (*p_cuModuleLoadDataEx)(CUmodule *, const void *, unsigned int, CUjit_option *, void **);
static CUresult (*p_cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
static CUresult (*p_cuMemAlloc)(CUdeviceptr *, size_t);
static CUresult (*p_cuMemFree)(CUdeviceptr);
static CUresult (*p_cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
static CUresult (*p_cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
static CUresult (*p_cuMemcpyDtoD)(CUdeviceptr, CUdeviceptr, size_t);
static CUresult (*p_cuMemsetD8)(CUdeviceptr, unsigned char, size_t);
static CUresult (*p_cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                                    CUstream, void **, void **);
static CUresult (*p_cuGetErrorName)(CUresult, const char **);
static CUresult (*p_cuGetErrorString)(CUresult, const char **);

static cublasStatus_t (*p_cublasCreate)(cublasHandle_t *);
static cublasStatus_t (*p_cublasSetMathMode)(cublasHandle_t, cublasMath_t);
static cublasStatus_t (*p_cublasGetVersion)(cublasHandle_t, int *);
static cublasStatus_t (*p_cublasSgemmStridedBatched)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                                     const float *, const float *, int, long long, const float *, int,
                                                     long long, const float *, float *, int, long long, int);

static CUcontext ctx;
static CUdevice dev;

static __thread char err_buf[1024];

static const char *cu_err(const char *what, CUresult r) {
	const char *name = "?", *desc = "";
	if (p_cuGetErrorName) p_cuGetErrorName(r, &name);
	if (p_cuGetErrorString) p_cuGetErrorString(r, &desc);
	snprintf(err_buf, sizeof err_buf, "%s: %s (%d): %s", what, name ? name : "?", (int)r, desc ? desc : "");
	return err_buf;
}

#define SYM(lib, var, name)                                                                   \
	do {                                                                                      \
		*(void **)(&var) = dlsym(lib, name);                                                  \
		if (!var) {                                                                           \
			snprintf(err_buf, sizeof err_buf, "symbol %s missing from the loaded library", name); \
			return err_buf;                                                                   \
		}                                                                                     \
	} while (0)

// Loads libcuda.so.1 and initialises the driver. Returns NULL or an error message.
const char *tj_cu_load(void) {
	if (libcuda) return NULL;
	void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
	if (!h) {
		snprintf(err_buf, sizeof err_buf, "no CUDA driver: cannot load libcuda.so.1 (%s)", dlerror());
		return err_buf;
	}
	SYM(h, p_cuInit, "cuInit");
	SYM(h, p_cuDriverGetVersion, "cuDriverGetVersion");
	SYM(h, p_cuDeviceGetCount, "cuDeviceGetCount");
	SYM(h, p_cuDeviceGet, "cuDeviceGet");
	SYM(h, p_cuDeviceGetName, "cuDeviceGetName");
	SYM(h, p_cuDeviceGetAttribute, "cuDeviceGetAttribute");
	SYM(h, p_cuDeviceTotalMem, "cuDeviceTotalMem_v2");
	SYM(h, p_cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
	SYM(h, p_cuCtxSetCurrent, "cuCtxSetCurrent");
	SYM(h, p_cuCtxSynchronize, "cuCtxSynchronize");
	SYM(h, p_cuModuleLoadDataEx, "cuModuleLoadDataEx");
	SYM(h, p_cuModuleGetFunction, "cuModuleGetFunction");
	SYM(h, p_cuMemAlloc, "cuMemAlloc_v2");
	SYM(h, p_cuMemFree, "cuMemFree_v2");
	SYM(h, p_cuMemcpyHtoD, "cuMemcpyHtoD_v2");
	SYM(h, p_cuMemcpyDtoH, "cuMemcpyDtoH_v2");
	SYM(h, p_cuMemcpyDtoD, "cuMemcpyDtoD_v2");
	SYM(h, p_cuMemsetD8, "cuMemsetD8_v2");
	SYM(h, p_cuLaunchKernel, "cuLaunchKernel");
	SYM(h, p_cuGetErrorName, "cuGetErrorName");
	SYM(h, p_cuGetErrorString, "cuGetErrorString");
	CUresult r = p_cuInit(0);
	if (r != CUDA_SUCCESS) return cu_err("cuInit (is an NVIDIA GPU and driver present?)", r);
	libcuda = h;
	return NULL;
}

// Device facts for `thinkjepa version` and the engine's name.
const char *tj_cu_info(int ordinal, struct tj_cu_info *out) {
	const char *e = tj_cu_load();
	if (e) return e;
	CUresult r;
	memset(out, 0, sizeof *out);
	if ((r = p_cuDriverGetVersion(&out->driver)) != CUDA_SUCCESS) return cu_err("cuDriverGetVersion", r);
	if ((r = p_cuDeviceGetCount(&out->count)) != CUDA_SUCCESS) return cu_err("cuDeviceGetCount", r);
	if (ordinal >= out->count) {
		snprintf(err_buf, sizeof err_buf, "CUDA device %d requested, %d present", ordinal, out->count);
		return err_buf;
	}
	CUdevice d;
	if ((r = p_cuDeviceGet(&d, ordinal)) != CUDA_SUCCESS) return cu_err("cuDeviceGet", r);
	if ((r = p_cuDeviceGetName(out->name, sizeof out->name, d)) != CUDA_SUCCESS) return cu_err("cuDeviceGetName", r);
	p_cuDeviceGetAttribute(&out->major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d);
	p_cuDeviceGetAttribute(&out->minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d);
	p_cuDeviceGetAttribute(&out->sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, d);
	size_t mem = 0;
	p_cuDeviceTotalMem(&mem, d);
	out->mem = (long long)mem;
	return NULL;
}

// Loads cuBLAS: the newest soname first (CUDA 13 on the GPU machine, inside PyTorch's
// nvidia-cublas wheel: put its lib directory on LD_LIBRARY_PATH).
const char *tj_cublas_load(void) {
	if (libcublas) return NULL;
	static const char *names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", NULL};
	void *h = NULL;
	for (int i = 0; names[i] && !h; i++) {
		h = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
		if (h) snprintf(cublas_name, sizeof cublas_name, "%s", names[i]);
	}
	if (!h) {
		snprintf(err_buf, sizeof err_buf,
		         "cuBLAS not found (tried libcublas.so.13, .12, .11; with PyTorch installed, add the "
		         "directory of nvidia.cublas to LD_LIBRARY_PATH)");
		return err_buf;
	}
	SYM(h, p_cublasCreate, "cublasCreate_v2");
	SYM(h, p_cublasSetMathMode, "cublasSetMathMode");
	SYM(h, p_cublasGetVersion, "cublasGetVersion_v2");
	SYM(h, p_cublasSgemmStridedBatched, "cublasSgemmStridedBatched");
	libcublas = h;
	return NULL;
}

const char *tj_cublas_name(void) { return cublas_name; }

// Retains the device's primary context (shared with anything else in the process that
// uses the runtime API, cuBLAS included) and creates a cuBLAS handle in it with its own
// math mode, so engines of different precisions can live in one process.
const char *tj_cu_open(int ordinal, int tf32, int *cublas_version, uint64_t *handle) {
	const char *e = tj_cu_load();
	if (e) return e;
	if ((e = tj_cublas_load())) return e;
	CUresult r;
	if ((r = p_cuDeviceGet(&dev, ordinal)) != CUDA_SUCCESS) return cu_err("cuDeviceGet", r);
	if ((r = p_cuDevicePrimaryCtxRetain(&ctx, dev)) != CUDA_SUCCESS) return cu_err("cuDevicePrimaryCtxRetain", r);
	if ((r = p_cuCtxSetCurrent(ctx)) != CUDA_SUCCESS) return cu_err("cuCtxSetCurrent", r);
	cublasHandle_t blas;
	cublasStatus_t s = p_cublasCreate(&blas);
	if (s != CUBLAS_STATUS_SUCCESS) {
		snprintf(err_buf, sizeof err_buf, "cublasCreate: status %d", (int)s);
		return err_buf;
	}
	// TF32 tensor cores for fp32 GEMMs (10-bit mantissa products, fp32 accumulation), or
	// plain fp32.
	s = p_cublasSetMathMode(blas, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
	if (s != CUBLAS_STATUS_SUCCESS) {
		snprintf(err_buf, sizeof err_buf, "cublasSetMathMode: status %d", (int)s);
		return err_buf;
	}
	p_cublasGetVersion(blas, cublas_version);
	*handle = (uint64_t)(uintptr_t)blas;
	return NULL;
}

// Every entry point makes the context current on the calling OS thread first: Go may run
// consecutive calls on different threads, and cuCtxSetCurrent is a thread-local store.
#define CUR()                                                            \
	do {                                                                 \
		CUresult r0 = p_cuCtxSetCurrent(ctx);                            \
		if (r0 != CUDA_SUCCESS) return cu_err("cuCtxSetCurrent", r0);    \
	} while (0)

const char *tj_cu_module(const char *ptx, uint64_t *module) {
	CUR();
	static char log[8192];
	log[0] = 0;
	CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
	void *vals[] = {log, (void *)(uintptr_t)sizeof log};
	CUmodule m;
	CUresult r = p_cuModuleLoadDataEx(&m, ptx, 2, opts, vals);
	if (r != CUDA_SUCCESS) {
		cu_err("cuModuleLoadDataEx (JIT of the embedded PTX)", r);
		size_t n = strlen(err_buf);
		snprintf(err_buf + n, sizeof err_buf - n, "; JIT log: %s", log);
		return err_buf;
	}
	*module = (uint64_t)(uintptr_t)m;
	return NULL;
}

const char *tj_cu_function(uint64_t module, const char *name, uint64_t *fn) {
	CUR();
	CUfunction f;
	CUresult r = p_cuModuleGetFunction(&f, (CUmodule)(uintptr_t)module, name);
	if (r != CUDA_SUCCESS) return cu_err(name, r);
	*fn = (uint64_t)(uintptr_t)f;
	return NULL;
}

const char *tj_cu_alloc(size_t bytes, uint64_t *p) {
	CUR();
	CUdeviceptr d;
	CUresult r = p_cuMemAlloc(&d, bytes ? bytes : 1);
	if (r != CUDA_SUCCESS) return cu_err("cuMemAlloc", r);
	*p = (uint64_t)d;
	return NULL;
}

const char *tj_cu_free(uint64_t p) {
	CUR();
	CUresult r = p_cuMemFree((CUdeviceptr)p);
	return r == CUDA_SUCCESS ? NULL : cu_err("cuMemFree", r);
}

const char *tj_cu_htod(uint64_t dst, const void *src, size_t n) {
	CUR();
	CUresult r = p_cuMemcpyHtoD((CUdeviceptr)dst, src, n);
	return r == CUDA_SUCCESS ? NULL : cu_err("cuMemcpyHtoD", r);
}

const char *tj_cu_dtoh(void *dst, uint64_t src, size_t n) {
	CUR();
	CUresult r = p_cuMemcpyDtoH(dst, (CUdeviceptr)src, n);
	return r == CUDA_SUCCESS ? NULL : cu_err("cuMemcpyDtoH", r);
}

const char *tj_cu_dtod(uint64_t dst, uint64_t src, size_t n) {
	CUR();
	CUresult r = p_cuMemcpyDtoD((CUdeviceptr)dst, (CUdeviceptr)src, n);
	return r == CUDA_SUCCESS ? NULL : cu_err("cuMemcpyDtoD", r);
}

const char *tj_cu_zero(uint64_t p, size_t n) {
	CUR();
	CUresult r = p_cuMemsetD8((CUdeviceptr)p, 0, n);
	return r == CUDA_SUCCESS ? NULL : cu_err("cuMemsetD8", r);
}

const char *tj_cu_launch(uint64_t fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                         unsigned smem, uint64_t *slots, int nargs) {
	CUR();
	void *args[32];
	if (nargs > 32) return "too many kernel arguments";
	for (int i = 0; i < nargs; i++) args[i] = &slots[i];
	CUresult r = p_cuLaunchKernel((CUfunction)(uintptr_t)fn, gx, gy, gz, bx, by, bz, smem, 0, args, NULL);
	return r == CUDA_SUCCESS ? NULL : cu_err("cuLaunchKernel", r);
}

const char *tj_cu_sync(void) {
	CUR();
	CUresult r = p_cuCtxSynchronize();
	return r == CUDA_SUCCESS ? NULL : cu_err("cuCtxSynchronize", r);
}

// Row-major C = α·op(A)·op(B) + β·C as column-major Cᵀ = α·op(B)ᵀ·op(A)ᵀ + β·Cᵀ: the
// operands swap places and the transposes stay as they are.
const char *tj_cu_gemm(uint64_t handle, int transA, int transB, int m, int n, int k, float alpha, uint64_t a, int lda, long long sa,
                       uint64_t b, int ldb, long long sb, float beta, uint64_t c, int ldc, long long sc, int batch) {
	CUR();
	cublasStatus_t s = p_cublasSgemmStridedBatched(
	    (cublasHandle_t)(uintptr_t)handle, transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha,
	    (const float *)(uintptr_t)b, ldb, sb, (const float *)(uintptr_t)a, lda, sa, &beta, (float *)(uintptr_t)c, ldc, sc,
	    batch);
	if (s != CUBLAS_STATUS_SUCCESS) {
		snprintf(err_buf, sizeof err_buf, "cublasSgemmStridedBatched: status %d", (int)s);
		return err_buf;
	}
	return NULL;
}
