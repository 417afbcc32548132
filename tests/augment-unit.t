#!/bin/bash
# lib/augment's C unit tests: the seeded draws of an augmented copy.
. "$(dirname "$0")/lib.sh"
exec "$VGGPIPE_BUILD/tests/test_augment"
