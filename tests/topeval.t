#!/bin/bash
# topeval: the report's numbers against sklearn.metrics on the same
# predictions, its formats, and what it refuses.
. "$(dirname "$0")/lib.sh"
plan 23

gen() { $PY "$TESTS_DIR/top_data.py" "$@"; }
gen gauss g --classes 4 --dim 10 --n 400 --seed 2
topfit --hidden 16 --epochs 5 --quiet --threads 1 -o g.model g-train.feat

run topeval --help
ok $(( rc != 0 )) "--help exits 0"
expect_fail 2 "--model" "--model is required" topeval g-valid.feat
is "$(wc -c < out)" 0 "a usage error writes nothing to stdout"
expect_fail 2 "format" "an unknown format" topeval -m g.model -f xml g-valid.feat

run topeval -m g.model g-valid.feat
ok $rc "text report"
grep -q '^accuracy ' out && grep -q '^macro avg ' out && grep -q '^weighted avg ' out &&
	grep -q '^confusion matrix' out
ok $? "text report has accuracy, averages and the confusion matrix"
grep -Eq '^class2 +[0-9.]+ \[[0-9.]+, [0-9.]+\] +[0-9.]+ \[[0-9.]+, [0-9.]+\] +[0-9.]+ +[0-9]+$' out
ok $? "a line per class: precision and recall with their intervals, f1, support"

# The same records through classify (probabilities of every class) and
# topeval: topeval's numbers equal sklearn.metrics' on those predictions.
classify -m g.model --top 4 -f jsonl g-valid.feat > preds.jsonl
topeval -m g.model -f json g-valid.feat > report.json
is "$($PY "$TESTS_DIR/top_ref.py" metrics g-valid.feat preds.jsonl report.json)" ok \
	"accuracy, loss, per-class and averaged metrics, confusion matrix equal sklearn's"

topeval -m g.model -f msgpack g-valid.feat > report.mp
$PY -c "
import json, msgpack
a = msgpack.unpackb(open('report.mp','rb').read(), raw=False)
b = json.load(open('report.json'))
assert a['confusion'] == b['confusion'] and abs(a['accuracy'] - b['accuracy']) < 1e-9
assert [c['class'] for c in a['classes']] == [c['class'] for c in b['classes']]
"
ok $? "msgpack report holds the JSON report's values"

# Two files (or a concatenated stream) count as one set of records.
topeval -m g.model -f json g-valid.feat g-valid.feat > twice.json
$PY -c "import json; a=json.load(open('report.json')); b=json.load(open('twice.json')); assert b['records']==2*a['records'] and abs(a['accuracy']-b['accuracy'])<1e-12"
ok $? "several input files"

# Labels the model does not know.
gen gauss o --classes 5 --dim 10 --n 400 --seed 2
expect_fail 1 "labels the model does not know: 'class4'" "unknown labels are refused with their list" \
	topeval -m g.model o-valid.feat
is "$(wc -c < out)" 0 "... and nothing is written"
topeval -m g.model --ignore-unknown -f json o-valid.feat > o.json; ok $? "--ignore-unknown"
classify -m g.model --top 4 -f jsonl o-valid.feat > o.jsonl
is "$($PY "$TESTS_DIR/top_ref.py" metrics o-valid.feat o.jsonl o.json)" ok \
	"--ignore-unknown counts them as errors, as sklearn does with the model's labels"

# Provenance and shape.
gen gauss w --classes 4 --dim 10 --n 400 --seed 2 --weights random:9
expect_fail 1 'provenance.weights: "random:9" here, "sha256:abab.*" before' \
	"features made with other weights are refused, saying what differs" topeval -m g.model w-valid.feat
gen gauss s --classes 4 --dim 12 --n 400 --seed 2
expect_fail 1 "shape \[12\]; the model takes \[10\]" "features of another shape" topeval -m g.model s-valid.feat
gen gauss u --classes 4 --dim 10 --n 400 --seed 2 --unlabelled
expect_fail 1 "record 1: no label" "unlabelled features" topeval -m g.model u-valid.feat

# Damaged model files are refused before anything is allocated from them.
for how in shape bigshape nan nosoftmax dupclass records; do
	$PY "$TESTS_DIR/top_model.py" corrupt g.model bad.model $how
	run topeval -m bad.model g-valid.feat
	[ "$rc" -eq 1 ] && grep -q "bad.model" err
	ok $? "damaged model ($how) refused: $(head -c 120 err)"
done

done_testing
