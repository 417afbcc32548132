#!/bin/bash
# Fine-tuning as README's "Fine-tuning the last block" tells users to run
# it: no --lr, --optimizer or --patience. On scikit-learn's digits at
# 32x32 with random He-scaled weights in the published file's layout,
# whose activations are ten times smaller, as they are, and ten times
# larger (block4_conv3's kernel and bias scaled): the learning rate is
# found, the start counts, and the tuned model is at least as accurate as
# the frozen top every time, its block 5 moved and its training loss below
# the start's. The training loss is that of the last ten epochs, not of
# the epoch kept alone: with dropout and augmentation an epoch's loss
# strays by 0.1 or more from its neighbours' at scale 10, and the kept
# epoch's went above the start's or not as its features moved by 3e-6.
# (tests/finetune-guards.t: divergence, the holdout, --keep.)
. "$(dirname "$0")/lib.sh"
plan 15

$PY "$TESTS_DIR/digits.py" . 100 200
features() { # SCALE: w$1.h5 and every stream made with it
	$PY "$TESTS_DIR/vggfeat_ref.py" scaled 3 block4_conv3 "$1" "w$1.h5"
	V="vggfeat --quiet --weights w$1.h5"
	for s in train valid; do
		imgprep --quiet --size 32 $s | $V --layer block4_pool -o "$s$1.4"
		imgprep --quiet --size 32 $s | $V -o "$s$1.5"
	done
	imgprep --quiet --size 32 --augment 8 --zoom 0.15 --rotation 15 --shift-x 0.1 \
		--shift-y 0.1 --seed 1 train | $V --layer block4_pool -o "aug$1.4"
}
accuracy() {
	topeval -q -m "$1" -f json "$2" |
		$PY -c "import json,sys; print('%.4f' % json.load(sys.stdin)['accuracy'])"
}

for scale in 0.1 1 10; do
	features $scale
	topfit --quiet --valid valid$scale.5 -o top$scale.model train$scale.5
	topfit --progress --finetune block5 --weights w$scale.h5 --init top$scale.model \
		--valid valid$scale.4 -o tuned$scale.model aug$scale.4 2> err$scale
	ok $? "scale $scale: fine-tuning at the defaults writes a model"
	frozen=$(accuracy top$scale.model valid$scale.5)
	tuned=$(accuracy tuned$scale.model valid$scale.4)
	set -- $($PY "$TESTS_DIR/top_model.py" kept tuned$scale.model) x x x x x x x x
	start_loss=$1 kept_loss=$2 best=$3 lr=$5 tail_loss=$8
	echo "# activations x$scale: frozen top $frozen, tuned $tuned (epoch $best kept," \
		"learning rate $lr found; training loss $start_loss at the start, $kept_loss kept," \
		"$tail_loss over the last ten epochs)"
	$PY -c "import sys; sys.exit(float('$tuned') < float('$frozen'))"
	ok $? "scale $scale: the tuned model ($tuned) is at least as accurate as the frozen top ($frozen)"
	set -- $($PY "$TESTS_DIR/top_model.py" moved tuned$scale.model w$scale.h5) 0 0
	# Biases move far less than kernels under the same step (a few 1e-6
	# of their largest value here); rounding alone moves nothing.
	$PY -c "import sys; sys.exit(not ($best > 0 and $1 > 1e-4 and $2 > 1e-7))"
	ok $? "scale $scale: an epoch was kept ($best), and block 5 moved: kernels by $1, biases by $2 of their largest"
	$PY -c "import sys; sys.exit(not float('$tail_loss') < float('$start_loss'))"
	ok $? "scale $scale: the training loss of the last ten epochs ($tail_loss) is below the start's ($start_loss)"
	grep -q "learning rate [0-9.e-]*: the loss went far above the start's at" err$scale
	ok $? "scale $scale: the progress says the rate found and where the loss blew up"
done

done_testing
