#!/bin/bash
# topfit's standardisation layer (the first layer of a model by default)
# against numpy in float64: the mean and 1 / population standard
# deviation of the training records, per feature for flat features and per
# channel over every pixel of every record for [h, w, c] ones; a feature
# constant in training gets a scale of 0 and the constant as its mean.
. "$(dirname "$0")/lib.sh"
plan 10

# Means far from 0 against small deviations (1000 and 0.5; 50000 and 3):
# a variance taken about the wrong centre, or summed in float, is off by
# far more than the tolerance there. More records than one batch of the
# fit (256), so that the sums run across batches. Columns: mean, sd.
$PY - <<'PY'
import msgpack
import numpy as np
rng = np.random.default_rng(11)
channels = [(1000.0, 0.5), (-300.0, 2.0), (0.0, 1.0), (1000.3, 0.0), (5e4, 3.0), (1e-3, 1e-4)]

def write(path, x):
    labels = ["a", "b"] * (len(x) // 2)
    with open(path, "wb") as f:
        f.write(msgpack.packb({"vggpipe": 1, "kind": "features", "classes": ["a", "b"],
            "provenance": {"backbone": "vgg16", "weights": "random:1", "layer": "block5_pool",
                           "pooling": "none" if x.ndim == 4 else "avg", "preprocess": "caffe",
                           "size": [224, 224], "fit": "crop"}}))
        for i, (v, l) in enumerate(zip(x, labels)):
            f.write(msgpack.packb({"id": "%05d.jpg" % i, "label": l,
                "features": {"shape": list(v.shape), "dtype": "f32",
                             "data": v.astype("<f4").tobytes()}}, use_bin_type=True))
        f.write(msgpack.packb({"end": len(x)}))

def draw(shape):
    x = np.empty(shape)
    for j, (m, s) in enumerate(channels):
        x[..., j] = m + s * rng.standard_normal(shape[:-1])
    return x

write("flat.feat", draw((600, len(channels))))
# Each pixel of a channel has its own offset, so that statistics taken
# per position rather than per channel differ from numpy's.
sp = draw((300, 4, 5, len(channels)))
sp += rng.standard_normal((1, 4, 5, len(channels))) * np.array([s for _, s in channels])
write("spatial.feat", sp)
PY

# compare FEATURES MODEL: one line per check, "ok" or what went wrong,
# with the worst relative error beside the tolerance.
cat > compare.py <<'PY'
import sys
import msgpack
import numpy as np
feat, model = sys.argv[1:]
objs = list(msgpack.Unpacker(open(feat, "rb"), raw=False))
x = np.array([np.frombuffer(o["features"]["data"], "<f4").reshape(o["features"]["shape"])
              for o in objs if "id" in o], dtype=np.float64)
x = x.reshape(-1, x.shape[-1])          # every pixel of every record, per channel
layer = next(msgpack.Unpacker(open(model, "rb"), raw=False))["layers"][0]
def tensor(t):
    return np.frombuffer(t["data"], "<f4").astype(np.float64), t["shape"]
mean, mshape = tensor(layer["mean"])
scale, sshape = tensor(layer["scale"])
print("ok" if layer["type"] == "standardize" and mshape == sshape == [x.shape[1]]
      else "first layer %s, mean %s, scale %s; want standardize [%d]"
           % (layer["type"], mshape, sshape, x.shape[1]))
# One float32 ulp: the statistics are taken in double and rounded once.
tol = 2.0 ** -23
want_mean = x.mean(axis=0)
sd = x.std(axis=0, ddof=0)
varies = sd > 0
want_scale = 1 / sd[varies]
em = np.max(np.abs(mean - want_mean) / np.abs(want_mean).clip(1e-30))
es = np.max(np.abs(scale[varies] - want_scale) / want_scale)
print("%s: worst relative error of the mean %.3g (tolerance %.3g)" % ("ok" if em <= tol else "not ok", em, tol))
print("%s: worst relative error of the scale %.3g (tolerance %.3g)" % ("ok" if es <= tol else "not ok", es, tol))
const = ~varies
exact = (np.all(scale[const] == 0) and np.all(mean[const] == want_mean[const]) and const.sum() == 1)
print("ok" if exact else "constant feature: mean %s scale %s, want %s and 0"
      % (mean[const], scale[const], want_mean[const]))
PY

# result LINE DESCRIPTION: a line of compare.py's output as a test.
result() {
	case "$1" in
	ok*) ok 0 "$2${1#ok}" ;;
	*) ok 1 "$2"; echo "#   $1" ;;
	esac
}

for f in flat spatial; do
	# Default options. The labels are random, so topfit warns that the
	# model learned nothing: beside the point here.
	check "topfit trains on $f features" topfit --quiet -o $f.model $f.feat
	if [ -s $f.model ]; then $PY compare.py $f.feat $f.model > $f.cmp 2>&1; else : > $f.cmp; fi
	what="per feature"; [ $f = spatial ] && what="per channel, over every pixel"
	{ read -r l1; read -r l2; read -r l3; read -r l4; } < $f.cmp
	result "${l1:-missing}" "$f: the first layer standardises, its mean and scale shaped [6] ($what)"
	result "${l2:-missing}" "$f: the mean is numpy's"
	result "${l3:-missing}" "$f: the scale is 1 / numpy's std (ddof=0)"
	result "${l4:-missing}" "$f: the feature constant in training has scale 0 and the constant as mean"
done

done_testing
