#!/bin/bash
# topfit --finetune block5 against PyTorch in float64: the same block 5
# (from a Keras weights file) and top (an initial model without dropout),
# the same batches in the same order (--no-shuffle), SGD with momentum.
# Once over 20 different batches in one epoch (learning rate 1e-3), once
# over 20 epochs of one batch (1e-2), so that the loss of every step is
# compared as well as every parameter at the end, relative to its tensor's
# largest value.
#
# --algo im2col, whose convolutions round as little as float32 allows, is
# held to 1e-4 on both. Winograd (the default) rounds about ten times more.
# That is enough for a few of the 300,000 ReLU inputs of a batch that lie
# within a few 1e-6 of zero to land on the other side of it than in
# float64, and each such unit passes its whole gradient or none of it: the
# float64 run itself ends up 1e-3 to 1e-2 away when its input moves by 1e-6,
# and at higher learning rates over many batches the runs part for good.
# So Winograd is held to 1e-4 or twice float64's own spread under a 1e-6
# perturbation of its input, whichever is larger, measured here on the
# same data; a wrong transform or gradient would miss that by orders of
# magnitude from the first step.
. "$(dirname "$0")/lib.sh"
plan 10

REF="$TESTS_DIR/finetune_ref.py"
$PY "$TESTS_DIR/vggfeat_ref.py" weights 5 . keras2-full.h5
check "weights file" test -s keras2-full.h5

# compare NAME RECORDS EPOCHS LR ALGO: sets worst_param, worst_loss, moved
compare() {
	$PY "$REF" data keras2-full.h5 "$2" 4 3 3 11 "$1.feat" "$1-init.model"
	topfit --finetune block5 --init "$1-init.model" --weights keras2-full.h5 --algo "$5" \
		--optimizer sgd --lr "$4" --momentum 0.9 --batch 16 --epochs "$3" --no-shuffle --holdout 0 \
		--quiet --history "$1.tsv" -o "$1.model" "$1.feat" 2>"$1.err"
	reference "$1" "$1.feat" "$3" "$4"
	set -- $($PY "$REF" compare "$1.model" "$1-ref.npz" "$1.tsv" "$1-losses.txt") nan nan nan
	worst_param=$1 worst_loss=$2 moved=$3
}

# reference NAME FEATURES EPOCHS LR: NAME-ref.npz and NAME-losses.txt
reference() {
	$PY "$REF" reference weights.npz "$2" "$1-init.model" "$3" 16 "$4" 0.9 \
		"$1-ref.npz" > "$1-losses.txt"
}

# spread NAME EPOCHS LR: sets tolerance to the larger of 1e-4 and twice
# how far float64 moves, in parameters and in each epoch's loss, when
# NAME's features move by 1e-6
spread() {
	$PY "$REF" perturb "$1.feat" "$1-p.feat" 1e-6 7
	cp "$1-init.model" "$1-p-init.model"
	reference "$1-p" "$1-p.feat" "$2" "$3"
	tolerance=$($PY -c "
import sys
p = float(sys.argv[1])
a, b = (list(map(float, open(f).read().split())) for f in sys.argv[2:])
print('%.3g' % max(1e-4, 2 * p, 2 * max(abs(x - y) for x, y in zip(a, b))))
" "$($PY "$REF" spread "$1-p-ref.npz" "$1-ref.npz")" "$1-losses.txt" "$1-p-losses.txt")
}

# holds EXPR: a Python comparison of the figures, 0 when true
holds() { $PY -c "import sys; sys.exit(not ($1))"; }

compare steps 320 1 0.001 im2col
holds "$worst_param <= 1e-4 and $worst_loss <= 1e-4"
ok $? "20 batches: parameters within $worst_param, loss within $worst_loss of PyTorch's"
holds "$moved > 1e-2"
ok $? "... while training moved them by $moved of their largest value"

compare epochs 16 20 0.01 im2col
holds "$worst_param <= 1e-4 and $worst_loss <= 1e-4"
ok $? "20 epochs of one batch: parameters within $worst_param, every step's loss within $worst_loss"
holds "$moved > 1e-2"
ok $? "... while training moved them by $moved of their largest value"

compare wsteps 320 1 0.001 winograd
spread wsteps 1 0.001
holds "$worst_param <= $tolerance and $worst_loss <= $tolerance"
ok $? "Winograd, 20 batches: parameters within $worst_param, loss within $worst_loss (tolerance $tolerance)"
holds "$tolerance < $moved / 10"
ok $? "... a tolerance far below the $moved training moved them"
compare wepochs 16 20 0.01 winograd
spread wepochs 20 0.01
holds "$worst_param <= $tolerance and $worst_loss <= $tolerance"
ok $? "Winograd, 20 epochs of one batch: parameters within $worst_param, every step's loss within $worst_loss (tolerance $tolerance)"
holds "$tolerance < $moved / 10"
ok $? "... a tolerance far below the $moved training moved them"
cmp -s steps.feat wsteps.feat && cmp -s steps-init.model wsteps-init.model &&
	cmp -s epochs.feat wepochs.feat
ok $? "both algorithms ran on the same data and initial models"

done_testing
