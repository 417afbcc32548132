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
# --algo im2col, whose convolutions round as little as float32 allows, is
# held to 5e-4 of each tensor's movement plus 2e-6 of its largest value
# (float32 rounding, which every tensor ends a few units off), about seven
# times the worst measured. Every tensor must move at least ten times that.
#
# Winograd (the default) rounds about ten times more. That is enough for a
# few of the 300,000 ReLU inputs of a batch that lie within a few 1e-6 of
# zero to land on the other side of it than in float64, and each such unit
# passes its whole gradient or none of it: the float64 run itself ends up
# 2% to 12% of the conv tensors' movement away when its input moves by
# 1e-6, and at higher learning rates over many batches the runs part for
# good. So Winograd is held to im2col's tolerance or twice float64's own
# spread under a 1e-6 perturbation of its input, whichever is larger, per
# tensor and for the loss, measured here on the same data. Every tensor
# must still move at least three times its tolerance: a tensor left where
# it started, or moved a third too far or too little, fails.
. "$(dirname "$0")/lib.sh"
plan 10

REF="$TESTS_DIR/finetune_ref.py"
$PY "$TESTS_DIR/vggfeat_ref.py" weights 5 . keras2-full.h5
check "weights file" test -s keras2-full.h5

# reference NAME FEATURES INIT EPOCHS LR: NAME-ref.npz and NAME-losses.txt
reference() {
	$PY "$REF" reference weights.npz "$2" "$3" "$4" 16 "$5" 0.9 "$1-ref.npz" > "$1-losses.txt"
}

# compare NAME RECORDS EPOCHS LR ALGO H W: on H x W maps; sets worst (the largest error /
# allowed over the tensors), tensor, err and allowed (its error and
# allowance, fractions of its movement), loss and loss_allowed, least (the
# least movement / allowance) and least_tensor. For Winograd, allowances
# take in a reference run on features moved by 1e-6.
compare() {
	$PY "$REF" data keras2-full.h5 "$2" "$6" "$7" 3 11 "$1.feat" "$1-init.model"
	topfit --finetune block5 --init "$1-init.model" --weights keras2-full.h5 --algo "$5" \
		--optimizer sgd --lr "$4" --momentum 0.9 --batch 16 --epochs "$3" --no-shuffle --holdout 0 \
		--quiet --history "$1.tsv" -o "$1.model" "$1.feat" 2>"$1.err"
	reference "$1" "$1.feat" "$1-init.model" "$3" "$4"
	spread=()
	if [ "$5" = winograd ]; then
		$PY "$REF" perturb "$1.feat" "$1-p.feat" 1e-6 7
		reference "$1-p" "$1-p.feat" "$1-init.model" "$3" "$4"
		spread=("$1-p-ref.npz" "$1-p-losses.txt")
	fi
	$PY "$REF" compare "$1.model" "$1-ref.npz" "$1.tsv" "$1-losses.txt" "${spread[@]}" >"$1.cmp"
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
compare steps 320 1 0.001 im2col 4 3
result "20 batches" 10
compare epochs 16 20 0.01 im2col 3 3
result "20 epochs of one batch, every step's loss" 10
compare wsteps 320 1 0.001 winograd 4 3
result "Winograd F(4x4, 3x3), 20 batches" 3
compare wepochs 16 20 0.01 winograd 3 3
result "Winograd F(3x3, 3x3), 20 epochs of one batch, every step's loss" 3
cmp -s steps.feat wsteps.feat && cmp -s steps-init.model wsteps-init.model &&
	cmp -s epochs.feat wepochs.feat
ok $? "both algorithms ran on the same data and initial models"

done_testing
