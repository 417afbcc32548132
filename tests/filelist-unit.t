#!/bin/bash
# lib/filelist's C unit tests: folders, labels, order, path lists, error
# messages, shards and shuffles.
. "$(dirname "$0")/lib.sh"
exec "$VGGPIPE_BUILD/tests/test_filelist"
