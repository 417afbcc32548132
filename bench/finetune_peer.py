"""Fine-tuning's peer for make bench: the same block 5 + top in PyTorch.

    finetune_peer.py gen DIR N SIZE
        DIR/train4.feat: N labelled records of [SIZE, SIZE, 512] ReLU-like
        block4_pool features made with vggfeat --init-random 1's weights
        (two classes); DIR/top.model: a top for their block5_pool
        features as Chollet's (standardisation, dense 256, ReLU, dropout
        0.5, dense, softmax).
    finetune_peer.py torch DIR EPOCHS THREADS
        trains VGG16's block 5 and that top in PyTorch (float32, SGD at
        1e-4 with momentum 0.9, batches of 16) on the same tensors, held
        in memory; prints the best epoch's images per second and the peak
        resident memory in MB.
"""
import resource
import sys
import time

import msgpack
import numpy as np


def tensor(a):
    a = np.ascontiguousarray(a, dtype="<f4")
    return {"shape": list(a.shape), "dtype": "f32", "data": a.tobytes()}


def provenance(layer, size):
    return {"backbone": "vgg16", "weights": "random:1", "layer": layer, "pooling": "none",
            "preprocess": "caffe", "size": [size, size], "fit": "crop"}


def gen(d, n, size):
    n, size = int(n), int(size)
    rng = np.random.default_rng(1)
    # Image size whose block4_pool maps are size x size.
    image = size * 16
    with open(d + "/train4.feat", "wb") as f:
        f.write(msgpack.packb({"vggpipe": 1, "kind": "features",
                               "provenance": provenance("block4_pool", image)}))
        block = rng.standard_normal((64, size, size, 512)).astype(np.float32)
        for i in range(n):
            x = np.maximum(block[i % 64] * 20 + (i % 7), 0)
            f.write(msgpack.packb({"id": "img%06d.jpg" % i, "label": "c%d" % (i % 2),
                                   "features": tensor(x)}))
        f.write(msgpack.packb({"end": n}))
    half = size // 2
    width = half * half * 512
    layers = [
        {"type": "standardize", "mean": tensor(np.full(512, 5.0)),
         "scale": tensor(np.full(512, 0.05))},
        {"type": "dense", "weights": tensor(rng.uniform(-1, 1, (width, 256)) * np.sqrt(6 / (width + 256))),
         "bias": tensor(np.zeros(256))},
        {"type": "relu"},
        {"type": "dropout", "rate": 0.5},
        {"type": "dense", "weights": tensor(rng.uniform(-1, 1, (256, 2)) * np.sqrt(6 / 258)),
         "bias": tensor(np.zeros(2))},
        {"type": "softmax"},
    ]
    with open(d + "/top.model", "wb") as f:
        f.write(msgpack.packb({"vggpipe": 1, "kind": "model", "classes": ["c0", "c1"],
                               "provenance": provenance("block5_pool", image),
                               "input_shape": [half, half, 512], "layers": layers}))
        f.write(msgpack.packb({"end": 0}))


def peer(d, epochs, threads):
    import torch
    torch.set_num_threads(int(threads))
    xs, ys = [], []
    with open(d + "/train4.feat", "rb") as f:
        for o in msgpack.Unpacker(f, raw=False):
            if "id" in o:
                t = o["features"]
                xs.append(np.frombuffer(t["data"], "<f4").reshape(t["shape"]))
                ys.append(int(o["label"][1:]))
    x = torch.tensor(np.stack(xs)).permute(0, 3, 1, 2).contiguous()
    y = torch.tensor(ys)
    size = x.shape[2] // 2
    layers = []
    for _ in range(3):
        layers += [torch.nn.Conv2d(512, 512, 3, padding=1), torch.nn.ReLU()]
    layers += [torch.nn.MaxPool2d(2), torch.nn.Flatten(),
               torch.nn.Linear(size * size * 512, 256), torch.nn.ReLU(),
               torch.nn.Dropout(0.5), torch.nn.Linear(256, 2)]
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    best = 0
    for _ in range(int(epochs)):
        model.train()
        order = torch.randperm(len(x))
        start = time.perf_counter()
        for s in range(0, len(x), 16):
            i = order[s:s + 16]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[i]), y[i]).backward()
            opt.step()
        best = max(best, len(x) / (time.perf_counter() - start))
    print("%.2f %.0f" % (best, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def main():
    a = sys.argv[1:]
    {"gen": gen, "torch": peer}[a[0]](*a[1:])


if __name__ == "__main__":
    main()
