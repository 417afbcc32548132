#!/bin/bash
# topeval's confidence intervals: Wilson's against scipy on sets that
# reach k = 0, k = n and n = 0; the bootstrap's against numpy's own, its
# seed and threads; the report's keys and lines; the options' limits.
# Wilson's coverage is measured through the C function in
# tests/unit/test_stats.c.
. "$(dirname "$0")/lib.sh"
plan 27

ref() { $PY "$TESTS_DIR/intervals_ref.py" "$@"; }
$PY "$TESTS_DIR/top_data.py" gauss g --classes 4 --dim 10 --n 400 --seed 2
$PY "$TESTS_DIR/top_data.py" gauss o --classes 5 --dim 10 --n 400 --seed 2
topfit --hidden 16 --epochs 5 --quiet --threads 1 -o g.model g-train.feat
predict() { classify -m g.model --top 4 -f jsonl "$1" > "$2"; }
predict g-valid.feat g.jsonl
predict o-valid.feat o.jsonl
# Subsets of g's validation records, by their predictions: "edges" has a
# class never predicted, a recall of 0 and one of 1; "7of32" is the
# issue's 32 images, 7 right.
ref pick g-valid.feat g.jsonl e.feat edges
ref pick g-valid.feat g.jsonl s.feat 7of32
predict e.feat e.jsonl
predict s.feat s.jsonl

# Wilson: each interval equals scipy's to 1e-9 (the report's ten
# significant digits are 5e-11 off at most, measured), k and n counted
# by the reference from the labels and classify's predictions.
topeval -m g.model -f json g-valid.feat > g.json
is "$(ref wilson g-valid.feat g.jsonl g.json)" ok \
	"accuracy, precision and recall intervals equal scipy's Wilson intervals"
topeval -m g.model -f json e.feat > e.json
is "$(ref wilson e.feat e.jsonl e.json edges)" ok \
	"... with k = 0, k = n, and n = 0 (no interval: null) among them"
topeval -m g.model -f json --ignore-unknown o-valid.feat > o.json
is "$(ref wilson o-valid.feat o.jsonl o.json)" ok \
	"... with unknown labels counted as errors and as predictions"
topeval -m g.model -f json --confidence 0.9 g-valid.feat > g90.json
is "$(ref wilson g-valid.feat g.jsonl g90.json)" ok "... at --confidence 0.9"
$PY -c "
import json
a, b = json.load(open('g.json')), json.load(open('g90.json'))
assert b['confidence'] == 0.9 and a['confidence'] == 0.95
lo, hi = a['accuracy_ci']; lo9, hi9 = b['accuracy_ci']
assert lo < lo9 < hi9 < hi, (a['accuracy_ci'], b['accuracy_ci'])
"
ok $? "a lower confidence gives a narrower interval, and the report says which"

# The text report: the issue's 32 images with an accuracy of 0.22
# (scipy: 0.11023836252604186 to 0.3875499364924353).
run topeval -m g.model s.feat
grep -qx 'accuracy  0.2188  (95% CI 0.1102 to 0.3875, Wilson)' out
ok $? "7 of 32 right: accuracy 0.2188 with its Wilson interval, 0.1102 to 0.3875"
grep -Eq '^macro f1  0\.[0-9]{4}  \(95% CI 0\.[0-9]{4} to 0\.[0-9]{4}, bootstrap of 1000, seed 1\)$' out &&
	grep -Eq '^loss      [0-9]+\.[0-9]{4}  \(95% CI [0-9.]+ to [0-9.]+, bootstrap of 1000, seed 1\)$' out
ok $? "macro F1 and loss lines with their bootstrap intervals"
run topeval -m g.model e.feat
grep -q '^class         precision \[95% CI\]        recall \[95% CI\]            f1  support$' out
ok $? "the classes' header names the intervals' columns"
grep -Eq '^class3 +0\.0000 -  +0\.0000 \[0\.000, 0\.[0-9]{3}\] +0\.0000 +27$' out &&
	grep -Eq '^class0 +0\.[0-9]{4} \[0\.[0-9]{3}, 0\.[0-9]{3}\] +1\.0000 \[0\.[0-9]{3}, 1\.000\] +0\.[0-9]{4} +13$' out
ok $? "a class never predicted has '-' for its precision's interval; a recall of 0 and of 1 theirs"
ok $(awk 'length > 80 { bad = 1 } END { exit bad }' out; echo $?) "every line fits 80 columns"
# scipy: 0.08905606529835189 to 0.44504389138370604.
run topeval -m g.model --confidence 0.99 --bootstrap 0 s.feat
grep -qx 'accuracy  0.2188  (99% CI 0.0891 to 0.4450, Wilson)' out &&
	grep -Eqx 'macro f1  0\.[0-9]{4}' out && grep -Eqx 'loss      [0-9]+\.[0-9]{4}' out &&
	grep -q '^class  *precision \[99% CI\]' out
ok $? "--confidence 0.99 is named in the text; --bootstrap 0 prints no bootstrap interval"

# The keys (man/topeval.1), in JSON and msgpack.
$PY -c "
import json
r = json.load(open('e.json'))
assert r['bootstrap'] == {'samples': 1000, 'seed': 1}, r['bootstrap']
for key in ('accuracy_ci', 'loss_ci'):
    assert len(r[key]) == 2 and r[key][0] < r[key][1], key
f1 = r['macro_avg']['f1_ci']
assert len(f1) == 2 and f1[0] < f1[1], f1
assert 'f1_ci' not in r['weighted_avg']
assert all(set(c) == {'class', 'precision', 'recall', 'f1', 'support', 'precision_ci',
                      'recall_ci'} for c in r['classes'])
"
ok $? "keys: accuracy_ci, loss_ci, bootstrap, per class precision_ci and recall_ci, macro f1_ci"
topeval -m g.model -f msgpack e.feat > e.mp
$PY -c "
import json, msgpack
a = msgpack.unpackb(open('e.mp', 'rb').read(), raw=False)
b = json.load(open('e.json'))
def close(x, y):
    return x == y if x is None or y is None else abs(x - y) < 1e-9
pairs = [(a['accuracy_ci'], b['accuracy_ci']), (a['loss_ci'], b['loss_ci']),
         (a['macro_avg']['f1_ci'], b['macro_avg']['f1_ci'])]
pairs += [(c[k], d[k]) for c, d in zip(a['classes'], b['classes'])
          for k in ('precision_ci', 'recall_ci')]
assert all(close(x, y) for p, q in pairs for x, y in zip(p, q)), pairs
assert a['classes'][3]['precision_ci'] == [None, None]
assert a['confidence'] == 0.95 and a['bootstrap'] == b['bootstrap']
"
ok $? "msgpack holds the JSON's intervals, nil where there is none"
topeval -m g.model -f json --bootstrap 0 --seed 9 e.feat > off.json
$PY -c "
import json
r = json.load(open('off.json'))
assert r['bootstrap'] == {'samples': 0, 'seed': 9}
assert r['loss_ci'] == [None, None] and r['macro_avg']['f1_ci'] == [None, None]
assert r['accuracy_ci'] == json.load(open('e.json'))['accuracy_ci']
"
ok $? "--bootstrap 0: null bootstrap intervals, the Wilson intervals unchanged"

# The bootstrap: it holds its point estimate, agrees with numpy's, and
# depends on the seed alone.
for set in g e o s; do
	feat=$set.feat; [ -f "$feat" ] || feat=$set-valid.feat
	topeval -m g.model -f json --ignore-unknown "$feat" > b.json
	$PY -c "
import json
r = json.load(open('b.json'))
for name, v, (lo, hi) in (('macro f1', r['macro_avg']['f1'], r['macro_avg']['f1_ci']),
                          ('loss', r['loss'], r['loss_ci'])):
    assert lo < v < hi, (name, lo, v, hi)
"
	ok $? "set $set: the bootstrap intervals of macro F1 and loss hold their values"
done
# numpy's percentile bootstrap of the same records, B = 20000 on both
# sides. Over 30 seeds each, a bound's standard deviation is 0.4 to 0.7%
# of the interval's width on either side (topeval's and numpy's), their
# means agree within two standard errors, and the difference of one run
# of each has a standard deviation of about 0.8% of the width: 3.5% is
# four and a half of those. Quantiles at 5% and 95% instead of 2.5% and
# 97.5% move the bounds by 8% of the width.
for set in g o; do
	topeval -m g.model -f json --ignore-unknown --bootstrap 20000 $set-valid.feat > b.json
	is "$(ref bootstrap $set-valid.feat $set.jsonl b.json 20000 0.035)" ok \
		"set $set: macro F1 and loss intervals agree with numpy's bootstrap"
done
topeval -m g.model -f json --seed 1 -t 1 g-valid.feat > s1t1.json
topeval -m g.model -f json -t 2 g-valid.feat > s1t2.json
topeval -m g.model -f json --seed 1 g-valid.feat > s1.json
cmp -s s1t1.json s1t2.json && cmp -s s1t1.json s1.json && cmp -s s1.json g.json
ok $? "the same seed gives the same bytes, on 1 and 2 threads, and 1 is the default"
topeval -m g.model -f json --seed 2 g-valid.feat > s2.json
$PY -c "
import json
a, b = json.load(open('s1.json')), json.load(open('s2.json'))
assert a['loss_ci'] != b['loss_ci'] and a['macro_avg']['f1_ci'] != b['macro_avg']['f1_ci']
assert a['accuracy_ci'] == b['accuracy_ci'] and a['classes'] == b['classes']
"
ok $? "another seed, other bootstrap intervals; the Wilson intervals do not move"

# Options.
expect_fail 2 "--confidence: 1 is not strictly between 0 and 1" "--confidence 1 is refused" \
	topeval -m g.model --confidence 1 g-valid.feat
is "$(wc -c < out)" 0 "... and nothing is written"
expect_fail 2 "--confidence: 0 is not strictly" "--confidence 0 is refused" \
	topeval -m g.model --confidence 0 g-valid.feat
expect_fail 2 "--bootstrap: -1 is out of range" "--bootstrap -1 is refused" \
	topeval -m g.model --bootstrap -1 g-valid.feat
expect_fail 2 "--seed: 'x' is not an integer" "--seed x is refused" \
	topeval -m g.model --seed x g-valid.feat

done_testing
