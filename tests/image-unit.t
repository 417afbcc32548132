#!/bin/bash
# The image adapter's arithmetic, apart from libvips (tests/unit/test_image.c).
. "$(dirname "$0")/lib.sh"
exec "$VGGPIPE_BUILD/tests/test_image"
