"""Reference images and checks for the imgprep tests, with Pillow and numpy
as the independent side.

    imgprep_ref.py gen DIR             write the test images into DIR
    imgprep_ref.py gencolour DIR       write images with colour profiles
    imgprep_ref.py ids STREAM          print each record's id, label, copy
    imgprep_ref.py compare STREAM ID=REF[@MEAN,MAX]...
        compare each record with id ID against the reference REF (below);
        with no bounds the arrays must be equal. Prints one line per check:
        0 (pass) or 1 (fail), then the mean and max absolute difference.
    imgprep_ref.py same STREAM_A STREAM_B   same records, in any order
    imgprep_ref.py keras STREAM ROT SHIFT_X SHIFT_Y SHEAR ZOOM MODE MEAN MAX
        the stream holds one image as copy 0 and copy 1; copy 1 must be
        Keras' apply_affine_transform of copy 0 (re-implemented with
        scipy.ndimage as Keras does it, order 1, fill mode MODE)

REF is FILE[:op[:op...]] where FILE is decoded by Pillow (EXIF orientation
applied, alpha flattened on white) and each op is one of crop=WxH,
squash=WxH, pad=WxH (PIL bicubic, the box of the fit rule), draft=WxH
(PIL's JPEG draft mode before decoding), icc (the embedded profile
applied by Pillow's ImageCms, lcms, relative colorimetric, to sRGB,
before anything else), iccafter (the same, after the fit, which then
resizes the file's own values, CMYK too), mirror, flipv, rot=DEG (PIL
rotate, bilinear, same size, white fill; a positive angle turns
counter-clockwise; the 2-pixel border of the rotated picture is left out
of the comparison), hb (16-bit: the high byte).
"""
import io
import os
import struct
import sys
import zlib

import msgpack
import numpy as np
from PIL import Image, ImageCms, ImageFilter, ImageOps


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
    """A photo-like image: gradients and a disc, a little noise, so that
    resampling differences stay small and measurable."""
    rng = np.random.default_rng(seed)
    x = np.arange(w, dtype=np.float32)[None, :] / w
    y = np.arange(h, dtype=np.float32)[:, None] / h
    img = np.empty((h, w, 3), np.float32)
    for c in range(3):
        fx, fy, ph = rng.uniform(1, 4), rng.uniform(1, 4), rng.uniform(0, 6)
        img[..., c] = 128 + 90 * np.sin(fx * x * 6.28 + ph) * np.cos(fy * y * 6.28)
    disc = (x * w - w * 0.35) ** 2 + (y * h - h * 0.4) ** 2 < (min(w, h) / 5) ** 2
    img[disc] = (230, 40, 30)
    img += rng.normal(0, 2, (h, w, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


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
    noise = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    im = Image.fromarray(noise)
    im.save(f"{d}/noise.png")
    im.save(f"{d}/noise.tif")
    im.save(f"{d}/noise.webp", lossless=True)
    im.save(f"{d}/noise.jpg", quality=95)
    im.quantize(200).save(f"{d}/noise.gif")
    im.convert("CMYK").save(f"{d}/cmyk.jpg", quality=95)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    im.save(f"{d}/icc.png", icc_profile=srgb.tobytes())
    Image.fromarray(noise[..., 0]).save(f"{d}/grey.png")
    Image.fromarray(rng.integers(0, 256, (32, 48, 4), dtype=np.uint8)).save(f"{d}/rgba.png")
    Image.fromarray(rng.integers(0, 256, (32, 48, 2), dtype=np.uint8), "LA").save(f"{d}/greya.png")
    Image.fromarray(rng.integers(0, 65536, (32, 48), dtype=np.uint16)).save(f"{d}/grey16.png")
    png16(f"{d}/rgb16.png", rng.integers(0, 65536, (32, 48, 3), dtype=np.uint16))
    # The 1x1 and 2x3 pictures the upscaling tolerances were measured on.
    tiny = np.random.default_rng(7).integers(0, 256, (3, 40, 3), dtype=np.uint8)
    Image.fromarray(tiny[:1, :1]).save(f"{d}/tiny1.png")
    Image.fromarray(tiny[:3, :2]).save(f"{d}/tiny23.png")
    Image.fromarray(smooth(640, 480, 1)).save(f"{d}/smooth.png")
    Image.fromarray(smooth(640, 480, 1)).save(f"{d}/smooth.jpg", quality=95)
    large = Image.fromarray(smooth(2000, 1500, 2))
    large.save(f"{d}/large.jpg", quality=90)
    large.save(f"{d}/large.png", compress_level=1)
    # EXIF orientations: the stored pixels are the picture turned the other
    # way, so that every file shows the same upright picture.
    upright = Image.fromarray(smooth(512, 256, 3))
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


# Colorants of RGB profiles as ICC profiles store them (adapted to D50 by
# Bradford): sRGB's, and Adobe RGB (1998)'s, whose gamut reaches much
# further into greens and cyans.
SRGB_XYZ = [(0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)]
ADOBE_XYZ = [(0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446)]
D50 = (0.9642, 1.0, 0.8249)


def rgb_profile(colorants, gamma, name):
    """A version 2 RGB display profile: D50 colorants and one gamma curve
    for every channel, the layout of Adobe's own Adobe RGB profile."""
    def xyz(v):
        return b"XYZ \0\0\0\0" + b"".join(struct.pack(">i", round(c * 65536)) for c in v)
    text = name.encode()
    desc = (b"desc\0\0\0\0" + struct.pack(">I", len(text) + 1) + text + b"\0" +
            b"\0" * 8 + b"\0" * 3 + b"\0" * 67)
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [(b"desc", desc), (b"cprt", b"text\0\0\0\0none\0\0\0\0"), (b"wtpt", xyz(D50)),
            (b"rXYZ", xyz(colorants[0])), (b"gXYZ", xyz(colorants[1])),
            (b"bXYZ", xyz(colorants[2])), (b"rTRC", curve), (b"gTRC", curve),
            (b"bTRC", curve)]
    offset, table, data = 128 + 4 + 12 * len(tags), b"", b""
    for sig, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"\0" * 4 + struct.pack(">I", 0x02100000) +
              b"mntrRGB XYZ " + b"\0" * 12 + b"acsp" + b"\0" * 24 + b"\0" * 4 +
              b"".join(struct.pack(">i", round(c * 65536)) for c in D50) + b"\0" * 48)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def vips_cmyk_profile():
    """libvips' own CMYK profile, the one it applies to CMYK images without
    a profile, so that lcms can be asked for the same transform."""
    import ctypes
    vips = ctypes.CDLL("libvips.so.42")
    vips.vips_init(b"imgprep_ref")
    blob, size = ctypes.c_void_p(), ctypes.c_size_t()
    if vips.vips_profile_load(b"cmyk", ctypes.byref(blob), None):
        sys.exit("libvips has no CMYK profile")
    vips.vips_blob_get.restype = ctypes.c_void_p
    return ctypes.string_at(vips.vips_blob_get(blob, ctypes.byref(size)), size.value)


def gencolour(d):
    """Saturated gradients with profiles: wide-gamut (Adobe RGB), sRGB's
    primaries with a plain 2.2 gamma (close to sRGB, but not sRGB), sRGB
    itself, CMYK with libvips' CMYK profile, and a wide-gamut image with
    alpha; photo-like JPEGs with the wide-gamut profile, with sRGB's and
    with none, and in CMYK."""
    os.makedirs(d, exist_ok=True)
    adobe = rgb_profile(ADOBE_XYZ, 563 / 256, "Adobe RGB test")
    g22 = rgb_profile(SRGB_XYZ, 2.2, "sRGB primaries gamma 2.2")
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    cmyk = vips_cmyk_profile()
    x = np.linspace(0, 1, 64)[None, :]
    y = np.linspace(0, 1, 48)[:, None]
    sat = np.stack([np.broadcast_to(x, (48, 64)), 1 - x * y, np.broadcast_to(y, (48, 64))], -1)
    sat = Image.fromarray(np.round(sat * 255).astype(np.uint8))
    sat.save(f"{d}/wide.png", icc_profile=adobe)
    sat.save(f"{d}/g22.png", icc_profile=g22)
    sat.save(f"{d}/srgb.png", icc_profile=srgb)
    sat.save(f"{d}/plain.png")
    big = Image.fromarray(smooth(640, 480, 4))
    big.save(f"{d}/wide.jpg", quality=95, icc_profile=adobe)
    big.save(f"{d}/srgb.jpg", quality=95, icc_profile=srgb)
    big.save(f"{d}/plain.jpg", quality=95)
    big.convert("CMYK").save(f"{d}/cmyk.jpg", quality=95, icc_profile=cmyk)
    sat.convert("CMYK").save(f"{d}/cmyk.tif", icc_profile=cmyk)
    alpha = Image.fromarray(np.round(255 * x * np.ones_like(y)).astype(np.uint8))
    rgba = sat.copy()
    rgba.putalpha(alpha)
    rgba.save(f"{d}/widea.png", icc_profile=adobe)


def apply_icc(im, icc):
    """im in sRGB through the profile icc, as lcms computes it; alpha is
    kept as it is."""
    src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    alpha = im.getchannel("A") if im.mode == "RGBA" else None
    out = ImageCms.profileToProfile(im.convert("RGB") if alpha else im, src,
                                    ImageCms.createProfile("sRGB"),
                                    renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
                                    outputMode="RGB")
    if alpha:
        out.putalpha(alpha)
    return out


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
    """The reference array and the mask of pixels to compare: all but a
    rotated picture's border, where PIL's rotate does not blend the fill
    colour in and imgprep, like Keras, does."""
    parts = spec.split(":")
    im = Image.open(parts[0])
    icc = im.info.get("icc_profile")
    for op in parts[1:]:
        if op.startswith("draft="):
            im.draft("RGB", tuple(int(v) for v in op[6:].split("x")))
    if "hb" in parts[1:]:
        a = np.array(im)
        if a.dtype != np.uint8:
            a = (a.astype(np.uint32) >> 8).astype(np.uint8)
        im = Image.fromarray(np.stack([a] * 3, -1) if a.ndim == 2 else a)
    if "icc" in parts[1:]:
        im = apply_icc(im, icc)
    im = ImageOps.exif_transpose(im)
    if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    if "iccafter" not in parts[1:]:
        im = im.convert("RGB")
    mask = None
    for op in parts[1:]:
        name, _, arg = op.partition("=")
        if name in ("crop", "squash", "pad"):
            tw, th = (int(v) for v in arg.split("x"))
            box, (sw, sh) = fit_box(im.width, im.height, tw, th, name)
            scaled = im.resize((sw, sh), Image.BICUBIC, box=box)
            im = Image.new(scaled.mode, (tw, th), (255, 255, 255) if scaled.mode == "RGB" else 0)
            im.paste(scaled, ((tw - sw) // 2, (th - sh) // 2))
        elif name == "iccafter":
            im = apply_icc(im, icc)
        elif name == "mirror":
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        elif name == "flipv":
            im = im.transpose(Image.FLIP_TOP_BOTTOM)
        elif name == "rot":
            im = im.rotate(float(arg), Image.BILINEAR, fillcolor=(255, 255, 255))
            inside = Image.new("L", im.size, 255).rotate(float(arg), Image.NEAREST, fillcolor=0)
            mask = np.array(inside.filter(ImageFilter.MinFilter(5))) > 0
    return np.array(im), mask


def compare(stream, checks):
    _, records = read_stream(stream)
    arrays = {r["id"]: r["array"].astype(np.int32) for r in records}
    for check in checks:
        spec, _, bounds = check.partition("@")
        rid, _, ref = spec.partition("=")
        if rid not in arrays:
            print(f"1 {rid}: no record")
            continue
        a = arrays[rid]
        b, mask = reference(ref)
        if a.shape != b.shape:
            print(f"1 {rid}: shape {a.shape} != reference {b.shape}")
            continue
        d = np.abs(a - b.astype(np.int32))
        if mask is not None:
            d = d[mask]
        mean, mx = float(d.mean()), int(d.max())
        if bounds:
            lim_mean, lim_max = (float(v) for v in bounds.split(","))
            good = mean <= lim_mean and mx <= lim_max
            what = f"mean <= {lim_mean:g}, max <= {lim_max:g}"
        else:
            good, what = mx == 0, "equal"
        print(f"{0 if good else 1} {rid} vs {ref}: {what} (mean {mean:.3f}, max {mx})")


def keras_transform(x, theta, tx, ty, shear, zx, zy, mode, cval):
    """keras.preprocessing.image.apply_affine_transform for an HWC array:
    tx, zx along rows, ty, zy along columns."""
    from scipy import ndimage
    theta, shear = np.deg2rad(theta), np.deg2rad(shear)
    m = (np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
         @ np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
         @ np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0], [0, 0, 1]])
         @ np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]]))
    ox, oy = x.shape[0] / 2 - 0.5, x.shape[1] / 2 - 0.5
    m = np.array([[1, 0, ox], [0, 1, oy], [0, 0, 1]]) @ m @ np.array([[1, 0, -ox], [0, 1, -oy], [0, 0, 1]])
    out = np.stack([ndimage.affine_transform(x[..., c].astype(float), m[:2, :2], m[:2, 2],
                                             order=1, mode=mode, cval=cval)
                    for c in range(x.shape[2])], -1)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def keras_check(stream, args):
    rot, sx, sy, shear, zoom = (float(v) for v in args[:5])
    mode, mean_max, max_max = args[5], float(args[6]), float(args[7])
    _, records = read_stream(stream)
    base = next(r["array"] for r in records if r["copy"] == 0)
    got = next(r["array"] for r in records if r["copy"] == 1)
    h, w = base.shape[:2]
    ref = keras_transform(base, rot, sy * h, sx * w, shear, zoom, zoom, mode, 255)
    d = np.abs(ref.astype(np.int32) - got.astype(np.int32))
    print(f"{mode}: mean abs diff {d.mean():.3f}, max {d.max()}")
    sys.exit(0 if d.mean() <= mean_max and d.max() <= max_max else 1)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "gen":
        gen(args[0])
    elif cmd == "gencolour":
        gencolour(args[0])
    elif cmd == "ids":
        for r in read_stream(args[0])[1]:
            print(r["id"], r.get("label", "-"), r.get("copy", "-"), sep="\t")
    elif cmd == "compare":
        compare(args[0], args[1:])
    elif cmd == "same":
        key = lambda r: (r["id"], r.get("copy", -1))
        a = {key(r): r["array"].tobytes() for r in read_stream(args[0])[1]}
        b = {key(r): r["array"].tobytes() for r in read_stream(args[1])[1]}
        sys.exit(0 if a == b and a else 1)
    elif cmd == "keras":
        keras_check(args[0], args[1:])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
