"""Grad-CAM references for the topcam tests, independent of the C code.

    cam_ref.py compare MODEL FEATURES MAPS [label|CLASS]
        PyTorch autograd in float64 on the model file's own tensors: for
        each record, the gradient of the explained class's logit with
        respect to the last spatial activation (the features for a dense
        top, block5_conv3's output after its ReLU for a tuned model),
        averaged over the map, weighs the channels; ReLU of the weighted
        sum over its maximum is the map. Prints the worst difference from
        MAPS, relative to each map's largest value, the spread of the
        float64 maps themselves when the features move by a relative 1e-6
        (how far rounding alone can take a map: a ReLU flips, a weighted
        sum of 512 channels cancels), the worst difference of the
        predicted class's probability and its spread alike, and the number
        of records; checks ids and classes.
    cam_ref.py planted OUT N SEED [CLASSES]
        a features stream of N records of [7, 7, 16] noise in which each
        record's class is said by one cell at a random place: channel
        2 * class is raised there. The planted cell of each record, "id
        row col", goes to OUT.cells.
    cam_ref.py peaks MAPS CELLS
        the share of the correctly classified records whose map peaks on
        the planted cell: prints "hits of records".
"""
import sys

import msgpack
import numpy as np
import torch


def read(path):
    with open(path, "rb") as f:
        return list(msgpack.Unpacker(f, raw=False))


def tensor(t):
    return np.frombuffer(t["data"], dtype="<f4").reshape(t["shape"])


def t64(a):
    return torch.tensor(np.asarray(a, dtype=np.float64))


def conv3x3(x, k, b):
    """'same' 3x3 convolution of an [h, w, cin] map, HWIO kernel."""
    y = torch.nn.functional.conv2d(x.permute(2, 0, 1)[None], t64(k).permute(3, 2, 0, 1),
                                   t64(b), padding=1)
    return y[0].permute(1, 2, 0)


def maxpool2x2(x):
    h, w, c = x.shape
    x = x[:h // 2 * 2, :w // 2 * 2, :]
    return x.reshape(h // 2, 2, w // 2, 2, c).amax(dim=(1, 3))


def site_index(layers):
    """The layer whose output the maps lie on: -1 for the input."""
    convs = [i for i, l in enumerate(layers) if l["type"] == "conv3x3"]
    if not convs:
        return -1
    i = convs[-1]
    return i + 1 if i + 1 < len(layers) and layers[i + 1]["type"] == "relu" else i


def cam(layers, feat, cls):
    """The map [h, w] and the probabilities, in float64."""
    site = site_index(layers)
    x = t64(feat)
    act = None
    if site < 0:
        x.requires_grad_(True)
        act = x
    for i, layer in enumerate(layers):
        kind = layer["type"]
        if kind == "standardize":
            x = (x - t64(tensor(layer["mean"]))) * t64(tensor(layer["scale"]))
        elif kind == "conv3x3":
            x = conv3x3(x, tensor(layer["weights"]), tensor(layer["bias"]))
        elif kind == "maxpool2x2":
            x = maxpool2x2(x)
        elif kind == "dense":
            x = x.reshape(-1) @ t64(tensor(layer["weights"])) + t64(tensor(layer["bias"]))
        elif kind == "batchnorm":
            x = (t64(tensor(layer["gamma"])) * (x - t64(tensor(layer["mean"])))
                 / torch.sqrt(t64(tensor(layer["var"])) + layer["epsilon"])
                 + t64(tensor(layer["beta"])))
        elif kind == "relu":
            x = torch.relu(x)
        elif kind == "softmax":
            logits = x
            break
        if i == site:
            # The gradient is wanted here: the graph starts at this
            # activation.
            x = x.detach().requires_grad_(True)
            act = x
    grad, = torch.autograd.grad(logits[cls], act)
    weights = grad.mean(dim=(0, 1))
    m = torch.relu((act * weights).sum(dim=2)).detach().numpy()
    top = m.max()
    return (m / top if top > 0 else m), torch.softmax(logits, 0).detach().numpy()


def compare(model_path, feat_path, maps_path, which):
    header = read(model_path)[0]
    layers, classes = header["layers"], header["classes"]
    feats = [o for o in read(feat_path) if "id" in o]
    maps = [o for o in read(maps_path) if "id" in o]
    assert [f["id"] for f in feats] == [m["id"] for m in maps], "ids differ"
    rng = np.random.default_rng(1)
    worst = spread = prob = prob_spread = 0.0
    for f, m in zip(feats, maps):
        x = tensor(f["features"])
        moved = x * (1 + 1e-6 * rng.normal(size=x.shape))
        probs = cam(layers, x, 0)[1]
        if which == "predicted":
            cls = int(np.argmax(probs))
        elif which == "label":
            cls = classes.index(f["label"])
        else:
            cls = classes.index(which)
        ref, probs = cam(layers, x, cls)
        ref_moved, probs_moved = cam(layers, moved, cls)
        got = tensor(m["map"]).astype(np.float64)
        assert got.shape == ref.shape, (got.shape, ref.shape)
        assert m["class"] == classes[cls], (m["class"], classes[cls])
        assert m["predicted"] == classes[int(np.argmax(probs))]
        prob = max(prob, abs(m["probability"] - probs.max()))
        prob_spread = max(prob_spread, abs(probs_moved.max() - probs.max()))
        top = max(ref.max(), 1e-30)
        worst = max(worst, np.abs(got - ref).max() / top)
        spread = max(spread, np.abs(ref_moved - ref).max() / top)
    print("%.3g %.3g %.3g %.3g %d" % (worst, spread, prob, prob_spread, len(maps)))


def planted(out, n, seed, nclass=3):
    rng = np.random.default_rng(seed)
    p = msgpack.Packer(use_bin_type=True).pack
    with open(out, "wb") as f, open(out + ".cells", "w") as cells:
        f.write(p({"vggpipe": 1, "kind": "features",
                   "provenance": {"backbone": "planted", "size": [224, 224]},
                   "classes": [f"c{k}" for k in range(nclass)]}))
        for i in range(n):
            cls = int(rng.integers(nclass))
            x = rng.normal(0, 1, (7, 7, 16)).clip(0, None).astype("<f4")
            r, c = rng.integers(7, size=2)
            x[r, c, 2 * cls] += 6
            rid = f"r{i:04d}"
            f.write(p({"id": rid, "label": f"c{cls}",
                       "features": {"shape": [7, 7, 16], "dtype": "f32", "data": x.tobytes()}}))
            cells.write(f"{rid} {r} {c}\n")
        f.write(p({"end": n}))


def peaks(maps_path, cells_path):
    cells = {}
    for line in open(cells_path):
        rid, r, c = line.split()
        cells[rid] = (int(r), int(c))
    hits = total = 0
    for m in read(maps_path):
        if "id" not in m or m["predicted"] != m.get("label"):
            continue
        a = tensor(m["map"])
        total += 1
        hits += np.unravel_index(int(np.argmax(a)), a.shape) == cells[m["id"]]
    print(hits, total)


def main():
    a = sys.argv[1:]
    if a[0] == "compare":
        compare(a[1], a[2], a[3], a[4] if len(a) > 4 else "predicted")
    elif a[0] == "planted":
        planted(a[1], int(a[2]), int(a[3]))
    elif a[0] == "peaks":
        peaks(a[1], a[2])


if __name__ == "__main__":
    main()
