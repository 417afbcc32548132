#!/bin/sh
# topfit --folds K against K single runs of topfit, each on the
# (K-1)/K of the records a fold trains on: 2000 records of 7x7x512
# features (block5_pool), 4 classes, the default top (hidden 256,
# dropout 0.5, Adam), 10 epochs, 2 threads. The folds read the stream
# once, hold it once and validate each model on its fold; K runs read
# and hold their share K times. The ratio is the K runs' time over the
# folds': above 1, the folds cost less than doing it by hand.
set -eu
N=${FOLDS_BENCH_RECORDS:-2000}
EPOCHS=${FOLDS_BENCH_EPOCHS:-10}
K=5
THREADS=2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common"

"$PY" "$here/../tests/top_data.py" random "$tmp/all.feat" --n "$N" --shape 7,7,512 --classes 4
# A fold's share of the records, as one single run's input.
SHARE=$((N * (K - 1) / K))
head_stream "$tmp/all.feat" "$SHARE" "$tmp/share.feat"

setting="hidden 256, $EPOCHS epochs, $THREADS threads"
set -- $(timed "$B/topfit" --folds "$K" --epochs "$EPOCHS" -t "$THREADS" -q -o "$tmp/oof.csv" \
	"$tmp/all.feat")
folds=$1 folds_kb=$2
singles=0 singles_kb=0
i=0
while [ "$i" -lt "$K" ]; do
	set -- $(timed "$B/topfit" --epochs "$EPOCHS" -t "$THREADS" --seed $((i + 1)) -q \
		-o "$tmp/one.model" "$tmp/share.feat")
	singles=$(awk -v a="$singles" -v b="$1" 'BEGIN { print a + b }')
	singles_kb=$(awk -v a="$singles_kb" -v b="$2" 'BEGIN { print (a > b ? a : b) }')
	i=$((i + 1))
done
awk -v set="$setting" -v n="$N" -v share="$SHARE" -v k="$K" -v a="$folds" -v b="$singles" \
	-v ma="$folds_kb" -v mb="$singles_kb" 'BEGIN {
	printf "| topfit --folds (models) | vggpipe --folds %d | %d x 7x7x512, %s, %.1f s | %.2f | %.0f | %.2f | %.0f |\n",
		k, n, set, a, k / a, 1000 * a / k, b / a, ma / 1024
	printf "| topfit --folds (models) | %d single runs | %d x 7x7x512 each, %s, %.1f s | %.2f | %.0f | 1 | %.0f |\n",
		k, share, set, b, k / b, 1000 * b / k, mb / 1024 }'
