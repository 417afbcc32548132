# Shared helpers for the TAP shell tests. Source it first:
#   . "$(dirname "$0")/lib.sh"
# Every test file prints a TAP plan and one line per check, and runs in its
# own temporary directory ($T), removed at exit.

set -u
: "${VGGPIPE_BIN:=$(cd "$(dirname "$0")/.." && pwd)/bin}"
: "${VGGPIPE_BUILD:=$(cd "$(dirname "$0")/.." && pwd)/build}"
TESTS_DIR=$(cd "$(dirname "$0")" && pwd)
SRC_DIR=$(cd "$TESTS_DIR/.." && pwd)
PATH="$VGGPIPE_BIN:$PATH"
# Debian's Python has numpy, torch, h5py, sklearn, Pillow and msgpack; the
# python3 first on PATH may be another build without them.
PY=/usr/bin/python3
export PATH PY

T=$(mktemp -d "${TMPDIR:-/tmp}/vggpipe-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1

_tap_n=0
_tap_failed=0

plan() { echo "1..$1"; }

ok() { # ok STATUS DESCRIPTION
	_tap_n=$((_tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $_tap_n - $2"
	else
		echo "not ok $_tap_n - $2"
		_tap_failed=$((_tap_failed + 1))
	fi
}

# check DESCRIPTION COMMAND... : ok when the command exits 0.
check() {
	_d=$1; shift
	if "$@" >"$T/.check.out" 2>&1; then ok 0 "$_d"; else
		ok 1 "$_d"; sed 's/^/# /' "$T/.check.out" | head -20; fi
}

# is GOT EXPECTED DESCRIPTION
is() {
	if [ "$1" = "$2" ]; then ok 0 "$3"; else
		ok 1 "$3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; fi
}

# run_status CMD... : run, keep stdout in $T/out, stderr in $T/err, status in $rc
run() {
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
}

# expect_fail STATUS WORDS DESCRIPTION CMD... : the command exits with
# STATUS and its stderr contains WORDS (a grep -E pattern).
expect_fail() {
	_st=$1 _w=$2 _d=$3; shift 3
	run "$@"
	if [ "$rc" -eq "$_st" ] && grep -Eq -- "$_w" "$T/err"; then ok 0 "$_d"; else
		ok 1 "$_d"; echo "#   status $rc (want $_st), stderr:"; sed 's/^/#   /' "$T/err" | head -5; fi
}


done_testing() { [ "$_tap_failed" -eq 0 ]; exit $?; }

# with_memory_limit KB CMD... : run CMD with its memory capped. ulimit -v
# caps the address space; a sanitizer build reserves terabytes of shadow
# address space, so there the allocator's own limit does the job.
with_memory_limit() {
	_kb=$1; shift
	if [ -n "${VGGPIPE_SANITIZE:-}" ]; then
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}malloc_limit_mb=$((_kb / 1024))" "$@"
	else
		(ulimit -v "$_kb"; exec "$@")
	fi
}
