"""scikit-learn's bundled digits as a small labelled image set.

    digits.py DIR TRAIN VALID

writes DIR/train/D/NNNN.png and DIR/valid/D/NNNN.png (D the digit): the
8x8 images scaled to 0..255 and to 32x32 (bilinear), RGB; TRAIN images for
training and the next VALID for validation, in an order drawn from a fixed
seed. Deterministic, and nothing is downloaded.
"""
import os
import sys

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


def main():
    out, n_train, n_valid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    d = load_digits()
    order = np.random.default_rng(7).permutation(len(d.images))
    splits = (("train", order[:n_train]), ("valid", order[n_train:n_train + n_valid]))
    for split, idx in splits:
        for i in idx:
            folder = os.path.join(out, split, str(d.target[i]))
            os.makedirs(folder, exist_ok=True)
            pixels = (d.images[i] * (255 / 16)).round().astype(np.uint8)
            Image.fromarray(pixels).resize((32, 32), Image.BILINEAR).convert("RGB").save(
                os.path.join(folder, "%04d.png" % i))


if __name__ == "__main__":
    main()
