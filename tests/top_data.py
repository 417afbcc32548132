"""Feature streams for the top-model tests and benchmark.

    top_data.py digits PREFIX            sklearn's bundled digits, split 70/30
    top_data.py gauss PREFIX [--classes K] [--dim D] [--n N]
                                         a Gaussian mixture, split 70/30
    top_data.py random FILE --n N --shape 7,7,512 --classes K
                                         uniform features, random labels

Each split is written as PREFIX-train.feat and PREFIX-valid.feat (feature
streams) and PREFIX.npz (the same arrays, for the reference models).
--weights changes the provenance; --nan RECORD puts a NaN in that 1-based
training record; --dup duplicates the first training id; --unlabelled
drops the labels; --label-prefix renames classes.
"""
import argparse
import sys

import msgpack
import numpy as np


def provenance(weights, shape):
    return {"backbone": "vgg16", "weights": weights, "layer": "block5_pool",
            "pooling": "none" if len(shape) == 3 else "avg",
            "preprocess": "caffe", "size": [224, 224], "fit": "crop"}


def write_stream(path, x, labels, shape, weights, classes, ids=None,
                 labelled=True):
    with open(path, "wb") as f:
        f.write(msgpack.packb({"vggpipe": 1, "kind": "features",
                               "provenance": provenance(weights, shape),
                               "weights_file": "vgg16.h5",
                               "classes": list(classes)}))
        for i in range(len(x)):
            rec = {"id": ids[i] if ids is not None else "img%05d.jpg" % i,
                   "features": {"shape": list(shape), "dtype": "f32",
                                "data": np.ascontiguousarray(
                                    x[i], dtype="<f4").tobytes()}}
            if labelled:
                rec["label"] = labels[i]
            f.write(msgpack.packb(rec, use_bin_type=True))
        f.write(msgpack.packb({"end": len(x)}))


def split(x, y, seed):
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    cut = int(len(x) * 0.7)
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["digits", "gauss", "random"])
    ap.add_argument("out")
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--n", type=int, default=1200)
    ap.add_argument("--shape", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--spread", type=float, default=0.4)
    ap.add_argument("--weights", default="sha256:" + "ab" * 32)
    ap.add_argument("--nan", type=int, default=0)
    ap.add_argument("--dup", action="store_true")
    ap.add_argument("--unlabelled", action="store_true")
    ap.add_argument("--label-prefix", default="")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)

    if a.what == "random":
        shape = [int(s) for s in a.shape.split(",")]
        x = rng.random((a.n, int(np.prod(shape))), dtype=np.float32)
        names = ["c%d" % i for i in range(a.classes)]
        y = np.array([names[i] for i in rng.integers(0, a.classes, a.n)])
        write_stream(a.out, x.reshape([a.n] + shape), y, shape, a.weights,
                     names, labelled=not a.unlabelled)
        return

    if a.what == "digits":
        from sklearn.datasets import load_digits
        d = load_digits()
        # Scaled to [0, 1] as image features would be roughly.
        x = (d.data / 16.0).astype(np.float32)
        y = np.array(["%s%d" % (a.label_prefix or "digit", v) for v in d.target])
    else:
        centres = rng.normal(0, a.spread, (a.classes, a.dim))
        k = rng.integers(0, a.classes, a.n)
        x = (centres[k] + rng.normal(0, 1.0, (a.n, a.dim))).astype(np.float32)
        y = np.array(["%s%d" % (a.label_prefix or "class", v) for v in k])
    xt, yt, xv, yv = split(x, y, a.seed)
    shape = [x.shape[1]]
    classes = sorted(set(y))
    ids_t = ["train/%05d.jpg" % i for i in range(len(xt))]
    ids_v = ["valid/%05d.jpg" % i for i in range(len(xv))]
    if a.nan:
        xt = xt.copy()
        xt[a.nan - 1, 3] = np.nan
    if a.dup:
        ids_t[5] = ids_t[0]
    write_stream(a.out + "-train.feat", xt, yt, shape, a.weights, classes,
                 ids_t, not a.unlabelled)
    write_stream(a.out + "-valid.feat", xv, yv, shape, a.weights, classes,
                 ids_v, not a.unlabelled)
    np.savez(a.out + ".npz", xt=xt, yt=yt, xv=xv, yv=yv)


if __name__ == "__main__":
    sys.exit(main())
