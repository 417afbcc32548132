"""References for topeval's confidence intervals (tests/topeval-intervals.t).

    intervals_ref.py pick FEAT PREDS OUT RULE
        writes the records of FEAT that RULE keeps, by their labels and
        classify's predictions PREDS, as the stream OUT. "edges" drops the
        records predicted class3 and the class0 records predicted as
        another: class3 is never predicted (its precision has no
        interval), none of its records is right (its recall is 0 out of
        its support) and every class0 record is (1 out of 1). "7of32"
        keeps the first 7 right and 25 wrong records: the issue's 32
        images with an accuracy of 0.22.
    intervals_ref.py wilson FEAT PREDS REPORT [edges]
        every Wilson interval of topeval's JSON REPORT against scipy's
        binomtest(k, n).proportion_ci(method="wilson") at the report's
        confidence, with k and n counted here from FEAT's labels and
        PREDS; prints "ok" or the differences, and the worst difference
        and the cases met on stderr. With edges, k = 0, k = n and n = 0
        must all be among them.
    intervals_ref.py bootstrap FEAT PREDS REPORT B TOL
        the report's intervals of macro F1 and loss against numpy's
        percentile bootstrap of the same records (its own resamples, B of
        them, seeded); prints "ok" or the bounds more than TOL times the
        interval's width apart (the Monte Carlo error of a bound grows
        with the spread of the statistic), and the worst on stderr.
PREDS is classify --top K -f jsonl with K the model's classes, so that
every class's probability is there for the loss.
"""
import json
import sys

import msgpack
import numpy as np


def read_records(path):
    with open(path, "rb") as f:
        objs = list(msgpack.Unpacker(f, raw=False))
    return objs[0], [o for o in objs if "id" in o]


def read_preds(path):
    return [json.loads(line) for line in open(path)]


def pick(feat, preds_path, out, rule):
    header, records = read_records(feat)
    preds = read_preds(preds_path)
    kept, right, wrong = [], 0, 0
    for rec, p in zip(records, preds):
        y, yp = rec["label"], p["label"]
        if rule == "edges":
            keep = yp != "class3" and (y != "class0" or yp == "class0")
        else:
            keep = right < 7 if y == yp else wrong < 25
            right += keep and y == yp
            wrong += keep and y != yp
        if keep:
            kept.append(rec)
    with open(out, "wb") as f:
        for obj in [header] + kept + [{"end": len(kept)}]:
            f.write(msgpack.packb(obj, use_bin_type=True))


def wilson(feat, preds_path, report_path, edges=False):
    from scipy.stats import binomtest
    rep = json.load(open(report_path))
    y = [r["label"] for r in read_records(feat)[1]]
    yp = [p["label"] for p in read_preds(preds_path)]
    level = rep["confidence"]
    bad, worst, seen = [], 0.0, set()

    def near(name, k, n, got):
        nonlocal worst
        seen.add("n=0" if n == 0 else "k=0" if k == 0 else "k=n" if k == n else "0<k<n")
        if n == 0:
            if got != [None, None]:
                bad.append("%s: %d of 0 has no interval; topeval %r" % (name, k, got))
            return
        ci = binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
        for g, w in zip(got, (ci.low, ci.high)):
            worst = max(worst, abs(g - w))
            if abs(g - w) > 1e-9:
                bad.append("%s: %d of %d: topeval %r, scipy %r" % (name, k, n, got,
                                                                  [ci.low, ci.high]))
                break

    near("accuracy", sum(a == b for a, b in zip(y, yp)), len(y), rep["accuracy_ci"])
    for c in rep["classes"]:
        name = c["class"]
        tp = sum(a == b == name for a, b in zip(y, yp))
        near(name + " precision", tp, yp.count(name), c["precision_ci"])
        near(name + " recall", tp, y.count(name), c["recall_ci"])
    if edges and not {"k=0", "k=n", "n=0"} <= seen:
        bad.append("the cases met were %s; k=0, k=n and n=0 were wanted" % sorted(seen))
    # The caller compares stdout with "ok": the margin goes to stderr.
    print("# worst difference from scipy %.2g at %g (allowed 1e-9); cases %s"
          % (worst, level, " ".join(sorted(seen))), file=sys.stderr)
    print("\n".join(bad) if bad else "ok")


def bootstrap(feat, preds_path, report_path, samples, tol):
    rep = json.load(open(report_path))
    classes = [c["class"] for c in rep["classes"]]
    k = len(classes)
    index = {c: i for i, c in enumerate(classes)}
    labels = [r["label"] for r in read_records(feat)[1]]
    preds = read_preds(preds_path)
    y = np.array([index.get(l, k) for l in labels])
    p = np.array([index[q["label"]] for q in preds])
    loss = np.array([-np.log({t["label"]: t["probability"] for t in q["top"]}[l])
                     for l, q in zip(labels, preds) if l in index])
    level = rep["confidence"]
    q = [50 * (1 - level), 50 * (1 + level)]
    rng = np.random.default_rng(12345)

    # Counted per resample: row b of the counts is resample b's classes.
    idx = rng.integers(0, len(y), (samples, len(y)))
    yy, pp = y[idx], p[idx]
    off = (np.arange(samples) * k)[:, None]

    def counts(cls, mask):
        return np.bincount((off + cls)[mask], minlength=samples * k).reshape(samples, k)

    known = yy < k
    tp = counts(yy, known & (yy == pp))
    both = counts(pp, np.ones_like(known)) + counts(yy, known)
    f1 = np.where(both > 0, 2 * tp / np.maximum(both, 1), 0).mean(1)
    means = loss[rng.integers(0, len(loss), (samples, len(loss)))].mean(1)
    bad, worst = [], 0.0
    for name, got, vals in (("macro f1", rep["macro_avg"]["f1_ci"], f1),
                            ("loss", rep["loss_ci"], means)):
        want = np.percentile(vals, q)
        off = abs(np.array(got) - want) / (want[1] - want[0])
        worst = max(worst, *off)
        if (off > tol).any():
            bad.append("%s: topeval %r, numpy %r" % (name, got, list(want)))
    print("# worst difference from numpy's bootstrap %.3f of the width (allowed %g)"
          % (worst, tol), file=sys.stderr)
    print("\n".join(bad) if bad else "ok")


def main():
    a = sys.argv[1:]
    if a[0] == "pick":
        pick(a[1], a[2], a[3], a[4])
    elif a[0] == "wilson":
        wilson(a[1], a[2], a[3], "edges" in a[4:])
    elif a[0] == "bootstrap":
        bootstrap(a[1], a[2], a[3], int(a[4]), float(a[5]))


if __name__ == "__main__":
    main()
