#!/bin/bash
# topfit --folds: cross-validation against scikit-learn's
# StratifiedGroupKFold, folds that keep an image's copies together,
# out-of-fold predictions, suspected label errors by confident learning
# (topfit's and topeval's) against a numpy reimplementation, the final
# model, and what is refused.
. "$(dirname "$0")/lib.sh"
plan 24

ref() { $PY "$TESTS_DIR/cv_ref.py" "$@"; }

# sklearn's digits, three copies of each image (the plain one and two
# with a little noise), as imgprep --augment 2 makes them.
ref digits d.feat --copies 3

# Softmax regression, else topfit's defaults: the mean of the folds'
# accuracies (each fold validated on its images' plain copies) within 2
# points of scikit-learn's LogisticRegression on the same features split
# by StratifiedGroupKFold.
run topfit --folds 5 --hidden '' -o d.csv d.feat
ok $rc "topfit --folds 5, softmax regression"
read -r folds mean < <(ref folds d.csv d.feat --folds 5)
is "$folds" ok "one prediction per image, folds and classes spread evenly, labels as given"
theirs=$(ref sklearn d.feat --folds 5)
echo "# mean fold accuracy: topfit $mean, scikit-learn StratifiedGroupKFold + LogisticRegression $theirs"
ok $(awk -v a="$mean" -v b="$theirs" 'BEGIN { d = a - b; exit !(d < 0.02 && d > -0.02) }'; echo $?) \
	"mean fold accuracy within 2 points of scikit-learn's"
reported=$(sed -n 's/.*5 folds: accuracy \([0-9.]*\) ± .*/\1/p' err)
is "$reported" "$mean" "the reported mean is the mean of the folds' accuracies in the predictions"
is "$(grep -c '^topfit: fold [1-5]/5: trained on 14[34][0-9] images, validated on 3[56][0-9]' err)" 5 \
	"each fold reported, with its images"

# The defaults, as README runs them.
run topfit --folds 5 -o def.csv d.feat
read -r folds mean < <(ref folds def.csv d.feat --folds 5)
echo "# mean fold accuracy with topfit's defaults: $mean"
ok $(awk -v a="$mean" 'BEGIN { exit !(a > 0.95) }'; echo $?) "the default top scores above 0.95 out of fold"

# Copies kept together: random labels on random features, three near
# equal copies of each image. A model that saw a copy of a validation
# image in training would remember its label and score near 1; kept
# apart, it can only guess.
ref noise n.feat --images 400 --dim 256 --copies 3
run topfit --folds 5 -o n.csv n.feat
read -r folds mean < <(ref folds n.csv n.feat --folds 5)
echo "# random labels, copies near equal: out-of-fold accuracy $mean (4 classes)"
ok $(awk -v a="$mean" 'BEGIN { exit !(a < 0.45) }'; echo $?) \
	"no copy of a validation image was trained on (accuracy near chance)"

# The same folds and models on one thread and two.
topfit --folds 3 --epochs 5 -q -t 1 -o t1.csv --final-model t1.model d.feat
topfit --folds 3 --epochs 5 -q -t 2 -o t2.csv --final-model t2.model d.feat
cmp -s t1.csv t2.csv && cmp -s t1.model t2.model
ok $? "the same predictions and final model on 1 and 2 threads"
# The final model is the one topfit trains without --folds.
topfit --epochs 5 -q -o plain.model d.feat
cmp -s t1.model plain.model; ok $? "--final-model is the model trained on every image"
topfit --folds 3 --epochs 5 -q --seed 2 -o s2.csv d.feat
cut -d, -f5 t1.csv > f1; cut -d, -f5 s2.csv > f2
! cmp -s f1 f2; ok $? "another seed deals other folds"

# Formats.
topfit --folds 3 --epochs 5 -q -f jsonl -o t.jsonl d.feat
topfit --folds 3 --epochs 5 -q -f msgpack -o t.mp d.feat
$PY - <<'PY'
import csv, json, msgpack
rows = list(csv.DictReader(open("t1.csv")))
js = [json.loads(l) for l in open("t.jsonl")]
mp = list(msgpack.Unpacker(open("t.mp", "rb"), raw=False))
assert len(rows) == len(js) == len(mp) == 1797
for r, j, m in zip(rows, js, mp):
    assert r["id"] == j["id"] == m["id"] and r["given"] == j["given"] == m["given"]
    assert int(r["fold"]) == j["fold"] == m["fold"] and r["label"] == j["label"]
    p = j["probabilities"]
    assert abs(float(r["p(digit3)"]) - p["digit3"]) < 1e-5
    assert max(p, key=p.get) == j["label"] and abs(sum(p.values()) - 1) < 1e-5
PY
ok $? "CSV, JSON lines and msgpack hold the same predictions"

# Suspected label errors: 5% of the digits given a wrong label. The first
# 5% of the suspects list holds at least 80% of them, and numpy's
# rendering of confident learning's rule on the same out-of-fold
# probabilities finds the same list.
ref digits flip.feat --flip 0.05 --flipped flipped.txt
run topfit --folds 5 --suspects suspects.csv -o flip.csv flip.feat
ok $rc "topfit --folds 5 --suspects"
read -r same ours numpys count < <(ref suspects flip.csv suspects.csv flipped.txt)
echo "# $(wc -l < flipped.txt) labels flipped; $count suspects; in the first 5%: $ours of the flipped (numpy: $numpys)"
is "$same" same "the suspects and their order equal numpy's"
ok $(awk -v a="$ours" 'BEGIN { exit !(a >= 0.8) }'; echo $?) "the first 5% hold at least 80% of the flipped labels"
head -1 suspects.csv > head
is "$(cat head)" "id,given,suggested,p_given,p_suggested" "the suspects' header"
grep -q "suspected of a wrong label" err; ok $? "the count of suspects reported"

# topeval --suspects, from any model's predictions on labelled records:
# a model trained on the true labels, the flipped set evaluated.
topfit -q -o clean.model d.feat
topeval -m clean.model -q --suspects esus.csv -o report.txt flip.feat
classify -m clean.model --top 10 -f jsonl flip.feat > flip.jsonl
read -r same ours numpys count < <(ref suspects flip.jsonl esus.csv flipped.txt --feat flip.feat)
echo "# topeval: $count suspects; in the first 5%: $ours of the flipped (numpy: $numpys)"
is "$same" same "topeval's suspects equal numpy's on classify's probabilities"
ok $(awk -v a="$ours" 'BEGIN { exit !(a >= 0.8) }'; echo $?) \
	"topeval's first 5% hold at least 80% of the flipped labels"

# Refused, with nothing written.
ref noise small.feat --images 12 --copies 2
expect_fail 1 "class 'c[0-9]' has [0-9] images.*5 folds need at least 5" \
	"K above the smallest class's images" \
	topfit --folds 5 -o r.csv --suspects r2.csv --final-model r.model small.feat
ls r.csv r2.csv r.model 2>/dev/null; ok $(ls r.csv r2.csv r.model 2>/dev/null | wc -l) \
	"nothing written when refused"
$PY - <<'PY'
import msgpack
with open("d.feat", "rb") as f, open("w.feat", "wb") as g:
    for o in msgpack.Unpacker(f, raw=False):
        if "vggpipe" in o:
            o["provenance"]["layer"] = "block4_pool"
        g.write(msgpack.packb(o, use_bin_type=True))
PY
expect_fail 1 "made differently.*block4_pool" "streams of different provenance" topfit --folds 3 -o r.csv d.feat w.feat
expect_fail 2 "--folds" "--folds with --valid" topfit --folds 3 --valid d.feat n.feat
expect_fail 2 "are for --folds" "--suspects without --folds" topfit --suspects s.csv d.feat
expect_fail 2 "last epoch" "--folds with --patience" topfit --folds 3 --patience 2 d.feat
done_testing
