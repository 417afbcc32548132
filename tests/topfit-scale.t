#!/bin/bash
# topfit on features of any scale: scikit-learn's digits as 32x32 images
# through imgprep and vggfeat (random weights, block3_pool), where
# activations run to the thousands. At its defaults, which standardise the
# features, topfit must come within 3 points of scikit-learn's
# LogisticRegression on the same features. The same MLP in PyTorch on the
# raw features is printed beside them: the reference that fails. And the
# warning that a model learned nothing fires on the collapsed model and
# stays silent on the good one.
. "$(dirname "$0")/lib.sh"
plan 6

$PY "$TESTS_DIR/digits.py" . 1257 540
for s in train valid; do
	imgprep --quiet --size 32 $s | vggfeat --quiet --init-random 5 --layer block3_pool -o $s.feat
done
check "digits features at block3_pool" test -s train.feat -a -s valid.feat

accuracy() { topeval -m "$1" -f json valid.feat | $PY -c "import json,sys; print('%.4f' % json.load(sys.stdin)['accuracy'])"; }

run topfit --epochs 40 -o std.model train.feat
std=$(accuracy std.model)
std_err=$(cat err)
run topfit --epochs 40 --no-standardize -o raw.model train.feat
raw=$(accuracy raw.model)
raw_err=$(cat err)

# The references on the same features: scikit-learn's LogisticRegression
# (its defaults), and topfit's MLP in PyTorch (Adam 1e-3, Glorot, dropout
# 0.5, 256 hidden, batches of 32, 40 epochs) without standardisation.
set -- $($PY - <<'EOF'
import msgpack
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

def load(path):
    x, y = [], []
    for o in msgpack.Unpacker(open(path, "rb"), raw=False):
        if "id" in o:
            t = o["features"]
            x.append(np.frombuffer(t["data"], "<f4"))
            y.append(int(o["label"]))
    return np.array(x), np.array(y)

xt, yt = load("train.feat")
xv, yv = load("valid.feat")
lr = LogisticRegression(max_iter=5000).fit(xt, yt)
print("%.4f" % lr.score(xv, yv))
torch.manual_seed(1)
torch.set_num_threads(2)
model = torch.nn.Sequential(torch.nn.Linear(xt.shape[1], 256), torch.nn.ReLU(),
                            torch.nn.Dropout(0.5), torch.nn.Linear(256, 10))
for layer in model:
    if isinstance(layer, torch.nn.Linear):
        torch.nn.init.xavier_uniform_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
X, Y = torch.tensor(xt), torch.tensor(yt)
for epoch in range(40):
    model.train()
    order = torch.randperm(len(X))
    for s in range(0, len(X), 32):
        i = order[s:s + 32]
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X[i]), Y[i]).backward()
        opt.step()
model.eval()
with torch.no_grad():
    print("%.4f" % (model(torch.tensor(xv)).argmax(1).numpy() == yv).mean())
EOF
)
sk=$1 torch=$2
echo "# validation accuracy: topfit $std (defaults), topfit --no-standardize $raw," \
	"scikit-learn LogisticRegression $sk, PyTorch MLP on raw features $torch"
$PY -c "import sys; sys.exit(abs(float('$std') - float('$sk')) * 100 > 3)"
ok $? "topfit at its defaults ($std) within 3 points of LogisticRegression ($sk)"
$PY -c "import sys; sys.exit(float('$raw') > 0.2 or float('$torch') > 0.2)"
ok $? "without standardisation topfit ($raw) and PyTorch ($torch) collapse, as reported"

# The warning: on the collapsed model, with the figures and a hint; none
# on the good one.
echo "$raw_err" | grep -q "warning: the model learned nothing useful: on the [0-9]* training records it answers '[0-9]' [0-9]*% of the time"
ok $? "a collapsed model is reported with its figures"
echo "$raw_err" | grep -q "standardisation is off (--no-standardize)"
ok $? "... and a hint"
is "$std_err" "" "a model that learned is not reported"

done_testing
