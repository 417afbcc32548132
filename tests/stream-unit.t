#!/bin/bash
# The stream library's C unit tests (tests/unit/test_stream.c).
. "$(dirname "$0")/lib.sh"
"$VGGPIPE_BUILD/tests/test_stream"
