#!/bin/bash
# The image adapter: its arithmetic apart from libvips, and images prepared
# from two threads at once (tests/unit/test_photo.c).
. "$(dirname "$0")/lib.sh"
exec "$VGGPIPE_BUILD/tests/test_photo"
