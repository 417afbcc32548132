#!/bin/bash
# Fine-tuning as README's "Fine-tuning the last block" tells users to run
# it: no --lr, --optimizer or --patience. On scikit-learn's digits at
# 32x32 with random He-scaled weights in the published file's layout,
# whose activations are ten times smaller, as they are, and ten times
# larger (block4_conv3's kernel and bias scaled): the learning rate is
# found, the start counts, and the tuned model is at least as accurate as
# the frozen top every time, its block 5 moved and its training loss below
# the start's. Then a rate far too large (rolled back, given up, the start
# kept, exit 0), validation held out when none is given, and --keep last.
. "$(dirname "$0")/lib.sh"
plan 25

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
	set -- $($PY "$TESTS_DIR/top_model.py" kept tuned$scale.model) x x x x x x x
	start_loss=$1 kept_loss=$2 best=$3 lr=$5
	echo "# activations x$scale: frozen top $frozen, tuned $tuned (epoch $best kept," \
		"learning rate $lr found; training loss $start_loss at the start, $kept_loss kept)"
	$PY -c "import sys; sys.exit(float('$tuned') < float('$frozen'))"
	ok $? "scale $scale: the tuned model ($tuned) is at least as accurate as the frozen top ($frozen)"
	set -- $($PY "$TESTS_DIR/top_model.py" moved tuned$scale.model w$scale.h5) 0 0
	# Biases move far less than kernels under the same step (a few 1e-6
	# of their largest value here); rounding alone moves nothing.
	$PY -c "import sys; sys.exit(not ($best > 0 and $1 > 1e-4 and $2 > 1e-7))"
	ok $? "scale $scale: an epoch was kept ($best), and block 5 moved: kernels by $1, biases by $2 of their largest"
	$PY -c "import sys; sys.exit(not float('$kept_loss') < float('$start_loss'))"
	ok $? "scale $scale: the kept epoch's training loss ($kept_loss) is below the start's ($start_loss)"
	grep -q "learning rate [0-9.e-]*: the loss went far above the start's at" err$scale
	ok $? "scale $scale: the progress says the rate found and where the loss blew up"
done

# A rate far too large: every epoch diverges, is rolled back at a tenth of
# the rate, until the tuning gives up and keeps its start.
run topfit --finetune block5 --weights w1.h5 --init top1.model --valid valid1.4 \
	--lr 1 --epochs 8 --history big.tsv -o big.model aug1.4
is "$rc" 0 "a rate far too large: exit 0"
grep -q "warning: training kept diverging (4 epochs rolled back, down to learning rate 0.001): kept the epoch of the lowest validation loss, the start included" err
ok $? "... and a warning that says why the start was kept"
is "$(accuracy big.model valid1.4)" "$(accuracy top1.model valid1.5)" \
	"... whose validation accuracy is the frozen top's"
is "$(cut -f 6,7 big.tsv | tail -n +2 | tr '\t\n' ' ')" "1 1 0.1 1 0.01 1 0.001 1 " \
	"... and --history shows each epoch rolled back and its rate"

# Without --valid, a tenth of each digit's images is held out (rounded, at
# least one), all their copies.
want=$($PY -c "
import os
print(sum(max(1, min(n - 1, int(n / 10 + 0.5))) for n in (len(os.listdir('train/' + d)) for d in os.listdir('train'))))")
run topfit --progress --finetune block5 --weights w1.h5 --init top1.model --epochs 2 \
	-o held.model aug1.4
grep -q "validated on $want of the 100 training images, held out (--holdout 0.1, seed 1); their ids are in the model" err
ok $? "no --valid: $want of 100 images held out, a tenth of each digit's, and said so"
vggdump held.model | $PY -c "
import json, sys
t = json.loads(sys.stdin.readline())['header']['training']
ids = t['holdout']
sys.exit(not (len(set(ids)) == $want and t['train_images'] == 100 - $want
              and t['train_records'] == 8 * (100 - $want) and t['valid_records'] == $want
              and t['keep'] == 'best'
              and sorted(set(i.split('/')[1] for i in ids)) == [str(d) for d in range(10)]))"
ok $? "the model names the held-out images, of every digit; none of their copies was trained on"
topfit --quiet --finetune block5 --weights w1.h5 --init top1.model --epochs 2 --seed 2 \
	-o held2.model aug1.4
vggdump held.model held2.model | $PY -c "
import json, sys
h = [json.loads(l)['header']['training']['holdout'] for l in sys.stdin if 'header' in l]
sys.exit(sorted(h[0]) == sorted(h[1]))"
ok $? "another seed holds out other images"
topfit --quiet --finetune block5 --weights w1.h5 --init top1.model --epochs 2 --holdout 0 \
	--lr 1e-5 -o all.model aug1.4
vggdump all.model | $PY -c "
import json, sys
t = json.loads(sys.stdin.readline())['header']['training']
sys.exit(not ('holdout' not in t and t['train_images'] == 100 and t['keep'] == 'last'))"
ok $? "--holdout 0: every image trained on, the last epoch kept"

# --keep last: the last epoch, whatever its validation loss.
topfit --quiet --finetune block5 --weights w1.h5 --init top1.model --valid valid1.4 \
	--epochs 3 --keep last -o last.model aug1.4
set -- $($PY "$TESTS_DIR/top_model.py" kept last.model)
is "$3 $4" "3 3" "--keep last keeps the last of 3 epochs"
expect_fail 2 "--patience keeps the best epoch; --keep last keeps the last" \
	"--patience and --keep last are refused together" \
	topfit --finetune block5 --init-random 1 --patience 2 --keep last aug1.4
done_testing
