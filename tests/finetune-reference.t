#!/bin/bash
# topfit --finetune block5 against PyTorch in float64: the same block 5
# (from a Keras weights file) and top (an initial model without dropout),
# the same batches in the same order (--no-shuffle), SGD with momentum.
# Once over 20 different batches in one epoch (learning rate 1e-3), once
# over 20 epochs of one batch (1e-2), so that the loss of every step is
# compared as well as every parameter tensor at the end, relative to how
# far PyTorch moved that tensor (tests/finetune_ref.py compare): the conv
# biases move only 5e-5 to 3e-4 of their largest value, and an error in
# their gradient would hide under a tolerance on that largest value.
#
# Both algorithms run on the same data from the same start, against one
# float64 reference run per data set. --algo im2col, whose convolutions
# round as little as float32 allows, is held to 5e-4 of each tensor's
# movement plus 2e-6 of its largest value (float32 rounding, which every
# tensor ends a few units off), about seven times the worst measured.
# Every tensor must move at least ten times its allowance.
#
# That holds while every ReLU input and max-pool choice lies farther from
# its edge than float32 rounds. Of the 300,000 ReLU inputs of a batch a
# few lie within a few 1e-7 of zero, and each passes its whole gradient
# or none of it. OpenBLAS's Cooperlake kernels (an AMD Zen 4) put one such
# unit of the 20-epoch run on the other side, and conv0's kernel ended
# 1.1% of its movement away, where OpenBLAS's Haswell and SkylakeX kernels
# gave 1e-5; the float64 run itself ends up the same 1.1% away when its
# input moves by 1e-7, by one random draw of the perturbation in six. So
# each run is held to its tolerance or twice the farthest the float64 run
# moves under three draws of a perturbation of its input, whichever is
# larger, per tensor and for the loss: 1e-7 for im2col, about float32's
# rounding. Winograd (the default) rounds about ten times more: the
# perturbation is 1e-6, which puts the float64 run itself 2% to 12% of the
# conv tensors' movement away, and at higher learning rates over many
# batches the runs part for good. Winograd's tolerance is im2col's; every
# tensor must still move at least three times its allowance: a tensor
# left where it started, or moved a third too far or too little, fails.
. "$(dirname "$0")/lib.sh"
plan 9

REF="$TESTS_DIR/finetune_ref.py"
$PY "$TESTS_DIR/vggfeat_ref.py" weights 5 . keras2-full.h5
check "weights file" test -s keras2-full.h5

# reference NAME RECORDS EPOCHS LR H W: on H x W maps, NAME.feat and
# NAME-init.model, NAME-ref.npz and NAME-losses.txt.
reference() {
	$PY "$REF" data keras2-full.h5 "$2" "$5" "$6" 3 11 "$1.feat" "$1-init.model"
	$PY "$REF" reference weights.npz "$1.feat" "$1-init.model" "$3" 16 "$4" 0.9 \
		"$1-ref.npz" >"$1-losses.txt"
}

# spread DATA ALGO EPOCHS LR: DATA's reference on three draws of ALGO's
# perturbation of its features (1e-7 for im2col, 1e-6 for Winograd),
# DATA-ALGO1 to DATA-ALGO3; spread_runs lists their parameters and losses.
spread() {
	local eps=1e-6 run
	[ "$2" = im2col ] && eps=1e-7
	spread_runs=()
	for run in "$1-$2"{1,2,3}; do
		$PY "$REF" perturb "$1.feat" "$run.feat" "$eps" "${run: -1}"
		$PY "$REF" reference weights.npz "$run.feat" "$1-init.model" "$3" 16 "$4" 0.9 \
			"$run-ref.npz" >"$run-losses.txt"
		spread_runs+=("$run-ref.npz" "$run-losses.txt")
	done
}

# compare NAME DATA EPOCHS LR ALGO: topfit on DATA's features against its
# reference and the reference's perturbed runs for ALGO; sets worst (the
# largest error / allowed over the tensors), tensor, err and allowed (its
# error and allowance, fractions of its movement), loss and loss_allowed,
# least (the least movement / allowance) and least_tensor.
compare() {
	topfit --finetune block5 --init "$2-init.model" --weights keras2-full.h5 --algo "$5" \
		--optimizer sgd --lr "$4" --momentum 0.9 --batch 16 --epochs "$3" --no-shuffle --holdout 0 \
		--quiet --history "$1.tsv" -o "$1.model" "$2.feat" 2>"$1.err"
	spread "$2" "$5" "$3" "$4"
	$PY "$REF" compare "$1.model" "$2-ref.npz" "$1.tsv" "$2-losses.txt" "${spread_runs[@]}" \
		>"$1.cmp"
	grep '^#' "$1.cmp"
	set -- $(grep -v '^#' "$1.cmp") nan nan nan nan nan nan nan nan
	worst=$1 tensor=$2 err=$3 allowed=$4 loss=$5 loss_allowed=$6 least=$7 least_tensor=$8
}

# holds EXPR: a Python comparison of the figures, 0 when true
holds() { $PY -c "import sys; sys.exit(not ($1))"; }

# result DESCRIPTION LEAST: the two checks of a run compared, the second
# that every tensor moved at least LEAST times its allowance
result() {
	holds "$worst <= 1 and $loss <= $loss_allowed"
	ok $? "$1: every tensor within its tolerance (worst $tensor, off by $err of its movement, allowed $allowed), loss within $loss (allowed $loss_allowed)"
	holds "$least >= $2"
	ok $? "... and every tensor moved at least $2 times its tolerance (least $least times, $least_tensor)"
}

# Winograd takes 4x4 tiles on the 4x3 maps of the batches and 3x3 tiles
# on the 3x3 maps of the epochs (winograd_best_tile).
reference steps 320 1 0.001 4 3
compare isteps steps 1 0.001 im2col
result "20 batches" 10
reference epochs 16 20 0.01 3 3
compare iepochs epochs 20 0.01 im2col
result "20 epochs of one batch, every step's loss" 10
compare wsteps steps 1 0.001 winograd
result "Winograd F(4x4, 3x3), 20 batches" 3
compare wepochs epochs 20 0.01 winograd
result "Winograd F(3x3, 3x3), 20 epochs of one batch, every step's loss" 3
done_testing
