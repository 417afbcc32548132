#!/bin/sh
# featnear's neighbour search beside numpy's brute force, on the same
# synthetic block5_pool-sized features (7x7x512, 25088 floats a record):
# the 5 nearest of each query in a 10,000-record index, 2 threads each
# (OPENBLAS_NUM_THREADS for numpy). Rates are steady state: the time of N
# queries minus the time of N/4, over 3N/4, so that start-up (numpy's
# loading of the index) is left out; featnear reads the index again for
# every block of queries, and that stays in. Peak memory is the larger
# run's: featnear holds a block of queries and one of the index, numpy the
# whole index.
set -eu
INDEX=${FEATNEAR_BENCH_INDEX:-10000}
N=${FEATNEAR_BENCH_QUERIES:-1024}
THREADS=2
BATCH=512
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common"


# rate QUERIES_ALL QUERIES_QUARTER N CMD...: queries/s in steady state, peak MB
rate() {
	all=$1 quarter=$2 n=$3
	shift 3
	set -- "$n" $(timed "$@" "$all") $(timed "$@" "$quarter")
	awk -v n="$1" -v t="$2" -v kb="$3" -v t4="$4" 'BEGIN {
		d = t - t4; if (d <= 0) d = 1e-9
		printf "%.6g %.0f\n", (n - int(n / 4)) / d, kb / 1024 }'
}

row() { # SIDE SETTING RATE PEAK_MB RATIO
	awk -v side="$1" -v set="$2" -v r="$3" -v mb="$4" -v ratio="$5" 'BEGIN {
		printf "| featnear (neighbours) | %s | %s | %.1f | %.3f | %s | %.0f |\n",
			side, set, r, 1000 / r, ratio, mb }'
}

gen() { "$PY" "$here/../tests/near_ref.py" feats "$@" --shape 7,7,512; }
gen "$tmp/index.feat" --n "$INDEX" --seed 1 --prefix index/
gen "$tmp/q.feat" --n "$N" --seed 2 --prefix query/
gen "$tmp/q4.feat" --n $((N / 4)) --seed 2 --prefix query/

set -- $(rate "$tmp/q.feat" "$tmp/q4.feat" "$N" "$B/featnear" --index "$tmp/index.feat" -k 5 \
	-b "$BATCH" -t "$THREADS" -q) $(rate "$tmp/q.feat" "$tmp/q4.feat" "$N" \
	env OPENBLAS_NUM_THREADS=$THREADS "$PY" "$here/featnear_peer.py" "$tmp/index.feat" 5 "$BATCH")
ratio=$(awk -v a="$1" -v b="$3" 'BEGIN { printf "%.2f", a / b }')
setting="$N queries x $INDEX records of 7x7x512, k 5, $THREADS threads"
row vggpipe "$setting" "$1" "$2" "$ratio"
row "numpy brute force" "$setting" "$3" "$4" 1
