#!/bin/bash
# vggfeat against torchvision's vgg16().features in float64 on the same
# random weights: every block's output, every preprocessing, 224x224 and
# a non-square 150x100, batch 1 and batch 2, one and two threads, for each
# --algo against the one reference. Passes when the largest absolute
# difference is at most the algorithm's tolerance times the layer's largest
# activation (tests/vggfeat_ref.py, TOLERANCE): about 15 times the worst
# measured, far under the 1e-4 and 1e-3 vggfeat(1) promises, so that a
# Winograd coefficient wrong in its fourth digit (8.8e-4) cannot pass.
# im2col runs the whole matrix; Winograd runs caffe's (every block,
# both batch sizes, both images) and one case of torch and of rescale,
# since the preprocessing only changes the first layer, which is im2col
# in either case. Each image appears twice so that batches of two
# hold two images while the float64 reference computes each image once
# (tests/vggfeat.t checks that distinct images in a batch do not mix).
. "$(dirname "$0")/lib.sh"

# The runs, ALGO MODE LAYER POOL BATCH THREADS [KERNELS] each: every
# block at batch 2 and at batch 1 with caffe; the first and the last block
# for the other preprocessings, which differ only at the input. KERNELS
# names the build of the Winograd kernels (VGGPIPE_KERNELS) where it is not
# the best the processor runs: Winograd's whole network with each.
runs=()
for algo in im2col winograd; do
	for b in 1 2 3 4 5; do
		runs+=("$algo caffe block${b}_pool none 2 2")
		[ "$b" -lt 5 ] && runs+=("$algo caffe block${b}_pool none 1 2")
	done
	runs+=("$algo caffe block5_pool none 1 1")
done
for mode in torch rescale; do
	runs+=("im2col $mode block5_pool none 1 1" "im2col $mode block1_pool none 2 2"
		"im2col $mode block5_pool none 2 2")
done
runs+=("im2col caffe block5_pool avg 2 2" "im2col rescale block4_pool max 1 2"
	"winograd torch block5_pool avg 2 2" "winograd rescale block4_pool max 1 2"
	"winograd caffe block5_pool none 2 2 avx2" "winograd caffe block5_pool none 1 2 baseline")
sizes=(224x224 = 150x100 =)
# One check per run and image, and one that the comparison saw them all:
# a run that wrote fewer records fails the plan rather than shrinking it.
plan $((${#runs[@]} * ${#sizes[@]} + 1))

"$PY" "$TESTS_DIR/vggfeat_ref.py" weights 11 "$T" keras2-full.h5 || exit 1
"$PY" "$TESTS_DIR/vggfeat_ref.py" images img.mp "${sizes[@]}" || exit 1
"$PY" "$TESTS_DIR/vggfeat_ref.py" reference weights.npz img.mp ref.npz &
ref=$!

args=()
for r in "${runs[@]}"; do
	set -- $r
	out=$1-$2-$3-$4-b$5-t$6${7:+-$7}.mp
	VGGPIPE_KERNELS=${7:-} vggfeat --weights keras2-full.h5 --algo "$1" --preprocess "$2" --layer "$3" \
		--pool "$4" --batch "$5" --threads "$6" <img.mp >"$out" ||
		echo "# vggfeat $r failed"
	args+=("$1" "$2" "$3" "$4" "$out")
done

wait "$ref" || echo "# the reference failed"
"$PY" "$TESTS_DIR/vggfeat_ref.py" compare ref.npz "${args[@]}" >compare.out
status=$?
while read -r word rest; do
	case $word in
	ok) ok 0 "$rest" ;;
	not) ok 1 "${rest#ok }" ;;
	*) echo "$word $rest" ;;
	esac
done <compare.out
n=$(grep -c '^\(not \)\?ok' compare.out)
[ "$status" -eq 0 ] && [ "$n" -eq $((${#runs[@]} * ${#sizes[@]})) ]
ok $? "the comparison ran to its end: $n records of ${#runs[@]} runs of ${#sizes[@]} images compared"
done_testing
