"""Model files for the top-model tests, read and written independently of
the C code.

    top_model.py forward MODEL FEATURES
        numpy forward pass of MODEL over the records of FEATURES; prints
        one line per record: id, then every class probability (%.9g).
    top_model.py corrupt MODEL OUT HOW
        write a damaged copy of MODEL; HOW is one of: shape, nan, nosoftmax,
        dupclass, bigshape, negvar, records, width.
    top_model.py moved MODEL WEIGHTS.h5
        for a model tuned with --finetune block5: the largest change of
        block 5's kernels and of its biases, each relative to the largest
        value of the weights file's (published Keras layout).
    top_model.py kept MODEL
        how the tuning ended: the training loss of the start and of the
        epoch kept, the epoch kept, the epochs run, the learning rate, the
        epochs rolled back, whether it gave up, and the mean training loss
        of the last ten epochs run.
"""
import sys

import msgpack
import numpy as np


def read(path):
    with open(path, "rb") as f:
        return list(msgpack.Unpacker(f, raw=False))


def tensor(t):
    return np.frombuffer(t["data"], dtype="<f4").reshape(t["shape"])


def conv3x3(x, k, b):
    """'same' 3x3 convolution of an [h, w, cin] map with an HWIO kernel."""
    h, w, _ = x.shape
    p = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    y = np.zeros((h, w, k.shape[3])) + b
    for ky in range(3):
        for kx in range(3):
            y += p[ky:ky + h, kx:kx + w, :] @ k[ky, kx]
    return y


def maxpool2x2(x):
    h, w, c = x.shape
    x = x[:h // 2 * 2, :w // 2 * 2, :]
    return x.reshape(h // 2, 2, w // 2, 2, c).max(axis=(1, 3))


def forward(model_path, feat_path):
    header = read(model_path)[0]
    for obj in read(feat_path):
        if "id" not in obj:
            continue
        x = tensor(obj["features"]).astype(np.float64)
        if x.ndim != 3:
            x = x.reshape(-1)
        for layer in header["layers"]:
            kind = layer["type"]
            if kind == "standardize":
                x = (x - tensor(layer["mean"])) * tensor(layer["scale"])
            elif kind == "conv3x3":
                x = conv3x3(x, tensor(layer["weights"]), tensor(layer["bias"]))
            elif kind == "maxpool2x2":
                x = maxpool2x2(x)
            elif kind == "dense":
                x = x.reshape(-1) @ tensor(layer["weights"]) + tensor(layer["bias"])
            elif kind == "batchnorm":
                x = (tensor(layer["gamma"]) * (x - tensor(layer["mean"]))
                     / np.sqrt(tensor(layer["var"]) + layer["epsilon"])
                     + tensor(layer["beta"]))
            elif kind == "relu":
                x = np.maximum(x, 0)
            elif kind == "softmax":
                x = np.exp(x - x.max())
                x /= x.sum()
        print(obj["id"], " ".join("%.9g" % v for v in x))


def put(t, a):
    t["shape"] = list(a.shape)
    t["data"] = np.ascontiguousarray(a, dtype="<f4").tobytes()


def corrupt(model_path, out, how):
    objs = read(model_path)
    h = objs[0]
    dense = [l for l in h["layers"] if l["type"] == "dense"]
    if how == "shape":
        w = tensor(dense[-1]["weights"])
        put(dense[-1]["weights"], np.zeros((w.shape[0] + 1, w.shape[1])))
    elif how == "width":
        # A consistent layer whose width breaks the chain to the classes.
        w = tensor(dense[-1]["weights"])
        put(dense[-1]["weights"], np.zeros((w.shape[0], w.shape[1] + 1)))
        put(dense[-1]["bias"], np.zeros(w.shape[1] + 1))
    elif how == "nan":
        b = tensor(dense[0]["bias"]).copy()
        b[0] = np.nan
        put(dense[0]["bias"], b)
    elif how == "nosoftmax":
        h["layers"] = h["layers"][:-1]
    elif how == "dupclass":
        h["classes"][1] = h["classes"][0]
    elif how == "bigshape":
        # A shape that would need gigabytes, with a few bytes of data.
        dense[0]["weights"]["shape"] = [h["input_shape"][0], 1 << 24]
    elif how == "negvar":
        bn = [l for l in h["layers"] if l["type"] == "batchnorm"][0]
        v = tensor(bn["var"]).copy()
        v[0] = -1
        put(bn["var"], v)
    elif how == "records":
        objs.insert(1, {"id": "x", "features": {}})
    with open(out, "wb") as f:
        for o in objs:
            f.write(msgpack.packb(o, use_bin_type=True))


def moved(model_path, weights_path):
    import h5py
    layers = [l for l in read(model_path)[0]["layers"] if l["type"] == "conv3x3"]
    worst = {"kernel": 0.0, "bias": 0.0}
    with h5py.File(weights_path, "r") as f:
        for i, l in enumerate(layers):
            name = f"block5_conv{i + 1}"
            for part, key, suffix in (("kernel", "weights", "W"), ("bias", "bias", "b")):
                was = f[name][f"{name}_{suffix}_1:0"][()]
                now = tensor(l[key])
                worst[part] = max(worst[part], np.abs(now - was).max() / np.abs(was).max())
    print("%.3g %.3g" % (worst["kernel"], worst["bias"]))


def kept(model_path):
    h = read(model_path)[0]
    t, hist = h["training"], h["history"]
    best = t["best_epoch"]
    loss = hist[best - 1]["loss"] if best else t["start_train_loss"]
    last = [e["loss"] for e in hist[-10:]] or [t["start_train_loss"]]
    print("%.6g %.6g %d %d %.3g %d %d %.6g" % (
        t["start_train_loss"], loss, best, t["epochs_run"], t["lr"], t["rollbacks"],
        t["gave_up"], sum(last) / len(last)))


def main():
    a = sys.argv[1:]
    if a[0] == "forward":
        forward(a[1], a[2])
    elif a[0] == "corrupt":
        corrupt(a[1], a[2], a[3])
    elif a[0] == "moved":
        moved(a[1], a[2])
    elif a[0] == "kept":
        kept(a[1])


if __name__ == "__main__":
    main()
