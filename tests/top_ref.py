"""Independent references for the top-model tests.

    top_ref.py logreg NPZ L2 [std]
        scikit-learn's multinomial LogisticRegression on the split in NPZ,
        regularised as topfit --hidden '' --l2 L2; prints validation
        accuracy and log-loss.
    top_ref.py mlp NPZ HIDDEN DROPOUT EPOCHS BATCH LR L2 SEED [bn] [std]
        the same MLP as topfit --hidden HIDDEN, trained in PyTorch with
        Adam and the same hyper-parameters; prints validation accuracy and
        log-loss. With bn, batch normalisation before each ReLU.
    With std, the features are first standardised by scikit-learn's
    StandardScaler fitted on the training split, as topfit does by default.
    top_ref.py metrics VALID.feat PREDICTIONS.jsonl REPORT.json
        checks topeval's JSON report against sklearn.metrics computed on
        classify's predictions of the same records; prints "ok" or the
        differences.
"""
import json
import sys

import numpy as np


def load(npz, std):
    d = dict(np.load(npz))
    if std:
        from sklearn.preprocessing import StandardScaler
        s = StandardScaler().fit(d["xt"].astype(np.float64))
        d["xt"] = s.transform(d["xt"]).astype(np.float32)
        d["xv"] = s.transform(d["xv"]).astype(np.float32)
    return d


def logreg(npz, l2, std=False):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, log_loss
    d = load(npz, std)
    n = len(d["xt"])
    # topfit minimises (1/n) sum_i CE_i + l2 ||W||^2 (bias not penalised);
    # sklearn minimises C sum_i CE_i + ||W||^2 / 2 (intercept not
    # penalised). Dividing sklearn's objective by C n gives topfit's with
    # l2 = 1 / (2 C n), so C = 1 / (2 l2 n).
    c = 1.0 / (2.0 * l2 * n)
    m = LogisticRegression(C=c, max_iter=5000, tol=1e-8)
    m.fit(d["xt"], d["yt"])
    p = m.predict_proba(d["xv"])
    print("%.6f %.6f" % (accuracy_score(d["yv"], m.classes_[p.argmax(1)]),
                         log_loss(d["yv"], p, labels=m.classes_)))


def mlp(npz, hidden, dropout, epochs, batch, lr, l2, seed, bn=False, std=False):
    import torch
    from sklearn.metrics import accuracy_score, log_loss
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    d = load(npz, std)
    classes = sorted(set(d["yt"]))
    index = {c: i for i, c in enumerate(classes)}
    xt = torch.tensor(d["xt"])
    yt = torch.tensor([index[c] for c in d["yt"]])
    xv = torch.tensor(d["xv"])
    layers, width = [], xt.shape[1]
    for h in hidden:
        layers.append(torch.nn.Linear(width, h))
        if bn:
            # topfit's epsilon; its running statistics keep 0.9 of the old.
            layers.append(torch.nn.BatchNorm1d(h, eps=1e-3, momentum=0.1))
        layers.append(torch.nn.ReLU())
        if dropout > 0:
            layers.append(torch.nn.Dropout(dropout))
        width = h
    layers.append(torch.nn.Linear(width, len(classes)))
    model = torch.nn.Sequential(*layers)
    weights = []
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            # topfit's initialisation: Glorot uniform, zero bias.
            torch.nn.init.xavier_uniform_(layer.weight)
            torch.nn.init.zeros_(layer.bias)
            weights.append(layer.weight)
    others = [p for p in model.parameters() if all(p is not w for w in weights)]
    # l2 * ||W||^2 in the objective is weight decay 2 l2 on W only.
    opt = torch.optim.Adam([{"params": weights, "weight_decay": 2 * l2},
                            {"params": others}], lr=lr)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(xt))
        for s in range(0, len(xt), batch):
            idx = order[s:s + batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        p = torch.softmax(model(xv), 1).numpy().astype(np.float64)
    p /= p.sum(1, keepdims=True)
    pred = np.array(classes)[p.argmax(1)]
    print("%.6f %.6f" % (accuracy_score(d["yv"], pred),
                         log_loss(d["yv"], p, labels=classes)))


def read_labels(path):
    import msgpack
    labels = []
    with open(path, "rb") as f:
        for obj in msgpack.Unpacker(f, raw=False):
            if "id" in obj:
                labels.append(obj.get("label"))
    return labels


def metrics(feat, preds_path, report_path):
    from sklearn.metrics import (accuracy_score, confusion_matrix, log_loss,
                                 precision_recall_fscore_support)
    rep = json.load(open(report_path))
    preds = [json.loads(line) for line in open(preds_path)]
    y = read_labels(feat)
    classes = [c["class"] for c in rep["classes"]]
    known = [i for i, t in enumerate(y) if t in classes]
    yp = [p["label"] for p in preds]
    probs = np.array([[dict((t["label"], t["probability"]) for t in p["top"])[c]
                       for c in classes] for p in preds])
    bad, worst = [], {}

    # The counts' ratios are exact on both sides but for the report's ten
    # significant digits: 4.7e-11 off at most, measured. The loss comes
    # from float32 probabilities, which topeval takes in full and sklearn
    # takes as classify printed them, renormalised: up to 4.1e-9 off with
    # OpenBLAS's SkylakeX, Haswell and Sandybridge kernels. Each is held
    # to about twenty times its worst.
    def near(name, got, want, tol=1e-9):
        key = "loss" if name == "loss" else "metrics"
        worst[key] = max(worst.get(key, (0, tol)), (abs(got - want), tol))
        if abs(got - want) > tol:
            bad.append("%s: topeval %r, sklearn %r" % (name, got, want))

    near("accuracy", rep["accuracy"], accuracy_score(y, yp))
    near("loss", rep["loss"], log_loss([y[i] for i in known], probs[known],
                                       labels=classes), 8e-8)
    p, r, f, s = precision_recall_fscore_support(y, yp, labels=classes,
                                                 zero_division=0)
    for i, c in enumerate(rep["classes"]):
        near(c["class"] + " precision", c["precision"], p[i])
        near(c["class"] + " recall", c["recall"], r[i])
        near(c["class"] + " f1", c["f1"], f[i])
        near(c["class"] + " support", c["support"], s[i])
    for avg in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y, yp, labels=classes, average=avg, zero_division=0)
        near(avg + " precision", rep[avg + "_avg"]["precision"], p)
        near(avg + " recall", rep[avg + "_avg"]["recall"], r)
        near(avg + " f1", rep[avg + "_avg"]["f1"], f)
    cm = confusion_matrix([y[i] for i in known], [yp[i] for i in known],
                          labels=classes)
    if rep["confusion"][:len(classes)] != cm.tolist():
        bad.append("confusion matrix: topeval %r, sklearn %r"
                   % (rep["confusion"], cm.tolist()))
    # The caller compares stdout with "ok": the margins go to stderr.
    for key, (diff, tol) in sorted(worst.items()):
        print("# %s: worst difference %.2g (allowed %g)" % (key, diff, tol), file=sys.stderr)
    print("\n".join(bad) if bad else "ok")


def main():
    a = sys.argv[1:]
    if a[0] == "logreg":
        logreg(a[1], float(a[2]), "std" in a[3:])
    elif a[0] == "mlp":
        mlp(a[1], [int(h) for h in a[2].split(",") if h], float(a[3]),
            int(a[4]), int(a[5]), float(a[6]), float(a[7]), int(a[8]),
            "bn" in a[9:], "std" in a[9:])
    elif a[0] == "metrics":
        metrics(a[1], a[2], a[3])


if __name__ == "__main__":
    main()
