#!/bin/bash
# The thread helpers' C unit tests: vp_parallel and vp_pipeline_run.
. "$(dirname "$0")/lib.sh"
exec "$VGGPIPE_BUILD/tests/test_threads"
