#!/bin/bash
# topfit --finetune block5: the recipe end to end on a small image set
# (scikit-learn's digits as 32x32 images, random VGG16 weights), the tuned
# model in topeval and classify, the copies of augmented images, a pipe
# spooled, the same model on any number of threads, memory that does not
# grow with the records, and bad input refused with nothing written.
. "$(dirname "$0")/lib.sh"
plan 36

# 100 training images in 8 augmented copies, 400 validation images, a
# frozen top and the block tuned with it (tests/finetune-digits.sh).
set -- $(bash "$TESTS_DIR/finetune-digits.sh" adam 2>err.digits) none none
frozen=$1 tuned=$2
n=$($PY -c "import msgpack; print(sum(1 for o in msgpack.Unpacker(open('aug.4','rb')) if b'id' in o or 'id' in o))")
is "$n" 800 "imgprep | vggfeat: 8 copies of 100 images at block4_pool"
vggdump aug.4 | $PY -c "
import json, sys
recs = [json.loads(l)['record'] for l in sys.stdin if '\"record\"' in l]
sys.exit(sorted(set(r['copy'] for r in recs)) != list(range(1, 9)))"
ok $? "vggfeat keeps each record's copy number"

echo "# validation accuracy: frozen top $frozen, block 5 tuned with it $tuned"
$PY -c "import sys; sys.exit(float('$tuned') < float('$frozen'))"
ok $? "the tuned model ($tuned) is at least as accurate as the frozen top ($frozen)"
vggdump tuned.model | $PY -c "
import json, sys
h = json.loads(sys.stdin.readline())['header']
t = [l['type'] for l in h['layers']]
sys.exit(not (t[:7] == ['conv3x3', 'relu'] * 3 + ['maxpool2x2'] and t[7:] == ['standardize', 'dense', 'relu', 'dropout', 'dense', 'softmax']
              and h['provenance']['layer'] == 'block4_pool' and h['input_shape'] == [2, 2, 512]
              and h['training']['finetune'] == 'block5' and h['training']['train_images'] == 100
              and h['training']['train_records'] == 800))"
ok $? "the model: block 5, then the initial top; it takes block4_pool features"

# topeval and classify run it on block4_pool features, refuse others.
classify -q -m tuned.model valid.4 > p.csv
is "$(wc -l < p.csv)" 401 "classify: a prediction per block4_pool record"
$PY "$TESTS_DIR/top_model.py" forward tuned.model valid.4 > ref.txt
$PY -c "
import csv, sys
ref = {l.split()[0]: [float(v) for v in l.split()[1:]] for l in open('ref.txt')}
rows = list(csv.DictReader(open('p.csv')))
worst = max(abs(float(r['probability']) - max(ref[r['id']])) for r in rows)
sys.exit(worst > 1e-4)"
ok $? "its probabilities equal an independent forward pass (numpy, float64) within 1e-4"
expect_fail 1 "features cut at block5_pool; this needs block4_pool features \(vggfeat --layer block4_pool\)" \
	"block5_pool features are refused, naming the layer needed" topeval -m tuned.model valid.5
is "$(wc -c < out)" 0 "... and nothing is written"
expect_fail 1 "features cut at block5_pool; this needs block4_pool" \
	"classify refuses them too" classify -m tuned.model valid.5

# The same model bytes on 1 and 2 threads, and from a pipe (spooled to an
# unnamed temporary file, so nothing is left behind).
FT="topfit --quiet --finetune block5 --init top.model --init-random 1 --optimizer adam --lr 3e-6"
short="$FT --epochs 2 --no-shuffle"
$short -t 1 -o t1.model aug.4 && $short -t 2 -o t2.model aug.4
cmp -s t1.model t2.model; ok $? "same seed, same model bytes on 1 and 2 threads"
mkdir spool
cat aug.4 | TMPDIR=$T/spool $short -t 2 -o pipe.model
cmp -s t1.model pipe.model; ok $? "a pipe gives the model a file gives"
is "$(ls -A spool)" "" "... and leaves nothing in TMPDIR"

# Each epoch trains on another copy of each image: at a rate too small to
# change the loss in the six digits the history keeps, without dropout, in
# file order, the second epoch's training loss differs from the first's
# only because its records do.
topfit --quiet --dropout 0 --epochs 2 -o nodrop.model train.5
topfit --quiet --finetune block5 --init nodrop.model --init-random 1 --optimizer sgd --lr 1e-12 \
	--epochs 2 --no-shuffle --holdout 0 --history copies.tsv -o copies.model aug.4
$PY -c "
import csv, sys
rows = list(csv.DictReader(open('copies.tsv'), delimiter='\t'))
sys.exit(not (len(rows) == 2 and rows[0]['loss'] != rows[1]['loss']))"
ok $? "epoch 2 trains on other copies than epoch 1 ($(cut -f2 copies.tsv | tr '\n' ' '))"

# Without --init: the top is trained first with block 5 frozen (warm-up),
# then both; the history has both phases.
run topfit --finetune block5 --init-random 1 --warmup 3 --epochs 2 --valid valid.4 \
	--progress --history w.tsv -o warm.model aug.4
grep -c "warm-up epoch [123]/3:" err > got; is "$(cat got)" 3 "--warmup: 3 epochs with block 5 frozen"
grep -q "^topfit: epoch 2/2: loss [0-9.]* accuracy [0-9.]* val_loss [0-9.]* val_accuracy [0-9.]*\( (best)\)\?, [0-9.]* images/s$" err
ok $? "then the tuning epochs, with images per second"
is "$(wc -l < w.tsv)" 6 "the history holds both phases"
vggdump warm.model | $PY -c "
import json, sys
h = json.loads(sys.stdin.readline())['header']
sys.exit([e.get('phase') for e in h['history']] != ['warmup'] * 3 + ['tune'] * 2
         or h['training']['warmup_epochs_run'] != 3 or h['layers'][7]['type'] != 'standardize')"
ok $? "the model records the phases and a standardised new top"

# Memory: the index, not the records. Records of 4x3x512 maps (24 KB),
# 200 against 2000 (4.8 and 48 MB of features): peak memory grows by far
# less than the records would take. Nothing held out: a share of the
# records would make the validation pass touch more of its fixed buffers.
$PY "$TESTS_DIR/vggfeat_ref.py" weights 5 . keras2-full.h5
for n in 200 2000; do
	$PY "$TESTS_DIR/finetune_ref.py" data keras2-full.h5 $n 4 3 2 3 m$n.feat m-init.model
done
# The status is topfit's (time exits with it, 128+N for a signal): a run
# that died early used little memory and would pass on its figure.
rss() ( set -o pipefail; /usr/bin/time -f %M topfit --finetune block5 --init m-init.model -w keras2-full.h5 \
	--epochs 1 --holdout 0 --quiet -o /dev/null "$1" 2>&1 >/dev/null | tail -1 )
a=$(rss m200.feat); sa=$?
b=$(rss m2000.feat); sb=$?
ok $(( sa || sb || b - a > 4096 )) "peak memory $a KB for 200 records, $b KB for 2000 (43 MB more of features; topfit exited $sa, $sb)"
sha=$(sha256sum keras2-full.h5 | cut -d' ' -f1)
expect_fail 1 "features made with the weights sha256:$sha, but block 5 would start from random:1" \
	"features of other weights are refused, naming both" \
	topfit --finetune block5 --init m-init.model --init-random 1 -o other.model m200.feat
test ! -e other.model; ok $? "... and no model file is left"

# Bad input: a clear error and no model file.
bad() { # WORDS DESCRIPTION TOPFIT-ARGS...
	_w=$1 _d=$2; shift 2
	expect_fail 1 "$_w" "$_d" topfit --quiet --finetune block5 --init-random 1 -o bad.model "$@"
	test ! -e bad.model
	ok $? "... and no model file"
	rm -f bad.model
}
bad "train.5: features cut at block5_pool; fine-tuning block 5 needs block4_pool features" \
	"features at the wrong layer" train.5
bad "weights random:1, but block 5 would start from random:2" \
	"other weights" --init-random 2 aug.4 2>/dev/null
topfit --quiet --epochs 2 -o top4.model train.4
bad 'top4.model: a top model for other features than block 5 makes of these .*provenance.layer: "block4_pool" here, "block5_pool" before' \
	"a top model for another layer" --init top4.model aug.4
$PY - <<'EOF'
import msgpack
objs = list(msgpack.Unpacker(open("top.model", "rb"), raw=False))
objs[0]["classes"] = [c if c != "7" else "seven" for c in objs[0]["classes"]]
open("classes.model", "wb").write(b"".join(msgpack.packb(o) for o in objs))
EOF
bad "classes.model: a top model for other classes: its class 8 is 'seven', the training data's is '7'" \
	"a top model for another class list" --init classes.model aug.4
head -c 3000000 aug.4 > cut.4
bad "cut.4: truncated after record" "a truncated training file" --init top.model cut.4
$PY - <<'EOF'
import msgpack, struct
objs = list(msgpack.Unpacker(open("aug.4", "rb"), raw=False))
t = objs[5]["features"]
t["data"] = t["data"][:40] + struct.pack("<f", float("nan")) + t["data"][44:]
open("nan.4", "wb").write(b"".join(msgpack.packb(o, use_bin_type=True) for o in objs))
EOF
bad "nan.4: record 5 \(id 'train/[0-9]*/[0-9]*.png'\): feature 10 is NaN" "NaN in a record" \
	--init top.model nan.4
expect_fail 2 "with --init the top is MODEL's" "--init with --hidden is a usage error" \
	topfit --finetune block5 --init top.model --hidden 64 aug.4
expect_fail 2 "are for --finetune" "--init without --finetune is a usage error" \
	topfit --init top.model train.5
expect_fail 2 "are for --finetune" "so are --warmup and --algo" \
	topfit --warmup 3 --algo im2col train.5
expect_fail 2 "with --init the top is MODEL's" "--warmup with --init is a usage error" \
	topfit --finetune block5 --init top.model --warmup 3 aug.4

done_testing
