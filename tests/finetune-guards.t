#!/bin/bash
# Fine-tuning's guards, on scikit-learn's digits at 32x32 with random
# weights (tests/finetune-digits.sh): a rate far too large, rolled back
# until the tuning gives up and keeps its start (exit 0); a rate a little
# too large, rolled back once or twice from the start and then trained on;
# validation held out when none is given, all copies of an image on one
# side; --keep last; and the rate the range test chooses.
. "$(dirname "$0")/lib.sh"
plan 12

frozen=$(bash "$TESTS_DIR/finetune-digits.sh" data)
accuracy() {
	topeval -q -m "$1" -f json "$2" |
		$PY -c "import json,sys; print('%.4f' % json.load(sys.stdin)['accuracy'])"
}
FT="topfit --finetune block5 --init-random 1 --init top.model"

# A rate far too large: every epoch diverges, is rolled back at a tenth of
# the rate, until the tuning gives up and keeps its start.
run $FT --valid valid.4 --lr 1 --epochs 8 --history big.tsv -o big.model aug.4
is "$rc" 0 "a rate far too large: exit 0"
grep -q "warning: training kept diverging (4 epochs rolled back, down to learning rate 0.001): kept the epoch of the lowest validation loss, the start included" err
ok $? "... and a warning that says why the start was kept"
is "$(accuracy big.model valid.4)" "$frozen" "... whose validation accuracy is the frozen top's"
is "$(cut -f 6,7 big.tsv | tail -n +2 | tr '\t\n' ' ')" "1 1 0.1 1 0.01 1 0.001 1 " \
	"... and --history shows each epoch rolled back and its rate"

# A rate a little too large: the tuning goes on from the state before the
# diverging epoch, not from what it left.
$FT --quiet --valid valid.4 --lr 1e-3 --epochs 4 -o over.model aug.4
set -- $($PY "$TESTS_DIR/top_model.py" kept over.model) x x x x x x x
vggdump over.model | $PY -c "
import json, sys
h = json.loads(sys.stdin.readline())['header']
r = [e.get('rolled_back', False) for e in h['history']]
sys.exit(not (1 <= $6 <= 3 and $7 == 0 and r[0] and not r[-1]))"
ok $? "a rate a little too large: $6 epochs rolled back, then trained on from where it was good"

# Without --valid, a tenth of each digit's images is held out (rounded, at
# least one), all their copies.
want=$($PY -c "
import os
print(sum(max(1, min(n - 1, int(n / 10 + 0.5))) for n in (len(os.listdir('train/' + d)) for d in os.listdir('train'))))")
run $FT --progress --epochs 2 -o held.model aug.4
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
$FT --quiet --epochs 2 --seed 2 -o held2.model aug.4
vggdump held.model held2.model | $PY -c "
import json, sys
h = [json.loads(l)['header']['training']['holdout'] for l in sys.stdin if 'header' in l]
sys.exit(sorted(h[0]) == sorted(h[1]))"
ok $? "another seed holds out other images"
$FT --quiet --epochs 2 --holdout 0 --lr 1e-5 -o all.model aug.4
vggdump all.model | $PY -c "
import json, sys
t = json.loads(sys.stdin.readline())['header']['training']
sys.exit(not ('holdout' not in t and t['train_images'] == 100 and t['keep'] == 'last'))"
ok $? "--holdout 0: every image trained on, the last epoch kept"

# --keep last: the last epoch, whatever its validation loss.
$FT --quiet --valid valid.4 --epochs 3 --keep last -o last.model aug.4
set -- $($PY "$TESTS_DIR/top_model.py" kept last.model)
is "$3 $4" "3 3" "--keep last keeps the last of 3 epochs"
expect_fail 2 "--patience keeps the best epoch; --keep last keeps the last" \
	"--patience and --keep last are refused together" \
	topfit --finetune block5 --init-random 1 --patience 2 --keep last aug.4

# The range test's rate: a thirtieth of where the loss went far above
# the start's, which is where the test stopped.
vggdump last.model | $PY -c "
import json, sys
s = json.loads(sys.stdin.readline())['header']['training']['lr_search']
edge = 1e-9 * 1e9 ** ((s['steps'] - 1) / 99)
sys.exit(not (abs(s['chosen'] * 30 / s['edge'] - 1) < 1e-7 and abs(s['edge'] / edge - 1) < 1e-6
              and s['steps'] < 100))"
ok $? "the rate found is a thirtieth of the edge, the rate of the range test's last step"
done_testing
