#!/usr/bin/python3
"""Generate the bundled example dataset: photos of simple shapes.

    make-dataset.py DIR [--per-class TRAIN,VALID,TEST] [--seed N]

writes DIR/{train,valid,test}/{circle,square,triangle,stripes}/NNN.jpg,
640x480 JPEGs drawn with Pillow: a shape of random colour, size, position
and rotation on a noisy gradient background. Deterministic for a seed, so
every run of the demo sees the same images. Nothing is downloaded.
"""
import argparse
import math
import os
import random

from PIL import Image, ImageDraw, ImageFilter

CLASSES = ("circle", "square", "triangle", "stripes")
WIDTH, HEIGHT = 640, 480


def background(rng):
    """A two-colour gradient with grain, so that no two images share pixels."""
    a = [rng.randint(0, 255) for _ in range(3)]
    b = [rng.randint(0, 255) for _ in range(3)]
    grad = Image.linear_gradient("L").resize((WIDTH, HEIGHT))
    img = Image.composite(Image.new("RGB", (WIDTH, HEIGHT), tuple(a)),
                          Image.new("RGB", (WIDTH, HEIGHT), tuple(b)), grad)
    noise = Image.effect_noise((WIDTH, HEIGHT), rng.uniform(8, 24))
    return Image.blend(img, Image.merge("RGB", (noise, noise, noise)), 0.15)


def contrasting_colour(rng):
    return tuple(rng.choice((rng.randint(0, 60), rng.randint(195, 255))) for _ in range(3))


def draw_shape(img, cls, rng):
    draw = ImageDraw.Draw(img)
    colour = contrasting_colour(rng)
    r = rng.uniform(60, 150)
    cx = rng.uniform(r, WIDTH - r)
    cy = rng.uniform(r, HEIGHT - r)
    angle = rng.uniform(0, 2 * math.pi)
    if cls == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif cls in ("square", "triangle"):
        corners = 4 if cls == "square" else 3
        pts = [(cx + r * math.cos(angle + 2 * math.pi * k / corners),
                cy + r * math.sin(angle + 2 * math.pi * k / corners))
               for k in range(corners)]
        draw.polygon(pts, fill=colour)
    else:
        # Parallel bands across a rotated square patch.
        width = rng.uniform(10, 25)
        dx, dy = math.cos(angle), math.sin(angle)
        for k in range(-4, 5, 2):
            ox, oy = -dy * k * width, dx * k * width
            pts = [(cx + ox - dx * r, cy + oy - dy * r), (cx + ox + dx * r, cy + oy + dy * r),
                   (cx + ox + dx * r - dy * width, cy + oy + dy * r + dx * width),
                   (cx + ox - dx * r - dy * width, cy + oy - dy * r + dx * width)]
            draw.polygon(pts, fill=colour)
    return img.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.5)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--per-class", default="24,8,8",
                    help="images per class in train, valid, test (default 24,8,8)")
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    counts = [int(n) for n in args.per_class.split(",")]
    if len(counts) != 3 or min(counts) < 0:
        ap.error("--per-class takes three counts: TRAIN,VALID,TEST")
    for split, count in zip(("train", "valid", "test"), counts):
        for ci, cls in enumerate(CLASSES):
            folder = os.path.join(args.dir, split, cls)
            os.makedirs(folder, exist_ok=True)
            for i in range(count):
                rng = random.Random(f"{args.seed}/{split}/{cls}/{i}")
                img = draw_shape(background(rng), cls, rng)
                img.save(os.path.join(folder, f"{i:03d}.jpg"), quality=90)


if __name__ == "__main__":
    main()
