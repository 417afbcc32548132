/* The convolution algorithms' names, apart from the kernels, so that
 * parsing --algo does not link a program with the BLAS. */
#include "nn.h"

const char *const nn_algo_names[] = { "im2col", "winograd", "auto", NULL };
