#!/usr/bin/python3
"""A stage of your own: colour-histogram features instead of VGG16.

    imgprep data/train | examples/histfeat.py > train.feat

Reads an image stream (vggpipe(5)) on stdin and writes a feature stream on
stdout: for each image, an 8x8x8 joint RGB histogram normalised to sum 1,
512 features. topfit, topeval and classify take it like vggfeat's output;
the provenance names this extractor, so a model trained on it refuses
VGG16 features and the other way round. Needs Python's msgpack and numpy.
"""
import sys

import msgpack
import numpy as np

BINS = 8


def main():
    out = sys.stdout.buffer
    pack = msgpack.Packer(use_bin_type=True).pack
    count = 0
    for obj in msgpack.Unpacker(sys.stdin.buffer, raw=False, max_buffer_size=256 << 20):
        if "vggpipe" in obj:
            if obj.get("kind") != "images":
                sys.exit(f"histfeat: expected an image stream, got {obj.get('kind')!r}")
            out.write(pack({"vggpipe": 1, "kind": "features",
                            "provenance": {"backbone": f"rgb-histogram-{BINS}",
                                           "size": obj.get("size"), "fit": obj.get("fit")},
                            "classes": obj.get("classes", [])}))
            count = 0
        elif "end" in obj and "id" not in obj:
            out.write(pack({"end": count}))
        else:
            t = obj["image"]
            h, w, c = t["shape"]
            px = np.frombuffer(t["data"], np.uint8).reshape(h * w, c) // (256 // BINS)
            index = (px[:, 0].astype(np.int64) * BINS + px[:, 1]) * BINS + px[:, 2]
            hist = np.bincount(index, minlength=BINS ** 3).astype("<f4") / (h * w)
            rec = {"id": obj["id"], "features": {"shape": [BINS ** 3], "dtype": "f32",
                                                 "data": hist.tobytes()}}
            if "label" in obj:
                rec["label"] = obj["label"]
            out.write(pack(rec))
            count += 1


if __name__ == "__main__":
    main()
