#!/bin/bash
# vggfeat against torchvision's vgg16().features in float64 on the same
# random weights: every block's output, every preprocessing, 224x224 and
# a non-square 150x100, batch 1 and batch 2, one and two threads. Passes
# when the largest absolute difference is at most 1e-4 of the layer's
# largest activation. Each image appears twice so that batches of two
# hold two images while the float64 reference computes each image once
# (tests/vggfeat.t checks that distinct images in a batch do not mix).
. "$(dirname "$0")/lib.sh"

"$PY" "$TESTS_DIR/vggfeat_ref.py" weights 11 "$T" keras2-full.h5 || exit 1
"$PY" "$TESTS_DIR/vggfeat_ref.py" images img.mp 224x224 = 150x100 = || exit 1
"$PY" "$TESTS_DIR/vggfeat_ref.py" reference weights.npz img.mp ref.npz &
ref=$!

runs=()
feat() { # MODE LAYER POOL BATCH THREADS
	out=$1-$2-$3-b$4-t$5.mp
	vggfeat --weights keras2-full.h5 --preprocess "$1" --layer "$2" --pool "$3" \
		--batch "$4" --threads "$5" <img.mp >"$out" || echo "vggfeat $* failed" >&2
	runs+=("$1" "$2" "$3" "$out")
}
# Every block at batch 2 and at batch 1 with caffe; the first and the
# last block for the other preprocessings, which differ only at the input.
for b in 1 2 3 4 5; do
	feat caffe "block${b}_pool" none 2 2
	[ "$b" -lt 5 ] && feat caffe "block${b}_pool" none 1 2
done
for mode in caffe torch rescale; do
	feat "$mode" block5_pool none 1 1
	[ "$mode" != caffe ] && feat "$mode" block1_pool none 2 2 && feat "$mode" block5_pool none 2 2
done
feat caffe block5_pool avg 2 2
feat rescale block4_pool max 1 2

wait "$ref" || { echo "1..0 # the reference failed"; exit 1; }
"$PY" "$TESTS_DIR/vggfeat_ref.py" compare ref.npz "${runs[@]}" >compare.out ||
	echo "not ok the comparison ran to its end" >>compare.out
n=$(grep -c '^\(not \)\?ok' compare.out)
plan "$n"
while read -r status rest; do
	case $status in
	ok) ok 0 "$rest" ;;
	not) ok 1 "${rest#ok }" ;;
	*) echo "$status $rest" ;;
	esac
done <compare.out
done_testing
