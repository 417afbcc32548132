#!/bin/sh
# Fine-tuning VGG16's block 5 with the top (topfit --finetune) against
# PyTorch training the same block 5 + top (Chollet's: dense 256, dropout
# 0.5) on the same block4_pool tensors of 150x150 images (9x9x512 maps):
# SGD at 1e-4 with momentum 0.9, batches of 16, 2 threads on both sides,
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset on both, as on a user's
# machine. Images per second of the best epoch: topfit reads every batch
# from its file, PyTorch holds the tensors in memory. The sides take
# turns, $FINETUNE_BENCH_RUNS rounds (3) of 2 epochs on 320 records each,
# and each keeps its best.
#
# Then what finding the learning rate costs (the range test's seconds, and
# its share of Chollet's run of 50 epochs over 2,000 images at the rate
# measured); topfit's peak memory with 20,000 records (3.3 GB of
# features): indexing them all and its first batches, within 90 s; and the
# accuracy fine-tuning reaches on a small image set with random weights,
# at the defaults and in the tuned case (tests/finetune-digits.sh), beside
# the frozen top's.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common"
RUNS=${FINETUNE_BENCH_RUNS:-3}
BIG=${FINETUNE_BENCH_BIG:-20000}
PATH="$VGGPIPE_BIN:$PATH"
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE

stage="topfit --finetune block5, 150x150 (9x9x512)"
setting="320 records, batch 16, 2 threads, OPENBLAS_* unset"
"$PY" "$here/finetune_peer.py" gen "$tmp" 320 9

# images/s and peak MB of one topfit run: its best epoch
ours() {
	/usr/bin/time -f %M -o "$tmp/time" topfit --finetune block5 --init "$tmp/top.model" \
		--init-random 1 --algo "$1" --lr 1e-4 --holdout 0 --epochs 2 -t 2 --progress \
		-o /dev/null "$tmp/train4.feat" 2>"$tmp/err"
	sed -n 's/.*, \([0-9.]*\) images\/s$/\1/p' "$tmp/err" | sort -gr | head -n 1 | tr '\n' ' '
	awk '{ v = $1 } END { printf "%.0f\n", v / 1024 }' "$tmp/time"
}

# best FILE: the line with the highest rate
best() { sort -k1,1gr "$1" | head -n 1; }

# Block 5 on 9x9 maps, forward and backward (the input's and the
# kernels' gradients, twice the forward's work): 3 convolutions of
# 2 * 81 * 512 * 512 * 9 floating-point operations, times 3; the top's
# are a hundredth of that and left out.
GFLOP_PER_IMAGE=3.44

row() { # STAGE SIDE SETTING RATE RATIO PEAK_MB
	awk -v st="$1" -v side="$2" -v set="$3" -v r="$4" -v ratio="$5" -v mb="$6" \
		-v g="$GFLOP_PER_IMAGE" -v peak="${VGGPIPE_SGEMM_GFLOPS:-0}" 'BEGIN {
		rate = sprintf("%.0f GFLOP/s", r * g)
		if (peak > 0)
			rate = rate sprintf(", %.0f%% of SGEMM peak", 100 * r * g / peak)
		printf "| %s | %s | %s, %s | %.1f | %.1f | %s | %s |\n", st, side, set, rate, r,
			1000 / r, ratio, mb }'
}

if "$PY" -c 'import torch' >"$tmp/torch.log" 2>&1; then
	torch=yes
else
	torch=no
fi
: >"$tmp/winograd" ; : >"$tmp/im2col" ; : >"$tmp/torch"
i=0
while [ $i -lt "$RUNS" ]; do
	ours winograd >>"$tmp/winograd"
	ours im2col >>"$tmp/im2col"
	[ $torch = no ] || "$PY" "$here/finetune_peer.py" torch "$tmp" 2 2 >>"$tmp/torch"
	i=$((i + 1))
done
if [ $torch = yes ]; then
	set -- $(best "$tmp/torch")
	base=$1
	row "$stage" "PyTorch $("$PY" -c 'import torch; print(torch.__version__)')" "$setting" "$1" 1 "$2"
else
	base=
	echo "| $stage | PyTorch | skipped, cannot import torch: $(tail -1 "$tmp/torch.log") | | | | |"
fi
for algo in winograd im2col; do
	set -- $(best "$tmp/$algo")
	ratio=$([ -n "$base" ] && awk -v a="$1" -v b="$base" 'BEGIN { printf "%.2f", a / b }' || echo n/a)
	row "$stage" "vggpipe --algo $algo" "$setting" "$1" "$ratio" "$2"
done

# The range test on the same features, as the defaults run it.
topfit --finetune block5 --init "$tmp/top.model" --init-random 1 --holdout 0 --epochs 1 -t 2 \
	--quiet -o "$tmp/found.model" "$tmp/train4.feat"
set -- $(best "$tmp/winograd")
vggdump "$tmp/found.model" | "$PY" -c "
import json, sys
s = json.loads(sys.stdin.readline())['header']['training']['lr_search']
run = 50 * 2000 / $1
print('| topfit --finetune learning-rate range test | vggpipe | %d steps of 16 records, rate chosen %.3g (edge %.3g): %.1f s, %.2f%% of 50 epochs over 2,000 images (%.0f s) | | | | |'
      % (s['steps'], s['chosen'], s['edge'], s['seconds'], 100 * s['seconds'] / (s['seconds'] + run), run))"

# Peak memory with many records: 162 KB each, reused maps.
free_kb=$(df -Pk "$tmp" | awk 'NR == 2 { print $4 }')
need_kb=$((BIG * 170 + 1048576))
if [ "$free_kb" -gt "$need_kb" ]; then
	rm -f "$tmp/train4.feat"
	"$PY" "$here/finetune_peer.py" gen "$tmp" "$BIG" 9
	/usr/bin/time -f %M -o "$tmp/time" timeout 90 topfit --finetune block5 \
		--init "$tmp/top.model" --init-random 1 --lr 1e-4 --holdout 0 --epochs 1 -t 2 \
		--progress -o /dev/null "$tmp/train4.feat" 2>"$tmp/err" || true
	gb=$(awk -v n="$BIG" 'BEGIN { printf "%.1f", n * 9 * 9 * 512 * 4 / 1e9 }')
	printf "| topfit --finetune memory | vggpipe | %s records of 9x9x512 (%s GB), indexed, then training for the rest of 90 s | | | | %.0f |\n" \
		"$BIG" "$gb" "$(awk '{ v = $1 } END { print v / 1024 }' "$tmp/time")"
else
	echo "| topfit --finetune memory | vggpipe | skipped: $((need_kb / 1048576)) GB free space needed for $BIG records | | | | |"
fi

# Fine-tuning helps: frozen top and tuned model on the same validation
# images, at the defaults and in the tuned case.
for mode in defaults adam; do
	mkdir "$tmp/digits-$mode" && cd "$tmp/digits-$mode"
	set -- $(bash "$here/../tests/finetune-digits.sh" $mode)
	echo "| fine-tuning accuracy, $mode | vggpipe | digits at 32x32, random weights, 100 images x 8 copies: validation accuracy of the frozen top $1, block 5 tuned with it $2 | | | | |"
done
