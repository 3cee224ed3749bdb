#!/usr/bin/env python3
"""Writes Fashion-MNIST as an image folder, the layout `vit train --data` and torchvision's
ImageFolder read: OUT/train/<class>/<index>.png (the 60k training images) and OUT/val/<class>/...
(the 10k test images), 28x28 grayscale PNGs. The class folders are "0_T-shirt_top", "1_Trouser",
..., "9_Ankle_boot": sorted by name, they keep the dataset's label order, so a model trained on the
idx files classifies the folder with the same head.

usage: /usr/bin/python3 scripts/fashion-mnist-folder.py OUT [--data /usr/share/datasets/fashion-mnist]
                                                           [--train N] [--val N]
"""
import argparse
import gzip
import os
import struct
import sys

from PIL import Image

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        sys.exit(f"{path}: not a uint8 idx file")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = data[4 + 4 * ndim:]
    count = 1
    for d in dims:
        count *= d
    if len(body) != count:
        sys.exit(f"{path}: {len(body)} data bytes, the header promises {count}")
    return dims, body


def write_split(data_dir, prefix, out_dir, limit):
    (n, h, w), pixels = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    (n_labels,), labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    if n_labels != n:
        sys.exit(f"{prefix}: {n} images but {n_labels} labels")
    folders = [f"{k}_{name.replace('/', '_').replace(' ', '_')}" for k, name in enumerate(CLASSES)]
    for folder in folders:
        os.makedirs(os.path.join(out_dir, folder), exist_ok=True)
    n = min(n, limit) if limit else n
    for i in range(n):
        image = Image.frombytes("L", (w, h), pixels[i * h * w:(i + 1) * h * w])
        image.save(os.path.join(out_dir, folders[labels[i]], f"{i:05d}.png"))
    return n


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--train", type=int, default=0, help="the first N training images only (0: all)")
    parser.add_argument("--val", type=int, default=0, help="the first N test images only (0: all)")
    args = parser.parse_args()
    n_train = write_split(args.data, "train", os.path.join(args.out, "train"), args.train)
    n_val = write_split(args.data, "t10k", os.path.join(args.out, "val"), args.val)
    print(f"wrote {n_train} training and {n_val} validation images to {args.out}")


if __name__ == "__main__":
    main()
