"""Reference images and checks for the imgprep tests, with Pillow and numpy
as the independent side.

    imgprep_ref.py gen DIR             write the test images into DIR
    imgprep_ref.py ids STREAM          print each record's id, label, copy
    imgprep_ref.py compare STREAM ID REF [MEAN MAX]
        compare the record with id ID against the reference REF (below);
        with no bounds the arrays must be equal. Prints the mean and max
        absolute difference.
    imgprep_ref.py same STREAM_A STREAM_B   same records, in any order

REF is FILE[:op[:op...]] where FILE is decoded by Pillow (EXIF orientation
applied, alpha flattened on white) and each op is one of crop=WxH,
squash=WxH, pad=WxH (PIL bicubic, the box of the fit rule), draft=WxH
(PIL's JPEG draft mode before decoding), mirror, flipv, rot=DEG (PIL
rotate, bilinear, same size, white fill), hb (16-bit: the high byte).
"""
import os
import struct
import sys
import zlib

import msgpack
import numpy as np
from PIL import Image, ImageOps


def read_stream(path):
    """Records of a single-segment images stream, checked against the
    trailer."""
    with open(path, "rb") as f:
        objs = list(msgpack.Unpacker(f, raw=False, unicode_errors="surrogateescape"))
    header, records, trailer = objs[0], objs[1:-1], objs[-1]
    assert header["kind"] == "images", header
    assert trailer == {"end": len(records)}, trailer
    for r in records:
        t = r["image"]
        assert t["dtype"] == "u8"
        r["array"] = np.frombuffer(t["data"], np.uint8).reshape(t["shape"])
        if isinstance(r["id"], bytes):
            r["id"] = r["id"].decode("utf-8", "surrogateescape")
    return header, records


def smooth(w, h, seed):
    """A photo-like image: gradients and soft shapes, little noise, so that
    resampling differences stay small and measurable."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    for c in range(3):
        fx, fy, ph = rng.uniform(1, 4), rng.uniform(1, 4), rng.uniform(0, 6)
        img[..., c] = 128 + 90 * np.sin(fx * x / w * 6.28 + ph) * np.cos(fy * y / h * 6.28)
    cx, cy = w * 0.35, h * 0.4
    img[(x - cx) ** 2 + (y - cy) ** 2 < (min(w, h) / 5) ** 2] = (230, 40, 30)
    return np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)


def png16(path, a):
    """A 16-bit RGB PNG (Pillow cannot write one)."""
    h, w, _ = a.shape
    raw = b"".join(b"\0" + a[i].astype(">u2").tobytes() for i in range(h))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data)))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def gen(d):
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    im = Image.fromarray(noise)
    im.save(f"{d}/noise.png")
    im.save(f"{d}/noise.tif")
    im.save(f"{d}/noise.webp", lossless=True)
    im.save(f"{d}/noise.jpg", quality=95)
    im.quantize(200).save(f"{d}/noise.gif")
    Image.fromarray(noise[..., 0]).save(f"{d}/grey.png")
    Image.fromarray(rng.integers(0, 256, (30, 40, 4), dtype=np.uint8)).save(f"{d}/rgba.png")
    Image.fromarray(rng.integers(0, 256, (30, 40, 2), dtype=np.uint8), "LA").save(f"{d}/greya.png")
    Image.fromarray(rng.integers(0, 65536, (30, 40), dtype=np.uint16)).save(f"{d}/grey16.png")
    png16(f"{d}/rgb16.png", rng.integers(0, 65536, (30, 40, 3), dtype=np.uint16))
    Image.fromarray(noise[:1, :1]).save(f"{d}/tiny1.png")
    Image.fromarray(noise[:3, :2]).save(f"{d}/tiny23.png")
    Image.fromarray(smooth(640, 480, 1)).save(f"{d}/smooth.png")
    Image.fromarray(smooth(640, 480, 1)).save(f"{d}/smooth.jpg", quality=95)
    Image.fromarray(smooth(3000, 2000, 2)).save(f"{d}/large.jpg", quality=90)
    # EXIF orientations: the stored pixels are the picture turned the other
    # way, so that every file shows the same upright picture.
    upright = Image.fromarray(smooth(64, 32, 3))
    undo = {1: [], 2: [Image.FLIP_LEFT_RIGHT], 3: [Image.ROTATE_180],
            4: [Image.FLIP_TOP_BOTTOM], 5: [Image.TRANSPOSE],
            6: [Image.ROTATE_90], 7: [Image.TRANSVERSE], 8: [Image.ROTATE_270]}
    upright.save(f"{d}/upright.png")
    for o, ops in undo.items():
        stored = upright
        for op in ops:
            stored = stored.transpose(op)
        exif = Image.Exif()
        exif[0x0112] = o
        stored.save(f"{d}/orient{o}.jpg", quality=100, subsampling=0, exif=exif.tobytes())
    for name, data in [("empty.png", b""), ("text.jpg", b"not an image\n"),
                       ("corrupt.png", open(f"{d}/noise.png", "rb").read()[:60] + b"\0" * 200)]:
        with open(f"{d}/{name}", "wb") as f:
            f.write(data)
    full = open(f"{d}/smooth.jpg", "rb").read()
    with open(f"{d}/truncated.jpg", "wb") as f:
        f.write(full[: len(full) // 2])


def fit_box(w, h, tw, th, fit):
    """The source box and the scaled size of imgprep's fit rules."""
    if fit == "squash":
        return (0, 0, w, h), (tw, th)
    s = max(tw / w, th / h) if fit == "crop" else min(tw / w, th / h)
    if fit == "crop":
        cw, ch = min(w, max(1, round(tw / s))), min(h, max(1, round(th / s)))
        left, top = (w - cw) // 2, (h - ch) // 2
        return (left, top, left + cw, top + ch), (tw, th)
    return (0, 0, w, h), (min(tw, max(1, round(w * s))), min(th, max(1, round(h * s))))


def reference(spec):
    parts = spec.split(":")
    im = Image.open(parts[0])
    for op in parts[1:]:
        if op.startswith("draft="):
            im.draft("RGB", tuple(int(v) for v in op[6:].split("x")))
    if "hb" in parts[1:]:
        a = np.array(im)
        if a.dtype != np.uint8:
            a = (a.astype(np.uint32) >> 8).astype(np.uint8)
        im = Image.fromarray(np.stack([a] * 3, -1) if a.ndim == 2 else a)
    im = ImageOps.exif_transpose(im)
    if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    im = im.convert("RGB")
    for op in parts[1:]:
        name, _, arg = op.partition("=")
        if name in ("crop", "squash", "pad"):
            tw, th = (int(v) for v in arg.split("x"))
            box, (sw, sh) = fit_box(im.width, im.height, tw, th, name)
            scaled = im.resize((sw, sh), Image.BICUBIC, box=box)
            im = Image.new("RGB", (tw, th), (255, 255, 255))
            im.paste(scaled, ((tw - sw) // 2, (th - sh) // 2))
        elif name == "mirror":
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        elif name == "flipv":
            im = im.transpose(Image.FLIP_TOP_BOTTOM)
        elif name == "rot":
            im = im.rotate(float(arg), Image.BILINEAR, fillcolor=(255, 255, 255))
    return np.array(im)


def compare(stream, rid, ref, bounds):
    _, records = read_stream(stream)
    got = [r for r in records if r["id"] == rid]
    if not got:
        sys.exit(f"no record with id {rid}")
    a = got[0]["array"].astype(np.int32)
    b = reference(ref).astype(np.int32)
    if a.shape != b.shape:
        sys.exit(f"shape {a.shape} != reference {b.shape}")
    d = np.abs(a - b)
    mean, mx = float(d.mean()), int(d.max())
    print(f"{rid}: mean abs diff {mean:.3f}, max {mx}")
    if bounds:
        ok = mean <= float(bounds[0]) and mx <= float(bounds[1])
    else:
        ok = mx == 0
    sys.exit(0 if ok else 1)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "gen":
        gen(args[0])
    elif cmd == "ids":
        for r in read_stream(args[0])[1]:
            print(r["id"], r.get("label", "-"), r.get("copy", "-"), sep="\t")
    elif cmd == "compare":
        compare(args[0], args[1], args[2], args[3:])
    elif cmd == "same":
        key = lambda r: (r["id"], r.get("copy", -1))
        a = {key(r): r["array"].tobytes() for r in read_stream(args[0])[1]}
        b = {key(r): r["array"].tobytes() for r in read_stream(args[1])[1]}
        sys.exit(0 if a == b and a else 1)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
