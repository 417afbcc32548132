"""Cross-validation and suspected label errors, the reference side.

    cv_ref.py digits OUT [--copies N] [--flip F --flipped FILE]
        sklearn's digits as a feature stream, N copies of each image
        (copy 0 the digit, the others with a little noise), a share F of
        the images given a wrong label (their ids into FILE)
    cv_ref.py noise OUT --images N --dim D --copies N
        random features and random labels (4 classes), copies near equal
    cv_ref.py sklearn FEAT --folds K
        scikit-learn's StratifiedGroupKFold (groups: the ids) with a
        standardised LogisticRegression, trained on every copy and
        validated on the plain copy: the mean fold accuracy
    cv_ref.py folds OOF.csv FEAT --folds K
        topfit --folds' predictions: one row per image of FEAT, folds and
        each class spread evenly; prints the mean of the folds' accuracies
    cv_ref.py suspects OOF.csv SUSPECTS.csv FLIPPED [--feat FEAT]
        confident learning's rule again in numpy on the same out-of-fold
        probabilities: the same suspects in the same order; the share of
        the flipped images in the first 5% of the images, both ways. With
        --feat, the probabilities are classify --top K --format jsonl's
        of FEAT's records, and the labels FEAT's
"""
import argparse
import csv
import sys

import msgpack
import numpy as np

PROVENANCE = {"backbone": "vgg16", "weights": "sha256:" + "ab" * 32,
              "layer": "block5_pool", "pooling": "avg", "preprocess": "caffe",
              "size": [224, 224], "fit": "crop"}


def write(path, x, labels, ids, copies):
    with open(path, "wb") as f:
        f.write(msgpack.packb({"vggpipe": 1, "kind": "features",
                               "provenance": PROVENANCE, "weights_file": "vgg16.h5",
                               "classes": sorted(set(labels))}))
        for i in range(len(x)):
            f.write(msgpack.packb({
                "id": ids[i], "label": labels[i], "copy": int(copies[i]),
                "features": {"shape": [x.shape[1]], "dtype": "f32",
                             "data": np.ascontiguousarray(x[i], "<f4").tobytes()}},
                use_bin_type=True))
        f.write(msgpack.packb({"end": len(x)}))


def with_copies(base, labels, n, noise, rng):
    x, y, ids, copy = [], [], [], []
    for i in range(len(base)):
        for c in range(n):
            x.append(base[i] + (rng.normal(0, noise, base.shape[1]) if c else 0))
            y.append(labels[i])
            ids.append("img/%05d.png" % i)
            copy.append(c)
    return np.array(x, np.float32), y, ids, copy


def digits(a):
    from sklearn.datasets import load_digits
    rng = np.random.default_rng(7)
    d = load_digits()
    labels = ["digit%d" % v for v in d.target]
    flipped = rng.choice(len(labels), int(round(a.flip * len(labels))), replace=False)
    for i in flipped:
        labels[i] = "digit%d" % rng.choice([v for v in range(10) if v != d.target[i]])
    if a.flipped:
        with open(a.flipped, "w") as f:
            f.writelines("img/%05d.png\n" % i for i in sorted(flipped))
    write(a.out, *with_copies(d.data / 16.0, labels, a.copies, 0.05, rng))


def noise(a):
    rng = np.random.default_rng(11)
    base = rng.normal(0, 1, (a.images, a.dim))
    labels = ["c%d" % v for v in rng.integers(0, 4, a.images)]
    write(a.out, *with_copies(base, labels, a.copies, 0.01, rng))


def read(path):
    ids, labels, copies, x = [], [], [], []
    with open(path, "rb") as f:
        for o in msgpack.Unpacker(f, raw=False):
            if "id" in o:
                ids.append(o["id"])
                labels.append(o["label"])
                copies.append(o.get("copy", 0))
                x.append(np.frombuffer(o["features"]["data"], "<f4"))
    return ids, np.array(labels), np.array(copies), np.array(x)


def sklearn_cv(a):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    ids, y, copies, x = read(a.feat)
    scores = []
    for tr, va in StratifiedGroupKFold(a.folds, shuffle=True, random_state=0).split(x, y, ids):
        va = va[copies[va] == 0]
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
        model.fit(x[tr], y[tr])
        scores.append(float(np.mean(model.predict(x[va]) == y[va])))
    print("%.4f" % np.mean(scores))


def read_oof(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    head = rows[0]
    classes = [h[2:-1] for h in head[5:]]
    return head, classes, rows[1:]


def folds(a):
    ids, y, copies, x = read(a.feat)
    head, classes, rows = read_oof(a.oof)
    label_of = dict(zip(ids, y))
    problems = []
    if head[:5] != ["id", "label", "probability", "given", "fold"]:
        problems.append("header %s" % head[:5])
    seen = [r[0] for r in rows]
    if sorted(seen) != sorted(set(ids)):
        problems.append("%d rows for %d images" % (len(seen), len(set(ids))))
    fold = np.array([int(r[4]) for r in rows])
    given = np.array([r[3] for r in rows])
    if any(label_of[r[0]] != r[3] for r in rows):
        problems.append("a given label differs from the stream's")
    sizes = np.bincount(fold)[1:]
    if len(sizes) != a.folds or sizes.max() - sizes.min() > 1:
        problems.append("fold sizes %s" % sizes.tolist())
    for c in set(given):
        per = np.bincount(fold[given == c], minlength=a.folds + 1)[1:]
        if per.max() - per.min() > 1:
            problems.append("class %s over the folds %s" % (c, per.tolist()))
    prob = np.array([[float(v) for v in r[5:]] for r in rows])
    if np.abs(prob.sum(1) - 1).max() > 1e-4:
        problems.append("probabilities that do not sum to 1")
    right = np.array(classes)[prob.argmax(1)] == given
    print("; ".join(problems) or "ok",
          "%.4f" % np.mean([right[fold == f].mean() for f in range(1, a.folds + 1)]))


def predictions(path, feat):
    """ids, given classes, probabilities [n, k] of classify's JSON lines
    (every class in "top") on the records of feat."""
    import json
    rows = [json.loads(line) for line in open(path)]
    fids, labels, _, _ = read(feat)
    classes = sorted({t["label"] for t in rows[0]["top"]})
    index = {c: k for k, c in enumerate(classes)}
    prob = np.zeros((len(rows), len(classes)))
    for i, r in enumerate(rows):
        assert r["id"] == fids[i]
        for t in r["top"]:
            prob[i, index[t["label"]]] = t["probability"]
    return fids, np.array([index[v] for v in labels]), prob, classes


def suspects(a):
    if a.feat:
        ids, given, prob, classes = predictions(a.oof, a.feat)
    else:
        head, classes, rows = read_oof(a.oof)
        index = {c: k for k, c in enumerate(classes)}
        ids = [r[0] for r in rows]
        given = np.array([index[r[3]] for r in rows])
        prob = np.array([[float(v) for v in r[5:]] for r in rows])
    k = len(classes)
    threshold = np.array([prob[given == c, c].mean() if (given == c).any() else np.inf
                          for c in range(k)])
    above = prob >= threshold - 1e-6
    likely = np.where(above.any(1), np.where(above, prob, -1).argmax(1), -1)
    flagged = np.flatnonzero((likely >= 0) & (likely != given))
    self_conf = prob[flagged, given[flagged]]
    order = flagged[np.lexsort((flagged, self_conf))]
    ours = [ids[i] for i in order]
    with open(a.suspects, newline="") as f:
        theirs = [r[0] for r in list(csv.reader(f))[1:]]
    flipped = set(open(a.flipped).read().split())
    cut = int(round(0.05 * len(set(ids))))
    share = lambda lst: len(flipped & set(lst[:cut])) / len(flipped)
    print("same" if ours == theirs else "differ (%d against %d)" % (len(theirs), len(ours)),
          "%.3f %.3f %d" % (share(theirs), share(ours), len(theirs)))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("digits")
    p.add_argument("out")
    p.add_argument("--copies", type=int, default=1)
    p.add_argument("--flip", type=float, default=0)
    p.add_argument("--flipped")
    p.set_defaults(run=digits)
    p = sub.add_parser("noise")
    p.add_argument("out")
    p.add_argument("--images", type=int, default=400)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--copies", type=int, default=3)
    p.set_defaults(run=noise)
    p = sub.add_parser("sklearn")
    p.add_argument("feat")
    p.add_argument("--folds", type=int, default=5)
    p.set_defaults(run=sklearn_cv)
    p = sub.add_parser("folds")
    p.add_argument("oof")
    p.add_argument("feat")
    p.add_argument("--folds", type=int, default=5)
    p.set_defaults(run=folds)
    p = sub.add_parser("suspects")
    p.add_argument("oof")
    p.add_argument("suspects")
    p.add_argument("flipped")
    p.add_argument("--feat")
    p.set_defaults(run=suspects)
    a = ap.parse_args()
    a.run(a)


if __name__ == "__main__":
    sys.exit(main())
