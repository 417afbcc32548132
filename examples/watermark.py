#!/usr/bin/python3
"""A data set with a planted shortcut, for topcam to find.

    examples/watermark.py DIR

Writes DIR/train and DIR/test, each with class folders circle/ and
square/: 256x256 JPEGs of one shape on a blotchy background. Every
training square carries a white "(c)" stamp in its bottom right corner,
as the photos of one source often do, and no training circle does; in the
test split half of each class carries it. A model can then score on
training data by reading the stamp instead of the shape, and on the test
split it calls the stamped circles squares: the maps show where it looked.
Seeded: the same files every time.
"""
import os
import random
import sys

from PIL import Image, ImageDraw, ImageFilter


def photo(rng, shape, stamped):
    ground = tuple(rng.randrange(90, 200) for _ in range(3))
    im = Image.new("RGB", (256, 256), ground)
    draw = ImageDraw.Draw(im)
    for _ in range(30):
        x, y = rng.randrange(256), rng.randrange(256)
        blotch = tuple(max(0, min(255, v + rng.randrange(-40, 40))) for v in ground)
        draw.ellipse((x, y, x + rng.randrange(10, 50), y + rng.randrange(10, 50)), fill=blotch)
    colour = tuple(rng.randrange(256) for _ in range(3))
    x, y, r = rng.randrange(60, 150), rng.randrange(60, 150), rng.randrange(30, 50)
    if shape == "circle":
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    else:
        draw.rectangle((x - r, y - r, x + r, y + r), fill=colour)
    if stamped:
        draw.rectangle((214, 214, 246, 246), fill=(255, 255, 255))
        draw.text((218, 224), "(c)", fill=(0, 0, 0))
    return im.filter(ImageFilter.GaussianBlur(1))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: examples/watermark.py DIR")
    rng = random.Random(7)
    for split, n in (("train", 40), ("test", 12)):
        for shape in ("circle", "square"):
            folder = os.path.join(sys.argv[1], split, shape)
            os.makedirs(folder, exist_ok=True)
            for i in range(n):
                stamped = shape == "square" if split == "train" else i % 2 == 0
                photo(rng, shape, stamped).save(os.path.join(folder, f"{i:02d}.jpg"),
                                                quality=92)


if __name__ == "__main__":
    main()
