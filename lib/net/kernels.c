#include "kernels.h"

#include <stdlib.h>
#include <string.h>

static int runs_avx512(void)
{
	return __builtin_cpu_supports("avx512f") &&
	       __builtin_cpu_supports("avx512vl") &&
	       __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512dq") &&
	       __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static int runs_avx2(void)
{
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static int runs_anywhere(void)
{
	return 1;
}

/* The builds, best first, in the order of enum kernels_build, and whether
 * the processor runs each. */
static const struct {
	const char *name;
	int (*runs)(void);
} builds[KERNELS_BUILDS] = {
	[KERNELS_AVX512] = { "avx512", runs_avx512 },
	[KERNELS_AVX2] = { "avx2", runs_avx2 },
	[KERNELS_BASELINE] = { "baseline", runs_anywhere },
};

/* The build in use plus one; 0 before the first call. Threads that race
 * to set it store the same value. */
static _Atomic int chosen;

static int runs_here(int i)
{
	__builtin_cpu_init();
	return builds[i].runs();
}

int kernels_select(const char *name)
{
	for (int i = 0; i < KERNELS_BUILDS; i++)
		if (!strcmp(builds[i].name, name)) {
			if (!runs_here(i))
				return -1;
			chosen = i + 1;
			return 0;
		}
	return -1;
}

/* The best build the processor runs, or the one VGGPIPE_KERNELS names
 * where the processor runs that. */
static int choose(void)
{
	const char *want = getenv("VGGPIPE_KERNELS");
	int i = 0;

	if (want)
		for (int j = 0; j < KERNELS_BUILDS; j++)
			if (!strcmp(builds[j].name, want) && runs_here(j))
				i = j;
	for (; i < KERNELS_BUILDS && !runs_here(i); i++)
		;
	return i + 1;
}

enum kernels_build kernels_build(void)
{
	if (!chosen)
		chosen = choose();
	return (enum kernels_build)(chosen - 1);
}

const char *kernels_name(void)
{
	return builds[kernels_build()].name;
}
