#!/bin/sh
# Do vggfeat's two algorithms lead to the same predictions? The example
# dataset (examples/make-dataset.py) goes through --algo im2col and
# --algo winograd; one top model, trained on the im2col features, classifies
# the test split from each, and the row counts the predictions that differ
# and the largest feature difference relative to the largest feature. Uses
# the real weights when present, else random ones (and says so).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common"
PATH="$VGGPIPE_BIN:$PATH"
cd "$tmp"

weights=${VGGPIPE_WEIGHTS:-$HOME/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5}
if [ -f "$weights" ]; then set -- --weights "$weights"; what="real weights"
else set -- --init-random 1; what="random weights"; fi

"$PY" "$here/../examples/make-dataset.py" data --per-class 24,0,16
for split in train test; do
	imgprep --size 150x150 --quiet "data/$split" > "$split.img"
	for algo in im2col winograd; do
		vggfeat "$@" --algo $algo --quiet < "$split.img" > "$split.$algo.feat"
	done
done
topfit --epochs 30 --seed 1 --quiet -o top.model < train.im2col.feat
for algo in im2col winograd; do
	classify --model top.model < test.$algo.feat > pred.$algo.csv
done
"$PY" - <<'PY'
import csv, msgpack, numpy as np
def feats(path):
    return {o["id"]: np.frombuffer(o["features"]["data"], "<f4")
            for o in msgpack.Unpacker(open(path, "rb"), raw=False) if "id" in o}
a, b = feats("test.im2col.feat"), feats("test.winograd.feat")
scale = max(float(np.abs(v).max()) for v in a.values())
rel = max(float(np.abs(a[k] - b[k]).max()) for k in a) / scale
pa = {r["id"]: r["label"] for r in csv.DictReader(open("pred.im2col.csv"))}
pb = {r["id"]: r["label"] for r in csv.DictReader(open("pred.winograd.csv"))}
differ = sum(pa[k] != pb[k] for k in pa)
open("result", "w").write(f"{differ} {len(pa)} {rel:.1e}\n")
PY
read -r differ total rel < result
echo "| algorithms agree | im2col vs winograd | example test set, $what: $differ of $total predictions differ, features differ by $rel of the largest | | | $((total - differ))/$total | |"
