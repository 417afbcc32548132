#!/bin/bash
# lib/top/stats's C unit tests: Wilson's interval against scipy and its
# coverage over seeded draws, the quantile against numpy, the bootstrap's
# draws, determinism and coverage.
. "$(dirname "$0")/lib.sh"
exec "$VGGPIPE_BUILD/tests/test_stats"
