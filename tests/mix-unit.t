#!/bin/bash
# lib/mix's C unit tests: SplitMix64 and the byte hash against published
# reference values.
. "$(dirname "$0")/lib.sh"
exec "$VGGPIPE_BUILD/tests/test_mix"
