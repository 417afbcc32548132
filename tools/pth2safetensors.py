#!/usr/bin/python3
"""Convert a PyTorch checkpoint (.pth) of torchvision's VGG16 to safetensors,
the format vggfeat --weights reads. Floating tensors are written as float32
under their state_dict names (features.N.weight, features.N.bias, ...).

    pth2safetensors.py vgg16-397923af.pth vgg16.safetensors

Needs torch only (no safetensors package). The output is written beside the
target and renamed into place when complete.
"""
import json
import os
import struct
import sys

import torch


def state_dict(path):
    obj = torch.load(path, map_location="cpu")
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        return obj["state_dict"]
    if isinstance(obj, dict):
        return obj
    sys.exit(f"pth2safetensors: {path}: not a state_dict or a model")


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: pth2safetensors.py IN.pth OUT.safetensors")
    if sys.byteorder != "little":
        sys.exit("pth2safetensors: safetensors is little-endian; this machine is not")
    src, dst = argv[1], argv[2]
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in state_dict(src).items():
        if not torch.is_tensor(t) or not t.is_floating_point():
            continue
        data = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if not any(k.startswith("features.") for k in header):
        sys.exit(f"pth2safetensors: {src}: no features.N tensors: not a VGG checkpoint")
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # data aligned to 8 bytes
    tmp = f"{dst}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for b in blobs:
                f.write(b)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


if __name__ == "__main__":
    main(sys.argv)
