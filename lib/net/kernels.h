/* The builds of the numeric kernels for the processor: Winograd's matrix
 * products (pgemm.h) and its tile transforms (winograd.h) are each
 * compiled for AVX-512, for AVX2 with FMA, and for any x86-64 (SSE2),
 * each at the vector width of its registers. The best build the
 * processor runs is chosen at the first call, or the one the environment
 * variable VGGPIPE_KERNELS names where the processor runs it. The
 * transforms give the same bits on every build; the products with fused
 * multiply-adds round differently from the baseline's. */
#ifndef NET_KERNELS_H
#define NET_KERNELS_H

enum kernels_build { KERNELS_AVX512, KERNELS_AVX2, KERNELS_BASELINE, KERNELS_BUILDS };

/* The instruction sets of the AVX-512 and AVX2 builds, named as both GCC
 * and clang accept them in a target attribute and in
 * __builtin_cpu_supports (clang 14 knows no "x86-64-v4" there). */
#define KERNELS_AVX512_FEATURES "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"
#define KERNELS_AVX2_FEATURES "avx2,fma"

/* The build in use. */
enum kernels_build kernels_build(void);

/* Its name: "avx512", "avx2" or "baseline". */
const char *kernels_name(void);

/* Use the build of that name from now on: 0, or -1 where the processor
 * does not run it or there is none of that name (tests run each). */
int kernels_select(const char *name);

#endif
