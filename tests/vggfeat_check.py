"""Test helper for vggfeat: read feature streams and print facts the shell
tests compare, run with Debian's /usr/bin/python3.

  header FILE KEY...      the first header's value at each dotted KEY, as JSON
  segments FILE           per segment: records, trailer count, classes
  shapes FILE             one line per record: id, label, features shape
  close A B               the largest |a - b| / max |a| over every record
"""
import json
import sys

import msgpack
import numpy as np


def objects(path):
    with open(path, "rb") as f:
        return list(msgpack.Unpacker(f, raw=False))


def features(path):
    return [np.frombuffer(o["features"]["data"], "<f4").reshape(o["features"]["shape"])
            for o in objects(path) if "features" in o]


def cmd_header(path, *keys):
    h = objects(path)[0]
    for key in keys:
        v = h
        for part in key.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        print(json.dumps(v))


def cmd_segments(path):
    n = 0
    for o in objects(path):
        if "vggpipe" in o:
            n, classes = 0, o.get("classes")
        elif "end" in o and "id" not in o:
            print(f"records {n} end {o['end']} classes {json.dumps(classes)}")
        else:
            n += 1


def cmd_shapes(path):
    for o in objects(path):
        if "features" in o:
            print(o["id"], o.get("label", "-"), o["features"]["dtype"],
                  "x".join(map(str, o["features"]["shape"])))


def cmd_close(a, b):
    fa, fb = features(a), features(b)
    assert len(fa) == len(fb) and fa, "different record counts"
    print(max(float(np.abs(x - y).max() / np.abs(x).max()) for x, y in zip(fa, fb)))


if __name__ == "__main__":
    {"header": cmd_header, "segments": cmd_segments, "shapes": cmd_shapes,
     "close": cmd_close}[sys.argv[1]](*sys.argv[2:])
