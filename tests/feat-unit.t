#!/bin/bash
# The features kind's C unit tests (tests/unit/test_feat.c).
. "$(dirname "$0")/lib.sh"
"$VGGPIPE_BUILD/tests/test_feat"
