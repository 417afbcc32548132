#!/bin/bash
# The top model's C unit tests: gradients of every layer type against
# finite differences, the model file round trip, top-k.
. "$(dirname "$0")/lib.sh"
exec "$VGGPIPE_BUILD/tests/test_top"
