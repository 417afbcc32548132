#!/bin/bash
# topfit: options, the checks on its input, reproducibility, history,
# early stopping, and the model file it writes.
. "$(dirname "$0")/lib.sh"
plan 40

gen() { $PY "$TESTS_DIR/top_data.py" "$@"; }
dump() { vggdump "$@"; }
jq_py() { $PY -c "import json,sys; d=[json.loads(l) for l in open(sys.argv[1])]; $2" "$1"; }
gen gauss g --classes 3 --dim 8 --n 300 --seed 1 --spread 1
FAST="--epochs 3 --hidden 8 --quiet"

run topfit --help
ok $(( rc != 0 )) "--help exits 0"
grep -q -- '--patience' out; ok $? "--help lists the options"
run topfit --version
ok $(( rc != 0 )) "--version exits 0"

expect_fail 2 "optimizer" "unknown optimizer is a usage error" topfit --optimizer lbfgs g-train.feat
is "$(wc -c < out)" 0 "a usage error writes nothing to stdout"
expect_fail 2 "--patience and --keep best need validation: --valid FILE or --holdout F" \
	"--patience without validation" topfit --patience 3 g-train.feat
expect_fail 2 "hidden" "a bad --hidden list" topfit --hidden 8,x g-train.feat
expect_fail 2 "dropout" "a dropout rate of 1" topfit --dropout 1 g-train.feat

# Reproducible: the same seed, data and threads give the same bytes.
topfit $FAST --threads 1 --seed 7 -o a.model g-train.feat
topfit $FAST --threads 1 --seed 7 -o b.model g-train.feat
cmp -s a.model b.model; ok $? "same seed, same model file"
topfit $FAST --threads 2 --seed 7 -o a2.model g-train.feat
topfit $FAST --threads 2 --seed 7 -o b2.model g-train.feat
cmp -s a2.model b2.model; ok $? "same seed and two threads, same model file"
topfit $FAST --threads 1 --seed 8 -o c.model g-train.feat
! cmp -s a.model c.model; ok $? "another seed, another model"
topfit $FAST --threads 1 --seed 7 < g-train.feat > d.model
cmp -s a.model d.model; ok $? "stdin and stdout give the same model as files"

# The model stream: a header with the contract's keys, then {"end": 0}.
dump a.model > a.json
jq_py a.json 'h=d[0]["header"]; print(h["kind"], h["classes"], h["input_shape"], [l["type"] for l in h["layers"]], h["provenance"]["backbone"], d[1])' > got
is "$(cat got)" "model ['class0', 'class1', 'class2'] [8] ['standardize', 'dense', 'relu', 'dropout', 'dense', 'softmax'] vgg16 {'trailer': {'end': 0}}" "model header and trailer"
jq_py a.json 'h=d[0]["header"]; print(len(h["history"]), h["training"]["optimizer"], h["training"]["seed"])' > got
is "$(cat got)" "3 adam 7" "history and hyper-parameters are kept"
topfit --hidden '' --no-standardize --epochs 2 --quiet -o lr.model g-train.feat
dump lr.model | jq_py /dev/stdin 'print([l["type"] for l in d[0]["header"]["layers"]])' > got
is "$(cat got)" "['dense', 'softmax']" "--hidden '' --no-standardize is softmax regression"
topfit --hidden 8,4 --batchnorm --dropout 0 --no-standardize --epochs 2 --quiet -o bn.model g-train.feat
dump bn.model | jq_py /dev/stdin 'print([l["type"] for l in d[0]["header"]["layers"]])' > got
is "$(cat got)" "['dense', 'batchnorm', 'relu', 'dense', 'batchnorm', 'relu', 'dense', 'softmax']" "--batchnorm, two hidden layers, no dropout"

# History as TSV, validation columns filled with --valid.
topfit $FAST --valid g-valid.feat --history h.tsv -o v.model g-train.feat
is "$(head -1 h.tsv)" "$(printf 'epoch\tloss\taccuracy\tval_loss\tval_accuracy\tlr\trolled_back')" \
	"history TSV header"
is "$(wc -l < h.tsv)" 4 "one history line per epoch"
awk -F'\t' 'NR > 1 && ($4 == "nan" || $5 > 1) { exit 1 }' h.tsv; ok $? "validation loss and accuracy in the history"

# Early stopping keeps the best epoch by validation loss: a learning rate
# far too high makes the validation loss rise after the first epochs.
topfit --hidden 32 --epochs 40 --patience 2 --lr 0.5 --quiet --valid g-valid.feat \
	--history p.tsv -o p.model g-train.feat
n=$(( $(wc -l < p.tsv) - 1 ))
ok $(( n >= 40 )) "--patience stopped early ($n epochs)"
best=$(tail -n +2 p.tsv | sort -t"$(printf "\t")" -k4,4g | sed -n 1p | cut -f1)
dump p.model | jq_py /dev/stdin 'print(d[0]["header"]["training"]["best_epoch"])' > got
is "$(cat got)" "$best" "the best epoch by validation loss is kept"
topeval -m p.model -f json g-valid.feat > p.json
want=$(awk -F'\t' -v b="$best" '$1 == b { print $4 }' p.tsv)
$PY -c "import json,sys; r=json.load(open('p.json')); sys.exit(abs(r['loss'] - float('$want')) > 1e-4)"
ok $? "the model's validation loss is the best epoch's"

for opt in sgd rmsprop; do
	topfit --hidden 16 --epochs 30 --optimizer $opt --quiet -o $opt.model g-train.feat
	acc=$(topeval -m $opt.model -f json g-valid.feat | $PY -c "import json,sys; print(json.load(sys.stdin)['accuracy'])")
	$PY -c "import sys; sys.exit(float("$acc") < 0.7)"; ok $? "--optimizer $opt learns (accuracy $acc)"
done
# --balance: one full-batch SGD step of softmax regression from the same
# initial weights (a step of 1e-9 shows them), against numpy's step with
# the class weights N / (K N_c), and against the step without them.
one_step() { topfit --hidden '' --no-standardize --optimizer sgd --momentum 0 --epochs 1 \
	--batch 100000 --seed 3 --quiet "$@" g-train.feat; }
one_step --lr 1e-9 -o w0.model && one_step --lr 0.5 --balance -o bal.model &&
	one_step --lr 0.5 -o plain.model
$PY - <<'PY'
import sys, msgpack, numpy as np
def read(p): return list(msgpack.Unpacker(open(p, "rb"), raw=False))
def dense(p):
    l = [l for l in read(p)[0]["layers"] if l["type"] == "dense"][0]
    t = lambda k: np.frombuffer(l[k]["data"], "<f4").reshape(l[k]["shape"]).astype(np.float64)
    return t("weights"), t("bias")
recs = [o for o in read("g-train.feat") if "id" in o]
x = np.stack([np.frombuffer(r["features"]["data"], "<f4") for r in recs]).astype(np.float64)
names = sorted(set(r["label"] for r in recs))
y = np.array([names.index(r["label"]) for r in recs])
w0, b0 = dense("w0.model")
z = x @ w0 + b0
p = np.exp(z - z.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
onehot = np.eye(len(names))[y]
counts = np.bincount(y)
def step(cw):
    dz = cw[y][:, None] * (p - onehot) / len(y)
    return w0 - 0.5 * x.T @ dz, b0 - 0.5 * dz.sum(0)
bw, bb = step(len(y) / (len(names) * counts))
pw, pb = step(np.ones(len(names)))
gw, gb = dense("bal.model")
hw, hb = dense("plain.model")
err = max(abs(gw - bw).max(), abs(gb - bb).max())
plain = max(abs(hw - pw).max(), abs(hb - pb).max())
apart = abs(bw - pw).max()
print("# --balance: class counts %s, step within %.2g of numpy's; without: %.2g; the two steps differ by %.2g"
      % (list(counts), err, plain, apart))
sys.exit(not (err < 1e-5 and plain < 1e-5 and apart > 100 * 1e-5))
PY
ok $? "--balance weights each class by N / (K N_c), as numpy's step does"

# Standardisation of features that do not vary: a scale of 1, so that they
# stay finite, in training and in the model.
$PY - <<'PY'
import msgpack, numpy as np
rng = np.random.default_rng(2)
with open("const.feat", "wb") as f:
    f.write(msgpack.packb({"vggpipe": 1, "kind": "features", "provenance": {"backbone": "x"}}))
    for i in range(60):
        x = np.array([rng.normal(i % 2, 1), 0.0, 5.0, rng.normal(0, 1)], "<f4")
        f.write(msgpack.packb({"id": "r%d" % i, "label": "ab"[i % 2],
                               "features": {"shape": [4], "dtype": "f32", "data": x.tobytes()}}))
    f.write(msgpack.packb({"end": 60}))
PY
topfit --epochs 3 --hidden 4 --quiet -o const.model const.feat && $PY -c "
import msgpack, numpy as np, sys
l = list(msgpack.Unpacker(open('const.model', 'rb'), raw=False))[0]['layers'][0]
t = lambda k: np.frombuffer(l[k]['data'], '<f4')
sys.exit(not (l['type'] == 'standardize' and list(t('scale')[1:3]) == [0, 0]
              and list(t('mean')[1:3]) == [0, 5] and np.isfinite(t('scale')).all()))" &&
	topeval -m const.model -f json const.feat | $PY -c "
import json, math, sys
sys.exit(not math.isfinite(json.load(sys.stdin)['loss']))"
ok $? "constant features: scaled by 0, a finite model, finite losses"

# A feature constant in training carries nothing the model learned, so it
# is ignored: a model of features 1000 times as large then predicts what
# one of the features at their size does, though that feature varies in
# the records classified (with a scale of 1 it reached the layers above
# 1000 times as large).
$PY - <<'PY'
import msgpack, numpy as np
rng = np.random.default_rng(4)
for k in (1, 1000):
    for split, n, dead in (("train", 80, True), ("valid", 40, False)):
        with open("k%d.%s" % (k, split), "wb") as f:
            f.write(msgpack.packb({"vggpipe": 1, "kind": "features", "provenance": {"backbone": "x"}}))
            r = np.random.default_rng(5 if split == "train" else 6)
            for i in range(n):
                x = np.array([r.normal(i % 2, 1), 0.0 if dead else r.normal(3, 1), r.normal(0, 1)])
                f.write(msgpack.packb({"id": "r%d" % i, "label": "ab"[i % 2], "features": {
                    "shape": [3], "dtype": "f32", "data": (x * k).astype("<f4").tobytes()}}))
            f.write(msgpack.packb({"end": n}))
PY
for k in 1 1000; do
	topfit --epochs 5 --hidden 8 --quiet -o k$k.model k$k.train && classify -q -m k$k.model k$k.valid > k$k.csv
done
$PY -c "
import csv, sys
p = [[float(r['probability']) for r in csv.DictReader(open('k%d.csv' % k))] for k in (1, 1000)]
sys.exit(len(p[0]) != 40 or max(abs(a - b) for a, b in zip(*p)) > 1e-4)"
ok $? "a feature constant in training: features 1000 times as large, the same predictions"
expect_fail 1 "diverged" "a diverging training is an error, not a model of NaNs" \
	topfit --optimizer sgd --lr 100 --hidden 8 --epochs 5 --quiet -o div.model g-train.feat
test ! -e div.model; ok $? "... and leaves no model file"
cp a.model keep.model
run topfit $FAST -o keep.model one-class-missing.feat
cmp -s a.model keep.model; ok $? "a failed run leaves the previous -o file untouched"

run topfit --epochs 2 --hidden 4 --progress --valid g-valid.feat -o /dev/null g-train.feat
grep -q "holding 210 training records x 8 features in memory" err &&
	grep -q "epoch 2/2: loss [0-9.]* accuracy [0-9.]* val_loss [0-9.]* val_accuracy" err
ok $? "--progress: memory held and a line per epoch on stderr"
run topfit --epochs 2 --hidden 4 --quiet -o /dev/null g-train.feat
is "$(cat err)" "" "--quiet: nothing on stderr"

# Checks on the input.
gen gauss few --classes 3 --dim 8 --n 300 --seed 1 --label-prefix other
expect_fail 1 "validation class.*not in the training data: 'other0', 'other1', 'other2'" \
	"validation classes absent from training are an error" topfit $FAST --valid few-valid.feat g-train.feat
gen gauss two --classes 2 --dim 8 --n 300 --seed 1
run topfit $FAST --valid two-valid.feat g-train.feat
ok $(( rc != 0 )) "a training class absent from validation is not an error"
grep -q "warning: class 'class2' has no validation records" err; ok $? "... but a warning"
gen random one.feat --n 10 --shape 4 --classes 1
expect_fail 1 "1 class.*at least two" "fewer than two classes" topfit $FAST one.feat
gen random s4.feat --n 10 --shape 4 --classes 2
gen random s5.feat --n 10 --shape 5 --classes 2
cat s4.feat s5.feat > mixed.feat
expect_fail 1 "record 11: features of a different shape" "records of different shapes" topfit $FAST mixed.feat
gen gauss nan --classes 3 --dim 8 --n 300 --seed 1 --nan 4
expect_fail 1 "record 4 \(id 'train/00003.jpg'\): feature 3 is NaN" "a NaN feature names its record" topfit $FAST nan-train.feat
gen gauss w2 --classes 3 --dim 8 --n 300 --seed 1 --weights random:2
expect_fail 1 "provenance.weights" "mixed provenance across files" topfit $FAST g-train.feat w2-train.feat
gen gauss dup --classes 3 --dim 8 --n 300 --seed 1 --dup
run topfit $FAST dup-train.feat -o dup.model
grep -q "warning: duplicate id 'train/00000.jpg' (dup-train.feat record 1, dup-train.feat record 6)" err
ok $? "duplicate ids are a warning"

done_testing
