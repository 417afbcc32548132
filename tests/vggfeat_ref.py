"""Test helper for vggfeat, run with Debian's /usr/bin/python3.

  weights SEED DIR [FILE...]
                         random VGG16 weights in every layout users have
                         (Keras 1, tf.keras full file, Keras 3 legacy h5 and
                         native .weights.h5, a saved model, a model with
                         the base nested, torchvision safetensors) and broken
                         files for the error tests, or only the FILEs named;
                         always DIR/weights.npz
  scaled SEED LAYER SCALE FILE
                         the random weights of SEED in the published file's
                         layout, LAYER's kernel and bias multiplied by SCALE:
                         every activation after it SCALE times as large
  images OUT WxH...      an image stream, one random image per size, or
                         the previous image again for "="
  reference NPZ IMAGES OUT
                         torchvision's vgg16().features in float64 on those
                         weights: every block's output, every preprocessing
  compare REF (ALGO MODE LAYER POOL FEATURES)...
                         one "ok"/"not ok" line per record and layer, at
                         the ALGO's tolerance; then the worst ratio per
                         algorithm and block
"""
import json
import struct
import sys

import h5py
import msgpack
import numpy as np

BLOCKS = [[(3, 64), (64, 64)], [(64, 128), (128, 128)],
          [(128, 256), (256, 256), (256, 256)],
          [(256, 512), (512, 512), (512, 512)],
          [(512, 512), (512, 512), (512, 512)]]
CONVS = [(f"block{b + 1}_conv{c + 1}", cin, cout)
         for b, block in enumerate(BLOCKS) for c, (cin, cout) in enumerate(block)]
# torchvision's features.N index of each convolution
TORCH_INDEX = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
KERAS_LAYERS = ["input_1"] + [n for b in range(5) for n in
                              [c[0] for c in CONVS if c[0].startswith(f"block{b + 1}_")]
                              + [f"block{b + 1}_pool"]]


def random_weights(seed):
    rng = np.random.default_rng(seed)
    out = {}
    for name, cin, cout in CONVS:
        out[name + "/kernel"] = (rng.standard_normal((3, 3, cin, cout))
                                 * np.sqrt(2.0 / (9 * cin))).astype(np.float32)
        out[name + "/bias"] = (rng.standard_normal(cout) * 0.1).astype(np.float32)
    return out


def names_attr(names):
    return np.array([n.encode() for n in names], dtype="S")


def write_keras(path, w, kernel_name, bias_name, dense=False, chunked=False,
                vlen=False, under=None, drop=None, reshape=None):
    """A Keras weights file: layer_names at the root (or under a group),
    weight_names on every layer group, datasets at group/weight_name."""
    with h5py.File(path, "w") as f:
        root = f.create_group(under) if under else f
        layers = [l for l in KERAS_LAYERS if l != drop]
        if dense:
            layers += ["flatten", "fc1", "predictions"]
        if chunked:
            half = len(layers) // 2
            root.attrs["layer_names0"] = names_attr(layers[:half])
            root.attrs["layer_names1"] = names_attr(layers[half:])
        else:
            root.attrs["layer_names"] = names_attr(layers)
        root.attrs["backend"] = b"tensorflow"
        root.attrs["keras_version"] = b"2.12.0"
        for layer in layers:
            g = root.create_group(layer)
            values = []
            if layer + "/kernel" in w:
                values = [(kernel_name(layer), w[layer + "/kernel"]),
                          (bias_name(layer), w[layer + "/bias"])]
            elif layer in ("fc1", "predictions"):
                values = [(kernel_name(layer), np.ones((8, 4), np.float32)),
                          (bias_name(layer), np.zeros(4, np.float32))]
            if values and reshape and layer == reshape[0]:
                values[0] = (values[0][0], np.zeros(reshape[1], np.float32))
            if vlen:
                g.attrs.create("weight_names", [n for n, _ in values],
                               dtype=h5py.string_dtype())
            else:
                g.attrs["weight_names"] = (names_attr([n for n, _ in values])
                                           if values else np.array([]))
            for n, v in values:
                g.create_dataset(n, data=v)


def write_keras_nested(path, w):
    """A user's model with the VGG16 base nested in it as one layer, as
    tf.keras save_weights writes it: the base's 26 weights in one layer."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = names_attr(["vgg16", "flatten", "dense"])
        base = f.create_group("vgg16")
        names = []
        for name, _, _ in CONVS:
            for part in ("kernel", "bias"):
                names.append(f"{name}/{part}:0")
                base.create_dataset(names[-1], data=w[f"{name}/{part}"])
        base.attrs["weight_names"] = names_attr(names)
        f.create_group("flatten").attrs["weight_names"] = np.array([])
        dense = f.create_group("dense")
        dense.attrs["weight_names"] = names_attr(["dense/kernel:0", "dense/bias:0"])
        dense.create_dataset("dense/kernel:0", data=np.ones((8, 4), np.float32))
        dense.create_dataset("dense/bias:0", data=np.zeros(4, np.float32))


def write_keras_native(path, w):
    """Keras 3's native .weights.h5: no layer_names; layers/NAME/vars/0, 1."""
    with h5py.File(path, "w") as f:
        f.create_group("vars")
        layers = f.create_group("layers")
        for layer in KERAS_LAYERS:
            v = layers.create_group(layer).create_group("vars")
            if layer + "/kernel" in w:
                v.create_dataset("0", data=w[layer + "/kernel"])
                v.create_dataset("1", data=w[layer + "/bias"])


def write_safetensors(path, w, drop=None, extra_header=None):
    tensors = []
    for (name, cin, cout), idx in zip(CONVS, TORCH_INDEX):
        if drop == name:
            continue
        tensors.append((f"features.{idx}.weight",
                        np.ascontiguousarray(w[name + "/kernel"].transpose(3, 2, 0, 1))))
        tensors.append((f"features.{idx}.bias", w[name + "/bias"]))
    tensors.append(("classifier.6.bias", np.zeros(10, np.float32)))
    header, data, off = {"__metadata__": {"format": "pt"}}, b"", 0
    for name, v in tensors:
        b = v.astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(v.shape),
                        "data_offsets": [off, off + len(b)]}
        data += b
        off += len(b)
    header.update(extra_header or {})
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def cmd_weights(seed, d, *only):
    w = random_weights(int(seed))
    np.savez(f"{d}/weights.npz", **w)
    keras2 = (lambda l: f"{l}/kernel:0", lambda l: f"{l}/bias:0")
    files = {
        # The published notop file's Keras 1 names.
        "keras1.h5": lambda p: write_keras(p, w, lambda l: f"{l}_W_1:0",
                                           lambda l: f"{l}_b_1:0"),
        # tf.keras save_weights of the whole network, dense top included.
        "keras2-full.h5": lambda p: write_keras(p, w, *keras2, dense=True),
        # Keras 3's legacy writer: no ':0', variable-length UTF-8 names;
        # layer_names in chunks as Keras writes long lists.
        "keras3.h5": lambda p: write_keras(p, w, lambda l: f"{l}/kernel",
                                           lambda l: f"{l}/bias", chunked=True, vlen=True),
        "native.weights.h5": lambda p: write_keras_native(p, w),
        "nested.h5": lambda p: write_keras_nested(p, w),
        # A whole saved model: the weights under model_weights.
        "model.h5": lambda p: write_keras(p, w, *keras2, under="model_weights", dense=True),
        "vgg16.safetensors": lambda p: write_safetensors(p, w),
        "missing.h5": lambda p: write_keras(p, w, *keras2, drop="block5_conv3"),
        "shape.h5": lambda p: write_keras(p, w, *keras2,
                                          reshape=("block3_conv1", (3, 3, 64, 256))),
        "missing.safetensors": lambda p: write_safetensors(p, w, drop="block2_conv1"),
        "offsets.safetensors": lambda p: write_safetensors(p, w, extra_header={
            "features.0.bias": {"dtype": "F32", "shape": [64],
                                "data_offsets": [1 << 40, (1 << 40) + 256]}}),
    }
    for name in only or files:
        files[name](f"{d}/{name}")


def cmd_scaled(seed, layer, scale, path):
    w = random_weights(int(seed))
    for part in ("kernel", "bias"):
        w[f"{layer}/{part}"] = w[f"{layer}/{part}"] * np.float32(scale)
    write_keras(path, w, lambda l: f"{l}_W_1:0", lambda l: f"{l}_b_1:0")


def cmd_images(out, *sizes):
    rng = np.random.default_rng(7)
    w0, h0 = map(int, sizes[0].split("x"))
    with open(out, "wb") as f:
        f.write(msgpack.packb({"vggpipe": 1, "kind": "images", "size": [w0, h0],
                               "fit": "crop", "classes": ["cat", "dog"]}))
        for i, s in enumerate(sizes):
            if s != "=":
                wd, ht = map(int, s.split("x"))
                # Gradients plus noise: like a photo, every value used.
                y, x = np.mgrid[0:ht, 0:wd]
                base = np.stack([x * 255 / wd, y * 255 / ht, (x + y) * 127 / (wd + ht)], -1)
                img = np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8)
            f.write(msgpack.packb({"id": f"img{i}.jpg", "label": ["cat", "dog"][i % 2],
                                   "image": {"shape": [ht, wd, 3], "dtype": "u8",
                                             "data": img.tobytes()}}))
        f.write(msgpack.packb({"end": len(sizes)}))


def read_stream(path):
    with open(path, "rb") as f:
        objs = list(msgpack.Unpacker(f, raw=False))
    return objs[0], [o for o in objs if "id" in o and "end" not in o]


def preprocess(img, mode):
    x = img.astype(np.float64)
    if mode == "caffe":
        return x[..., ::-1] - np.array([103.939, 116.779, 123.68])
    if mode == "torch":
        return (x / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    return x / 255


def cmd_reference(npz, images, out):
    import torch
    import torchvision

    torch.set_num_threads(2)
    w = np.load(npz)
    net = torchvision.models.vgg16().features.double().eval()
    for (name, _, _), idx in zip(CONVS, TORCH_INDEX):
        net[idx].weight.data = torch.from_numpy(
            w[name + "/kernel"].astype(np.float64).transpose(3, 2, 0, 1).copy())
        net[idx].bias.data = torch.from_numpy(w[name + "/bias"].astype(np.float64))
    _, records = read_stream(images)
    refs, done = {}, {}
    with torch.no_grad():
        for i, r in enumerate(records):
            t = r["image"]
            # float64 convolutions are slow: an image repeated in the
            # stream (to fill batches) is computed once.
            if t["data"] in done:
                for key, v in done[t["data"]].items():
                    refs[f"{key[0]}/{i}/{key[1]}"] = v
                continue
            done[t["data"]] = {}
            img = np.frombuffer(t["data"], np.uint8).reshape(t["shape"])
            for mode in ("caffe", "torch", "rescale"):
                h = torch.from_numpy(preprocess(img, mode).transpose(2, 0, 1).copy())[None]
                block = 0
                for layer in net:
                    h = layer(h)
                    if isinstance(layer, torch.nn.MaxPool2d):
                        block += 1
                        v = h[0].numpy().transpose(1, 2, 0)
                        refs[f"{mode}/{i}/{block}"] = done[t["data"]][(mode, block)] = v
    np.savez(out, **refs)


# The largest |vggfeat - float64 reference| allowed, per algorithm, as a
# fraction of the layer's largest activation. The worst measured over every
# block: im2col 9.7e-7 with OpenBLAS's SkylakeX, Haswell and Sandybridge
# kernels (OPENBLAS_CORETYPE), Winograd 1.9e-6 with the avx512, avx2 and
# baseline builds of its kernels (VGGPIPE_KERNELS); each is held to
# about 15 times that. vggfeat(1) promises only 1e-4 and 1e-3, under which
# a Winograd coefficient wrong in its fourth digit (8.8e-4) would pass.
TOLERANCE = {"im2col": 1.5e-5, "winograd": 2.5e-5}


def cmd_compare(ref, *runs):
    refs = np.load(ref)
    worst = {}
    for k in range(0, len(runs), 5):
        algo, mode, layer, pool, path = runs[k:k + 5]
        block = int(layer[5])
        _, records = read_stream(path)
        for i, r in enumerate(records):
            t = r["features"]
            got = np.frombuffer(t["data"], "<f4").reshape(t["shape"]).astype(np.float64)
            want = refs[f"{mode}/{i}/{block}"]
            if pool == "avg":
                want = want.mean(axis=(0, 1))
            elif pool == "max":
                want = want.max(axis=(0, 1))
            desc = f"{path} record {i + 1} ({r['id']}): {algo} {mode} {layer} pool {pool}"
            if got.shape != want.shape:
                print(f"not ok {desc}: shape {got.shape}, expected {want.shape}")
                continue
            ratio = np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)
            worst[algo, block] = max(worst.get((algo, block), 0.0), ratio)
            print(f"{'ok' if ratio <= TOLERANCE[algo] else 'not ok'} {desc}: "
                  f"max |diff| / max |ref| = {ratio:.2e} (allowed {TOLERANCE[algo]:.2g})")
    for (algo, block), ratio in sorted(worst.items()):
        print(f"# worst ratio {algo} block{block}_pool {ratio:.2e} "
              f"(allowed {TOLERANCE[algo]:.2g})")


if __name__ == "__main__":
    {"weights": cmd_weights, "images": cmd_images, "reference": cmd_reference,
     "compare": cmd_compare, "scaled": cmd_scaled}[sys.argv[1]](*sys.argv[2:])
