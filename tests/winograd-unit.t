#!/bin/bash
# The Winograd convolution's C unit tests (tests/unit/test_winograd.c).
. "$(dirname "$0")/lib.sh"
"$VGGPIPE_BUILD/tests/test_winograd"
