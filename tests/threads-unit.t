#!/bin/bash
# The thread helpers' C unit tests: threads_parallel and threads_pipeline_run.
. "$(dirname "$0")/lib.sh"
exec "$VGGPIPE_BUILD/tests/test_threads"
