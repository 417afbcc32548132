#!/bin/bash
# The VGG16 kernels on hand-computed cases (tests/unit/test_vgg16.c).
. "$(dirname "$0")/lib.sh"
exec "$VGGPIPE_BUILD/tests/test_vgg16"
