#!/bin/bash
# vggfeat against torchvision's vgg16().features in float64 on the same
# random weights: every block's output, every preprocessing, 224x224 and
# a non-square 150x100, batch 1 and batch 2, one and two threads, for each
# --algo against the one reference. Passes when the largest absolute
# difference is at most the algorithm's tolerance times the layer's largest
# activation: 1e-4 for im2col, 1e-3 for Winograd, whose transforms round
# more. im2col runs the whole matrix; Winograd runs caffe's (every block,
# both batch sizes, both images) and one case of torch and of rescale,
# since the preprocessing only changes the first layer, which is im2col
# in either case. Each image appears twice so that batches of two
# hold two images while the float64 reference computes each image once
# (tests/vggfeat.t checks that distinct images in a batch do not mix).
. "$(dirname "$0")/lib.sh"

"$PY" "$TESTS_DIR/vggfeat_ref.py" weights 11 "$T" keras2-full.h5 || exit 1
"$PY" "$TESTS_DIR/vggfeat_ref.py" images img.mp 224x224 = 150x100 = || exit 1
"$PY" "$TESTS_DIR/vggfeat_ref.py" reference weights.npz img.mp ref.npz &
ref=$!

runs=()
feat() { # ALGO MODE LAYER POOL BATCH THREADS
	out=$1-$2-$3-$4-b$5-t$6.mp
	vggfeat --weights keras2-full.h5 --algo "$1" --preprocess "$2" --layer "$3" \
		--pool "$4" --batch "$5" --threads "$6" <img.mp >"$out" ||
		echo "vggfeat $* failed" >&2
	runs+=("$1" "$2" "$3" "$4" "$out")
}
# Every block at batch 2 and at batch 1 with caffe; the first and the
# last block for the other preprocessings, which differ only at the input.
for algo in im2col winograd; do
	for b in 1 2 3 4 5; do
		feat "$algo" caffe "block${b}_pool" none 2 2
		[ "$b" -lt 5 ] && feat "$algo" caffe "block${b}_pool" none 1 2
	done
	feat "$algo" caffe block5_pool none 1 1
done
for mode in torch rescale; do
	feat im2col "$mode" block5_pool none 1 1
	feat im2col "$mode" block1_pool none 2 2
	feat im2col "$mode" block5_pool none 2 2
done
feat im2col caffe block5_pool avg 2 2
feat im2col rescale block4_pool max 1 2
feat winograd torch block5_pool avg 2 2
feat winograd rescale block4_pool max 1 2

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
