"""Data and the reference for featnear's tests and benchmark.

    near_ref.py feats OUT --n N --shape 7,7,512 [--seed S] [--prefix P]
                [--like FILE:ROWS] [--zero ROW] [--copies C] [--labels K]
        a feature stream of clustered random features; --like FILE:ROWS
        repeats those rows of another stream (its ids prefixed) with a
        little noise, --zero makes a row all zeros, --dup I:J makes row J
        row I's equal (a tie of similarity), --copies adds C
        augmentation copies (copy 1..C) after each plain record (copy 0)
    near_ref.py brute OUT QUERY --index FILE... [-k K] [--threshold T]
                [--all-copies] [--block N]
        numpy's brute force: normalise, one matrix product per block of
        the index, a stable argsort of -similarity per query; writes the
        CSV featnear writes (labels and copies left empty)
    near_ref.py compare GOT.csv WANT.csv
        the same pairs in the same order, similarities within 1e-5; prints
        the largest difference
    near_ref.py photos DIR [--test N] [--distinct N] [--planted N] [--seed S]
        distinct synthetic photos in DIR/test and DIR/train, and in train,
        for the first --planted test images, a JPEG resaved at quality 75
        (jpeg-tNNN.jpg) and a copy cut by 2 to 5% on each side
        (crop-tNNN.png)
    near_ref.py pairs FOUND.csv DIR
        of the pairs featnear found between DIR/test and DIR/train, the
        planted ones missed (exit 1 when any) and how many pairs of distinct
        images passed
"""
import argparse
import csv
import os
import random
import re
import sys

import msgpack
import numpy as np


def read_stream(path):
    """(header, records) of a feature stream; records as dicts."""
    head, recs = None, []
    with open(path, "rb") as f:
        for o in msgpack.Unpacker(f, raw=False):
            if "vggpipe" in o and head is None:
                head = o
            elif "features" in o:
                recs.append(o)
    return head, recs


def features(recs):
    return np.array([np.frombuffer(r["features"]["data"], "<f4") for r in recs],
                    dtype=np.float64).reshape(len(recs), -1)


def provenance(shape):
    return {"backbone": "vgg16", "weights": "random:1", "layer": "block5_pool",
            "pooling": "none" if len(shape) == 3 else "avg",
            "preprocess": "caffe", "size": [224, 224], "fit": "crop"}


def cmd_feats(a):
    rng = np.random.default_rng(a.seed)
    shape = [int(s) for s in a.shape.split(",")]
    d = int(np.prod(shape))
    centres = rng.random((max(a.n // 8, 1), d), dtype=np.float32)
    k = rng.integers(0, len(centres), a.n)
    ids = ["%s%05d.jpg" % (a.prefix, i) for i in range(a.n)]
    like = {}
    if a.like:
        path, rows = a.like.rsplit(":", 1)
        _, other = read_stream(path)
        for j, r in enumerate(int(v) for v in rows.split(",")):
            like[j] = np.frombuffer(other[r]["features"]["data"], "<f4")
            ids[j] = "%s%s" % (a.prefix, other[r]["id"])
    dup = dict(tuple(int(v) for v in pair.split(":"))[::-1] for pair in a.dup or [])
    made = {}
    p = msgpack.Packer(use_bin_type=True).pack
    with open(a.out, "wb") as f:
        f.write(p({"vggpipe": 1, "kind": "features", "provenance": provenance(shape),
                   "classes": []}))
        n = 0
        # Row by row: a 10,000-record index of 7x7x512 is a gigabyte.
        for i in range(a.n):
            noise = rng.standard_normal(d, dtype=np.float32)
            if i in like:
                x = like[i] + 0.02 * noise
            elif i in dup:
                x = made[dup[i]]
            elif i == a.zero:
                x = np.zeros(d, np.float32)
            else:
                x = np.maximum(centres[k[i]] + 0.3 * noise, 0)
            if i in dup.values():
                made[i] = x
            for c in range(a.copies + 1):
                v = x if c == 0 else x + 0.3 * rng.standard_normal(d, dtype=np.float32)
                rec = {"id": ids[i], "features": {
                    "shape": shape, "dtype": "f32",
                    "data": np.ascontiguousarray(v, dtype="<f4").tobytes()}}
                if a.labels:
                    rec["label"] = "c%d" % (i % a.labels)
                if a.copies:
                    rec["copy"] = c
                f.write(p(rec))
                n += 1
        f.write(p({"end": n}))


def unit(x):
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n > 0, n, 1)


def cmd_brute(a):
    _, q = read_stream(a.query)
    idx = [r for path in a.index for r in read_stream(path)[1]]
    if not a.all_copies:
        q = [r for r in q if r.get("copy", 0) == 0]
        idx = [r for r in idx if r.get("copy", 0) == 0]
    qx = unit(features(q))
    best = [[] for _ in q]
    for start in range(0, len(idx), a.block):
        part = idx[start:start + a.block]
        sim = qx @ unit(features(part)).T
        for i, r in enumerate(q):
            for j, o in enumerate(part):
                if o["id"] != r["id"] and sim[i, j] >= a.threshold:
                    best[i].append((sim[i, j], start + j))
    with open(a.out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["query", "neighbour", "rank", "similarity", "query_label",
                    "neighbour_label"])
        for i, r in enumerate(q):
            s = np.array([b[0] for b in best[i]])
            at = np.array([b[1] for b in best[i]], dtype=np.int64)
            # The index's order where similarities tie.
            order = at[np.argsort(-s, kind="stable")] if len(s) else at
            sims = dict(zip(at.tolist(), s.tolist()))
            for rank, j in enumerate(order[:a.k] if a.k else order, 1):
                w.writerow([r["id"], idx[j]["id"], rank, "%.9f" % sims[j], "", ""])


def cmd_compare(a):
    got = list(csv.reader(open(a.got, newline="")))
    want = list(csv.reader(open(a.want, newline="")))
    if got[0][:4] != want[0][:4]:
        sys.exit("header %s, want %s" % (got[0], want[0]))
    if len(got) != len(want):
        sys.exit("%d lines, want %d" % (len(got), len(want)))
    worst = 0.0
    for n, (g, w) in enumerate(zip(got[1:], want[1:]), 2):
        if g[:3] != w[:3]:
            sys.exit("line %d: %s, want %s" % (n, g[:4], w[:4]))
        worst = max(worst, abs(float(g[3]) - float(w[3])))
    print("%d pairs, largest difference %.2g" % (len(got) - 1, worst))
    sys.exit(worst > 1e-5)


def photo(rng, size=128):
    """A textured picture: a noisy gradient under random shapes."""
    from PIL import Image, ImageDraw, ImageFilter
    nrng = np.random.default_rng(rng.randrange(1 << 30))
    c0, c1 = (np.array([rng.randrange(256) for _ in range(3)], float) for _ in range(2))
    angle = rng.random() * 2 * np.pi
    yy, xx = np.mgrid[0:size, 0:size]
    t = ((xx * np.cos(angle) + yy * np.sin(angle)) / size + 1) / 2
    img = c0 * (1 - t[..., None]) + c1 * t[..., None]
    img += nrng.normal(0, rng.choice([4, 10, 20]), img.shape)
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    for _ in range(rng.randrange(4, 12)):
        col = tuple(rng.randrange(256) for _ in range(3))
        x0, y0 = rng.randrange(-20, size), rng.randrange(-20, size)
        box = [x0, y0, x0 + rng.randrange(10, 70), y0 + rng.randrange(10, 70)]
        kind = rng.randrange(4)
        if kind == 0:
            d.ellipse(box, fill=col)
        elif kind == 1:
            d.rectangle(box, fill=col)
        elif kind == 2:
            d.polygon([(rng.randrange(size), rng.randrange(size))
                       for _ in range(rng.randrange(3, 6))], fill=col)
        else:
            d.line(box, fill=col, width=rng.randrange(2, 9))
    if rng.random() < 0.5:
        im = im.filter(ImageFilter.GaussianBlur(rng.random() * 1.5))
    return im


def cmd_photos(a):
    from PIL import Image
    rng = random.Random(a.seed)
    for sub in ("test", "train"):
        os.makedirs(os.path.join(a.dir, sub), exist_ok=True)
    for i in range(a.test):
        photo(rng).save(os.path.join(a.dir, "test", "t%03d.png" % i))
    for i in range(a.distinct):
        photo(rng).save(os.path.join(a.dir, "train", "d%03d.png" % i))
    for i in range(a.planted):
        im = Image.open(os.path.join(a.dir, "test", "t%03d.png" % i))
        im.save(os.path.join(a.dir, "train", "jpeg-t%03d.jpg" % i), quality=75)
        w, h = im.size
        f = 0.02 + 0.03 * rng.random()
        im.crop((round(w * f), round(h * f), w - round(w * f), h - round(h * f))).save(
            os.path.join(a.dir, "train", "crop-t%03d.png" % i))


def cmd_pairs(a):
    found = set()
    sims = {}
    for r in csv.DictReader(open(a.found, newline="")):
        q = os.path.basename(r["query"])[:4]
        m = re.match(r"(jpeg|crop)-(t\d+)\.", os.path.basename(r["neighbour"]))
        key = (q, m.groups() if m else r["neighbour"])
        found.add(key)
        sims[key] = float(r["similarity"])
    test = sorted(f[:4] for f in os.listdir(os.path.join(a.dir, "test")))
    train = os.listdir(os.path.join(a.dir, "train"))
    planted = [(m.group(2), (m.group(1), m.group(2)))
               for m in (re.match(r"(jpeg|crop)-(t\d+)\.", f) for f in train) if m]
    missed = [p for p in planted if p not in found]
    distinct = [k for k in found if not (isinstance(k[1], tuple) and k[1][1] == k[0])]
    low = min(sims[p] for p in planted if p in sims) if len(missed) < len(planted) else 0
    print("%d of %d planted copies found (the least alike %.4f); %d pairs of distinct "
          "images of %d passed" % (len(planted) - len(missed), len(planted), low,
                                   len(distinct), len(test) * len(train) - len(planted)))
    sys.exit(1 if missed else 0)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("feats")
    f.add_argument("out")
    f.add_argument("--n", type=int, required=True)
    f.add_argument("--shape", default="64")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--prefix", default="")
    f.add_argument("--like")
    f.add_argument("--zero", type=int)
    f.add_argument("--dup", action="append")
    f.add_argument("--copies", type=int, default=0)
    f.add_argument("--labels", type=int, default=0)
    b = sub.add_parser("brute")
    b.add_argument("out")
    b.add_argument("query")
    b.add_argument("--index", action="append", required=True)
    b.add_argument("-k", type=int, default=0)
    b.add_argument("--threshold", type=float, default=-np.inf)
    b.add_argument("--all-copies", action="store_true")
    b.add_argument("--block", type=int, default=1000)
    c = sub.add_parser("compare")
    c.add_argument("got")
    c.add_argument("want")
    p = sub.add_parser("photos")
    p.add_argument("dir")
    p.add_argument("--test", type=int, default=20)
    p.add_argument("--distinct", type=int, default=40)
    p.add_argument("--planted", type=int, default=10)
    p.add_argument("--seed", type=int, default=7)
    s = sub.add_parser("pairs")
    s.add_argument("found")
    s.add_argument("dir")
    a = ap.parse_args()
    globals()["cmd_" + a.cmd](a)


if __name__ == "__main__":
    main()
