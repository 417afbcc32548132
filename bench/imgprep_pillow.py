"""Pillow peers of imgprep for bench/10-imgprep.sh.

    imgprep_pillow.py gen DIR N [smooth] write N 640x480 photo-like JPEGs
                                         (grainy, or smooth: no grain, so
                                         that decoding costs little)
    imgprep_pillow.py photos DIR N       copy scikit-learn's two sample
                                         photos (640x427 JPEGs with an sRGB
                                         profile) N/2 times each
    imgprep_pillow.py keras DIR          Keras' load_img: open, convert to
                                         RGB, resize (nearest, its default),
                                         as an array; one process
    imgprep_pillow.py draft DIR PROCS    JPEG draft mode (DCT scaling while
                                         decoding), convert, bilinear
                                         resize, as an array; PROCS processes

Prints images per second, the peak resident size in MB (of all the
processes together) and the CPU time per image in ms (user and system,
all processes): on a busy machine the CPU time still compares.
"""
import glob
import os
import resource
import shutil
import sys
import time
from multiprocessing import Pool

import numpy as np
from PIL import Image

SIZE = (224, 224)


def gen(d, n, grain=6):
    rng = np.random.default_rng(0)
    x = np.linspace(0, 1, 640, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 1, 480, dtype=np.float32)[:, None, None]
    for i in range(n):
        f = rng.uniform(2, 12, 3).astype(np.float32)
        img = 128 + 80 * np.sin(x * f[0] + y * f[1] + rng.uniform(0, 6, 3).astype(np.float32))
        img = img * (0.7 + 0.3 * np.cos(x * y * f[2]))
        if grain:
            img += rng.normal(0, grain, (480, 640, 1)).astype(np.float32)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
            os.path.join(d, f"{i:04d}.jpg"), quality=90)


def photos(d, n):
    import sklearn.datasets
    src = os.path.join(os.path.dirname(sklearn.datasets.__file__), "images")
    for i in range(n):
        name = ("china", "flower")[i % 2]
        shutil.copy(os.path.join(src, f"{name}.jpg"), os.path.join(d, f"{name}{i:04d}.jpg"))


def keras(path):
    img = Image.open(path)
    img = img.convert("RGB").resize(SIZE, Image.NEAREST)
    return np.asarray(img, dtype=np.uint8).shape


def draft(path):
    img = Image.open(path)
    img.draft("RGB", SIZE)
    img = img.convert("RGB").resize(SIZE, Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8).shape


def usage():
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(u.ru_utime + u.ru_stime for u in (own, children))
    return (own.ru_maxrss + children.ru_maxrss) / 1024, cpu


def main():
    cmd, d = sys.argv[1], sys.argv[2]
    if cmd == "gen":
        gen(d, int(sys.argv[3]), 0 if sys.argv[4:] == ["smooth"] else 6)
        return
    if cmd == "photos":
        photos(d, int(sys.argv[3]))
        return
    files = sorted(glob.glob(os.path.join(d, "*.jpg")))
    _, cpu0 = usage()
    t = time.perf_counter()
    if cmd == "keras":
        for f in files:
            keras(f)
    else:
        with Pool(int(sys.argv[3])) as pool:
            for _ in pool.imap(draft, files, chunksize=16):
                pass
    t = time.perf_counter() - t
    mb, cpu = usage()
    print(f"{len(files) / t:.1f} {mb:.0f} {(cpu - cpu0) * 1000 / len(files):.2f}")


if __name__ == "__main__":
    main()
