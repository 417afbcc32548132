#!/bin/bash
# The emitter's C unit tests: JSON and msgpack from the same calls, and a
# miscounted map or array reported in both.
. "$(dirname "$0")/lib.sh"
exec "$VGGPIPE_BUILD/tests/test_emit"
